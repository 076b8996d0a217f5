//! The embedded store: SQLite in WAL mode with `synchronous = FULL`, so a write acknowledged to
//! a client survives a crash of the process or the machine. One writer connection serialises
//! every transaction; a small pool of readers serves reads concurrently.

mod app_credentials;
mod audit;
mod catalog;
mod clients;
mod credentials;
mod directory;
mod keystone;
mod keystone_extras;
mod policies;
mod rows;
mod tenants;

use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use warden_domain::{AccessPolicy, ApiClient, ClientId, Tenant, TenantId, Timestamp, User, UserId};
use warden_store::{
    Audit, BootstrapPlan, Change, ContactClaim, DirectoryStore as _, LoginFailures, ObjectType,
    SigningKeyRecord, Store, StoreError, UserCredentials, UserWrite,
};

use rows::{
    client_from_row, key_from_row, policy_from_row, tenant_from_row, user_from_row, USER_COLUMNS,
};
use warden_store::read_cache::{ReadCache, Scope, Writing};

/// The migrations of this backend, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Names of the migrations, in order; the PostgreSQL backend must hold the same list.
pub fn migration_names() -> Vec<String> {
    MIGRATOR
        .iter()
        .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
        .collect()
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Reads every authenticated request makes, kept while no write intervenes.
    cache: Arc<ReadCache>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let cache = ReadCache::lit();
        // Every write goes through the one writer connection, so its hand-outs and returns
        // begin and end a write for the read cache (see `read_cache`). A connection closed
        // without being returned (its transaction rolled back) has its write ended by the
        // next hand-out.
        let writing: Arc<Mutex<Option<Writing>>> = Arc::default();
        let (taken, opened, returned) = (
            (cache.clone(), writing.clone()),
            (cache.clone(), writing.clone()),
            writing,
        );
        // A SQLite connection is a file handle, not a socket: it cannot die idle, so the pools
        // do not ping it (a round trip to its worker thread) before handing it out.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |_, _| {
                hand_out(&opened.0, &opened.1);
                Box::pin(async { Ok(()) })
            })
            .before_acquire(move |_, _| {
                hand_out(&taken.0, &taken.1);
                Box::pin(async { Ok(true) })
            })
            .after_release(move |_, _| {
                lock(&returned).take();
                Box::pin(async { Ok(true) })
            })
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await
            .map_err(unavailable)?;
        Ok(Self {
            writer,
            reader,
            cache,
        })
    }
}

tokio::task_local! {
    /// The one user whose row (and audit trail) the write of the current task changes, while
    /// it takes the writer connection (see [`SqliteStore::begin_on_user`]).
    static WRITING_ON_USER: UserId;
}

/// The writer connection is handed out: a write begins (ending one left by a connection that
/// was closed instead of returned). A write that says it changes one user's row stales only
/// what depends on that user; any other, everything.
fn hand_out(cache: &Arc<ReadCache>, writing: &Mutex<Option<Writing>>) {
    let next = match WRITING_ON_USER.try_with(|id| *id) {
        Ok(id) => cache.writing_on(Scope::User(id)),
        Err(_) => cache.writing(),
    };
    *lock(writing) = Some(next);
}

impl SqliteStore {
    /// Begins a transaction on the writer connection that changes user `id`'s row and writes
    /// audit events, and nothing else a node caches: the cached answers about other users,
    /// tenants, tokens and policies stay usable across it.
    async fn begin_on_user(
        &self,
        id: UserId,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        WRITING_ON_USER
            .scope(id, self.writer.begin())
            .await
            .map_err(map_err)
    }
}

fn lock(writing: &Mutex<Option<Writing>>) -> std::sync::MutexGuard<'_, Option<Writing>> {
    writing.lock().unwrap_or_else(|e| e.into_inner())
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a sqlx error, naming unique-constraint violations by the column they concern.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let msg = db.message();
            if msg.contains("login_key") {
                StoreError::Conflict("login")
            } else if msg.contains("users.xuser") {
                StoreError::Conflict("xuser")
            } else if msg.contains("tenants.kind") {
                StoreError::Conflict("root")
            } else {
                StoreError::Conflict("unique")
            }
        }
        // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: contention, not corruption.
        sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("5" | "6" | "517" | "262")) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        // A row it refers to went away in a race (say, its tenant was deleted): the
        // request is answered as about a missing object, not as a failure.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("787") => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn json_list<S: serde::Serialize>(list: &[S]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

