-- Tenants: the legal contact (a JSON object), the fields of the Account Management API's
-- tenant object, the update lock, and `has_children`, which the store keeps whenever a child is
-- added, moved or deleted so that reads need no subquery.
ALTER TABLE tenants ADD COLUMN contact JSONB NOT NULL DEFAULT '{}';
ALTER TABLE tenants ADD COLUMN customer_type TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tenants ADD COLUMN customer_id TEXT;
ALTER TABLE tenants ADD COLUMN internal_tag TEXT;
ALTER TABLE tenants ADD COLUMN update_lock_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tenants ADD COLUMN update_lock_owner_id UUID;
ALTER TABLE tenants ADD COLUMN ancestral_access BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tenants ADD COLUMN mfa_status TEXT NOT NULL DEFAULT 'disabled';
ALTER TABLE tenants ADD COLUMN pricing_mode TEXT NOT NULL DEFAULT 'production';
ALTER TABLE tenants ADD COLUMN has_children BOOLEAN NOT NULL DEFAULT FALSE;
-- The lower-cased name; NULL for personal tenants, which are exempt. Sibling names are unique
-- on it; the store names a violation of this index `tenant_name`.
ALTER TABLE tenants ADD COLUMN name_key TEXT;

UPDATE tenants SET name_key = lower(name) WHERE owner_id IS NULL;
UPDATE tenants SET has_children = TRUE WHERE id IN (SELECT parent_id FROM tenants WHERE parent_id IS NOT NULL);
UPDATE tenants SET pricing_mode = 'trial' WHERE kind = 'customer';

CREATE UNIQUE INDEX tenants_sibling_name ON tenants(parent_id, name_key);
CREATE INDEX users_personal_tenant ON users(personal_tenant_id);
