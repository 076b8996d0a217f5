//! SQLite implementation of [`warden_store::ClientStore`].

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use warden_domain::{ApiClient, ClientId, TenantId, Timestamp, UserId};
use warden_store::{
    Audit, Change, ClientSecrets, ClientStore, ObjectType, RefreshRedemption, RefreshTokenRecord,
    StoreError,
};

use crate::audit::record;
use crate::rows::client_from_row;
use crate::{map_err, SqliteStore};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in the database"))
}

fn refresh_from_row(row: &SqliteRow) -> Result<RefreshTokenRecord, StoreError> {
    let text =
        |column: &str| -> Result<String, StoreError> { row.try_get(column).map_err(map_err) };
    let micros = |column: &str| -> Result<i64, StoreError> { row.try_get(column).map_err(map_err) };
    let client: Option<String> = row.try_get("client_id").map_err(map_err)?;
    let used: Option<i64> = row.try_get("used_at").map_err(map_err)?;
    Ok(RefreshTokenRecord {
        token_sha256: text("token_sha256")?,
        family_id: uuid::Uuid::try_parse(&text("family_id")?).map_err(|_| corrupt("family_id"))?,
        user_id: UserId::parse(&text("user_id")?).ok_or_else(|| corrupt("user_id"))?,
        client_id: client
            .map(|c| ClientId::parse(&c).ok_or_else(|| corrupt("client_id")))
            .transpose()?,
        auth_time: Timestamp::from_micros(micros("auth_time")?),
        issued_at: Timestamp::from_micros(micros("issued_at")?),
        expires_at: Timestamp::from_micros(micros("expires_at")?),
        used_at: used.map(Timestamp::from_micros),
        revoked: row.try_get("revoked").map_err(map_err)?,
    })
}

