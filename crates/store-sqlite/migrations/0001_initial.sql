-- Tenants form one tree. `path` lists the ids from the root down to the tenant itself,
-- each followed by '/', so a subtree is one indexed prefix range.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    parent_id   TEXT REFERENCES tenants(id),
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    is_domain   INTEGER NOT NULL DEFAULT 0,
    enabled     INTEGER NOT NULL DEFAULT 1,
    language    TEXT NOT NULL DEFAULT 'en',
    owner_id    TEXT,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX tenants_single_root ON tenants(kind) WHERE kind = 'root';
CREATE INDEX tenants_parent ON tenants(parent_id);
CREATE INDEX tenants_path ON tenants(path);
CREATE INDEX tenants_domain_name ON tenants(name) WHERE is_domain = 1;

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    login               TEXT NOT NULL,
    login_key           TEXT NOT NULL UNIQUE,
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
    activated           INTEGER NOT NULL DEFAULT 0,
    enabled             INTEGER NOT NULL DEFAULT 1,
    terms_accepted      INTEGER NOT NULL DEFAULT 0,
    mfa_status          TEXT NOT NULL DEFAULT 'disabled',
    notifications       TEXT NOT NULL DEFAULT '[]',
    business_types      TEXT NOT NULL DEFAULT '[]',
    external_id         TEXT,
    personal_tenant_id  TEXT,
    description         TEXT NOT NULL DEFAULT '',
    password_hash       TEXT,
    tokens_not_before   INTEGER NOT NULL DEFAULT 0,
    version             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE api_clients (
    id                          TEXT PRIMARY KEY,
    tenant_id                   TEXT NOT NULL REFERENCES tenants(id),
    kind                        TEXT NOT NULL,
    token_endpoint_auth_method  TEXT NOT NULL,
    data                        TEXT NOT NULL DEFAULT '{}',
    secret_sha256               TEXT NOT NULL,
    enabled                     INTEGER NOT NULL DEFAULT 1,
    created_by                  TEXT,
    version                     INTEGER NOT NULL,
    created_at                  INTEGER NOT NULL
);
CREATE INDEX api_clients_tenant ON api_clients(tenant_id);

-- Access policies of the account face and role assignments of the keystone face.
CREATE TABLE access_policies (
    id            TEXT PRIMARY KEY,
    trustee_id    TEXT NOT NULL,
    trustee_type  TEXT NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    role          TEXT NOT NULL,
    issuer_id     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (trustee_id, tenant_id, role)
);
CREATE INDEX access_policies_tenant ON access_policies(tenant_id);

CREATE TABLE signing_keys (
    kid                    TEXT PRIMARY KEY,
    alg                    TEXT NOT NULL,
    state                  TEXT NOT NULL,
    private_key_encrypted  BLOB NOT NULL,
    public_jwk             TEXT NOT NULL,
    created_at             INTEGER NOT NULL
);

CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens(expires_at);
