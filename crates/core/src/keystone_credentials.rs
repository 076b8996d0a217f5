//! Keystone credentials (`/v3/credentials`): a user's blobs of a given type (`ec2`, `totp`,
//! `cert`…), kept for other services to read. An EC2 blob holds the secret that signs EC2
//! requests, so every blob is stored sealed with the key-encryption key, bound to its id, and
//! only the owner or whoever may manage the owner (including every role the owner holds) reads
//! or changes it.
//!
//! As in Keystone, an EC2 credential's id is the SHA-256 (hex) of its blob's `access`, so one
//! access key names one credential, and it needs a `project_id`.

use std::collections::HashMap;

use serde_json::Value;
use warden_domain::catalog::CatalogRule;
use warden_domain::{DomainError, FieldErrorKind, Resource, UserId};
use warden_store::{Extra, KeystoneCredentialRecord, StoreError};

use crate::auth::Principal;
use crate::secrets::{random_bytes, sha256_hex};
use crate::{store_error, store_error_for, Warden};

/// A credential with its blob in clear, as the owner reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeystoneCredential {
    pub id: String,
    pub user_id: UserId,
    pub project_id: Option<String>,
    pub credential_type: String,
    pub blob: String,
    pub extra: Extra,
}

/// What a creation asks for; the user id as sent.
#[derive(Clone, Debug, Default)]
pub struct NewKeystoneCredential {
    pub user_id: String,
    pub project_id: Option<String>,
    pub credential_type: String,
    pub blob: String,
    pub extra: Extra,
}

/// What a change sets; `None` leaves a field as it is, `project_id: Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct KeystoneCredentialPatch {
    pub user_id: Option<String>,
    pub project_id: Option<Option<String>>,
    pub credential_type: Option<String>,
    pub blob: Option<String>,
    pub extra: Extra,
}

fn seal_context(id: &str) -> Vec<u8> {
    format!("warden/keystone-credential/{id}").into_bytes()
}

fn is_ec2(credential_type: &str) -> bool {
    credential_type.eq_ignore_ascii_case("ec2")
}

/// The `access` of an EC2 blob: the blob must be a JSON object naming it.
fn ec2_access(blob: &str) -> Result<String, DomainError> {
    let parsed: Option<Value> = serde_json::from_str(blob).ok();
    match parsed.as_ref().and_then(|b| b.get("access")) {
        Some(Value::String(access)) => Ok(access.clone()),
        _ => Err(DomainError::invalid("blob", FieldErrorKind::Invalid)),
    }
}

/// The rules Keystone's schema and handler check before anything is stored.
fn check_ec2(
    credential_type: &str,
    blob: &str,
    project_id: Option<&str>,
) -> Result<(), DomainError> {
    if !is_ec2(credential_type) {
        return Ok(());
    }
    ec2_access(blob)?;
    if project_id.is_none() {
        return Err(DomainError::invalid("project_id", FieldErrorKind::Missing));
    }
    Ok(())
}

impl Warden {
    fn seal_credential(
        &self,
        credential: KeystoneCredential,
        created_at: warden_domain::Timestamp,
    ) -> KeystoneCredentialRecord {
        KeystoneCredentialRecord {
            blob_sealed: self
                .kek
                .seal(&seal_context(&credential.id), credential.blob.as_bytes()),
            id: credential.id,
            user_id: credential.user_id,
            project_id: credential.project_id,
            credential_type: credential.credential_type,
            extra: credential.extra,
            created_at,
        }
    }

    fn open_credential(
        &self,
        record: KeystoneCredentialRecord,
    ) -> Result<KeystoneCredential, DomainError> {
        let blob = self
            .kek
            .open(&seal_context(&record.id), &record.blob_sealed)
            .ok()
            .and_then(|plain| String::from_utf8(plain).ok())
            .ok_or_else(|| {
                tracing::error!(id = %record.id, "a credential's blob does not open with the key-encryption key");
                DomainError::Internal
            })?;
        Ok(KeystoneCredential {
            id: record.id,
            user_id: record.user_id,
            project_id: record.project_id,
            credential_type: record.credential_type,
            blob,
            extra: record.extra,
        })
    }

    /// The owner or whoever may manage the owner; the user must exist (404 otherwise).
    async fn ensure_handles_credentials_of(
        &self,
        principal: &Principal,
        user: UserId,
    ) -> Result<(), DomainError> {
        let user = self.load_user(user).await?;
        self.ensure_manages_keys_of(principal, &user).await
    }

    /// A stored credential the caller may handle, with its stored record.
    async fn load_keystone_credential(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<KeystoneCredentialRecord, DomainError> {
        let record = self
            .store
            .get_keystone_credential(id)
            .await
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(Resource::Credential))?;
        self.ensure_handles_credentials_of(principal, record.user_id)
            .await?;
        Ok(record)
    }

