-- Keystone objects kept as clients store them: policies, OAuth 1.0a consumers and endpoint
-- groups. Ids are generated (32 hex digits). `extra` holds the attributes a client sent beyond
-- the named ones, as a JSON object.
CREATE TABLE keystone_policies (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    blob        TEXT NOT NULL,
    project_id  TEXT,
    user_id     TEXT,
    extra       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX keystone_policies_type ON keystone_policies(type);

-- The secret is shown once, when the consumer is created; only its SHA-256 (hex) is kept.
CREATE TABLE oauth_consumers (
    id           TEXT PRIMARY KEY,
    description  TEXT,
    secret_hash  TEXT NOT NULL,
    extra        TEXT NOT NULL DEFAULT '{}'
);

-- `filters`: a JSON object whose keys are among interface, service_id and region_id.
CREATE TABLE endpoint_groups (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT,
    filters      TEXT NOT NULL DEFAULT '{}',
    extra        TEXT NOT NULL DEFAULT '{}'
);
