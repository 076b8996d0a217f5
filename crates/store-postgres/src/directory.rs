//! PostgreSQL implementation of [`warden_store::DirectoryStore`]: the user listing and the
//! one-time tokens of activation and e-mail change.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;
use warden_domain::{Email, Timestamp, User, UserId};
use warden_store::{
    Audit, Change, ContactClaim, DirectoryStore, ObjectType, StoreError, UserListQuery, UserToken,
    UserTokenPurpose, UserWrite,
};

use crate::audit::record;
use crate::rows::{tenant_path, user_from_row, USER_COLUMNS};
use crate::{map_err, PostgresStore};

fn token_from_row(row: &PgRow) -> Result<UserToken, StoreError> {
    let corrupt = |what: &str| StoreError::Internal(format!("corrupt {what} in the database"));
    let user_id: Uuid = row.try_get("user_id").map_err(map_err)?;
    let purpose: String = row.try_get("purpose").map_err(map_err)?;
    let new_email: Option<String> = row.try_get("new_email").map_err(map_err)?;
    Ok(UserToken {
        token_hash: row.try_get("token_hash").map_err(map_err)?,
        user_id: UserId::from_uuid(user_id),
        purpose: UserTokenPurpose::parse(&purpose).ok_or_else(|| corrupt("purpose"))?,
        new_email: new_email.map(Email::from_trusted),
        expires_at: Timestamp::from_micros(row.try_get("expires_at").map_err(map_err)?),
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(map_err)?),
    })
}

async fn insert_token_on<'c, E>(executor: E, token: &UserToken) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO user_tokens (token_hash, user_id, purpose, new_email, expires_at, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(&token.token_hash)
    .bind(token.user_id.uuid())
    .bind(token.purpose.as_str())
    .bind(token.new_email.as_ref().map(|e| e.as_str()))
    .bind(token.expires_at.micros())
    .bind(token.created_at.micros())
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn revoke_tokens_on<'c, E>(
    executor: E,
    user_id: Uuid,
    purpose: UserTokenPurpose,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    sqlx::query("DELETE FROM user_tokens WHERE user_id = $1 AND purpose = $2")
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(executor)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The compare-and-set of a user's fields, on a caller's transaction.
async fn update_user_on<'c, E>(
    executor: E,
    next: &User,
    expected_version: i64,
    audit: &Audit,
) -> Result<Option<PgRow>, StoreError>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let c = &next.contact;
    // The update and its audit event as one statement: the event is written exactly when the
    // compare-and-set matched, and a change with nothing beside it needs no transaction.
    let sql = format!(
        "WITH u AS (UPDATE users SET login = $1, login_key = $2, email = $3, areacode = $4, phone = $5, \
         firstname = $6, lastname = $7, address1 = $8, address2 = $9, city = $10, country = $11, \
         state = $12, zipcode = $13, language = $14, enabled = $15, terms_accepted = $16, \
         notifications = $17, business_types = $18, external_id = $19, description = $20, \
         default_project_id = $21, tokens_not_before = $22, version = version + 1, updated_at = $23, \
         pwd_status = $26, access_mode = $27, xuser_type = $28, xuser_id = $29, extra = $30 \
         WHERE id = $24 AND version = $25 RETURNING {USER_COLUMNS}), \
         e AS (INSERT INTO audit_events (at, actor_kind, actor_id, tenant_id, tenant_path, \
         object_type, object_id, action, old_version, new_version, request_id) \
         SELECT $23, $31, $32, t.id, t.path, $33, $34, $35, $25, $25 + 1, $36 \
         FROM u JOIN tenants t ON t.id = u.tenant_id) SELECT * FROM u"
    );
    let change = Change::new(ObjectType::User, next.id, next.tenant_id, "update")
        .versions(Some(expected_version), Some(expected_version + 1));
    sqlx::query(&sql)
        .bind(next.login.as_str())
        .bind(next.login.key())
        .bind(c.email.as_ref().map(|e| e.as_str()))
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
        .bind(Json(&next.notifications))
        .bind(Json(&next.business_types))
        .bind(next.external_id.as_deref())
        .bind(&next.description)
        .bind(next.default_project_id.map(|p| p.uuid()))
        .bind(next.tokens_not_before.micros())
        .bind(audit.at.micros())
        .bind(next.id.uuid())
        .bind(expected_version)
        .bind(next.iam.pwd_status)
        .bind(next.iam.access_mode.as_str())
        .bind(next.iam.external.as_ref().map(|x| x.xuser_type()))
        .bind(next.iam.external.as_ref().map(|x| x.xuser_id()))
        .bind(Json(&next.extra))
        .bind(audit.actor.kind())
        .bind(audit.actor_id(&change))
        .bind(change.object_type.as_str())
        .bind(&change.object_id)
        .bind(change.action)
        .bind(&audit.request_id)
        .fetch_optional(executor)
        .await
        .map_err(map_err)
}

