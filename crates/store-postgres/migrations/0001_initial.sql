-- The same schema as the SQLite backend, in native PostgreSQL types: ids are UUIDs, instants
-- are microseconds since the epoch, free-form lists and objects are JSONB.

-- Tenants form one tree. `path` lists the ids from the root down to the tenant itself,
-- each followed by '/', so a subtree is one indexed prefix range (`path LIKE 'prefix%'`,
-- which needs `text_pattern_ops` whatever the database collation).
CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    parent_id   UUID REFERENCES tenants(id),
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    is_domain   BOOLEAN NOT NULL DEFAULT FALSE,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    language    TEXT NOT NULL DEFAULT 'en',
    owner_id    UUID,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- At most one root; the store names a violation of this index `root`.
CREATE UNIQUE INDEX tenants_single_root ON tenants(kind) WHERE kind = 'root';
CREATE INDEX tenants_parent ON tenants(parent_id);
CREATE INDEX tenants_path ON tenants(path text_pattern_ops);
CREATE INDEX tenants_domain_name ON tenants(name) WHERE is_domain;

CREATE TABLE users (
    id                  UUID PRIMARY KEY,
    tenant_id           UUID NOT NULL REFERENCES tenants(id),
    login               TEXT NOT NULL,
    -- The lower-cased login; the store names a violation of this constraint `login`.
    login_key           TEXT NOT NULL CONSTRAINT users_login_key UNIQUE,
    email               TEXT,
    areacode            TEXT NOT NULL DEFAULT '',
    phone               TEXT NOT NULL DEFAULT '',
    firstname           TEXT NOT NULL DEFAULT '',
    lastname            TEXT NOT NULL DEFAULT '',
    address1            TEXT NOT NULL DEFAULT '',
    address2            TEXT NOT NULL DEFAULT '',
    city                TEXT NOT NULL DEFAULT '',
    country             TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL DEFAULT '',
    zipcode             TEXT NOT NULL DEFAULT '',
    language            TEXT NOT NULL DEFAULT 'en',
    activated           BOOLEAN NOT NULL DEFAULT FALSE,
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    terms_accepted      BOOLEAN NOT NULL DEFAULT FALSE,
    mfa_status          TEXT NOT NULL DEFAULT 'disabled',
    notifications       JSONB NOT NULL DEFAULT '[]',
    business_types      JSONB NOT NULL DEFAULT '[]',
    external_id         TEXT,
    personal_tenant_id  UUID,
    description         TEXT NOT NULL DEFAULT '',
    password_hash       TEXT,
    tokens_not_before   BIGINT NOT NULL DEFAULT 0,
    version             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE api_clients (
    id                          UUID PRIMARY KEY,
    tenant_id                   UUID NOT NULL REFERENCES tenants(id),
    kind                        TEXT NOT NULL,
    token_endpoint_auth_method  TEXT NOT NULL,
    data                        JSONB NOT NULL DEFAULT '{}',
    secret_sha256               TEXT NOT NULL,
    enabled                     BOOLEAN NOT NULL DEFAULT TRUE,
    created_by                  UUID,
    version                     BIGINT NOT NULL,
    created_at                  BIGINT NOT NULL
);
CREATE INDEX api_clients_tenant ON api_clients(tenant_id);

-- Access policies of the account face and role assignments of the keystone face.
CREATE TABLE access_policies (
    id            UUID PRIMARY KEY,
    trustee_id    UUID NOT NULL,
    trustee_type  TEXT NOT NULL,
    tenant_id     UUID NOT NULL REFERENCES tenants(id),
    role          TEXT NOT NULL,
    issuer_id     UUID NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    CONSTRAINT access_policies_assignment UNIQUE (trustee_id, tenant_id, role)
);
CREATE INDEX access_policies_tenant ON access_policies(tenant_id);

CREATE TABLE signing_keys (
    kid                    TEXT PRIMARY KEY,
    alg                    TEXT NOT NULL,
    state                  TEXT NOT NULL,
    private_key_encrypted  BYTEA NOT NULL,
    public_jwk             JSONB NOT NULL,
    created_at             BIGINT NOT NULL
);

CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens(expires_at);
