//! Permanent access keys (AK/SK): create, list per user, read with the sealed secret, change
//! status or description, delete. The secret is stored sealed with the key-encryption key,
//! never in clear and never hashed: verifying a signature needs it back.

use async_trait::async_trait;
use warden_domain::{Timestamp, UserId};

use crate::{Audit, StoreError};

/// How many access keys one user may hold at once, as Huawei Cloud allows.
pub const MAX_CREDENTIALS_PER_USER: i64 = 2;

/// Whether an access key may sign requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialStatus {
    Active,
    Inactive,
}

impl CredentialStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CredentialStatus::Active => "active",
            CredentialStatus::Inactive => "inactive",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "active" => CredentialStatus::Active,
            "inactive" => CredentialStatus::Inactive,
            _ => return None,
        })
    }
}

/// One access key as stored, without its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRecord {
    pub access_key: String,
    pub user_id: UserId,
    pub status: CredentialStatus,
    pub description: String,
    pub created_at: Timestamp,
}

/// What a change of an access key sets; `None` leaves the field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialPatch {
    pub status: Option<CredentialStatus>,
    pub description: Option<String>,
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Inserts an access key with its sealed secret. In the same transaction: `NotFound` when
    /// the user does not exist, `Conflict("credential_quota")` when the user already holds
    /// [`MAX_CREDENTIALS_PER_USER`] keys. The event is recorded in the user's tenant.
    async fn insert_credential(
        &self,
        credential: &CredentialRecord,
        sealed_secret: &[u8],
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// The access keys of a user, oldest first.
    async fn credentials_of_user(&self, user: UserId) -> Result<Vec<CredentialRecord>, StoreError>;

    /// An access key and its sealed secret, or `None` when there is no such key.
    async fn get_credential(
        &self,
        access_key: &str,
    ) -> Result<Option<(CredentialRecord, Vec<u8>)>, StoreError>;

    /// Applies `patch` and returns the stored result; `NotFound` when the key is gone.
    async fn update_credential(
        &self,
        access_key: &str,
        patch: &CredentialPatch,
        audit: &Audit,
    ) -> Result<CredentialRecord, StoreError>;

    /// Deletes an access key; `NotFound` when it is gone already.
    async fn delete_credential(&self, access_key: &str, audit: &Audit) -> Result<(), StoreError>;
}
