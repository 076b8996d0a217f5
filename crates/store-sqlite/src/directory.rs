//! SQLite implementation of [`warden_store::DirectoryStore`]: the user listing and the
//! one-time tokens of activation and e-mail change.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use warden_domain::{Email, Timestamp, User, UserId};
use warden_store::{
    Audit, Change, ContactClaim, DirectoryStore, StoreError, UserListQuery, UserToken,
    UserTokenPurpose, UserWrite,
};

use crate::audit::record;
use crate::rows::{tenant_path, user_from_row, USER_COLUMNS};
use crate::{json_list, map_err, SqliteStore};

fn token_from_row(row: &SqliteRow) -> Result<UserToken, StoreError> {
    let corrupt = |what: &str| StoreError::Internal(format!("corrupt {what} in the database"));
    let user_id: String = row.try_get("user_id").map_err(map_err)?;
    let purpose: String = row.try_get("purpose").map_err(map_err)?;
    let new_email: Option<String> = row.try_get("new_email").map_err(map_err)?;
    Ok(UserToken {
        token_hash: row.try_get("token_hash").map_err(map_err)?,
        user_id: UserId::parse(&user_id).ok_or_else(|| corrupt("user_id"))?,
        purpose: UserTokenPurpose::parse(&purpose).ok_or_else(|| corrupt("purpose"))?,
        new_email: new_email.map(Email::from_trusted),
        expires_at: Timestamp::from_micros(row.try_get("expires_at").map_err(map_err)?),
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

async fn insert_token_on<'c, E>(executor: E, token: &UserToken) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO user_tokens (token_hash, user_id, purpose, new_email, expires_at, created_at) \
         VALUES (?,?,?,?,?,?)",
    )
    .bind(&token.token_hash)
    .bind(token.user_id.to_string())
    .bind(token.purpose.as_str())
    .bind(token.new_email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(token.expires_at.micros())
    .bind(token.created_at.micros())
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn revoke_tokens_on<'c, E>(
    executor: E,
    user_id: UserId,
    purpose: UserTokenPurpose,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    sqlx::query("DELETE FROM user_tokens WHERE user_id = ? AND purpose = ?")
        .bind(user_id.to_string())
        .bind(purpose.as_str())
        .execute(executor)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Refuses `claim` when another user of `user`'s tenant holds one of its details. Run on the
/// single writer's transaction, so no other write comes between the check and the write.
pub(crate) async fn check_contact_claim(
    tx: &mut sqlx::SqliteConnection,
    user: &User,
    claim: &ContactClaim,
) -> Result<(), StoreError> {
    if let Some(email) = &claim.email {
        let taken = sqlx::query(
            "SELECT 1 FROM users WHERE lower(email) = lower(?) AND tenant_id = ? AND id <> ? LIMIT 1",
        )
        .bind(email)
        .bind(user.tenant_id.to_string())
        .bind(user.id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if taken.is_some() {
            return Err(StoreError::Conflict("email"));
        }
    }
    if let Some((areacode, phone)) = &claim.phone {
        let taken = sqlx::query(
            "SELECT 1 FROM users WHERE tenant_id = ? AND areacode = ? AND phone = ? AND id <> ? LIMIT 1",
        )
        .bind(user.tenant_id.to_string())
        .bind(areacode)
        .bind(phone)
        .bind(user.id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if taken.is_some() {
            return Err(StoreError::Conflict("phone"));
        }
    }
    Ok(())
}

/// The compare-and-set of a user's fields, on a caller's transaction.
async fn update_user_on<'c, E>(
    executor: E,
    next: &User,
    expected_version: i64,
    now: Timestamp,
) -> Result<Option<SqliteRow>, StoreError>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let c = &next.contact;
    let sql = format!(
        "UPDATE users SET login = ?, login_key = ?, email = ?, areacode = ?, phone = ?, firstname = ?, \
         lastname = ?, address1 = ?, address2 = ?, city = ?, country = ?, state = ?, zipcode = ?, \
         language = ?, enabled = ?, terms_accepted = ?, notifications = ?, business_types = ?, \
         external_id = ?, description = ?, default_project_id = ?, tokens_not_before = ?, \
         pwd_status = ?, access_mode = ?, xuser_type = ?, xuser_id = ?, extra = ?, \
         version = version + 1, updated_at = ? WHERE id = ? AND version = ? RETURNING {USER_COLUMNS}"
    );
    sqlx::query(&sql)
        .bind(next.login.as_str())
        .bind(next.login.key())
        .bind(c.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(&c.areacode)
        .bind(&c.phone)
        .bind(&c.firstname)
        .bind(&c.lastname)
        .bind(&c.address1)
        .bind(&c.address2)
        .bind(&c.city)
        .bind(&c.country)
        .bind(&c.state)
        .bind(&c.zipcode)
        .bind(&next.language)
        .bind(next.enabled)
        .bind(next.terms_accepted)
        .bind(json_list(&next.notifications))
        .bind(json_list(&next.business_types))
        .bind(next.external_id.as_deref())
        .bind(&next.description)
        .bind(next.default_project_id.map(|p| p.to_string()))
        .bind(next.tokens_not_before.micros())
        .bind(next.iam.pwd_status)
        .bind(next.iam.access_mode.as_str())
        .bind(next.iam.external.as_ref().map(|x| x.xuser_type()))
        .bind(next.iam.external.as_ref().map(|x| x.xuser_id()))
        .bind(serde_json::Value::Object(next.extra.clone()).to_string())
        .bind(now.micros())
        .bind(next.id.to_string())
        .bind(expected_version)
        .fetch_optional(executor)
        .await
        .map_err(map_err)
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn list_users(&self, query: &UserListQuery) -> Result<Vec<User>, StoreError> {
        if query.ids.as_ref().is_some_and(Vec::is_empty) || query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
        if let Some(ids) = &query.ids {
            q.push(" AND id IN (");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(id.to_string());
            }
            q.push(")");
        }
        if let Some(tenant_id) = query.tenant_id {
            q.push(" AND tenant_id = ").push_bind(tenant_id.to_string());
        }
        if let Some(since) = query.updated_since {
            q.push(" AND updated_at >= ").push_bind(since.micros());
        }
        if let Some(after) = query.after {
            q.push(" AND id > ").push_bind(after.to_string());
        }
        if let Some(within) = &query.within {
            q.push(" AND (");
            if within.is_empty() {
                q.push("0 = 1");
            } else {
                // A semi-join on the tenants' path index: each subtree is one range scan.
                q.push("tenant_id IN (SELECT id FROM tenants WHERE ");
                for (i, tenant) in within.iter().enumerate() {
                    let (low, high) = warden_store::paths::subtree_range(&tenant_path(tenant));
                    if i > 0 {
                        q.push(" OR ");
                    }
                    q.push("(path >= ")
                        .push_bind(low)
                        .push(" AND path < ")
                        .push_bind(high)
                        .push(")");
                }
                q.push(")");
            }
            if let Some(also) = query.also {
                q.push(" OR id = ").push_bind(also.to_string());
            }
            q.push(")");
        }
        q.push(" ORDER BY id LIMIT ")
            .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn update_user_with_tokens(&self, write: &UserWrite<'_>) -> Result<User, StoreError> {
        let id = write.next.id;
        let plain = write.changed
            && write.claim.is_none()
            && write.revoke.is_none()
            && write.issue.is_none();
        // A change with nothing beside it changes this user's row and its audit trail only.
        let mut tx = if plain {
            self.begin_on_user(id).await?
        } else {
            self.writer.begin().await.map_err(map_err)?
        };
        if let Some(claim) = write.claim.filter(|_| write.changed) {
            check_contact_claim(&mut tx, write.next, claim).await?;
        }
        let row = if write.changed {
            update_user_on(&mut *tx, write.next, write.expected_version, write.audit.at).await?
        } else {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ? AND version = ?");
            sqlx::query(&sql)
                .bind(id.to_string())
                .bind(write.expected_version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
        };
        let Some(row) = row else {
            drop(tx);
            return Err(self.cas_failure("users", id.to_string()).await);
        };
        let user = user_from_row(&row)?;
        if write.changed {
            record(&mut tx, write.audit, Change::updated_user(&user, "update")).await?;
        }
        if let Some(purpose) = write.revoke {
            revoke_tokens_on(&mut *tx, id, purpose).await?;
        }
        if let Some(token) = write.issue {
            insert_token_on(&mut *tx, token).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn replace_user_token(&self, token: &UserToken) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        sqlx::query("SELECT 1 FROM users WHERE id = ?")
            .bind(token.user_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        revoke_tokens_on(&mut *tx, token.user_id, token.purpose).await?;
        insert_token_on(&mut *tx, token).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn find_user_token(
        &self,
        token_hash: &str,
        purpose: UserTokenPurpose,
        now: Timestamp,
    ) -> Result<Option<UserToken>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM user_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now.micros())
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    async fn activate_with_token(
        &self,
        token_hash: &str,
        password_hash: &str,
        audit: &Audit,
    ) -> Result<User, StoreError> {
        let now = audit.at;
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        // Deleting is the claim: of two requests with one token, only one gets the row.
        let claimed = sqlx::query(
            "DELETE FROM user_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ? \
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(UserTokenPurpose::Activation.as_str())
        .bind(now.micros())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let user_id: String = claimed.try_get("user_id").map_err(map_err)?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = ? AND purpose = ?")
            .bind(&user_id)
            .bind(UserTokenPurpose::Activation.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let sql = format!(
            "UPDATE users SET password_hash = ?, activated = 1, tokens_not_before = ?, \
             version = version + 1, updated_at = ? WHERE id = ? AND activated = 0 \
             RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(password_hash)
            .bind(now.micros())
            .bind(now.micros())
            .bind(&user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let user = row.map(|r| user_from_row(&r)).transpose()?;
        if let Some(user) = &user {
            record(&mut tx, audit, Change::updated_user(user, "activate")).await?;
        }
        // The spent tokens go either way: a user activated meanwhile has no use for them.
        tx.commit().await.map_err(map_err)?;
        user.ok_or(StoreError::NotFound)
    }

    async fn confirm_email_change(
        &self,
        token_hash: &str,
        audit: &Audit,
    ) -> Result<User, StoreError> {
        let now = audit.at;
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let claimed = sqlx::query(
            "DELETE FROM user_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ? \
             RETURNING user_id, new_email",
        )
        .bind(token_hash)
        .bind(UserTokenPurpose::EmailChange.as_str())
        .bind(now.micros())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let user_id: String = claimed.try_get("user_id").map_err(map_err)?;
        let new_email: Option<String> = claimed.try_get("new_email").map_err(map_err)?;
        let sql = format!(
            "UPDATE users SET email = ?, version = version + 1, updated_at = ? WHERE id = ? \
             RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_email)
            .bind(now.micros())
            .bind(&user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let user = user_from_row(&row)?;
        record(&mut tx, audit, Change::updated_user(&user, "confirm_email")).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn purge_expired_user_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM user_tokens WHERE expires_at <= ?")
            .bind(now.micros())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
