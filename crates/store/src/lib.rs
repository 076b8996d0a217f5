//! The store: one trait family that every backend implements, with whole-operation methods
//! (each its own transaction) and one error type. No backend type crosses this line.

mod app_credentials;
pub mod audit;
mod catalog;
mod clients;
mod credentials;
mod directory;
mod keystone;
mod keystone_extras;
pub mod paths;
mod policies;
pub mod read_cache;
mod tenants;

use std::sync::Arc;

pub use app_credentials::{app_credential_revocation_key, AppCredentialRecord, AppCredentialStore};
pub use audit::{Actor, Audit, AuditEvent, AuditQuery, AuditStore, Change, ObjectType};
pub use catalog::{
    CatalogStore, EndpointFilter, EndpointRecord, Extra, Interface, KeystoneCredentialRecord,
    RegionRecord, ServiceRecord,
};
pub use clients::{ClientSecrets, ClientStore, RefreshRedemption, RefreshTokenRecord};
pub use credentials::{
    CredentialPatch, CredentialRecord, CredentialStatus, CredentialStore, MAX_CREDENTIALS_PER_USER,
};
pub use directory::{
    ContactClaim, DirectoryStore, UserListQuery, UserToken, UserTokenPurpose, UserWrite,
};
pub use keystone::{KeystoneStore, PolicyQuery};
pub use keystone_extras::{
    DomainConfigRecord, EndpointGroupRecord, KeystoneExtrasStore, KeystonePolicyRecord,
    OauthConsumerRecord,
};
pub use policies::{PolicyStore, SearchHit, SearchObject};
pub use tenants::TenantStore;

use async_trait::async_trait;
use warden_domain::{AccessPolicy, ApiClient, ClientId, Tenant, TenantId, Timestamp, User, UserId};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the string names it (e.g. `login`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// A compare-and-set on `version` found another version.
    #[error("version mismatch")]
    VersionMismatch,
    /// A text value the database cannot hold: a NUL character, which PostgreSQL's text
    /// refuses. Nothing was read or written.
    #[error("text the database cannot hold")]
    InvalidText,
    /// The database is unreachable, timed out, or the pool is exhausted.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: corrupt data, a bug. The text is for logs only.
    #[error("store failure: {0}")]
    Internal(String),
}

/// A signing key as stored: the private part encrypted with the key-encryption key.
#[derive(Clone, Debug)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub private_key_encrypted: Vec<u8>,
    pub public_jwk: serde_json::Value,
    pub created_at: Timestamp,
}

/// A key's place in rotation: staged keys are published but do not sign yet; the active key
/// signs; retired keys only verify tokens they signed until those expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Staged,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyState::Staged => "staged",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "staged" => KeyState::Staged,
            "active" => KeyState::Active,
            "retired" => KeyState::Retired,
            _ => return None,
        })
    }
}

/// Everything first start creates, written in one transaction.
#[derive(Clone, Debug)]
pub struct BootstrapPlan {
    pub root: Tenant,
    pub admin: User,
    pub admin_password_hash: String,
    pub admin_policy: AccessPolicy,
    pub client: ApiClient,
    pub client_secret_hash: String,
}

impl BootstrapPlan {
    /// The audit events of first start, in order.
    pub fn changes(&self) -> Vec<Change> {
        vec![
            Change::created_tenant(&self.root),
            Change::created_user(&self.admin),
            Change::replaced_policies(self.admin.id.uuid(), self.admin.tenant_id),
            Change::created_client(&self.client),
        ]
    }
}

/// A user with the secret material needed to authenticate them.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: Option<String>,
    pub failures: LoginFailures,
}

/// Failed password attempts of one account in its current window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginFailures {
    pub count: i64,
    pub window_start: Timestamp,
    pub last: Timestamp,
}

