//! The scale-out store: PostgreSQL shared by any number of stateless nodes. Every operation is
//! one statement or one transaction; compare-and-set on `version` and advisory locks keep the
//! rules that a single SQLite writer gets for free (one root, one active signing key) true
//! when several nodes write at once.

mod app_credentials;
mod audit;
mod catalog;
mod clients;
mod credentials;
mod directory;
mod feed;
mod keystone;
mod keystone_extras;
mod policies;
mod rows;
mod tenants;
#[cfg(test)]
mod tests;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::Row;
use warden_domain::{AccessPolicy, ApiClient, ClientId, Tenant, TenantId, Timestamp, User, UserId};
use warden_store::read_cache::{ReadCache, Scope, Writing};
use warden_store::{
    Audit, BootstrapPlan, Change, ContactClaim, DirectoryStore as _, LoginFailures, ObjectType,
    SigningKeyRecord, Store, StoreError, UserCredentials, UserWrite,
};

use rows::{
    client_from_row, key_from_row, policy_from_row, tenant_from_row, user_from_row, CLIENT_COLUMNS,
    KEY_COLUMNS, POLICY_COLUMNS, TENANT_COLUMNS, USER_COLUMNS,
};

/// The migrations of this backend, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Names of the migrations, in order; the SQLite backend must hold the same list.
pub fn migration_names() -> Vec<String> {
    MIGRATOR
        .iter()
        .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
        .collect()
}

/// How long a request waits for a connection before the store reports itself unavailable:
/// with the database down, requests fail fast instead of piling up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The statements of the reads every authenticated request makes, built once rather than on
/// each call (a cached answer needs none of them).
static USER_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
static TENANT_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"));
static TOKEN_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND NOT EXISTS \
         (SELECT 1 FROM revoked_tokens WHERE jti = ANY($2))"
    )
});
static TOKEN_CLIENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CLIENT_COLUMNS} FROM api_clients WHERE id = $1 AND NOT EXISTS \
         (SELECT 1 FROM revoked_tokens WHERE jti = ANY($2))"
    )
});
// UUIDs order as their hyphenated text does, so this is the SQLite backend's order.
static POLICIES_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {POLICY_COLUMNS} FROM access_policies WHERE trustee_id = $1 ORDER BY created_at, id"
    )
});

/// A pooled connection idle for this long is pinged before it is handed out.
const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// Bounds every statement on pooled connections, so a stuck database or a runaway query turns
/// into `Unavailable` instead of holding a request and a connection indefinitely.
const STATEMENT_TIMEOUT: &str = "5s";

/// Advisory lock keys, scoped to the database. They serialise the few writes whose rule is
/// about the whole table rather than one row. The values spell "Warden" followed by a number.
const BOOTSTRAP_LOCK: i64 = 0x5761_7264_656e_0001;
const SIGNING_KEY_LOCK: i64 = 0x5761_7264_656e_0002;

/// Unique constraints whose violation the callers tell apart; named in the migration.
const LOGIN_CONSTRAINT: &str = "users_login_key";
const ROOT_INDEX: &str = "tenants_single_root";
const XUSER_INDEX: &str = "users_xuser";

pub struct PostgresStore {
    pool: PgPool,
    /// Reads every authenticated request makes, kept while nothing they depend on changes:
    /// this node's writes stamp it as they begin and end, other nodes' are told by the change
    /// feed.
    cache: Arc<ReadCache>,
    feed: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.feed.abort();
    }
}

/// A write transaction of this node, counted by the read cache from before it begins until
/// after it commits or rolls back. It is used as the connection it runs on.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    _writing: Writing,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        // The write counts as under way until this function returns, after the commit.
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl PostgresStore {
    /// Connects to the database at `url`, applies pending migrations and returns a store whose
    /// pool of at most `max_connections` connects lazily. Fails with `Unavailable` within a
    /// couple of seconds when the database cannot be reached.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::open_with(url, max_connections, feed::Timing::DEFAULT).await
    }

    /// [`PostgresStore::open`] with the change feed on its own clock.
    pub(crate) async fn open_with(
        url: &str,
        max_connections: u32,
        timing: feed::Timing,
    ) -> Result<Self, StoreError> {
        // The URL may carry a password, so neither it nor the parser's message is echoed.
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Internal("bad PostgreSQL URL".to_owned()))?;
        migrate(&options).await?;
        let cache = ReadCache::dark();
        let feed = feed::follow(options.clone(), &cache, timing);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection in steady use is not pinged before each statement (a round trip
            // each); one that sat idle is, so a database restart is noticed before a request
            // uses a dead connection. One that dies in use fails its request with 503.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options.options([("statement_timeout", STATEMENT_TIMEOUT)]));
        Ok(Self { pool, cache, feed })
    }

    /// Begins a write transaction (see [`WriteTx`]).
    pub(crate) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let writing = self.cache.writing();
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(WriteTx {
            tx,
            _writing: writing,
        })
    }

    /// Whether the change feed is connected, so that reads may be served from the cache.
    pub fn change_feed_connected(&self) -> bool {
        self.cache.is_lit()
    }
}