    pub async fn create_keystone_credential(
        &self,
        principal: &Principal,
        new: NewKeystoneCredential,
    ) -> Result<KeystoneCredential, DomainError> {
        check_ec2(&new.credential_type, &new.blob, new.project_id.as_deref())?;
        let user_id = Self::parse_user_id(&new.user_id)?;
        self.ensure_handles_credentials_of(principal, user_id)
            .await?;
        let id = if is_ec2(&new.credential_type) {
            sha256_hex(ec2_access(&new.blob)?.as_bytes())
        } else {
            hex::encode(random_bytes::<16>())
        };
        let credential = KeystoneCredential {
            id,
            user_id,
            project_id: new.project_id,
            credential_type: new.credential_type,
            blob: new.blob,
            extra: new.extra,
        };
        let record = self.seal_credential(credential.clone(), self.clock.now());
        match self
            .store
            .insert_keystone_credential(&record, &self.audit_by(principal))
            .await
        {
            Ok(()) => Ok(credential),
            Err(StoreError::Conflict(_)) => Err(DomainError::CatalogRule(CatalogRule::IdTaken)),
            Err(e) => Err(store_error_for(Resource::User)(e)),
        }
    }

    /// The credentials the caller may read, of one user and/or type when asked. An unknown
    /// user holds none.
    pub async fn list_keystone_credentials(
        &self,
        principal: &Principal,
        user_id: Option<&str>,
        credential_type: Option<&str>,
    ) -> Result<Vec<KeystoneCredential>, DomainError> {
        let user = match user_id.map(UserId::parse) {
            Some(None) => return Ok(Vec::new()),
            Some(Some(id)) => Some(id),
            None => None,
        };
        let records = self
            .store
            .list_keystone_credentials(user, credential_type)
            .await
            .map_err(store_error)?;
        // One decision per owner, however many credentials they hold.
        let mut allowed: HashMap<UserId, bool> = HashMap::new();
        let mut found = Vec::new();
        for record in records {
            let may = match allowed.get(&record.user_id) {
                Some(may) => *may,
                None => {
                    let may = match self
                        .ensure_handles_credentials_of(principal, record.user_id)
                        .await
                    {
                        Ok(()) => true,
                        Err(DomainError::Forbidden | DomainError::NotFound(_)) => false,
                        Err(e) => return Err(e),
                    };
                    allowed.insert(record.user_id, may);
                    may
                }
            };
            if may {
                found.push(self.open_credential(record)?);
            }
        }
        Ok(found)
    }

    pub async fn get_keystone_credential(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<KeystoneCredential, DomainError> {
        let record = self.load_keystone_credential(principal, id).await?;
        self.open_credential(record)
    }

    /// Changes a credential. Handing it to another user needs the right to handle that
    /// user's credentials too.
    pub async fn update_keystone_credential(
        &self,
        principal: &Principal,
        id: &str,
        patch: KeystoneCredentialPatch,
    ) -> Result<KeystoneCredential, DomainError> {
        let record = self.load_keystone_credential(principal, id).await?;
        let created_at = record.created_at;
        let mut credential = self.open_credential(record)?;
        if let Some(raw) = patch.user_id {
            let user = Self::parse_user_id(&raw)?;
            if user != credential.user_id {
                self.ensure_handles_credentials_of(principal, user).await?;
                credential.user_id = user;
            }
        }
        if let Some(project_id) = patch.project_id {
            credential.project_id = project_id;
        }
        if let Some(credential_type) = patch.credential_type {
            credential.credential_type = credential_type;
        }
        if let Some(blob) = patch.blob {
            credential.blob = blob;
        }
        credential.extra.extend(patch.extra);
        check_ec2(
            &credential.credential_type,
            &credential.blob,
            credential.project_id.as_deref(),
        )?;
        let record = self.seal_credential(credential.clone(), created_at);
        self.store
            .update_keystone_credential(&record, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::Credential))?;
        Ok(credential)
    }

    pub async fn delete_keystone_credential(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), DomainError> {
        self.load_keystone_credential(principal, id).await?;
        self.store
            .delete_keystone_credential(id, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::Credential))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ec2_blob_must_name_its_access_key_and_a_project() {
        assert!(check_ec2("ec2", r#"{"access": "a", "secret": "s"}"#, Some("p")).is_ok());
        assert!(check_ec2("EC2", r#"{"secret": "s"}"#, Some("p")).is_err());
        assert!(check_ec2("ec2", "not json", Some("p")).is_err());
        assert!(check_ec2("ec2", r#"{"access": "a"}"#, None).is_err());
        assert!(check_ec2("totp", "anything", None).is_ok());
    }
}
