//! API clients: create, read, list per tenant, change, delete, secret rotation; refresh tokens.

use async_trait::async_trait;
use warden_domain::{ApiClient, ClientId, TenantId, Timestamp, UserId};

use crate::{Audit, StoreError};

/// The secret material of a client: SHA-256 hashes only, never a secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSecrets {
    pub current_sha256: String,
    /// The secret a rotation replaced, still accepted until `previous_expires_at`.
    pub previous_sha256: Option<String>,
    pub previous_expires_at: Option<Timestamp>,
}

/// One refresh token as stored (by the SHA-256 of its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_sha256: String,
    /// Every token rotated from one grant shares this id.
    pub family_id: uuid::Uuid,
    pub user_id: UserId,
    /// The client the grant was made with, if any; the token is bound to it.
    pub client_id: Option<ClientId>,
    /// When the user authenticated with their password, carried along the whole family.
    pub auth_time: Timestamp,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked: bool,
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshRedemption {
    /// The token was live: it is now spent and its successor is stored.
    Rotated,
    /// The token had been spent before: its whole family is now revoked.
    Reused,
    /// No such token, or it is revoked or expired; nothing changed.
    Unusable,
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts a client with the hashes of its secret and registration access token.
    async fn insert_client(
        &self,
        client: &ApiClient,
        secret_sha256: &str,
        registration_token_sha256: &str,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// The client and its secret hashes, or `None` when there is no such client.
    async fn client_secrets(
        &self,
        id: ClientId,
    ) -> Result<Option<(ApiClient, ClientSecrets)>, StoreError>;

    /// Ids of the clients registered directly in `tenant`, oldest first.
    async fn client_ids_of_tenant(&self, tenant: TenantId) -> Result<Vec<ClientId>, StoreError>;

    /// Every client registered in the subtree of any of `roots`, each once, oldest first.
    async fn clients_in_subtrees(&self, roots: &[TenantId]) -> Result<Vec<ApiClient>, StoreError>;

    /// Writes `next`'s data, status and password-grant flag if the stored version is still
    /// `expected_version`, incrementing it. Returns the stored result.
    async fn update_client_if_version(
        &self,
        next: &ApiClient,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<ApiClient, StoreError>;

    /// Makes `new_sha256` the client's secret if its version is still `expected_version`. The
    /// replaced secret stays valid until `previous_expires_at`, or stops at once when `None`.
    /// A secret still in its grace period from an earlier rotation stops at once either way.
    async fn rotate_client_secret(
        &self,
        id: ClientId,
        expected_version: i64,
        new_sha256: &str,
        previous_expires_at: Option<Timestamp>,
        audit: &Audit,
    ) -> Result<ApiClient, StoreError>;

    /// Deletes the client, if its version is still `expected_version`, with its refresh tokens.
    async fn delete_client_if_version(
        &self,
        id: ClientId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError>;

    async fn find_refresh_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;

    /// In one transaction: spends the live, unexpired token `token_sha256` and stores `next`
    /// in its family; or, when the token was already spent, revokes its whole family.
    async fn redeem_refresh_token(
        &self,
        token_sha256: &str,
        next: &RefreshTokenRecord,
        now: Timestamp,
    ) -> Result<RefreshRedemption, StoreError>;

    /// Revokes every token of a family; returns how many were still unrevoked.
    async fn revoke_refresh_family(&self, family_id: uuid::Uuid) -> Result<u64, StoreError>;

    /// Deletes refresh tokens that have expired; returns how many rows went.
    async fn purge_expired_refresh_tokens(&self, now: Timestamp) -> Result<u64, StoreError>;
}