/// Applies pending migrations through a one-connection pool of its own. Nodes that start
/// together against an empty database are safe: sqlx's PostgreSQL migrator holds a session
/// advisory lock (keyed on the database name) from before it creates its bookkeeping table until
/// it is done, so the others wait and then find nothing left to apply. That connection
/// deliberately has no statement timeout: waiting for another node's migration, or a long one,
/// is not a failure. Closing the pool, also after an error, ends the session and so the lock.
async fn migrate(options: &PgConnectOptions) -> Result<(), StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await
        .map_err(map_err)?;
    let outcome = MIGRATOR.run(&pool).await;
    pool.close().await;
    outcome.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => match map_err(inner) {
            StoreError::Unavailable(text) => StoreError::Unavailable(text),
            other => StoreError::Internal(format!("migration failed: {other}")),
        },
        other => StoreError::Internal(format!("migration failed: {other}")),
    })
}

/// SQLSTATEs meaning the database cannot serve right now rather than that the request is wrong:
/// class 08 (connection exception), administrator or crash shutdown, "cannot connect now"
/// while starting, too many connections, and a statement cancelled by `statement_timeout`.
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "57014" | "53300")
}

/// Maps a sqlx error, naming unique-constraint violations by the rule they concern.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => match db.constraint() {
            Some(LOGIN_CONSTRAINT) => StoreError::Conflict("login"),
            Some(ROOT_INDEX) => StoreError::Conflict("root"),
            Some(XUSER_INDEX) => StoreError::Conflict("xuser"),
            _ => StoreError::Conflict("unique"),
        },
        // character_not_in_repertoire, untranslatable_character: a NUL in a text parameter.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")) => {
            StoreError::InvalidText
        }
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_unavailable_sqlstate(&c)) => {
            StoreError::Unavailable(e.to_string())
        }
        // A row it refers to went away in a race (say, its tenant was deleted): the
        // request is answered as about a missing object, not as a failure.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

async fn insert_tenant_on<'c, E>(executor: E, tenant: &Tenant) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    tenants::insert_tenant_on(executor, tenant).await
}

