//! SQLite implementation of [`warden_store::PolicyStore`].

use async_trait::async_trait;
use sqlx::Row;
use warden_domain::{AccessPolicy, PolicyId, Tenant, TenantId, TenantKind};
use warden_store::paths::path_ids;
use warden_store::{Audit, Change, PolicyStore, SearchHit, SearchObject, StoreError};

use crate::audit::record;
use crate::rows::{policy_from_row, tenant_path};
use crate::{map_err, SqliteStore};

/// The smallest string above every string that starts with `prefix` (SQLite compares text
/// bytewise, and no UTF-8 text continues past U+10FFFF).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// A subtree with at most this many tenants and users is searched from the tenants down;
/// a larger one through each property's index.
const SMALL_SUBTREE_TENANTS: i64 = 200;
const SMALL_SUBTREE_USERS: i64 = 5000;

/// One property's matches in a subtree, by walking that property's index in order: cheap when
/// the subtree holds a good share of all users, as the matches are dense in it.
fn search_by_property(property: &str) -> String {
    format!(
        "SELECT u.id, u.tenant_id, u.login, u.firstname, u.lastname, t.path FROM users u \
         JOIN tenants t ON t.id = u.tenant_id \
         WHERE {property} >= ? AND {property} < ? AND t.path >= ? AND t.path < ? \
         ORDER BY {property} LIMIT ?"
    )
}

/// One property's matches in a small subtree, from its tenants down to their users (the
/// `CROSS JOIN` keeps that order): its cost follows the subtree, not the whole table.
fn search_by_subtree(property: &str) -> String {
    format!(
        "SELECT u.id, u.tenant_id, u.login, u.firstname, u.lastname, t.path FROM tenants t \
         CROSS JOIN users u ON u.tenant_id = t.id \
         WHERE t.path >= ? AND t.path < ? AND {property} >= ? AND {property} < ? \
         ORDER BY {property} LIMIT ?"
    )
}

/// The user properties search matches, each an indexed expression.
const USER_PROPERTIES: [&str; 4] = [
    "u.login_key",
    "lower(u.email)",
    "lower(u.firstname)",
    "lower(u.lastname)",
];

impl SqliteStore {
    /// Whether the subtree at `[low, high)` holds few enough tenants and users to be searched
    /// from its tenants down. Both counts stop at their bound, so asking costs little either way.
    async fn is_small_subtree(&self, low: &str, high: &str) -> Result<bool, StoreError> {
        let tenants: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM tenants WHERE path >= ? AND path < ? LIMIT ?)",
        )
        .bind(low)
        .bind(high)
        .bind(SMALL_SUBTREE_TENANTS + 1)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        if tenants > SMALL_SUBTREE_TENANTS {
            return Ok(false);
        }
        let users: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM tenants t CROSS JOIN users u ON u.tenant_id = t.id \
             WHERE t.path >= ? AND t.path < ? LIMIT ?)",
        )
        .bind(low)
        .bind(high)
        .bind(SMALL_SUBTREE_USERS + 1)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(users <= SMALL_SUBTREE_USERS)
    }
}

