//! PostgreSQL implementation of [`warden_store::CredentialStore`]. Inserting a key first locks
//! its user's row, so two nodes creating keys for one user at once count each other's and the
//! quota holds under READ COMMITTED.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;
use warden_domain::{TenantId, Timestamp, UserId};
use warden_store::{
    Audit, Change, CredentialPatch, CredentialRecord, CredentialStatus, CredentialStore,
    ObjectType, StoreError, MAX_CREDENTIALS_PER_USER,
};

use crate::audit::record;
use crate::{map_err, PostgresStore};

const COLUMNS: &str = "access_key, user_id, status, description, created_at";

fn credential_from_row(row: &PgRow) -> Result<CredentialRecord, StoreError> {
    let status: String = row.try_get("status").map_err(map_err)?;
    Ok(CredentialRecord {
        access_key: row.try_get("access_key").map_err(map_err)?,
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
        status: CredentialStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal("corrupt status in the database".to_owned()))?,
        description: row.try_get("description").map_err(map_err)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

fn event(access_key: &str, tenant: uuid::Uuid, action: &'static str) -> Change {
    Change::new(
        ObjectType::Credential,
        access_key,
        TenantId::from_uuid(tenant),
        action,
    )
}

/// The tenant of the user owning `access_key`, read on the transaction's connection with the
/// key's row locked until the transaction ends.
async fn owner_tenant(
    conn: &mut sqlx::PgConnection,
    access_key: &str,
) -> Result<uuid::Uuid, StoreError> {
    sqlx::query_scalar(
        "SELECT u.tenant_id FROM credentials c JOIN users u ON u.id = c.user_id \
         WHERE c.access_key = $1 FOR UPDATE OF c",
    )
    .bind(access_key)
    .fetch_optional(conn)
    .await
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

#[async_trait]
impl CredentialStore for PostgresStore {
    async fn insert_credential(
        &self,
        credential: &CredentialRecord,
        sealed_secret: &[u8],
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let user = credential.user_id.uuid();
        let tenant: uuid::Uuid =
            sqlx::query_scalar("SELECT tenant_id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE user_id = $1")
            .bind(user)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if held >= MAX_CREDENTIALS_PER_USER {
            return Err(StoreError::Conflict("credential_quota"));
        }
        sqlx::query(
            "INSERT INTO credentials (access_key, user_id, secret_sealed, status, description, \
             created_at) VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(&credential.access_key)
        .bind(user)
        .bind(sealed_secret)
        .bind(credential.status.as_str())
        .bind(&credential.description)
        .bind(credential.created_at.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        record(
            &mut tx,
            audit,
            event(&credential.access_key, tenant, "create"),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn credentials_of_user(&self, user: UserId) -> Result<Vec<CredentialRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM credentials WHERE user_id = $1 ORDER BY created_at, access_key"
        ))
        .bind(user.uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(credential_from_row).collect()
    }

    async fn get_credential(
        &self,
        access_key: &str,
    ) -> Result<Option<(CredentialRecord, Vec<u8>)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, secret_sealed FROM credentials WHERE access_key = $1"
        ))
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.try_get("secret_sealed").map_err(map_err)?;
        Ok(Some((credential_from_row(&row)?, sealed)))
    }

    async fn update_credential(
        &self,
        access_key: &str,
        patch: &CredentialPatch,
        audit: &Audit,
    ) -> Result<CredentialRecord, StoreError> {
        let mut tx = self.begin().await?;
        let tenant = owner_tenant(&mut tx, access_key).await?;
        let row = sqlx::query(&format!(
            "UPDATE credentials SET status = COALESCE($1, status), \
             description = COALESCE($2, description) WHERE access_key = $3 RETURNING {COLUMNS}"
        ))
        .bind(patch.status.map(|s| s.as_str()))
        .bind(patch.description.as_deref())
        .bind(access_key)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        let stored = credential_from_row(&row)?;
        record(&mut tx, audit, event(access_key, tenant, "update")).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn delete_credential(&self, access_key: &str, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let tenant = owner_tenant(&mut tx, access_key).await?;
        sqlx::query("DELETE FROM credentials WHERE access_key = $1")
            .bind(access_key)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        record(&mut tx, audit, event(access_key, tenant, "delete")).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }
}