async fn insert_user_on<'c, E>(
    executor: E,
    user: &User,
    password_hash: Option<&str>,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let c = &user.contact;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, login, login_key, email, areacode, phone, firstname, lastname, \
         address1, address2, city, country, state, zipcode, language, activated, enabled, terms_accepted, \
         mfa_status, notifications, business_types, external_id, personal_tenant_id, description, \
         default_project_id, password_hash, tokens_not_before, version, created_at, updated_at, \
         pwd_status, access_mode, xuser_type, xuser_id, extra) \
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    )
    .bind(user.id.to_string())
    .bind(user.tenant_id.to_string())
    .bind(user.login.as_str())
    .bind(user.login.key())
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
    .bind(&user.language)
    .bind(user.activated)
    .bind(user.enabled)
    .bind(user.terms_accepted)
    .bind(&user.mfa_status)
    .bind(json_list(&user.notifications))
    .bind(json_list(&user.business_types))
    .bind(user.external_id.as_deref())
    .bind(user.personal_tenant_id.map(|t| t.to_string()))
    .bind(&user.description)
    .bind(user.default_project_id.map(|p| p.to_string()))
    .bind(password_hash)
    .bind(user.tokens_not_before.micros())
    .bind(user.version)
    .bind(user.created_at.micros())
    .bind(user.updated_at.micros())
    .bind(user.iam.pwd_status)
    .bind(user.iam.access_mode.as_str())
    .bind(user.iam.external.as_ref().map(|x| x.xuser_type()))
    .bind(user.iam.external.as_ref().map(|x| x.xuser_id()))
    .bind(serde_json::Value::Object(user.extra.clone()).to_string())
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn insert_signing_key_on(
    conn: &mut sqlx::SqliteConnection,
    key: &SigningKeyRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, private_key_encrypted, public_jwk, created_at) VALUES (?,?,?,?,?,?)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(key.state.as_str())
    .bind(&key.private_key_encrypted)
    .bind(key.public_jwk.to_string())
    .bind(key.created_at.micros())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

impl SqliteStore {
    async fn fetch_user(&self, id: UserId) -> Result<Option<Arc<User>>, StoreError> {
        // Built once: a cached answer needs no statement.
        static USER_BY_ID: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"));
        let read = async {
            let row = sqlx::query(&USER_BY_ID)
                .bind(id.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
            row.map(|r| user_from_row(&r)).transpose()
        };
        self.cache.user(id, read).await
    }

    async fn credentials(
        &self,
        clause: &str,
        key: String,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS}, password_hash, login_failures, login_window_start, login_last_failure FROM users WHERE {clause} = ?");
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&self.reader)
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

