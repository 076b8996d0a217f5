//! Keystone application credentials: a user's delegation of some of their roles on one project
//! to an application, authenticated by a secret of which only a hash is stored.

use async_trait::async_trait;
use warden_domain::{TenantId, Timestamp, UserId};

use crate::{Audit, StoreError};

/// One application credential as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppCredentialRecord {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    /// The project the creating token was scoped to; tokens from the credential are scoped to it.
    pub project_id: TenantId,
    /// Unique among the user's credentials.
    pub name: String,
    pub description: Option<String>,
    /// The SHA-256 (hex) of a generated secret, or the Argon2id PHC string of a chosen one.
    pub secret_hash: String,
    pub expires_at: Option<Timestamp>,
    /// Whether tokens from it may manage application credentials (Keystone's `unrestricted`).
    pub unrestricted: bool,
    /// The delegated Keystone role ids (32 hex digits).
    pub roles: Vec<String>,
    pub created_at: Timestamp,
}

/// The entry of the revocation list that revokes every token issued from the credential `id`:
/// tokens from a credential carry this key beside their own id, so deleting the credential
/// revokes them in the same O(1) probe that checks their own revocation.
pub fn app_credential_revocation_key(id: uuid::Uuid) -> String {
    format!("application_credential:{}", id.simple())
}

#[async_trait]
pub trait AppCredentialStore: Send + Sync {
    /// Inserts a credential. In the same transaction: `NotFound` when the user or the project
    /// went away, `Conflict("unique")` when the user already has a credential of that name.
    /// The event is recorded in the user's tenant.
    async fn insert_app_credential(
        &self,
        credential: &AppCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    async fn get_app_credential(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<AppCredentialRecord>, StoreError>;

    /// The credentials of a user, with one name or any, oldest first.
    async fn list_app_credentials(
        &self,
        user: UserId,
        name: Option<&str>,
    ) -> Result<Vec<AppCredentialRecord>, StoreError>;

    /// Deletes a credential and, in the same transaction, revokes the tokens issued from it
    /// (see [`app_credential_revocation_key`]) until `revoke_until`, when the last of them
    /// has expired anyway. `NotFound` when it is gone already.
    async fn delete_app_credential(
        &self,
        id: uuid::Uuid,
        revoke_until: Timestamp,
        audit: &Audit,
    ) -> Result<(), StoreError>;
}
