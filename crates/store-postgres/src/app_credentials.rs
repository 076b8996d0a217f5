//! Keystone application credentials on PostgreSQL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use warden_domain::{TenantId, Timestamp, UserId};
use warden_store::{
    app_credential_revocation_key, AppCredentialRecord, AppCredentialStore, Audit, ObjectType,
    StoreError,
};

use crate::catalog::user_object_event;
use crate::{map_err, PostgresStore};

fn app_credential_from_row(row: &PgRow) -> Result<AppCredentialRecord, StoreError> {
    let roles: Json<Vec<String>> = row.try_get("roles").map_err(map_err)?;
    let expires_at: Option<i64> = row.try_get("expires_at").map_err(map_err)?;
    Ok(AppCredentialRecord {
        id: row.try_get("id").map_err(map_err)?,
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
        project_id: TenantId::from_uuid(row.try_get("project_id").map_err(map_err)?),
        name: row.try_get("name").map_err(map_err)?,
        description: row.try_get("description").map_err(map_err)?,
        secret_hash: row.try_get("secret_hash").map_err(map_err)?,
        expires_at: expires_at.map(Timestamp::from_micros),
        unrestricted: row.try_get("unrestricted").map_err(map_err)?,
        roles: roles.0,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

/// Records a change of a credential in its user's tenant.
async fn event(
    conn: &mut PgConnection,
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
impl AppCredentialStore for PostgresStore {
    async fn insert_app_credential(
        &self,
        credential: &AppCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO application_credentials (id, user_id, project_id, name, description, \
             secret_hash, expires_at, unrestricted, roles, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(credential.id)
        .bind(credential.user_id.uuid())
        .bind(credential.project_id.uuid())
        .bind(&credential.name)
        .bind(&credential.description)
        .bind(&credential.secret_hash)
        .bind(credential.expires_at.map(|t| t.micros()))
        .bind(credential.unrestricted)
        .bind(Json(&credential.roles))
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
        let row = sqlx::query("SELECT * FROM application_credentials WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(app_credential_from_row).transpose()
    }

    async fn list_app_credentials(
        &self,
        user: UserId,
        name: Option<&str>,
    ) -> Result<Vec<AppCredentialRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT * FROM application_credentials WHERE user_id = ");
        q.push_bind(user.uuid());
        if let Some(name) = name {
            q.push(" AND name = ").push_bind(name);
        }
        q.push(" ORDER BY created_at, id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(app_credential_from_row).collect()
    }

    async fn delete_app_credential(
        &self,
        id: uuid::Uuid,
        revoke_until: Timestamp,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let user: uuid::Uuid = sqlx::query_scalar(
            "DELETE FROM application_credentials WHERE id = $1 RETURNING user_id",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(app_credential_revocation_key(id))
        .bind(revoke_until.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        event(&mut tx, audit, UserId::from_uuid(user), id, "delete").await?;
        tx.commit().await.map_err(map_err)
    }
}