    /// Tells apart "gone" and "changed" after a compare-and-set matched no row.
    async fn cas_failure(&self, table: &'static str, id: String) -> StoreError {
        let sql = format!("SELECT 1 FROM {table} WHERE id = ?");
        match sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.writer)
            .await
        {
            Ok(Some(_)) => StoreError::VersionMismatch,
            Ok(None) => StoreError::NotFound,
            Err(e) => map_err(e),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn bootstrap(&self, plan: &BootstrapPlan) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let existing = sqlx::query("SELECT 1 FROM tenants WHERE kind = 'root'")
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if existing.is_some() {
            return Ok(false);
        }
        let root = &plan.root;
        tenants::insert_tenant_on(&mut *tx, root).await?;
        insert_user_on(&mut *tx, &plan.admin, Some(&plan.admin_password_hash)).await?;
        policies::insert_policy_on(&mut tx, &plan.admin_policy).await?;
        let c = &plan.client;
        sqlx::query(
            "INSERT INTO api_clients (id, tenant_id, kind, token_endpoint_auth_method, data, secret_sha256, enabled, \
             created_by, version, created_at, allow_password_grant) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(c.id.to_string())
        .bind(c.tenant_id.to_string())
        .bind(&c.kind)
        .bind(&c.token_endpoint_auth_method)
        .bind(c.data.to_string())
        .bind(&plan.client_secret_hash)
        .bind(c.enabled)
        .bind(c.created_by.map(|u| u.to_string()))
        .bind(c.version)
        .bind(c.created_at.micros())
        .bind(c.allow_password_grant)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let audit = Audit::system(root.created_at);
        for change in plan.changes() {
            audit::record(&mut tx, &audit, change).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn root_tenant(&self) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT * FROM tenants WHERE kind = 'root'")
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| tenant_from_row(&r)).transpose()
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Arc<Tenant>, StoreError> {
        let read = async {
            let row = sqlx::query("SELECT * FROM tenants WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
            row.map(|r| tenant_from_row(&r)).transpose()
        };
        self.cache
            .tenant(id, read)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn find_domain_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT * FROM tenants WHERE is_domain = 1 AND name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| tenant_from_row(&r)).transpose()
    }

    async fn insert_user(&self, user: &User, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        if let Some(claim) = claim {
            directory::check_contact_claim(&mut tx, user, claim).await?;
        }
        insert_user_on(&mut *tx, user, password_hash).await?;
        audit::record(&mut tx, audit, Change::created_user(user)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Arc<User>, StoreError> {
        self.fetch_user(id).await?.ok_or(StoreError::NotFound)
    }

    async fn login_taken(&self, login_key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM users WHERE login_key = ?")
            .bind(login_key)
            .fetch_optional(&self.reader)
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
        self.credentials("id", id.to_string()).await
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
            "UPDATE users SET password_hash = ?, activated = 1, login_failures = 0, tokens_not_before = ?, \
             pwd_status = coalesce(?, pwd_status), version = version + 1, updated_at = ? \
             WHERE id = ? RETURNING {USER_COLUMNS}"
        );
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let row = sqlx::query(&sql)
            .bind(password_hash)
            .bind(audit.at.micros())
            .bind(must_change)
            .bind(audit.at.micros())
            .bind(id.to_string())
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
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
            .bind(new_hash)
            .bind(id.to_string())
            .bind(old_hash)
            .execute(&self.writer)
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
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let tenant: Option<String> = sqlx::query_scalar(
            "DELETE FROM users WHERE id = ? AND version = ? RETURNING tenant_id",
        )
        .bind(id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(tenant) = tenant.and_then(|t| TenantId::parse(&t)) else {
            drop(tx);
            return Err(self.cas_failure("users", id.to_string()).await);
        };
        let change = Change::new(ObjectType::User, id, tenant, "delete")
            .versions(Some(expected_version), None);
        audit::record(&mut tx, audit, change).await?;
        sqlx::query("DELETE FROM access_policies WHERE trustee_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_client(&self, id: ClientId) -> Result<ApiClient, StoreError> {
        let row = sqlx::query("SELECT * FROM api_clients WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        client_from_row(&row)
    }

    async fn client_credentials(
        &self,
        id: ClientId,
    ) -> Result<Option<(ApiClient, String)>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_clients WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
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
            let rows = sqlx::query(
                "SELECT * FROM access_policies WHERE trustee_id = ? ORDER BY created_at, id",
            )
            .bind(trustee.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
            rows.iter().map(policy_from_row).collect()
        };
        self.cache.policies(trustee, read).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at")
            .fetch_all(&self.writer)
            .await
            .map_err(map_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        activate: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        if activate {
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
        // The one writer connection makes the check and the insert one step.
        let mut tx = self.writer.begin().await.map_err(map_err)?;
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
        let row = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn token_user(&self, jtis: &[&str], id: UserId) -> Result<Option<Arc<User>>, StoreError> {
        // The ids travel as one JSON array; `json_each` unpacks it for the primary-key probes.
        // Built once: a cached answer needs no statement.
        static TOKEN_USER: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id = ? AND NOT EXISTS \
                 (SELECT 1 FROM revoked_tokens WHERE jti IN (SELECT value FROM json_each(?)))"
            )
        });
        let read = async {
            let row = sqlx::query(&TOKEN_USER)
                .bind(id.to_string())
                .bind(json_list(jtis))
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
            row.map(|r| user_from_row(&r)).transpose()
        };
        self.cache.token_user(id, jtis, read).await
    }

    async fn token_client(
        &self,
        jtis: &[&str],
        id: ClientId,
    ) -> Result<Option<Arc<ApiClient>>, StoreError> {
        let read = async {
            let row = sqlx::query(
                "SELECT * FROM api_clients WHERE id = ? AND NOT EXISTS \
                 (SELECT 1 FROM revoked_tokens WHERE jti IN (SELECT value FROM json_each(?)))",
            )
            .bind(id.to_string())
            .bind(json_list(jtis))
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
            row.map(|r| client_from_row(&r)).transpose()
        };
        self.cache.token_client(id, jtis, read).await
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)")
            .bind(jti)
            .bind(expires_at.micros())
            .execute(&self.writer)
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
        let window_open_after = now
            .micros()
            .saturating_sub(window_seconds.saturating_mul(1_000_000));
        sqlx::query(
            "UPDATE users SET \
             login_failures = CASE WHEN login_failures = 0 OR login_window_start <= ?1 THEN 1 ELSE login_failures + 1 END, \
             login_window_start = CASE WHEN login_failures = 0 OR login_window_start <= ?1 THEN ?2 ELSE login_window_start END, \
             login_last_failure = ?2 WHERE id = ?3",
        )
        .bind(window_open_after)
        .bind(now.micros())
        .bind(id.to_string())
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn clear_login_failures(&self, id: UserId) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET login_failures = 0 WHERE id = ? AND login_failures > 0")
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn unlock_user(&self, id: UserId, audit: &Audit) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let tenant: Option<String> = sqlx::query_scalar(
            "UPDATE users SET login_failures = 0 WHERE id = ? RETURNING tenant_id",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let tenant = tenant
            .and_then(|t| TenantId::parse(&t))
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
        sqlx::query(
            "UPDATE users SET login_failures = login_failures - 1 WHERE id = ? AND login_failures > 0",
        )
        .bind(id.to_string())
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < ?")
            .bind(now.micros())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use warden_store::{KeyState, SigningKeyRecord, Store};

    /// A store on a fresh file in a directory removed when the returned guard is dropped.
    pub(crate) async fn temp_store() -> (tempfile::TempDir, crate::SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::SqliteStore::open(&url).await.unwrap();
        (dir, store)
    }

    fn key(kid: &str) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.to_owned(),
            alg: "EdDSA".to_owned(),
            state: KeyState::Active,
            private_key_encrypted: vec![1, 2, 3],
            public_jwk: serde_json::json!({"kid": kid}),
            created_at: warden_domain::Timestamp::EPOCH,
        }
    }

    #[tokio::test]
    async fn a_write_on_one_user_leaves_what_does_not_depend_on_the_user_cached() {
        let (_dir, store) = crate::tests::temp_store().await;
        let someone = uuid::Uuid::new_v4();
        // A cached answer, and a way to tell whether it is still served: the read that would
        // replace it fails.
        let held = || async {
            store
                .cache
                .held_policies(someone, async {
                    Err(warden_store::StoreError::Unavailable("read".to_owned()))
                })
                .await
        };
        store
            .cache
            .held_policies(someone, async { Ok(Vec::new()) })
            .await
            .unwrap();
        assert!(held().await.is_ok(), "cached");
        // A write on one user, committed or not.
        let user = warden_domain::UserId::new_random();
        store
            .begin_on_user(user)
            .await
            .unwrap()
            .commit()
            .await
            .unwrap();
        drop(store.begin_on_user(user).await.unwrap());
        assert!(held().await.is_ok(), "still cached");
        // Any other write stales everything.
        store.writer.begin().await.unwrap().commit().await.unwrap();
        assert!(held().await.is_err(), "read again");
    }

    #[tokio::test]
    async fn a_first_key_is_inserted_only_while_none_is_active() {
        let (_dir, store) = crate::tests::temp_store().await;
        assert!(store.insert_first_signing_key(&key("a")).await.unwrap());
        assert!(!store.insert_first_signing_key(&key("b")).await.unwrap());
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "a");
    }
}
