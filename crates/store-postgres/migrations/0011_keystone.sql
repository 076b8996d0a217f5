-- Keystone's own objects: roles, groups and their members; what projects carry besides the
-- account face's fields (description, tags); a user's default project; and how far a role
-- assignment reaches.

-- Roles. A role without a domain is global; a domain-specific role is named within its domain.
-- An immutable role (the bootstrap roles) can be neither changed nor deleted.
CREATE TABLE roles (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    domain_id    UUID REFERENCES tenants(id),
    description  TEXT NOT NULL DEFAULT '',
    immutable    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX roles_name
    ON roles(COALESCE(domain_id, '00000000-0000-0000-0000-000000000000'::uuid), name);

-- Implied roles: holding the prior role also gives the implied one (transitively).
CREATE TABLE implied_roles (
    prior_role_id    UUID NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    implied_role_id  UUID NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

-- Groups belong to a domain; their members are users. A group holds role assignments as a
-- user does, and every member holds them through it.
CREATE TABLE groups (
    id           UUID PRIMARY KEY,
    domain_id    UUID NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    CONSTRAINT groups_name UNIQUE (domain_id, name)
);
CREATE TABLE group_members (
    group_id  UUID NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id   UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

ALTER TABLE tenants ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN tags JSONB NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN default_project_id UUID;
-- Keystone attributes Warden has no field for, kept and shown as given (a JSON object).
ALTER TABLE users ADD COLUMN extra JSONB NOT NULL DEFAULT '{}';

-- `reach`: `tree` (the account face's policies: the tenant and everything below it), `self`
-- (a Keystone grant: the tenant only) or `below` (a Keystone grant inherited to the projects
-- below the tenant, OS-INHERIT). The same role may be held with different reaches.
ALTER TABLE access_policies ADD COLUMN reach TEXT NOT NULL DEFAULT 'tree';
ALTER TABLE access_policies DROP CONSTRAINT access_policies_assignment;
ALTER TABLE access_policies
    ADD CONSTRAINT access_policies_assignment UNIQUE (trustee_id, tenant_id, role, reach);
CREATE INDEX access_policies_role ON access_policies(role);
