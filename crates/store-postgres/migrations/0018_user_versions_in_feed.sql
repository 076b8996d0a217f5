-- A notice of a change of one user's row also names the version the change moved the row to
-- (`u:<id>:<version>`); a change that kept the version (a failed login counted, a password
-- rehashed) is told as before (`u:<id>`). A version is moved once, by one committed change,
-- so a node recognises the notice of its own change and keeps the row it stored as a cached
-- answer (see the read cache).
CREATE FUNCTION warden_notify_user_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    one text;
    new_version bigint;
    old_version bigint;
BEGIN
    SELECT count(*), max(id::text), max(version) INTO n, one, new_version FROM new_rows;
    IF n = 1 THEN
        SELECT max(version) INTO old_version FROM old_rows;
        one := 'u:' || one;
        IF new_version IS DISTINCT FROM old_version THEN
            one := one || ':' || new_version;
        END IF;
        PERFORM pg_notify('warden_changes', one);
    ELSIF n > 1 THEN
        PERFORM pg_notify('warden_changes', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER users_updated ON users;
CREATE TRIGGER users_updated AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_user_update();
