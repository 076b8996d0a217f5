-- A tenant's users are listed by login: this index hands them over in that order, where the
-- plain `users_tenant` index (also covered by `users_tenant_id`) left a sort per listing.
DROP INDEX users_tenant;
CREATE INDEX users_tenant_login ON users(tenant_id, login_key);
