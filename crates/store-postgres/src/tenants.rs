//! PostgreSQL implementation of [`warden_store::TenantStore`].
//!
//! Every write to the tree (create, change, move, delete, a personal tenant) first takes one
//! transaction-scoped advisory lock. Under READ COMMITTED a move's rewrite of a subtree's paths
//! does not see a child committed after the statement began, and a subtree delete would trip
//! over it; serialising the few tree writes across nodes rules both out, and taking the lock
//! before any row lock keeps them free of deadlocks. Subtrees are path ranges compared with
//! `~>=~` / `~<~`, the operators the `text_pattern_ops` index serves with bound parameters.

use async_trait::async_trait;
use sqlx::postgres::PgConnection;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;
use warden_domain::tenant::TenantFilter;
use warden_domain::{Tenant, TenantId, User, UserId};
use warden_store::paths::subtree_upper;
use warden_store::{Audit, Change, ObjectType, StoreError, TenantStore};

use crate::audit::record;
use crate::rows::{tenant_from_row, tenant_path, TENANT_COLUMNS};
use crate::{advisory_xact_lock, insert_user_on, map_err, PostgresStore};

/// Serialises writes to the tenant tree; "Warden" followed by 'T'.
const TENANT_TREE_LOCK: i64 = 0x5761_7264_656e_0054;

/// The index sibling names are unique on (migration 0002).
const SIBLING_NAME_INDEX: &str = "tenants_sibling_name";

/// Each level of a stored path is an id (36 characters) and a '/'; the length of a path is
/// therefore `(depth + 1) * SEGMENT_CHARS`.
const SEGMENT_CHARS: i64 = 37;

/// The ids of a subtree whose path range is `$1`..`$2`.
const SUBTREE_IDS: &str = "SELECT id FROM tenants WHERE path ~>=~ $1 AND path ~<~ $2";

fn map_tenant_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() && db.constraint() == Some(SIBLING_NAME_INDEX) {
            return StoreError::Conflict("tenant_name");
        }
    }
    map_err(e)
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
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query(
        "INSERT INTO tenants (id, parent_id, path, kind, name, name_key, is_domain, enabled, language, \
         owner_id, contact, customer_type, customer_id, internal_tag, update_lock_enabled, \
         update_lock_owner_id, ancestral_access, mfa_status, pricing_mode, has_children, description, \
         tags, version, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,\
         $24,$25)",
    )
    .bind(tenant.id.uuid())
    .bind(tenant.parent_id.map(|p| p.uuid()))
    .bind(tenant_path(tenant))
    .bind(tenant.kind.as_str())
    .bind(&tenant.name)
    .bind(tenant.name_key())
    .bind(tenant.is_domain)
    .bind(tenant.enabled)
    .bind(&tenant.language)
    .bind(tenant.owner_id.map(|o| o.uuid()))
    .bind(Json(&tenant.contact))
    .bind(&tenant.customer_type)
    .bind(tenant.customer_id.as_deref())
    .bind(tenant.internal_tag.as_deref())
    .bind(tenant.update_lock.enabled)
    .bind(tenant.update_lock.owner_id.map(|o| o.uuid()))
    .bind(tenant.ancestral_access)
    .bind(&tenant.mfa_status)
    .bind(&tenant.pricing_mode)
    .bind(tenant.has_children)
    .bind(&tenant.description)
    .bind(Json(&tenant.tags))
    .bind(tenant.version)
    .bind(tenant.created_at.micros())
    .bind(tenant.updated_at.micros())
    .execute(executor)
    .await
    .map_err(map_tenant_err)?;
    Ok(())
}

async fn fetch_tenant(conn: &mut PgConnection, id: TenantId) -> Result<Option<Tenant>, StoreError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.uuid())
        .fetch_optional(conn)
        .await
        .map_err(map_err)?;
    row.map(|r| tenant_from_row(&r)).transpose()
}

/// Recomputes whether a tenant has children, after one was added, moved away or deleted.
async fn refresh_has_children(conn: &mut PgConnection, id: TenantId) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tenants SET has_children = EXISTS (SELECT 1 FROM tenants AS c WHERE c.parent_id = tenants.id) \
         WHERE id = $1",
    )
    .bind(id.uuid())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

impl PostgresStore {
    async fn tenant_path_of(&self, id: TenantId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT path FROM tenants WHERE id = $1")
            .bind(id.uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get("path").map_err(map_err)).transpose()
    }
}

