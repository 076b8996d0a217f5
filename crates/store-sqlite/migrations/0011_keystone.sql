-- Keystone's own objects: roles, groups and their members; what projects carry besides the
-- account face's fields (description, tags); a user's default project; and how far a role
-- assignment reaches.

-- Roles. A role without a domain is global; a domain-specific role is named within its domain.
-- An immutable role (the bootstrap roles) can be neither changed nor deleted.
CREATE TABLE roles (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    domain_id    TEXT REFERENCES tenants(id),
    description  TEXT NOT NULL DEFAULT '',
    immutable    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX roles_name ON roles(COALESCE(domain_id, ''), name);

-- Implied roles: holding the prior role also gives the implied one (transitively).
CREATE TABLE implied_roles (
    prior_role_id    TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    implied_role_id  TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

-- Groups belong to a domain; their members are users. A group holds role assignments as a
-- user does, and every member holds them through it.
CREATE TABLE groups (
    id           TEXT PRIMARY KEY,
    domain_id    TEXT NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    UNIQUE (domain_id, name)
);
CREATE TABLE group_members (
    group_id  TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

ALTER TABLE tenants ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN default_project_id TEXT;
-- Keystone attributes Warden has no field for, kept and shown as given (a JSON object).
ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';

-- `reach`: `tree` (the account face's policies: the tenant and everything below it), `self`
-- (a Keystone grant: the tenant only) or `below` (a Keystone grant inherited to the projects
-- below the tenant, OS-INHERIT). The same role may be held with different reaches.
CREATE TABLE access_policies_next (
    id            TEXT PRIMARY KEY,
    trustee_id    TEXT NOT NULL,
    trustee_type  TEXT NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    role          TEXT NOT NULL,
    reach         TEXT NOT NULL DEFAULT 'tree',
    issuer_id     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (trustee_id, tenant_id, role, reach)
);
INSERT INTO access_policies_next
    (id, trustee_id, trustee_type, tenant_id, role, issuer_id, version, created_at)
    SELECT id, trustee_id, trustee_type, tenant_id, role, issuer_id, version, created_at
    FROM access_policies;
DROP TABLE access_policies;
ALTER TABLE access_policies_next RENAME TO access_policies;
CREATE INDEX access_policies_tenant ON access_policies(tenant_id);
CREATE INDEX access_policies_role ON access_policies(role);
