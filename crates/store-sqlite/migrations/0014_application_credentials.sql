-- Keystone application credentials: a user delegates some of their roles on one project to
-- an application, which authenticates with the credential's id (or name and user) and secret.
-- Only a hash of the secret is kept: SHA-256 of a generated one, Argon2id (PHC) of a chosen one.
-- `roles` is a JSON array of the delegated Keystone role ids.
CREATE TABLE application_credentials (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT,
    secret_hash   TEXT NOT NULL,
    expires_at    INTEGER,
    unrestricted  INTEGER NOT NULL DEFAULT 0,
    roles         TEXT NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX application_credentials_project ON application_credentials(project_id);
