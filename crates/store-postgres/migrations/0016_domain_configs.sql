-- Keystone domain configurations (`/v3/domains/{id}/config`): the options of the `identity`
-- and `ldap` groups set for one domain, as a JSON object of groups of options. Sensitive
-- options (`ldap.password`) are kept apart, sealed with the key-encryption key, and never
-- shown. `version` makes every change a compare-and-set. Deleted with the domain.
CREATE TABLE domain_configs (
    domain_id  UUID PRIMARY KEY REFERENCES tenants(id),
    config     JSONB NOT NULL,
    sensitive  BYTEA,
    version    BIGINT NOT NULL
);
