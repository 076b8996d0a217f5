//! PostgreSQL implementation of [`warden_store::PolicyStore`].

use async_trait::async_trait;
use sqlx::Row;
use warden_domain::{AccessPolicy, PolicyId, Tenant, TenantId, TenantKind};
use warden_store::paths::path_ids;
use warden_store::{Audit, Change, PolicyStore, SearchHit, SearchObject, StoreError};

use crate::audit::record;
use crate::rows::{policy_from_row, tenant_path, POLICY_COLUMNS};
use crate::{map_err, PostgresStore};

/// The user properties search matches, each an expression with a `text_pattern_ops` index.
const USER_PROPERTIES: [&str; 4] = [
    "u.login_key",
    "lower(u.email)",
    "lower(u.firstname)",
    "lower(u.lastname)",
];

/// `prefix` as a LIKE pattern matching what starts with it, its wildcards escaped.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait]
impl PolicyStore for PostgresStore {
    async fn replace_policies(
        &self,
        trustee: uuid::Uuid,
        expected: &[PolicyId],
        policies: &[AccessPolicy],
        audit: &Audit,
    ) -> Result<Vec<AccessPolicy>, StoreError> {
        let mut tx = self.begin().await?;
        // Serialise replacements of one trustee's set, so two concurrent PUTs cannot interleave.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
            .bind(trustee.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let held: Vec<uuid::Uuid> =
            sqlx::query_scalar("SELECT id FROM access_policies WHERE trustee_id = $1")
                .bind(trustee)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        let mut held: Vec<PolicyId> = held.into_iter().map(PolicyId::from_uuid).collect();
        let mut wanted = expected.to_vec();
        held.sort();
        wanted.sort();
        if held != wanted {
            return Err(StoreError::VersionMismatch);
        }
        sqlx::query("DELETE FROM access_policies WHERE trustee_id = $1")
            .bind(trustee)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        for p in policies {
            let p = AccessPolicy {
                trustee_id: trustee,
                ..p.clone()
            };
            crate::insert_policy_on(&mut *tx, &p).await?;
        }
        let sql = format!("SELECT {POLICY_COLUMNS} FROM access_policies WHERE trustee_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .bind(trustee)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let stored = rows
            .iter()
            .map(policy_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let home: Option<uuid::Uuid> = sqlx::query_scalar(
            "SELECT tenant_id FROM users WHERE id = $1 UNION ALL SELECT tenant_id FROM api_clients WHERE id = $1",
        )
        .bind(trustee)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let home = home.map(TenantId::from_uuid).ok_or(StoreError::NotFound)?;
        record(&mut tx, audit, Change::replaced_policies(trustee, home)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn search(
        &self,
        root: &Tenant,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let subtree = like_prefix(&tenant_path(root));
        let pattern = like_prefix(prefix);
        let mut hits: Vec<SearchHit> = Vec::new();
        for property in USER_PROPERTIES {
            let sql = format!(
                "SELECT u.id, u.tenant_id, u.login, u.firstname, u.lastname, t.path FROM users u \
                 JOIN tenants t ON t.id = u.tenant_id \
                 WHERE {property} LIKE $1 AND t.path LIKE $2 ORDER BY {property} LIMIT $3"
            );
            let rows = sqlx::query(&sql)
                .bind(&pattern)
                .bind(&subtree)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            for row in rows {
                let id: uuid::Uuid = row.try_get("id").map_err(map_err)?;
                if hits.iter().any(|h| h.id == id) {
                    continue;
                }
                let tenant: uuid::Uuid = row.try_get("tenant_id").map_err(map_err)?;
                let path: String = row.try_get("path").map_err(map_err)?;
                hits.push(SearchHit {
                    object: SearchObject::User,
                    id,
                    parent_id: Some(TenantId::from_uuid(tenant)),
                    tenant_path: path_ids(&path)?,
                    name: row.try_get("login").map_err(map_err)?,
                    kind: None,
                    first_name: row.try_get("firstname").map_err(map_err)?,
                    last_name: row.try_get("lastname").map_err(map_err)?,
                });
            }
        }
        let rows = sqlx::query(
            "SELECT id, parent_id, path, name, kind FROM tenants \
             WHERE lower(name) LIKE $1 AND path LIKE $2 ORDER BY lower(name) LIMIT $3",
        )
        .bind(&pattern)
        .bind(&subtree)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        for row in rows {
            let id: uuid::Uuid = row.try_get("id").map_err(map_err)?;
            let parent: Option<uuid::Uuid> = row.try_get("parent_id").map_err(map_err)?;
            let path: String = row.try_get("path").map_err(map_err)?;
            let kind: String = row.try_get("kind").map_err(map_err)?;
            hits.push(SearchHit {
                object: SearchObject::Tenant,
                id,
                parent_id: parent.map(TenantId::from_uuid),
                tenant_path: path_ids(&path)?,
                name: row.try_get("name").map_err(map_err)?,
                kind: TenantKind::parse(&kind),
                first_name: String::new(),
                last_name: String::new(),
            });
        }
        hits.sort_by_key(|h| h.name.to_lowercase());
        hits.truncate(limit as usize);
        Ok(hits)
    }

    async fn policy_holders_in(
        &self,
        root: &Tenant,
    ) -> Result<Vec<(AccessPolicy, TenantId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.trustee_id, p.trustee_type, p.tenant_id, p.role, p.reach, p.issuer_id, p.version, \
             p.created_at, COALESCE(u.tenant_id, c.tenant_id, g.domain_id) AS holder_home \
             FROM access_policies p JOIN tenants t ON t.id = p.tenant_id \
             LEFT JOIN users u ON u.id = p.trustee_id LEFT JOIN api_clients c ON c.id = p.trustee_id \
             LEFT JOIN groups g ON g.id = p.trustee_id \
             WHERE t.path LIKE $1",
        )
        .bind(like_prefix(&tenant_path(root)))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut holders = Vec::with_capacity(rows.len());
        for row in &rows {
            let home: Option<uuid::Uuid> = row.try_get("holder_home").map_err(map_err)?;
            if let Some(home) = home {
                holders.push((policy_from_row(row)?, TenantId::from_uuid(home)));
            }
        }
        Ok(holders)
    }

    async fn tenant_names(&self, ids: &[TenantId]) -> Result<Vec<(TenantId, String)>, StoreError> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(TenantId::uuid).collect();
        let rows = sqlx::query("SELECT id, name FROM tenants WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let id: uuid::Uuid = row.try_get("id").map_err(map_err)?;
                Ok((
                    TenantId::from_uuid(id),
                    row.try_get("name").map_err(map_err)?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(super::like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
