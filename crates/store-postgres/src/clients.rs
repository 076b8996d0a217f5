//! PostgreSQL implementation of [`warden_store::ClientStore`].

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;
use warden_domain::{ApiClient, ClientId, TenantId, Timestamp, UserId};
use warden_store::{
    Audit, Change, ClientSecrets, ClientStore, ObjectType, RefreshRedemption, RefreshTokenRecord,
    StoreError,
};

use crate::audit::record;
use crate::rows::{client_from_row, CLIENT_COLUMNS};
use crate::{map_err, PostgresStore};

const REFRESH_COLUMNS: &str = "token_sha256, family_id, user_id, client_id, auth_time, issued_at, \
    expires_at, used_at, revoked";

fn refresh_from_row(row: &PgRow) -> Result<RefreshTokenRecord, StoreError> {
    let micros = |column: &str| -> Result<i64, StoreError> { row.try_get(column).map_err(map_err) };
    let client: Option<uuid::Uuid> = row.try_get("client_id").map_err(map_err)?;
    let used: Option<i64> = row.try_get("used_at").map_err(map_err)?;
    Ok(RefreshTokenRecord {
        token_sha256: row.try_get("token_sha256").map_err(map_err)?,
        family_id: row.try_get("family_id").map_err(map_err)?,
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
        client_id: client.map(ClientId::from_uuid),
        auth_time: Timestamp::from_micros(micros("auth_time")?),
        issued_at: Timestamp::from_micros(micros("issued_at")?),
        expires_at: Timestamp::from_micros(micros("expires_at")?),
        used_at: used.map(Timestamp::from_micros),
        revoked: row.try_get("revoked").map_err(map_err)?,
    })
}

async fn insert_refresh_on<'c, E>(executor: E, t: &RefreshTokenRecord) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_sha256, family_id, user_id, client_id, auth_time, issued_at, \
         expires_at, used_at, revoked) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(&t.token_sha256)
    .bind(t.family_id)
    .bind(t.user_id.uuid())
    .bind(t.client_id.map(|c| c.uuid()))
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
impl ClientStore for PostgresStore {
    async fn insert_client(
        &self,
        client: &ApiClient,
        secret_sha256: &str,
        registration_token_sha256: &str,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_clients (id, tenant_id, kind, token_endpoint_auth_method, data, secret_sha256, \
             enabled, allow_password_grant, registration_token_sha256, created_by, version, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(client.id.uuid())
        .bind(client.tenant_id.uuid())
        .bind(&client.kind)
        .bind(&client.token_endpoint_auth_method)
        .bind(&client.data)
        .bind(secret_sha256)
        .bind(client.enabled)
        .bind(client.allow_password_grant)
        .bind(registration_token_sha256)
        .bind(client.created_by.map(|u| u.uuid()))
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
        let sql = format!(
            "SELECT {CLIENT_COLUMNS}, secret_sha256, previous_secret_sha256, previous_secret_expires_at \
             FROM api_clients WHERE id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id.uuid())
            .fetch_optional(&self.pool)
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
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT id FROM api_clients WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(ids.into_iter().map(ClientId::from_uuid).collect())
    }

    async fn clients_in_subtrees(&self, roots: &[TenantId]) -> Result<Vec<ApiClient>, StoreError> {
        let roots: Vec<uuid::Uuid> = roots.iter().map(|r| r.uuid()).collect();
        // A subtree is the range [path, path without its last '/' + '0'): paths hold only ids
        // and '/', and '0' is the byte after '/'. The byte-wise operators `~>=~`/`~<~` match
        // the `text_pattern_ops` index on `tenants.path` whatever the database collation.
        let columns = CLIENT_COLUMNS
            .split(',')
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM tenants r \
             JOIN tenants t ON t.path ~>=~ r.path AND t.path ~<~ (left(r.path, -1) || '0') \
             JOIN api_clients c ON c.tenant_id = t.id \
             WHERE r.id = ANY($1)"
        );
        let rows = sqlx::query(&sql)
            .bind(&roots)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let mut found: Vec<ApiClient> = Vec::with_capacity(rows.len());
        let mut seen = std::collections::HashSet::new();
        for row in &rows {
            let client = client_from_row(row)?;
            // Nested roots meet the same client more than once.
            if seen.insert(client.id) {
                found.push(client);
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
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE api_clients SET data = $1, enabled = $2, allow_password_grant = $3, version = version + 1 \
             WHERE id = $4 AND version = $5 RETURNING {CLIENT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&next.data)
            .bind(next.enabled)
            .bind(next.allow_password_grant)
            .bind(next.id.uuid())
            .bind(expected_version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.cas_failure("api_clients", next.id.uuid()).await);
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
        let mut tx = self.begin().await?;
        // The right-hand sides read the row as it was, so the old secret moves to `previous`.
        let sql = format!(
            "UPDATE api_clients SET \
             previous_secret_sha256 = CASE WHEN $1::BIGINT IS NULL THEN NULL ELSE secret_sha256 END, \
             previous_secret_expires_at = $1, secret_sha256 = $2, version = version + 1, \
             tokens_not_before = CASE WHEN $1::BIGINT IS NULL THEN $5 ELSE tokens_not_before END \
             WHERE id = $3 AND version = $4 RETURNING {CLIENT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(previous_expires_at.map(|t| t.micros()))
            .bind(new_sha256)
            .bind(id.uuid())
            .bind(expected_version)
            .bind(audit.at.micros())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.cas_failure("api_clients", id.uuid()).await);
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
        let mut tx = self.begin().await?;
        let tenant: Option<uuid::Uuid> = sqlx::query_scalar(
            "DELETE FROM api_clients WHERE id = $1 AND version = $2 RETURNING tenant_id",
        )
        .bind(id.uuid())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(tenant) = tenant else {
            drop(tx);
            return Err(self.cas_failure("api_clients", id.uuid()).await);
        };
        let change = Change::new(
            ObjectType::Client,
            id,
            TenantId::from_uuid(tenant),
            "delete",
        )
        .versions(Some(expected_version), None);
        record(&mut tx, audit, change).await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE client_id = $1")
            .bind(id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        let _writing = self.cache.writing();
        insert_refresh_on(&self.pool, token).await
    }

    async fn find_refresh_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_sha256 = $1");
        let row = sqlx::query(&sql)
            .bind(token_sha256)
            .fetch_optional(&self.pool)
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
        let mut tx = self.begin().await?;
        // The row lock taken by this UPDATE makes a concurrent redemption of the same token wait
        // for this transaction and then find it spent.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE token_sha256 = $2 AND used_at IS NULL AND NOT revoked AND expires_at > $1",
        )
        .bind(now.micros())
        .bind(token_sha256)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if spent.rows_affected() == 1 {
            insert_refresh_on(&mut *tx, next).await?;
            tx.commit().await.map_err(map_err)?;
            return Ok(RefreshRedemption::Rotated);
        }
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_sha256 = $1");
        let row = sqlx::query(&sql)
            .bind(token_sha256)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let outcome = match row.map(|r| refresh_from_row(&r)).transpose()? {
            Some(old) if old.used_at.is_some() => {
                sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE family_id = $1")
                    .bind(old.family_id)
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
        let _writing = self.cache.writing();
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked = TRUE WHERE family_id = $1 AND NOT revoked",
        )
        .bind(family_id)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired_refresh_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        let _writing = self.cache.writing();
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now.micros())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
