//! SQLite implementation of [`warden_store::TenantStore`]. Structural changes run on the one
//! writer connection, so what a transaction reads stays true until it commits. Subtrees are
//! path ranges (`path >= ? AND path < ?`), which the `tenants_path` index serves; `LIKE` would
//! not use it.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use warden_domain::tenant::TenantFilter;
use warden_domain::{Tenant, TenantId, User, UserId};
use warden_store::paths::subtree_upper;
use warden_store::{Audit, Change, ObjectType, StoreError, TenantStore};

use crate::audit::record;
use crate::rows::{tenant_from_row, tenant_path};
use crate::{insert_user_on, map_err, SqliteStore};

/// Each level of a stored path is an id (36 characters) and a '/'; the length of a path is
/// therefore `(depth + 1) * SEGMENT_CHARS`.
const SEGMENT_CHARS: i64 = 37;

/// The ids of a subtree, given its path range as two parameters.
const SUBTREE_IDS: &str = "SELECT id FROM tenants WHERE path >= ? AND path < ?";

/// Tells a sibling-name violation apart from the other unique rules by the index's column.
fn map_tenant_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() && db.message().contains("name_key") {
            return StoreError::Conflict("tenant_name");
        }
    }
    map_err(e)
}

fn contact_json(tenant: &Tenant) -> Result<String, StoreError> {
    serde_json::to_string(&tenant.contact)
        .map_err(|e| StoreError::Internal(format!("tenant contact: {e}")))
}

/// `tenant` placed under `parent` as the parent is stored now.
fn placed_under(tenant: &Tenant, parent: &Tenant) -> Tenant {
    let mut placed = tenant.clone();
    placed.parent_id = Some(parent.id);
    placed.ancestors = parent.ancestors.clone();
    placed.ancestors.push(parent.id);
    placed.has_children = false;
    placed
}

/// Inserts one tenant row as given, path included.
pub(crate) async fn insert_tenant_on<'c, E>(executor: E, tenant: &Tenant) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO tenants (id, parent_id, path, kind, name, name_key, is_domain, enabled, language, \
         owner_id, contact, customer_type, customer_id, internal_tag, update_lock_enabled, \
         update_lock_owner_id, ancestral_access, mfa_status, pricing_mode, has_children, description, tags, \
         version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    )
    .bind(tenant.id.to_string())
    .bind(tenant.parent_id.map(|p| p.to_string()))
    .bind(tenant_path(tenant))
    .bind(tenant.kind.as_str())
    .bind(&tenant.name)
    .bind(tenant.name_key())
    .bind(tenant.is_domain)
    .bind(tenant.enabled)
    .bind(&tenant.language)
    .bind(tenant.owner_id.map(|o| o.to_string()))
    .bind(contact_json(tenant)?)
    .bind(&tenant.customer_type)
    .bind(tenant.customer_id.as_deref())
    .bind(tenant.internal_tag.as_deref())
    .bind(tenant.update_lock.enabled)
    .bind(tenant.update_lock.owner_id.map(|o| o.to_string()))
    .bind(tenant.ancestral_access)
    .bind(&tenant.mfa_status)
    .bind(&tenant.pricing_mode)
    .bind(tenant.has_children)
    .bind(&tenant.description)
    .bind(crate::json_list(&tenant.tags))
    .bind(tenant.version)
    .bind(tenant.created_at.micros())
    .bind(tenant.updated_at.micros())
    .execute(executor)
    .await
    .map_err(map_tenant_err)?;
    Ok(())
}

