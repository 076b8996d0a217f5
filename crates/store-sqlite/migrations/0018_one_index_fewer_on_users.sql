-- `users_tenant_id (tenant_id, id)` and `users_tenant_login (tenant_id, login_key)` both serve
-- every lookup by tenant that `users_tenant (tenant_id)` served; one index fewer to update on
-- every write of a user.
DROP INDEX IF EXISTS users_tenant;
