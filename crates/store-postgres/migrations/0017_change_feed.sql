-- The change feed: every committed write to a table whose rows a node may cache is told to all
-- nodes listening on the channel `warden_changes` (see the read cache). The notification is
-- sent by the database at commit, not by the writer, so no writer can forget it; within one
-- transaction PostgreSQL folds identical notifications into one. The audit log is append-only
-- and never cached.
--
-- The payload says what changed when a statement changed one row of `users` (`u:<id>`) or of
-- `revoked_tokens` (`r:<jti>`), so the nodes keep what they cached about everything else; an
-- empty payload means anything may have changed.
CREATE FUNCTION warden_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warden_changes', '');
    RETURN NULL;
END;
$$;

-- For the tables whose single-row changes are named: `changed_rows` is the statement's
-- transition table (the new rows, or the old ones of a delete).
CREATE FUNCTION warden_notify_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    one text;
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        SELECT count(*), max(id::text) INTO n, one FROM changed_rows;
        one := 'u:' || one;
    ELSE
        SELECT count(*), max(jti) INTO n, one FROM changed_rows;
        one := 'r:' || one;
    END IF;
    IF n = 1 THEN
        PERFORM pg_notify('warden_changes', one);
    ELSIF n > 1 THEN
        PERFORM pg_notify('warden_changes', '');
    END IF;
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'tenants', 'api_clients', 'access_policies', 'signing_keys', 'refresh_tokens',
        'user_tokens', 'credentials', 'roles', 'implied_roles', 'groups', 'group_members',
        'regions', 'services', 'endpoints', 'keystone_credentials', 'application_credentials',
        'keystone_policies', 'oauth_consumers', 'endpoint_groups', 'domain_configs'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_change()',
            t || '_changed', t);
    END LOOP;
    -- A trigger with a transition table fires on one kind of event only.
    FOREACH t IN ARRAY ARRAY['users', 'revoked_tokens'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed_rows '
            'FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_row_change()',
            t || '_inserted', t);
        EXECUTE format(
            'CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS changed_rows '
            'FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_row_change()',
            t || '_updated', t);
        EXECUTE format(
            'CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed_rows '
            'FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_row_change()',
            t || '_deleted', t);
        EXECUTE format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_change()',
            t || '_truncated', t);
    END LOOP;
END;
$$;
