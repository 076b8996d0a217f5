-- Search matches a prefix of each property through that property's own index.
CREATE INDEX users_email_search ON users (lower(email));
CREATE INDEX users_firstname_search ON users (lower(firstname));
CREATE INDEX users_lastname_search ON users (lower(lastname));
CREATE INDEX tenants_name_search ON tenants (lower(name));
