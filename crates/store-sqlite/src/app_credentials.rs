//! Keystone application credentials on SQLite.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use warden_domain::{TenantId, Timestamp, UserId};
use warden_store::{
    app_credential_revocation_key, AppCredentialRecord, AppCredentialStore, Audit, ObjectType,
    StoreError,
};

use crate::catalog::user_object_event;
use crate::{map_err, SqliteStore};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt application credential {what}"))
}

fn app_credential_from_row(row: &SqliteRow) -> Result<AppCredentialRecord, StoreError> {
    let text =
        |column: &str| -> Result<String, StoreError> { row.try_get(column).map_err(map_err) };
    let roles: Vec<String> = serde_json::from_str(&text("roles")?).map_err(|_| corrupt("roles"))?;
    let expires_at: Option<i64> = row.try_get("expires_at").map_err(map_err)?;
    Ok(AppCredentialRecord {
        id: uuid::Uuid::parse_str(&text("id")?).map_err(|_| corrupt("id"))?,
        user_id: UserId::parse(&text("user_id")?).ok_or_else(|| corrupt("user_id"))?,
        project_id: TenantId::parse(&text("project_id")?).ok_or_else(|| corrupt("project_id"))?,
        name: text("name")?,
        description: row.try_get("description").map_err(map_err)?,
        secret_hash: text("secret_hash")?,
        expires_at: expires_at.map(Timestamp::from_micros),
        unrestricted: row.try_get("unrestricted").map_err(map_err)?,
        roles,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

/// Records a change of a credential in its user's tenant.
async fn event(
    conn: &mut SqliteConnection,
    audit: &Audit,
    user: UserId,
    id: uuid::Uuid,
    action: &'static str,
) -> Result<(), StoreError> {
    let id = id.simple().to_string();
    user_object_event(
        conn,
        audit,
        ObjectType::ApplicationCredential,
        user,
        &id,
        action,
    )
    .await
}

#[async_trait]
impl AppCredentialStore for SqliteStore {
    async fn insert_app_credential(
        &self,
        credential: &AppCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let roles = serde_json::to_string(&credential.roles).map_err(|_| corrupt("roles"))?;
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO application_credentials (id, user_id, project_id, name, description, \
             secret_hash, expires_at, unrestricted, roles, created_at) \
             VALUES (?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(credential.id.to_string())
        .bind(credential.user_id.to_string())
        .bind(credential.project_id.to_string())
        .bind(&credential.name)
        .bind(&credential.description)
        .bind(&credential.secret_hash)
        .bind(credential.expires_at.map(|t| t.micros()))
        .bind(credential.unrestricted)
        .bind(roles)
        .bind(credential.created_at.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        event(&mut tx, audit, credential.user_id, credential.id, "create").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_app_credential(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<AppCredentialRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM application_credentials WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(app_credential_from_row).transpose()
    }

    async fn list_app_credentials(
        &self,
        user: UserId,
        name: Option<&str>,
    ) -> Result<Vec<AppCredentialRecord>, StoreError> {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT * FROM application_credentials WHERE user_id = ");
        q.push_bind(user.to_string());
        if let Some(name) = name {
            q.push(" AND name = ").push_bind(name);
        }
        q.push(" ORDER BY created_at, id");
        let rows = q.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(app_credential_from_row).collect()
    }

    async fn delete_app_credential(
        &self,
        id: uuid::Uuid,
        revoke_until: Timestamp,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let user: String = sqlx::query_scalar(
            "DELETE FROM application_credentials WHERE id = ? RETURNING user_id",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let user = UserId::parse(&user).ok_or_else(|| corrupt("user_id"))?;
        sqlx::query("INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)")
            .bind(app_credential_revocation_key(id))
            .bind(revoke_until.micros())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        event(&mut tx, audit, user, id, "delete").await?;
        tx.commit().await.map_err(map_err)
    }
}
