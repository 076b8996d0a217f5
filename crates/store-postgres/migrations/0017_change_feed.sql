-- The change feed: every committed write to a table whose rows a node may cache is told to all
-- nodes listening on the channel `warden_changes` (see the read cache). The notification is
-- sent by the database at commit, not by the writer, so no writer can forget it; within one
-- transaction PostgreSQL folds identical notifications into one. The audit log is append-only
-- and never cached.
CREATE FUNCTION warden_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warden_changes', '');
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'tenants', 'users', 'api_clients', 'access_policies', 'signing_keys', 'revoked_tokens',
        'refresh_tokens', 'user_tokens', 'credentials', 'roles', 'implied_roles', 'groups',
        'group_members', 'regions', 'services', 'endpoints', 'keystone_credentials',
        'application_credentials', 'keystone_policies', 'oauth_consumers', 'endpoint_groups',
        'domain_configs'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_change()',
            t || '_changed', t);
    END LOOP;
END;
$$;