#[async_trait]
/// The whole store: the core operations here, and one trait per resource family.
pub trait Store:
    TenantStore
    + ClientStore
    + CredentialStore
    + DirectoryStore
    + PolicyStore
    + KeystoneStore
    + AuditStore
    + CatalogStore
    + AppCredentialStore
    + KeystoneExtrasStore
    + Send
    + Sync
    + 'static
{
    /// Cheap liveness check of the database.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates the root tenant, administrator and first API client unless a root exists.
    /// Returns whether this call created them; concurrent callers create them exactly once.
    /// Each creation is recorded in the audit trail as the server's own.
    async fn bootstrap(&self, plan: &BootstrapPlan) -> Result<bool, StoreError>;

    async fn root_tenant(&self) -> Result<Option<Tenant>, StoreError>;
    async fn get_tenant(&self, id: TenantId) -> Result<Arc<Tenant>, StoreError>;
    /// A tenant flagged as a domain, by exact name.
    async fn find_domain_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError>;

    /// Inserts a user; `Conflict("login")` when the login is taken.
    async fn insert_user(&self, user: &User, audit: &Audit) -> Result<(), StoreError>;
    /// Inserts a user of Keystone's or IAM's creation: with a password from the start when
    /// one is given, and refused as `ContactClaim` says when `claim` is given.
    async fn insert_directory_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        claim: Option<&ContactClaim>,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn get_user(&self, id: UserId) -> Result<Arc<User>, StoreError>;
    async fn login_taken(&self, login_key: &str) -> Result<bool, StoreError>;
    async fn user_credentials_by_login(
        &self,
        login_key: &str,
    ) -> Result<Option<UserCredentials>, StoreError>;
    async fn user_credentials_by_id(
        &self,
        id: UserId,
    ) -> Result<Option<UserCredentials>, StoreError>;

    /// Writes `next` if the stored version is still `expected_version`, setting the version to
    /// `expected_version + 1` and `updated_at` to `audit.at`. Returns the stored result.
    async fn update_user_if_version(
        &self,
        next: &User,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<User, StoreError>;

    /// Sets a password hash, activates the user, revokes tokens issued before `audit.at` and
    /// increments the version; `must_change`, when given, becomes IAM's `pwd_status`. Returns
    /// the stored result.
    async fn set_user_password(
        &self,
        id: UserId,
        password_hash: &str,
        must_change: Option<bool>,
        audit: &Audit,
    ) -> Result<User, StoreError>;

    /// Replaces a hash with a stronger one of the same password; not a change of the user.
    async fn rehash_user_password(
        &self,
        id: UserId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError>;

    /// Deletes the user if its version is still `expected_version`.
    async fn delete_user_if_version(
        &self,
        id: UserId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    async fn get_client(&self, id: ClientId) -> Result<ApiClient, StoreError>;
    /// The client and the SHA-256 of its secret.
    async fn client_credentials(
        &self,
        id: ClientId,
    ) -> Result<Option<(ApiClient, String)>, StoreError>;

    /// Every policy whose trustee is this user or client.
    async fn policies_of(&self, trustee: uuid::Uuid) -> Result<Vec<AccessPolicy>, StoreError>;

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts a key; with `activate`, retires the previous active key in the same transaction.
    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        activate: bool,
    ) -> Result<(), StoreError>;

    /// Inserts `key` as the active key only if none is active, atomically among all nodes:
    /// nodes starting together on an empty database all end up with the same one. Returns
    /// whether it was inserted.
    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// The user a token names, read together with the token's revocation in one round trip:
    /// `None` when the user is gone or any of `jtis` (the token's id, and those of the tokens
    /// it was exchanged from) is revoked.
    async fn token_user(&self, jtis: &[&str], id: UserId) -> Result<Option<Arc<User>>, StoreError>;

    /// The API client a token names, as [`Store::token_user`] reads a user.
    async fn token_client(
        &self,
        jtis: &[&str],
        id: ClientId,
    ) -> Result<Option<Arc<ApiClient>>, StoreError>;
    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError>;

    /// Deletes revocations of tokens that have expired anyway. Safe to run on every node at
    /// once; returns how many rows went.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Counts one failed password attempt, opening a new window of `window_seconds` when the
    /// current one has passed. One statement, so concurrent failures on several nodes all count.
    async fn record_login_failure(
        &self,
        id: UserId,
        now: Timestamp,
        window_seconds: i64,
    ) -> Result<(), StoreError>;

    /// Forgets the failed attempts of an account (a successful login, or an unlock).
    async fn clear_login_failures(&self, id: UserId) -> Result<(), StoreError>;

    /// An administrator ends an account's lockout: its failures are forgotten, and the unlock
    /// is recorded in the audit trail. `NotFound` when the user is gone.
    async fn unlock_user(&self, id: UserId, audit: &Audit) -> Result<(), StoreError>;

    /// Takes back one counted failure: the attempt turned out to carry the right password
    /// while the account was waiting.
    async fn forgive_login_failure(&self, id: UserId) -> Result<(), StoreError>;
}