async fn fetch_tenant(
    conn: &mut SqliteConnection,
    id: TenantId,
) -> Result<Option<Tenant>, StoreError> {
    let row = sqlx::query("SELECT * FROM tenants WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .map_err(map_err)?;
    row.map(|r| tenant_from_row(&r)).transpose()
}

/// Recomputes whether a tenant has children, after one was added, moved away or deleted.
async fn refresh_has_children(conn: &mut SqliteConnection, id: TenantId) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tenants SET has_children = EXISTS (SELECT 1 FROM tenants AS c WHERE c.parent_id = tenants.id) \
         WHERE id = ?",
    )
    .bind(id.to_string())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn insert_tenant(&self, tenant: &Tenant, audit: &Audit) -> Result<Tenant, StoreError> {
        let parent_id = tenant
            .parent_id
            .ok_or_else(|| StoreError::Internal("a new tenant needs a parent".to_owned()))?;
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let parent = fetch_tenant(&mut tx, parent_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !parent.enabled {
            return Err(StoreError::Conflict("parent_disabled"));
        }
        let stored = placed_under(tenant, &parent);
        insert_tenant_on(&mut *tx, &stored).await?;
        refresh_has_children(&mut tx, parent.id).await?;
        record(&mut tx, audit, Change::created_tenant(&stored)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn insert_user_with_personal_tenant(
        &self,
        user: &User,
        personal: &Tenant,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let parent = fetch_tenant(&mut tx, user.tenant_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        insert_user_on(&mut *tx, user, None).await?;
        insert_tenant_on(&mut *tx, &placed_under(personal, &parent)).await?;
        refresh_has_children(&mut tx, parent.id).await?;
        record(&mut tx, audit, Change::created_user(user)).await?;
        record(&mut tx, audit, Change::created_tenant(personal)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn list_tenants(
        &self,
        filter: &TenantFilter,
        after: Option<(i64, TenantId)>,
        limit: u32,
    ) -> Result<Vec<Tenant>, StoreError> {
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM tenants WHERE ");
        match filter {
            TenantFilter::Ids(ids) => {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                query.push("id IN (");
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(id.to_string());
                }
                list.push_unseparated(")");
            }
            TenantFilter::Children(parent) => {
                query.push("parent_id = ").push_bind(parent.to_string());
            }
            TenantFilter::Subtree(root) => {
                let path: Option<String> = sqlx::query("SELECT path FROM tenants WHERE id = ?")
                    .bind(root.to_string())
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(map_err)?
                    .map(|r| r.try_get("path"))
                    .transpose()
                    .map_err(map_err)?;
                let Some(path) = path else {
                    return Ok(Vec::new());
                };
                let upper = subtree_upper(&path);
                query
                    .push("path >= ")
                    .push_bind(path)
                    .push(" AND path < ")
                    .push_bind(upper);
            }
        }
        if let Some((depth, id)) = after {
            let len = depth.saturating_add(1).saturating_mul(SEGMENT_CHARS);
            query
                .push(" AND (length(path) > ")
                .push_bind(len)
                .push(" OR (length(path) = ")
                .push_bind(len)
                .push(" AND id > ")
                .push_bind(id.to_string())
                .push("))");
        }
        query
            .push(" ORDER BY length(path), id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn child_tenants(&self, parent: TenantId) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tenants WHERE parent_id = ? ORDER BY name, id")
            .bind(parent.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn update_tenant_if_version(
        &self,
        next: &Tenant,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<Tenant, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let current = fetch_tenant(&mut tx, next.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.version != expected_version {
            return Err(StoreError::VersionMismatch);
        }
        let mut placed = next.clone();
        placed.ancestors.clone_from(&current.ancestors);
        let moving = next.parent_id != current.parent_id;
        if moving {
            let new_parent_id = next
                .parent_id
                .ok_or_else(|| StoreError::Internal("the root cannot move".to_owned()))?;
            let parent = fetch_tenant(&mut tx, new_parent_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if current.contains(&parent) {
                return Err(StoreError::Conflict("tenant_cycle"));
            }
            if !parent.enabled {
                return Err(StoreError::Conflict("parent_disabled"));
            }
            placed = placed_under(next, &parent);
        }
        let old_path = tenant_path(&current);
        let new_path = tenant_path(&placed);
        let done = sqlx::query(
            "UPDATE tenants SET parent_id = ?, path = ?, name = ?, name_key = ?, enabled = ?, language = ?, \
             contact = ?, customer_type = ?, customer_id = ?, internal_tag = ?, update_lock_enabled = ?, \
             update_lock_owner_id = ?, ancestral_access = ?, mfa_status = ?, pricing_mode = ?, \
             description = ?, tags = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
        )
        .bind(placed.parent_id.map(|p| p.to_string()))
        .bind(&new_path)
        .bind(&placed.name)
        .bind(placed.name_key())
        .bind(placed.enabled)
        .bind(&placed.language)
        .bind(contact_json(&placed)?)
        .bind(&placed.customer_type)
        .bind(placed.customer_id.as_deref())
        .bind(placed.internal_tag.as_deref())
        .bind(placed.update_lock.enabled)
        .bind(placed.update_lock.owner_id.map(|o| o.to_string()))
        .bind(placed.ancestral_access)
        .bind(&placed.mfa_status)
        .bind(&placed.pricing_mode)
        .bind(&placed.description)
        .bind(crate::json_list(&placed.tags))
        .bind(audit.at.micros())
        .bind(placed.id.to_string())
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(map_tenant_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::VersionMismatch);
        }
        if moving {
            // The descendants keep their place below the tenant: only the prefix changes.
            let old_len = i64::try_from(old_path.len())
                .map_err(|_| StoreError::Internal("path too long".to_owned()))?;
            sqlx::query(
                "UPDATE tenants SET path = ? || substr(path, ?) WHERE path > ? AND path < ?",
            )
            .bind(&new_path)
            .bind(old_len + 1)
            .bind(&old_path)
            .bind(subtree_upper(&old_path))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            for parent in [current.parent_id, placed.parent_id].into_iter().flatten() {
                refresh_has_children(&mut tx, parent).await?;
            }
        }
        let stored = fetch_tenant(&mut tx, next.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let action = if moving { "move" } else { "update" };
        record(&mut tx, audit, Change::updated_tenant(&stored, action)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn delete_tenant_if_version(
        &self,
        id: TenantId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let current = fetch_tenant(&mut tx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.version != expected_version {
            return Err(StoreError::VersionMismatch);
        }
        // Recorded while the tenant still exists; its subtree goes with it in this transaction.
        let change = Change::new(ObjectType::Tenant, id, id, "delete")
            .versions(Some(expected_version), None);
        record(&mut tx, audit, change).await?;
        let low = tenant_path(&current);
        let high = subtree_upper(&low);
        sqlx::query(&format!(
            "DELETE FROM access_policies WHERE tenant_id IN ({SUBTREE_IDS}) \
             OR trustee_id IN (SELECT id FROM users WHERE tenant_id IN ({SUBTREE_IDS})) \
             OR trustee_id IN (SELECT id FROM api_clients WHERE tenant_id IN ({SUBTREE_IDS})) \
             OR trustee_id IN (SELECT id FROM groups WHERE domain_id IN ({SUBTREE_IDS})) \
             OR role IN (SELECT replace(id, '-', '') FROM roles WHERE domain_id IN ({SUBTREE_IDS}))"
        ))
        .bind(&low)
        .bind(&high)
        .bind(&low)
        .bind(&high)
        .bind(&low)
        .bind(&high)
        .bind(&low)
        .bind(&high)
        .bind(&low)
        .bind(&high)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(&format!(
            "UPDATE users SET personal_tenant_id = NULL, version = version + 1, updated_at = ? \
             WHERE personal_tenant_id IN ({SUBTREE_IDS}) AND tenant_id NOT IN ({SUBTREE_IDS})"
        ))
        .bind(audit.at.micros())
        .bind(&low)
        .bind(&high)
        .bind(&low)
        .bind(&high)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // A domain's groups (their memberships cascade), roles and configuration go with it.
        for table in ["groups", "roles", "domain_configs"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE domain_id IN ({SUBTREE_IDS})"
            ))
            .bind(&low)
            .bind(&high)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        for table in ["users", "api_clients"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant_id IN ({SUBTREE_IDS})"
            ))
            .bind(&low)
            .bind(&high)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        sqlx::query("DELETE FROM tenants WHERE path >= ? AND path < ?")
            .bind(&low)
            .bind(&high)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if let Some(parent) = current.parent_id {
            refresh_has_children(&mut tx, parent).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn tenant_user_ids(
        &self,
        tenant: TenantId,
        subtree: bool,
    ) -> Result<Vec<UserId>, StoreError> {
        let rows = if subtree {
            let path: Option<String> = sqlx::query("SELECT path FROM tenants WHERE id = ?")
                .bind(tenant.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?
                .map(|r| r.try_get("path"))
                .transpose()
                .map_err(map_err)?;
            let Some(path) = path else {
                return Ok(Vec::new());
            };
            let upper = subtree_upper(&path);
            sqlx::query(&format!(
                "SELECT id FROM users WHERE tenant_id IN ({SUBTREE_IDS}) ORDER BY login_key"
            ))
            .bind(path)
            .bind(upper)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
        } else {
            sqlx::query("SELECT id FROM users WHERE tenant_id = ? ORDER BY login_key")
                .bind(tenant.to_string())
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?
        };
        rows.iter()
            .map(|r| {
                let raw: String = r.try_get("id").map_err(map_err)?;
                UserId::parse(&raw)
                    .ok_or_else(|| StoreError::Internal("corrupt id in the database".to_owned()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant's users come out of an index in login order: no sort per listing.
    #[tokio::test]
    async fn a_tenants_users_are_read_in_login_order_from_an_index() {
        let (_dir, store) = crate::tests::temp_store().await;
        let rows = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT id FROM users WHERE tenant_id = 'x' ORDER BY login_key",
        )
        .fetch_all(&store.reader)
        .await
        .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        assert!(
            plan.iter().any(|d| d.contains("users_tenant_login")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    }

    #[test]
    fn a_subtree_range_holds_exactly_the_paths_below_its_root() {
        let root = "aaaaaaaa-0000-0000-0000-000000000000/";
        let upper = subtree_upper(root);
        let child = format!("{root}bbbbbbbb-0000-0000-0000-000000000000/");
        let sibling = "aaaaaaaa-0000-0000-0000-000000000001/";
        assert!(root < upper.as_str() && child.as_str() < upper.as_str());
        assert!(sibling >= upper.as_str() || sibling < root);
        assert_eq!(root.len() as i64, SEGMENT_CHARS);
    }
}