/// Arbitrary first key of the transaction-scoped advisory locks that serialise contact claims
/// per tenant (the second key is a hash of the tenant's id).
const CONTACT_CLAIM_LOCK: i32 = 0x5741_5244;

/// Refuses `claim` when another user of `user`'s tenant holds one of its details. Claims in one
/// tenant take turns on an advisory lock held to the end of the transaction, so the check and
/// the write that follows it are one step for every other claimer.
pub(crate) async fn check_contact_claim(
    tx: &mut sqlx::PgConnection,
    user: &User,
    claim: &ContactClaim,
) -> Result<(), StoreError> {
    if claim.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(CONTACT_CLAIM_LOCK)
        .bind(user.tenant_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    if let Some(email) = &claim.email {
        let taken = sqlx::query(
            "SELECT 1 FROM users WHERE lower(email) = lower($1) AND tenant_id = $2 AND id <> $3 LIMIT 1",
        )
        .bind(email)
        .bind(user.tenant_id.uuid())
        .bind(user.id.uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if taken.is_some() {
            return Err(StoreError::Conflict("email"));
        }
    }
    if let Some((areacode, phone)) = &claim.phone {
        let taken = sqlx::query(
            "SELECT 1 FROM users WHERE tenant_id = $1 AND areacode = $2 AND phone = $3 AND id <> $4 LIMIT 1",
        )
        .bind(user.tenant_id.uuid())
        .bind(areacode)
        .bind(phone)
        .bind(user.id.uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if taken.is_some() {
            return Err(StoreError::Conflict("phone"));
        }
    }
    Ok(())
}

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn list_users(&self, query: &UserListQuery) -> Result<Vec<User>, StoreError> {
        if query.ids.as_ref().is_some_and(Vec::is_empty) || query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users WHERE TRUE"));
        if let Some(ids) = &query.ids {
            let ids: Vec<Uuid> = ids.iter().map(UserId::uuid).collect();
            q.push(" AND id = ANY(").push_bind(ids).push(")");
        }
        if let Some(tenant_id) = query.tenant_id {
            q.push(" AND tenant_id = ").push_bind(tenant_id.uuid());
        }
        if let Some(since) = query.updated_since {
            q.push(" AND updated_at >= ").push_bind(since.micros());
        }
        if let Some(after) = query.after {
            q.push(" AND id > ").push_bind(after.uuid());
        }
        if let Some(within) = &query.within {
            q.push(" AND (");
            if within.is_empty() {
                q.push("FALSE");
            } else {
                // A semi-join on the tenants' path index: each subtree is one range scan.
                q.push("tenant_id IN (SELECT id FROM tenants WHERE ");
                for (i, tenant) in within.iter().enumerate() {
                    let (low, high) = warden_store::paths::subtree_range(&tenant_path(tenant));
                    if i > 0 {
                        q.push(" OR ");
                    }
                    q.push("(path ~>=~ ")
                        .push_bind(low)
                        .push(" AND path ~<~ ")
                        .push_bind(high)
                        .push(")");
                }
                q.push(")");
            }
            if let Some(also) = query.also {
                q.push(" OR id = ").push_bind(also.uuid());
            }
            q.push(")");
        }
        q.push(" ORDER BY id LIMIT ")
            .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn update_user_with_tokens(&self, write: &UserWrite<'_>) -> Result<User, StoreError> {
        let id = write.next.id.uuid();
        let plain = write.changed
            && write.claim.is_none()
            && write.revoke.is_none()
            && write.issue.is_none();
        if plain {
            // A change with nothing beside it: one statement, with its audit event, that
            // changes this user's row and nothing else a node caches. The row it stores is
            // kept as the cached answer for the user, so the next change of the user does not
            // read it again.
            let writing = self
                .cache
                .writing_user(write.next.id, write.expected_version + 1);
            let row =
                update_user_on(&self.pool, write.next, write.expected_version, write.audit).await?;
            return match row {
                Some(row) => {
                    let user = user_from_row(&row)?;
                    writing.succeeded(&user);
                    Ok(user)
                }
                None => {
                    drop(writing);
                    Err(self.cas_failure("users", id).await)
                }
            };
        }
        let mut tx = self.begin().await?;
        if let Some(claim) = write.claim.filter(|_| write.changed) {
            check_contact_claim(&mut tx, write.next, claim).await?;
        }
        let row = if write.changed {
            update_user_on(&mut *tx, write.next, write.expected_version, write.audit).await?
        } else {
            // The row lock keeps a concurrent change from slipping between this check and the
            // tokens written below.
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND version = $2 FOR UPDATE"
            );
            sqlx::query(&sql)
                .bind(id)
                .bind(write.expected_version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
        };
        let Some(row) = row else {
            drop(tx);
            return Err(self.cas_failure("users", id).await);
        };
        let user = user_from_row(&row)?;
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
        let mut tx = self.begin().await?;
        // Locking the user serialises concurrent replacements, so exactly one token survives.
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(token.user_id.uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        revoke_tokens_on(&mut *tx, token.user_id.uuid(), token.purpose).await?;
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
            "SELECT token_hash, user_id, purpose, new_email, expires_at, created_at FROM user_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now.micros())
        .fetch_optional(&self.pool)
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
        let mut tx = self.begin().await?;
        // Deleting is the claim: of two requests with one token, only one gets the row.
        let claimed = sqlx::query(
            "DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3 \
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(UserTokenPurpose::Activation.as_str())
        .bind(now.micros())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let user_id: Uuid = claimed.try_get("user_id").map_err(map_err)?;
        revoke_tokens_on(&mut *tx, user_id, UserTokenPurpose::Activation).await?;
        let sql = format!(
            "UPDATE users SET password_hash = $1, activated = TRUE, tokens_not_before = $2, \
             version = version + 1, updated_at = $2 WHERE id = $3 AND NOT activated \
             RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(password_hash)
            .bind(now.micros())
            .bind(user_id)
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
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "DELETE FROM user_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3 \
             RETURNING user_id, new_email",
        )
        .bind(token_hash)
        .bind(UserTokenPurpose::EmailChange.as_str())
        .bind(now.micros())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let user_id: Uuid = claimed.try_get("user_id").map_err(map_err)?;
        let new_email: Option<String> = claimed.try_get("new_email").map_err(map_err)?;
        let sql = format!(
            "UPDATE users SET email = $1, version = version + 1, updated_at = $2 WHERE id = $3 \
             RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new_email)
            .bind(now.micros())
            .bind(user_id)
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
        let _writing = self.cache.writing();
        let done = sqlx::query("DELETE FROM user_tokens WHERE expires_at <= $1")
            .bind(now.micros())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
