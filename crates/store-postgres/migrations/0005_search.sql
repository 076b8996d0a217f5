-- Search matches a prefix of each property through that property's own index.
CREATE INDEX users_email_search ON users (lower(email) text_pattern_ops);
CREATE INDEX users_firstname_search ON users (lower(firstname) text_pattern_ops);
CREATE INDEX users_lastname_search ON users (lower(lastname) text_pattern_ops);
CREATE INDEX tenants_name_search ON tenants (lower(name) text_pattern_ops);
CREATE INDEX users_login_search ON users (login_key text_pattern_ops);
