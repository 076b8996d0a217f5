-- The change feed leaves the writers' commit path. A transaction that sends a notification
-- holds a database-wide lock from its commit's start until its commit record is flushed, so
-- notifying writers commit one at a time and cannot share a WAL flush: on the benchmark
-- machine an update with a notification ran at half the rate of the same update without
-- (8 clients, pgbench). The triggers now leave a row in `change_log` instead, in the writing
-- transaction as before (so no writer can forget it, nor can a write made with psql), and each
-- node reads the rows of the transactions that ended since its last read (see the feed).
--
-- Unlogged: the log is worth nothing after a crash of the database, which ends every node's
-- feed connection, and each node starts afresh (its cache dark, then emptied) when it
-- reconnects. `xid` is the writing transaction's id; the readers' cursor is the oldest
-- transaction still running when they last read; `id` tells a row read again from a new one.
CREATE UNLOGGED TABLE change_log (
    id bigint GENERATED ALWAYS AS IDENTITY,
    xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    payload text NOT NULL
);
CREATE INDEX change_log_xid ON change_log (xid);

-- The payload says what changed: one row of `users` (`u:<id>`; `u:<id>:<version>` when the
-- statement moved the row's version, which one committed change does once, so a node tells the
-- row of its own change from another's), one row of `revoked_tokens` (`r:<jti>`), or anything
-- (empty).
CREATE FUNCTION warden_log_change(payload text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO change_log (payload) VALUES (payload);
$$;

CREATE OR REPLACE FUNCTION warden_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM warden_log_change('');
    RETURN NULL;
END;
$$;

-- `changed_rows` is the statement's transition table (the new rows, or the old ones of a
-- delete); an update of `users` also has `old_rows`, to tell whether the version moved.
CREATE OR REPLACE FUNCTION warden_notify_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    one text;
    new_version bigint;
    old_version bigint;
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        SELECT count(*), max(id::text), max(version) INTO n, one, new_version FROM changed_rows;
        one := 'u:' || one;
        IF n = 1 AND TG_OP = 'UPDATE' THEN
            SELECT max(version) INTO old_version FROM old_rows;
            IF new_version IS DISTINCT FROM old_version THEN
                one := one || ':' || new_version;
            END IF;
        END IF;
    ELSE
        SELECT count(*), max(jti) INTO n, one FROM changed_rows;
        one := 'r:' || one;
    END IF;
    IF n = 1 THEN
        PERFORM warden_log_change(one);
    ELSIF n > 1 THEN
        PERFORM warden_log_change('');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER users_updated ON users;
CREATE TRIGGER users_updated AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION warden_notify_row_change();