/// Inserts one policy on the transaction's connection.
pub(crate) async fn insert_policy_on(
    conn: &mut sqlx::SqliteConnection,
    p: &AccessPolicy,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_policies (id, trustee_id, trustee_type, tenant_id, role, reach, \
         issuer_id, version, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
    )
    .bind(p.id.to_string())
    .bind(p.trustee_id.to_string())
    .bind(p.trustee_type.as_str())
    .bind(p.tenant_id.to_string())
    .bind(p.role.as_str())
    .bind(p.reach.as_str())
    .bind(p.issuer_id.to_string())
    .bind(p.version)
    .bind(p.created_at.micros())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn replace_policies(
        &self,
        trustee: uuid::Uuid,
        expected: &[PolicyId],
        policies: &[AccessPolicy],
        audit: &Audit,
    ) -> Result<Vec<AccessPolicy>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let held: Vec<String> =
            sqlx::query_scalar("SELECT id FROM access_policies WHERE trustee_id = ?")
                .bind(trustee.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        let mut held: Vec<PolicyId> = held.iter().filter_map(|id| PolicyId::parse(id)).collect();
        let mut wanted = expected.to_vec();
        held.sort();
        wanted.sort();
        if held != wanted {
            return Err(StoreError::VersionMismatch);
        }
        sqlx::query("DELETE FROM access_policies WHERE trustee_id = ?")
            .bind(trustee.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        for p in policies {
            let p = AccessPolicy {
                trustee_id: trustee,
                ..p.clone()
            };
            insert_policy_on(&mut tx, &p).await?;
        }
        let rows = sqlx::query(
            "SELECT * FROM access_policies WHERE trustee_id = ? ORDER BY created_at, id",
        )
        .bind(trustee.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let stored = rows
            .iter()
            .map(policy_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let home: Option<String> = sqlx::query_scalar(
            "SELECT tenant_id FROM users WHERE id = ?1 UNION ALL SELECT tenant_id FROM api_clients WHERE id = ?1",
        )
        .bind(trustee.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let home = home
            .and_then(|t| TenantId::parse(&t))
            .ok_or(StoreError::NotFound)?;
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
        let root_path = tenant_path(root);
        let root_upper = warden_store::paths::subtree_upper(&root_path);
        let (from, to) = (prefix.to_owned(), prefix_end(prefix));
        let small = self.is_small_subtree(&root_path, &root_upper).await?;
        let mut hits: Vec<SearchHit> = Vec::new();
        for property in USER_PROPERTIES {
            let sql = if small {
                search_by_subtree(property)
            } else {
                search_by_property(property)
            };
            let (first, second) = if small {
                ((&root_path, &root_upper), (&from, &to))
            } else {
                ((&from, &to), (&root_path, &root_upper))
            };
            let rows = sqlx::query(&sql)
                .bind(first.0)
                .bind(first.1)
                .bind(second.0)
                .bind(second.1)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
            for row in rows {
                let id: String = row.try_get("id").map_err(map_err)?;
                let id = uuid::Uuid::parse_str(&id)
                    .map_err(|_| StoreError::Internal("corrupt id".to_owned()))?;
                if hits.iter().any(|h| h.id == id) {
                    continue;
                }
                let tenant: String = row.try_get("tenant_id").map_err(map_err)?;
                let path: String = row.try_get("path").map_err(map_err)?;
                hits.push(SearchHit {
                    object: SearchObject::User,
                    id,
                    parent_id: TenantId::parse(&tenant),
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
             WHERE lower(name) >= ? AND lower(name) < ? AND path >= ? AND path < ? ORDER BY lower(name) LIMIT ?",
        )
        .bind(&from)
        .bind(&to)
        .bind(&root_path)
        .bind(warden_store::paths::subtree_upper(&root_path))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        for row in rows {
            let path: String = row.try_get("path").map_err(map_err)?;
            let tenant_path = path_ids(&path)?;
            let kind: String = row.try_get("kind").map_err(map_err)?;
            let parent: Option<String> = row.try_get("parent_id").map_err(map_err)?;
            hits.push(SearchHit {
                object: SearchObject::Tenant,
                id: tenant_path.last().map(|t| t.uuid()).unwrap_or_default(),
                parent_id: parent.as_deref().and_then(TenantId::parse),
                tenant_path,
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
        let path = tenant_path(root);
        let rows = sqlx::query(
            "SELECT p.id, p.trustee_id, p.trustee_type, p.tenant_id, p.role, p.reach, p.issuer_id, p.version, \
             p.created_at, COALESCE(u.tenant_id, c.tenant_id, g.domain_id) AS holder_home \
             FROM access_policies p JOIN tenants t ON t.id = p.tenant_id \
             LEFT JOIN users u ON u.id = p.trustee_id LEFT JOIN api_clients c ON c.id = p.trustee_id \
             LEFT JOIN groups g ON g.id = p.trustee_id \
             WHERE t.path >= ? AND t.path < ?",
        )
        .bind(&path)
        .bind(warden_store::paths::subtree_upper(&path))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        let mut holders = Vec::with_capacity(rows.len());
        for row in &rows {
            let home: Option<String> = row.try_get("holder_home").map_err(map_err)?;
            if let Some(home) = home.as_deref().and_then(TenantId::parse) {
                holders.push((policy_from_row(row)?, home));
            }
        }
        Ok(holders)
    }

    async fn tenant_names(&self, ids: &[TenantId]) -> Result<Vec<(TenantId, String)>, StoreError> {
        let mut names = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!("SELECT id, name FROM tenants WHERE id IN ({marks})");
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.reader).await.map_err(map_err)? {
                let id: String = row.try_get("id").map_err(map_err)?;
                if let Some(id) = TenantId::parse(&id) {
                    names.push((id, row.try_get("name").map_err(map_err)?));
                }
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use warden_store::{Audit, PolicyStore, StoreError};

    /// A replacement decided on a set that has changed since is refused.
    #[tokio::test]
    async fn a_replacement_based_on_a_stale_set_is_a_version_mismatch() {
        let (_dir, store) = crate::tests::temp_store().await;
        let trustee = uuid::Uuid::new_v4();
        let stale = [warden_domain::PolicyId::new_random()];
        let audit = Audit::system(warden_domain::Timestamp::EPOCH);
        let result = store.replace_policies(trustee, &stale, &[], &audit).await;
        assert!(
            matches!(result, Err(StoreError::VersionMismatch)),
            "{result:?}"
        );
        // The set matches, but there is no such user or client to hold it.
        let result = store.replace_policies(trustee, &[], &[], &audit).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    }

    /// Each property's query is answered from that property's index, never by scanning.
    #[tokio::test]
    async fn every_search_query_uses_an_index() {
        let (_dir, store) = crate::tests::temp_store().await;
        let plan = |sql: String| {
            let store = &store;
            async move {
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind("x")
                    .bind("y")
                    .bind("a")
                    .bind("b")
                    .bind(10)
                    .fetch_all(&store.reader)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| sqlx::Row::try_get::<String, _>(r, "detail").unwrap())
                    .collect::<Vec<String>>()
            }
        };
        for property in super::USER_PROPERTIES {
            // A large subtree: the property's own index, in order.
            let details = plan(super::search_by_property(property)).await;
            let users = details
                .iter()
                .find(|d| d.contains(" u "))
                .cloned()
                .unwrap_or_default();
            assert!(
                users.starts_with("SEARCH u USING INDEX"),
                "{property}: {details:?}"
            );
            // A small one: the tenants' path index, then each tenant's users by index.
            let details = plan(super::search_by_subtree(property)).await;
            assert!(
                details[0].starts_with("SEARCH t USING") && details[0].contains("tenants_path"),
                "{property}: {details:?}"
            );
            assert!(
                details[1].starts_with("SEARCH u USING") && details[1].contains("tenant_id=?"),
                "{property}: {details:?}"
            );
        }
    }
}