async fn insert_refresh_on<'c, E>(executor: E, t: &RefreshTokenRecord) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_sha256, family_id, user_id, client_id, auth_time, issued_at, \
         expires_at, used_at, revoked) VALUES (?,?,?,?,?,?,?,?,?)",
    )
    .bind(&t.token_sha256)
    .bind(t.family_id.to_string())
    .bind(t.user_id.to_string())
    .bind(t.client_id.map(|c| c.to_string()))
    .bind(t.auth_time.micros())
    .bind(t.issued_at.micros())
    .bind(t.expires_at.micros())
    .bind(t.used_at.map(|u| u.micros()))
    .bind(t.revoked)
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(
        &self,
        client: &ApiClient,
        secret_sha256: &str,
        registration_token_sha256: &str,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO api_clients (id, tenant_id, kind, token_endpoint_auth_method, data, secret_sha256, \
             enabled, allow_password_grant, registration_token_sha256, created_by, version, created_at) \
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(client.id.to_string())
        .bind(client.tenant_id.to_string())
        .bind(&client.kind)
        .bind(&client.token_endpoint_auth_method)
        .bind(client.data.to_string())
        .bind(secret_sha256)
        .bind(client.enabled)
        .bind(client.allow_password_grant)
        .bind(registration_token_sha256)
        .bind(client.created_by.map(|u| u.to_string()))
        .bind(client.version)
        .bind(client.created_at.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        record(&mut tx, audit, Change::created_client(client)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn client_secrets(
        &self,
        id: ClientId,
    ) -> Result<Option<(ApiClient, ClientSecrets)>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_clients WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let expires: Option<i64> = row.try_get("previous_secret_expires_at").map_err(map_err)?;
        let secrets = ClientSecrets {
            current_sha256: row.try_get("secret_sha256").map_err(map_err)?,
            previous_sha256: row.try_get("previous_secret_sha256").map_err(map_err)?,
            previous_expires_at: expires.map(Timestamp::from_micros),
        };
        Ok(Some((client_from_row(&row)?, secrets)))
    }

    async fn client_ids_of_tenant(&self, tenant: TenantId) -> Result<Vec<ClientId>, StoreError> {
        let rows =
            sqlx::query("SELECT id FROM api_clients WHERE tenant_id = ? ORDER BY created_at, id")
                .bind(tenant.to_string())
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let raw: String = r.try_get("id").map_err(map_err)?;
                ClientId::parse(&raw).ok_or_else(|| corrupt("id"))
            })
            .collect()
    }

    async fn clients_in_subtrees(&self, roots: &[TenantId]) -> Result<Vec<ApiClient>, StoreError> {
        let mut found: Vec<ApiClient> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for root in roots {
            let prefix: Option<String> =
                sqlx::query_scalar("SELECT path FROM tenants WHERE id = ?")
                    .bind(root.to_string())
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(map_err)?;
            let Some(prefix) = prefix else {
                continue;
            };
            let (low, high) = warden_store::paths::subtree_range(&prefix);
            let rows = sqlx::query(
                "SELECT c.* FROM api_clients c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE t.path >= ? AND t.path < ?",
            )
            .bind(low)
            .bind(high)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
            for row in &rows {
                let client = client_from_row(row)?;
                if seen.insert(client.id) {
                    found.push(client);
                }
            }
        }
        found.sort_by_key(|c| (c.created_at, c.id));
        Ok(found)
    }

    async fn update_client_if_version(
        &self,
        next: &ApiClient,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<ApiClient, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let row = sqlx::query(
            "UPDATE api_clients SET data = ?, enabled = ?, allow_password_grant = ?, version = version + 1 \
             WHERE id = ? AND version = ? RETURNING *",
        )
        .bind(next.data.to_string())
        .bind(next.enabled)
        .bind(next.allow_password_grant)
        .bind(next.id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.cas_failure("api_clients", next.id.to_string()).await);
        };
        let stored = client_from_row(&row)?;
        record(&mut tx, audit, Change::updated_client(&stored, "update")).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn rotate_client_secret(
        &self,
        id: ClientId,
        expected_version: i64,
        new_sha256: &str,
        previous_expires_at: Option<Timestamp>,
        audit: &Audit,
    ) -> Result<ApiClient, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        // The right-hand sides read the row as it was, so the old secret moves to `previous`.
        let row = sqlx::query(
            "UPDATE api_clients SET \
             previous_secret_sha256 = CASE WHEN ? IS NULL THEN NULL ELSE secret_sha256 END, \
             previous_secret_expires_at = ?, secret_sha256 = ?, version = version + 1, \
             tokens_not_before = CASE WHEN ? IS NULL THEN ? ELSE tokens_not_before END \
             WHERE id = ? AND version = ? RETURNING *",
        )
        .bind(previous_expires_at.map(|t| t.micros()))
        .bind(previous_expires_at.map(|t| t.micros()))
        .bind(new_sha256)
        .bind(previous_expires_at.map(|t| t.micros()))
        .bind(audit.at.micros())
        .bind(id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.cas_failure("api_clients", id.to_string()).await);
        };
        let stored = client_from_row(&row)?;
        record(
            &mut tx,
            audit,
            Change::updated_client(&stored, "rotate_secret"),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn delete_client_if_version(
        &self,
        id: ClientId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let tenant: Option<String> = sqlx::query_scalar(
            "DELETE FROM api_clients WHERE id = ? AND version = ? RETURNING tenant_id",
        )
        .bind(id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(tenant) = tenant.and_then(|t| TenantId::parse(&t)) else {
            drop(tx);
            return Err(self.cas_failure("api_clients", id.to_string()).await);
        };
        let change = Change::new(ObjectType::Client, id, tenant, "delete")
            .versions(Some(expected_version), None);
        record(&mut tx, audit, change).await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE client_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        insert_refresh_on(&self.writer, token).await
    }

    async fn find_refresh_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_sha256 = ?")
            .bind(token_sha256)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| refresh_from_row(&r)).transpose()
    }

    async fn redeem_refresh_token(
        &self,
        token_sha256: &str,
        next: &RefreshTokenRecord,
        now: Timestamp,
    ) -> Result<RefreshRedemption, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = ? \
             WHERE token_sha256 = ? AND used_at IS NULL AND revoked = 0 AND expires_at > ?",
        )
        .bind(now.micros())
        .bind(token_sha256)
        .bind(now.micros())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if spent.rows_affected() == 1 {
            insert_refresh_on(&mut *tx, next).await?;
            tx.commit().await.map_err(map_err)?;
            return Ok(RefreshRedemption::Rotated);
        }
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_sha256 = ?")
            .bind(token_sha256)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let outcome = match row.map(|r| refresh_from_row(&r)).transpose()? {
            Some(old) if old.used_at.is_some() => {
                sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?")
                    .bind(old.family_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                RefreshRedemption::Reused
            }
            _ => RefreshRedemption::Unusable,
        };
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn revoke_refresh_family(&self, family_id: uuid::Uuid) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ? AND revoked = 0",
        )
        .bind(family_id.to_string())
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired_refresh_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?")
            .bind(now.micros())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
