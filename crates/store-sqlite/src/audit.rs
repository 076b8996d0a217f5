//! SQLite implementation of the audit trail: [`record`] is called by every write inside its
//! transaction; [`warden_store::AuditStore`] reads the trail back.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use warden_store::paths::subtree_range;
use warden_store::{Audit, AuditEvent, AuditQuery, AuditStore, Change, StoreError};

use crate::rows::{audit_event_from_row, tenant_path};
use crate::{map_err, SqliteStore};

/// Writes the event of `change` on the transaction's connection. The tenant's current path is
/// copied into the event, so the tenant must still exist: a deletion records its event first.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    audit: &Audit,
    change: Change,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "INSERT INTO audit_events (at, actor_kind, actor_id, tenant_id, tenant_path, object_type, \
         object_id, action, old_version, new_version, request_id) \
         SELECT ?, ?, ?, id, path, ?, ?, ?, ?, ?, ? FROM tenants WHERE id = ?",
    )
    .bind(audit.at.micros())
    .bind(audit.actor.kind())
    .bind(audit.actor_id(&change))
    .bind(change.object_type.as_str())
    .bind(&change.object_id)
    .bind(change.action)
    .bind(change.old_version)
    .bind(change.new_version)
    .bind(&audit.request_id)
    .bind(change.tenant_id.to_string())
    .execute(conn)
    .await
    .map_err(map_err)?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_events(&self, query: &AuditQuery<'_>) -> Result<Vec<AuditEvent>, StoreError> {
        let (low, high) = subtree_range(&tenant_path(query.subtree_of));
        let mut sql: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT * FROM audit_events WHERE tenant_path >= ");
        sql.push_bind(low)
            .push(" AND tenant_path < ")
            .push_bind(high);
        if let Some(object) = query.object_id {
            sql.push(" AND object_id = ").push_bind(object.to_owned());
        }
        if let Some(after) = query.after {
            sql.push(" AND seq > ").push_bind(after);
        }
        sql.push(" ORDER BY seq LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(audit_event_from_row).collect()
    }
}