#[async_trait]
impl TenantStore for PostgresStore {
    async fn insert_tenant(&self, tenant: &Tenant, audit: &Audit) -> Result<Tenant, StoreError> {
        let parent_id = tenant
            .parent_id
            .ok_or_else(|| StoreError::Internal("a new tenant needs a parent".to_owned()))?;
        let mut tx = self.begin().await?;
        advisory_xact_lock(&mut tx, TENANT_TREE_LOCK).await?;
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
        let mut tx = self.begin().await?;
        advisory_xact_lock(&mut tx, TENANT_TREE_LOCK).await?;
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
        let mut query: QueryBuilder<sqlx::Postgres> =
            QueryBuilder::new(format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE "));
        match filter {
            TenantFilter::Ids(ids) => {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<Uuid> = ids.iter().map(TenantId::uuid).collect();
                query.push("id = ANY(").push_bind(ids).push(")");
            }
            TenantFilter::Children(parent) => {
                query.push("parent_id = ").push_bind(parent.uuid());
            }
            TenantFilter::Subtree(root) => {
                let Some(path) = self.tenant_path_of(*root).await? else {
                    return Ok(Vec::new());
                };
                let upper = subtree_upper(&path);
                query
                    .push("path ~>=~ ")
                    .push_bind(path)
                    .push(" AND path ~<~ ")
                    .push_bind(upper);
            }
        }
        if let Some((depth, id)) = after {
            let len = i32::try_from(depth.saturating_add(1).saturating_mul(SEGMENT_CHARS))
                .unwrap_or(i32::MAX);
            query
                .push(" AND (length(path) > ")
                .push_bind(len)
                .push(" OR (length(path) = ")
                .push_bind(len)
                .push(" AND id > ")
                .push_bind(id.uuid())
                .push("))");
        }
        query
            .push(" ORDER BY length(path), id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn child_tenants(&self, parent: TenantId) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE parent_id = $1 ORDER BY name COLLATE \"C\", id"
        );
        let rows = sqlx::query(&sql)
            .bind(parent.uuid())
            .fetch_all(&self.pool)
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
        let mut tx = self.begin().await?;
        advisory_xact_lock(&mut tx, TENANT_TREE_LOCK).await?;
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
            "UPDATE tenants SET parent_id = $1, path = $2, name = $3, name_key = $4, enabled = $5, \
             language = $6, contact = $7, customer_type = $8, customer_id = $9, internal_tag = $10, \
             update_lock_enabled = $11, update_lock_owner_id = $12, ancestral_access = $13, \
             mfa_status = $14, pricing_mode = $15, description = $16, tags = $17, \
             version = version + 1, updated_at = $18 WHERE id = $19 AND version = $20",
        )
        .bind(placed.parent_id.map(|p| p.uuid()))
        .bind(&new_path)
        .bind(&placed.name)
        .bind(placed.name_key())
        .bind(placed.enabled)
        .bind(&placed.language)
        .bind(Json(&placed.contact))
        .bind(&placed.customer_type)
        .bind(placed.customer_id.as_deref())
        .bind(placed.internal_tag.as_deref())
        .bind(placed.update_lock.enabled)
        .bind(placed.update_lock.owner_id.map(|o| o.uuid()))
        .bind(placed.ancestral_access)
        .bind(&placed.mfa_status)
        .bind(&placed.pricing_mode)
        .bind(&placed.description)
        .bind(Json(&placed.tags))
        .bind(audit.at.micros())
        .bind(placed.id.uuid())
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(map_tenant_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::VersionMismatch);
        }
        if moving {
            // The descendants keep their place below the tenant: only the prefix changes.
            let old_len = i32::try_from(old_path.len())
                .map_err(|_| StoreError::Internal("path too long".to_owned()))?;
            sqlx::query(
                "UPDATE tenants SET path = $1 || substr(path, $2) WHERE path ~>~ $3 AND path ~<~ $4",
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
        let mut tx = self.begin().await?;
        advisory_xact_lock(&mut tx, TENANT_TREE_LOCK).await?;
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
             OR role IN (SELECT replace(id::text, '-', '') FROM roles WHERE domain_id IN ({SUBTREE_IDS}))"
        ))
        .bind(&low)
        .bind(&high)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(&format!(
            "UPDATE users SET personal_tenant_id = NULL, version = version + 1, updated_at = $3 \
             WHERE personal_tenant_id IN ({SUBTREE_IDS}) AND tenant_id NOT IN ({SUBTREE_IDS})"
        ))
        .bind(&low)
        .bind(&high)
        .bind(audit.at.micros())
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
        sqlx::query("DELETE FROM tenants WHERE path ~>=~ $1 AND path ~<~ $2")
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
            let Some(path) = self.tenant_path_of(tenant).await? else {
                return Ok(Vec::new());
            };
            let upper = subtree_upper(&path);
            sqlx::query(&format!(
                "SELECT id FROM users WHERE tenant_id IN ({SUBTREE_IDS}) ORDER BY login_key"
            ))
            .bind(path)
            .bind(upper)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
        } else {
            sqlx::query("SELECT id FROM users WHERE tenant_id = $1 ORDER BY login_key")
                .bind(tenant.uuid())
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?
        };
        rows.iter()
            .map(|r| {
                r.try_get::<Uuid, _>("id")
                    .map(UserId::from_uuid)
                    .map_err(map_err)
            })
            .collect()
    }
}
