-- The audit trail: one row per change, written in the transaction of the change. `tenant_path`
-- is the path of the tenant the object lived in at the time, so an administrator reads the
-- events of their subtree as one path range. Times are microseconds since the epoch.
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT,
    tenant_id    TEXT NOT NULL,
    tenant_path  TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    action       TEXT NOT NULL,
    old_version  INTEGER,
    new_version  INTEGER,
    request_id   TEXT NOT NULL
);
CREATE INDEX audit_events_object ON audit_events(object_id, seq);