async fn insert_user_on<'c, E>(
    executor: E,
    user: &User,
    password_hash: Option<&str>,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let c = &user.contact;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, login, login_key, email, areacode, phone, firstname, lastname, \
         address1, address2, city, country, state, zipcode, language, activated, enabled, terms_accepted, \
         mfa_status, notifications, business_types, external_id, personal_tenant_id, description, \
         default_project_id, password_hash, tokens_not_before, version, created_at, updated_at, \
         pwd_status, access_mode, xuser_type, xuser_id, extra) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,\
         $26,$27,$28,$29,$30,$31,$32,$33,$34,$35,$36)",
    )
    .bind(user.id.uuid())
    .bind(user.tenant_id.uuid())
    .bind(user.login.as_str())
    .bind(user.login.key())
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
    .bind(&user.language)
    .bind(user.activated)
    .bind(user.enabled)
    .bind(user.terms_accepted)
    .bind(&user.mfa_status)
    .bind(Json(&user.notifications))
    .bind(Json(&user.business_types))
    .bind(user.external_id.as_deref())
    .bind(user.personal_tenant_id.map(|t| t.uuid()))
    .bind(&user.description)
    .bind(user.default_project_id.map(|p| p.uuid()))
    .bind(password_hash)
    .bind(user.tokens_not_before.micros())
    .bind(user.version)
    .bind(user.created_at.micros())
    .bind(user.updated_at.micros())
    .bind(user.iam.pwd_status)
    .bind(user.iam.access_mode.as_str())
    .bind(user.iam.external.as_ref().map(|x| x.xuser_type()))
    .bind(user.iam.external.as_ref().map(|x| x.xuser_id()))
    .bind(Json(&user.extra))
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn insert_policy_on<'c, E>(
    executor: E,
    policy: &AccessPolicy,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query(
        "INSERT INTO access_policies (id, trustee_id, trustee_type, tenant_id, role, reach, \
         issuer_id, version, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(policy.id.uuid())
    .bind(policy.trustee_id)
    .bind(policy.trustee_type.as_str())
    .bind(policy.tenant_id.uuid())
    .bind(policy.role.as_str())
    .bind(policy.reach.as_str())
    .bind(policy.issuer_id)
    .bind(policy.version)
    .bind(policy.created_at.micros())
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn insert_client_on<'c, E>(
    executor: E,
    client: &ApiClient,
    secret_sha256: &str,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query(
        "INSERT INTO api_clients (id, tenant_id, kind, token_endpoint_auth_method, data, secret_sha256, enabled, \
         created_by, version, created_at, allow_password_grant) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
    )
    .bind(client.id.uuid())
    .bind(client.tenant_id.uuid())
    .bind(&client.kind)
    .bind(&client.token_endpoint_auth_method)
    .bind(&client.data)
    .bind(secret_sha256)
    .bind(client.enabled)
    .bind(client.created_by.map(|u| u.uuid()))
    .bind(client.version)
    .bind(client.created_at.micros())
    .bind(client.allow_password_grant)
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn insert_signing_key_on(
    conn: &mut PgConnection,
    key: &SigningKeyRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, private_key_encrypted, public_jwk, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(key.state.as_str())
    .bind(&key.private_key_encrypted)
    .bind(&key.public_jwk)
    .bind(key.created_at.micros())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Takes a transaction-scoped advisory lock, released by commit or rollback.
async fn advisory_xact_lock(conn: &mut PgConnection, key: i64) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

impl PostgresStore {
    async fn credentials(
        &self,
        clause: &str,
        key: impl for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS}, password_hash, login_failures, login_window_start, login_last_failure FROM users WHERE {clause} = $1");
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(UserCredentials {
                user: user_from_row(&r)?,
                password_hash: r.try_get("password_hash").map_err(map_err)?,
                failures: LoginFailures {
                    count: r.try_get("login_failures").map_err(map_err)?,
                    window_start: Timestamp::from_micros(
                        r.try_get("login_window_start").map_err(map_err)?,
                    ),
                    last: Timestamp::from_micros(r.try_get("login_last_failure").map_err(map_err)?),
                },
            })),
        }
    }

    /// The row `sql` finds by id (`$1`) and, when given, a list of token ids (`$2`), read
    /// with `from_row`.
    async fn optional_row<T>(
        &self,
        sql: &str,
        id: uuid::Uuid,
        jtis: Option<&[&str]>,
        from_row: fn(&sqlx::postgres::PgRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut query = sqlx::query(sql).bind(id);
        if let Some(jtis) = jtis {
            query = query.bind(jtis);
        }
        let row = query.fetch_optional(&self.pool).await.map_err(map_err)?;
        row.map(|r| from_row(&r)).transpose()
    }

    /// Tells apart "gone" and "changed" after a compare-and-set matched no row.
    async fn cas_failure(&self, table: &'static str, id: uuid::Uuid) -> StoreError {
        let sql = format!("SELECT 1 FROM {table} WHERE id = $1");
        match sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await {
            Ok(Some(_)) => StoreError::VersionMismatch,
            Ok(None) => StoreError::NotFound,
            Err(e) => map_err(e),
        }
    }

    /// Everything `bootstrap` writes, on a transaction that already holds the bootstrap lock.
    /// Returns whether it wrote anything.
    async fn bootstrap_on(
        conn: &mut PgConnection,
        plan: &BootstrapPlan,
    ) -> Result<bool, StoreError> {
        advisory_xact_lock(&mut *conn, BOOTSTRAP_LOCK).await?;
        // Read after taking the lock: under READ COMMITTED this statement sees a root committed
        // by whichever caller held the lock before us.
        let existing = sqlx::query("SELECT 1 FROM tenants WHERE kind = 'root'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
        if existing.is_some() {
            return Ok(false);
        }
        insert_tenant_on(&mut *conn, &plan.root).await?;
        insert_user_on(&mut *conn, &plan.admin, Some(&plan.admin_password_hash)).await?;
        insert_policy_on(&mut *conn, &plan.admin_policy).await?;
        insert_client_on(&mut *conn, &plan.client, &plan.client_secret_hash).await?;
        let audit = Audit::system(plan.root.created_at);
        for change in plan.changes() {
            audit::record(&mut *conn, &audit, change).await?;
        }
        Ok(true)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn bootstrap(&self, plan: &BootstrapPlan) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        match Self::bootstrap_on(&mut tx, plan).await {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            // The lock makes this unreachable among callers of this code; the single-root
            // index still has the last word against any other writer.
            Err(StoreError::Conflict("root")) => return Ok(false),
            Err(e) => return Err(e),
        }
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn root_tenant(&self) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE kind = 'root'");
        let row = sqlx::query(&sql)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| tenant_from_row(&r)).transpose()
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Arc<Tenant>, StoreError> {
        let read = self.optional_row(&TENANT_BY_ID, id.uuid(), None, tenant_from_row);
        self.cache
            .tenant(id, read)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn find_domain_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE is_domain AND name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| tenant_from_row(&r)).transpose()
    }

    async fn insert_user(&self, user: &User, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_user_on(&mut *tx, user, None).await?;
        audit::record(&mut tx, audit, Change::created_user(user)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn insert_directory_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        claim: Option<&ContactClaim>,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if let Some(claim) = claim {
            directory::check_contact_claim(&mut tx, user, claim).await?;
        }
        insert_user_on(&mut *tx, user, password_hash).await?;
        audit::record(&mut tx, audit, Change::created_user(user)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Arc<User>, StoreError> {
        let read = self.optional_row(&USER_BY_ID, id.uuid(), None, user_from_row);
        self.cache.user(id, read).await?.ok_or(StoreError::NotFound)
    }

    async fn login_taken(&self, login_key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM users WHERE login_key = $1")
            .bind(login_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn user_credentials_by_login(
        &self,
        login_key: &str,
    ) -> Result<Option<UserCredentials>, StoreError> {
        self.credentials("login_key", login_key.to_owned()).await
    }

    async fn user_credentials_by_id(
        &self,
        id: UserId,
    ) -> Result<Option<UserCredentials>, StoreError> {
        self.credentials("id", id.uuid()).await
    }

    async fn update_user_if_version(
        &self,
        next: &User,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<User, StoreError> {
        self.update_user_with_tokens(&UserWrite {
            next,
            expected_version,
            changed: true,
            revoke: None,
            issue: None,
            claim: None,
            audit,
        })
        .await
    }

    async fn set_user_password(
        &self,
        id: UserId,
        password_hash: &str,
        must_change: Option<bool>,
        audit: &Audit,
    ) -> Result<User, StoreError> {
        let sql = format!(
            "UPDATE users SET password_hash = $1, activated = TRUE, login_failures = 0, tokens_not_before = $2, \
             pwd_status = coalesce($4, pwd_status), version = version + 1, updated_at = $2 \
             WHERE id = $3 RETURNING {USER_COLUMNS}"
        );
        let mut tx = self.begin().await?;
        let row = sqlx::query(&sql)
            .bind(password_hash)
            .bind(audit.at.micros())
            .bind(id.uuid())
            .bind(must_change)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let stored = user_from_row(&row)?;
        audit::record(
            &mut tx,
            audit,
            Change::updated_user(&stored, "set_password"),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn rehash_user_password(
        &self,
        id: UserId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError> {
        let _writing = self.cache.writing_on(Scope::User(id));
        // Only while the old hash is still there: a password set in the meantime wins.
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(new_hash)
            .bind(id.uuid())
            .bind(old_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_user_if_version(
        &self,
        id: UserId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let tenant: Option<uuid::Uuid> = sqlx::query_scalar(
            "DELETE FROM users WHERE id = $1 AND version = $2 RETURNING tenant_id",
        )
        .bind(id.uuid())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(tenant) = tenant else {
            drop(tx);
            return Err(self.cas_failure("users", id.uuid()).await);
        };
        let change = Change::new(ObjectType::User, id, TenantId::from_uuid(tenant), "delete")
            .versions(Some(expected_version), None);
        audit::record(&mut tx, audit, change).await?;
        sqlx::query("DELETE FROM access_policies WHERE trustee_id = $1")
            .bind(id.uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_client(&self, id: ClientId) -> Result<ApiClient, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM api_clients WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        client_from_row(&row)
    }

    async fn client_credentials(
        &self,
        id: ClientId,
    ) -> Result<Option<(ApiClient, String)>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS}, secret_sha256 FROM api_clients WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((
                client_from_row(&r)?,
                r.try_get("secret_sha256").map_err(map_err)?,
            ))),
        }
    }

    async fn policies_of(&self, trustee: uuid::Uuid) -> Result<Vec<AccessPolicy>, StoreError> {
        let read = async {
            let rows = sqlx::query(&POLICIES_OF)
                .bind(trustee)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter().map(policy_from_row).collect()
        };
        self.cache.policies(trustee, read).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        activate: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if activate {
            // Without the lock, two nodes activating at once would each retire only the key
            // they saw and leave two active keys; with it they activate one after the other.
            advisory_xact_lock(&mut tx, SIGNING_KEY_LOCK).await?;
            sqlx::query("UPDATE signing_keys SET state = 'retired' WHERE state = 'active'")
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        insert_signing_key_on(&mut tx, key).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Nodes starting together take turns here: the first inserts, the others find it.
        advisory_xact_lock(&mut tx, SIGNING_KEY_LOCK).await?;
        let active = sqlx::query("SELECT 1 FROM signing_keys WHERE state = 'active'")
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if active.is_some() {
            return Ok(false);
        }
        insert_signing_key_on(&mut tx, key).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn token_user(&self, jtis: &[&str], id: UserId) -> Result<Option<Arc<User>>, StoreError> {
        let read = self.optional_row(&TOKEN_USER, id.uuid(), Some(jtis), user_from_row);
        self.cache.token_user(id, jtis, read).await
    }

    async fn token_client(
        &self,
        jtis: &[&str],
        id: ClientId,
    ) -> Result<Option<Arc<ApiClient>>, StoreError> {
        let read = self.optional_row(&TOKEN_CLIENT, id.uuid(), Some(jtis), client_from_row);
        self.cache.token_client(id, jtis, read).await
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        let _writing = self.cache.writing_on(Scope::Token(jti));
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at.micros())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn record_login_failure(
        &self,
        id: UserId,
        now: Timestamp,
        window_seconds: i64,
    ) -> Result<(), StoreError> {
        let _writing = self.cache.writing_on(Scope::User(id));
        let window_open_after = now
            .micros()
            .saturating_sub(window_seconds.saturating_mul(1_000_000));
        sqlx::query(
            "UPDATE users SET \
             login_failures = CASE WHEN login_failures = 0 OR login_window_start <= $1 THEN 1 ELSE login_failures + 1 END, \
             login_window_start = CASE WHEN login_failures = 0 OR login_window_start <= $1 THEN $2 ELSE login_window_start END, \
             login_last_failure = $2 WHERE id = $3",
        )
        .bind(window_open_after)
        .bind(now.micros())
        .bind(id.uuid())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn clear_login_failures(&self, id: UserId) -> Result<(), StoreError> {
        let _writing = self.cache.writing_on(Scope::User(id));
        sqlx::query("UPDATE users SET login_failures = 0 WHERE id = $1 AND login_failures > 0")
            .bind(id.uuid())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn unlock_user(&self, id: UserId, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let tenant: Option<uuid::Uuid> = sqlx::query_scalar(
            "UPDATE users SET login_failures = 0 WHERE id = $1 RETURNING tenant_id",
        )
        .bind(id.uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let tenant = tenant
            .map(TenantId::from_uuid)
            .ok_or(StoreError::NotFound)?;
        audit::record(
            &mut tx,
            audit,
            Change::new(ObjectType::User, id, tenant, "unlock"),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn forgive_login_failure(&self, id: UserId) -> Result<(), StoreError> {
        let _writing = self.cache.writing_on(Scope::User(id));
        sqlx::query(
            "UPDATE users SET login_failures = login_failures - 1 WHERE id = $1 AND login_failures > 0",
        )
        .bind(id.uuid())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let _writing = self.cache.writing();
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now.micros())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
