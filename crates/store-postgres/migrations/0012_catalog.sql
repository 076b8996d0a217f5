-- The Keystone service catalog and Keystone credentials. Region ids are chosen by clients
-- (`RegionOne`) or generated (32 hex digits); service and endpoint ids are generated; an EC2
-- credential's id is the SHA-256 of its access key. `extra` holds the attributes a client sent
-- beyond the named ones, as a JSON object.
CREATE TABLE regions (
    id                TEXT PRIMARY KEY,
    -- Deleting a region deletes the regions below it (Keystone does the same).
    parent_region_id  TEXT REFERENCES regions(id) ON DELETE CASCADE,
    description       TEXT NOT NULL DEFAULT '',
    extra             JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX regions_parent ON regions(parent_region_id);

CREATE TABLE services (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    name         TEXT,
    description  TEXT,
    enabled      BOOLEAN NOT NULL DEFAULT TRUE,
    extra        JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX services_type ON services(type);

CREATE TABLE endpoints (
    id          TEXT PRIMARY KEY,
    service_id  TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    -- A region with endpoints cannot be deleted.
    region_id   TEXT REFERENCES regions(id),
    interface   TEXT NOT NULL CHECK (interface IN ('public', 'internal', 'admin')),
    url         TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    extra       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX endpoints_service ON endpoints(service_id);
CREATE INDEX endpoints_region ON endpoints(region_id);

-- The blob is sealed with the key-encryption key (AES-256-GCM, bound to the id): an EC2 blob
-- holds the secret that signs requests.
CREATE TABLE keystone_credentials (
    id           TEXT PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id   TEXT,
    type         TEXT NOT NULL,
    blob_sealed  BYTEA NOT NULL,
    extra        JSONB NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL
);
CREATE INDEX keystone_credentials_user ON keystone_credentials(user_id);
