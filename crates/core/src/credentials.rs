//! Permanent access keys (AK/SK): a user's, or a manager's on their behalf, creation, listing,
//! change and deletion of keys; and authentication of requests signed with one
//! (`SDK-HMAC-SHA256`), which yields the same principal a token of the key's user would.
//!
//! The secret is shown once, at creation, and stored sealed with the key-encryption key, bound
//! to its access key: a signature can only be verified with the secret itself, so it cannot be
//! hashed. Changing a user's keys does not end the user's tokens (the reference says Huawei
//! does so "within up to 30 minutes"): no token is ever derived from a key here, and a deleted
//! or deactivated key stops signing at once because every signed request looks its key up.

use std::sync::Arc;

use warden_domain::{
    AccessMode, AuthFailure, DomainError, FieldError, FieldErrorKind, Resource, User,
};
use warden_store::{
    CredentialPatch, CredentialRecord, CredentialStatus, StoreError, MAX_CREDENTIALS_PER_USER,
};

use crate::aksk::{self, SignatureError, SignedRequest};
use crate::auth::Principal;
use crate::secrets::random_bytes;
use crate::tokens::Subject;
use crate::{store_error, store_error_for, Warden};

/// Access key ids are 20 characters of `A-Z0-9`, as Huawei Cloud's are.
pub const ACCESS_KEY_LEN: usize = 20;
/// Secrets are 40 characters of `A-Za-z0-9`: about 238 random bits.
pub const SECRET_LEN: usize = 40;
/// The longest description a key may carry, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 255;

const UPPER_ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters drawn uniformly from `alphabet` (rejection sampling, so no character is
/// more likely than another).
fn random_text(alphabet: &[u8], len: usize) -> String {
    let n = alphabet.len();
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<64>() {
            let b = usize::from(b);
            if b < limit && out.len() < len {
                out.push(char::from(alphabet[b % n]));
            }
        }
    }
    out
}

/// What the secret is sealed against, so a sealed secret moved to another key does not open.
fn seal_context(access_key: &str) -> Vec<u8> {
    format!("warden/credential/{access_key}").into_bytes()
}

/// An access key as created: the record and its secret, which nothing shows again.
#[derive(Clone)]
pub struct NewCredential {
    pub credential: CredentialRecord,
    pub secret: String,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("credential", &self.credential)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a signed request was not authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedAuthError {
    /// The signature, its key or the key's user is not acceptable: 401 `APIGW.0301`. Unknown
    /// and inactive keys and disabled users are reported as a mismatch, like a bad signature.
    Refused(SignatureError),
    /// The check could not be made (the store is unavailable, a sealed secret is corrupt).
    Failed(DomainError),
}

fn description(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    match raw {
        Some(text) if text.chars().count() > MAX_DESCRIPTION_CHARS => {
            Err(DomainError::invalid("description", FieldErrorKind::TooLong))
        }
        Some(text) if text.chars().any(char::is_control) => {
            Err(DomainError::invalid("description", FieldErrorKind::Invalid))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

impl Warden {
    fn is_own(principal: &Principal, user: &User) -> bool {
        principal.subject == Subject::User(user.id)
    }

    /// Changing a user's keys is changing how one signs in as them: the user themself, or
    /// whoever may manage the user (including every role the user holds).
    pub(crate) async fn ensure_manages_keys_of(
        &self,
        principal: &Principal,
        user: &User,
    ) -> Result<(), DomainError> {
        if Self::is_own(principal, user) {
            Ok(())
        } else {
            self.ensure_can_manage(principal, user).await
        }
    }

    /// Listing shows no secret: the user themself, or whoever reads the user's tenant.
    async fn ensure_reads_keys_of(
        &self,
        principal: &Principal,
        user: &User,
    ) -> Result<(), DomainError> {
        if Self::is_own(principal, user) || principal.can_read(&*self.tenant(user.tenant_id).await?)
        {
            Ok(())
        } else {
            Err(DomainError::Forbidden)
        }
    }

    /// A key and the user owning it; a key whose user is gone does not exist either.
    async fn load_credential(
        &self,
        access_key: &str,
    ) -> Result<(CredentialRecord, User), DomainError> {
        let not_found = DomainError::NotFound(Resource::Credential);
        let valid = access_key.len() == ACCESS_KEY_LEN
            && access_key.bytes().all(|b| UPPER_ALPHANUMERIC.contains(&b));
        if !valid {
            return Err(not_found);
        }
        let (record, _) = self
            .store
            .get_credential(access_key)
            .await
            .map_err(store_error)?
            .ok_or_else(|| not_found.clone())?;
        let user = match self.store.get_user(record.user_id).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err(not_found),
            Err(e) => return Err(store_error(e)),
        };
        Ok((record, Arc::unwrap_or_clone(user)))
    }

    /// Creates an active access key for the user `raw_user_id`; at most
    /// [`MAX_CREDENTIALS_PER_USER`] per user (`QuotaReached` on `user_id` beyond).
    pub async fn create_credential(
        &self,
        principal: &Principal,
        raw_user_id: &str,
        raw_description: Option<&str>,
    ) -> Result<NewCredential, DomainError> {
        let user = self.load_user(Self::parse_user_id(raw_user_id)?).await?;
        self.ensure_manages_keys_of(principal, &user).await?;
        let description = description(raw_description)?.unwrap_or_default();
        // Checked here for a clear answer; the store checks again in its transaction.
        let held = self
            .store
            .credentials_of_user(user.id)
            .await
            .map_err(store_error)?;
        let quota = || {
            DomainError::Invalid(vec![FieldError::new(
                "user_id",
                FieldErrorKind::QuotaReached,
            )])
        };
        if held.len() as i64 >= MAX_CREDENTIALS_PER_USER {
            return Err(quota());
        }
        let credential = CredentialRecord {
            access_key: random_text(UPPER_ALPHANUMERIC, ACCESS_KEY_LEN),
            user_id: user.id,
            status: CredentialStatus::Active,
            description,
            created_at: self.clock.now(),
        };
        let secret = random_text(ALPHANUMERIC, SECRET_LEN);
        let sealed = self
            .kek
            .seal(&seal_context(&credential.access_key), secret.as_bytes());
        match self
            .store
            .insert_credential(&credential, &sealed, &self.audit_by(principal))
            .await
        {
            Ok(()) => Ok(NewCredential { credential, secret }),
            Err(StoreError::Conflict("credential_quota")) => Err(quota()),
            Err(e) => Err(store_error_for(Resource::User)(e)),
        }
    }

    /// The access keys of the user `raw_user_id`, oldest first.
    pub async fn list_credentials(
        &self,
        principal: &Principal,
        raw_user_id: &str,
    ) -> Result<Vec<CredentialRecord>, DomainError> {
        let user = self.load_user(Self::parse_user_id(raw_user_id)?).await?;
        self.ensure_reads_keys_of(principal, &user).await?;
        self.store
            .credentials_of_user(user.id)
            .await
            .map_err(store_error)
    }

    pub async fn get_credential(
        &self,
        principal: &Principal,
        access_key: &str,
    ) -> Result<CredentialRecord, DomainError> {
        let (record, user) = self.load_credential(access_key).await?;
        self.ensure_reads_keys_of(principal, &user).await?;
        Ok(record)
    }

    /// Changes the status (`active`/`inactive`) and/or the description of a key.
    pub async fn update_credential(
        &self,
        principal: &Principal,
        access_key: &str,
        status: Option<CredentialStatus>,
        raw_description: Option<&str>,
    ) -> Result<CredentialRecord, DomainError> {
        let (_, user) = self.load_credential(access_key).await?;
        self.ensure_manages_keys_of(principal, &user).await?;
        let patch = CredentialPatch {
            status,
            description: description(raw_description)?,
        };
        self.store
            .update_credential(access_key, &patch, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::Credential))
    }

    pub async fn delete_credential(
        &self,
        principal: &Principal,
        access_key: &str,
    ) -> Result<(), DomainError> {
        let (_, user) = self.load_credential(access_key).await?;
        self.ensure_manages_keys_of(principal, &user).await?;
        self.store
            .delete_credential(access_key, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::Credential))
    }

    /// Authenticates a request signed `SDK-HMAC-SHA256` with a permanent access key: the key
    /// must exist and be active, the signature must verify over the request as received within
    /// [`aksk::MAX_SKEW_SECONDS`] of this server's clock, and the key's user must exist and be
    /// enabled. `X-Domain-Id` / `X-Project-Id` are not consulted: the key names the user.
    /// Nothing is written, so signed requests cost no write.
    pub async fn authenticate_signed(
        &self,
        request: &SignedRequest<'_>,
    ) -> Result<Principal, SignedAuthError> {
        let refused = |why| Err(SignedAuthError::Refused(why));
        let authorization = request
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value.as_str())
            .unwrap_or("");
        let credentials = match aksk::parse_authorization(authorization) {
            Some(Ok(credentials)) => credentials,
            Some(Err(why)) => return refused(why),
            None => return refused(SignatureError::Malformed),
        };
        let found = self
            .store
            .get_credential(&credentials.access_key)
            .await
            .map_err(|e| SignedAuthError::Failed(store_error(e)))?;
        let Some((record, sealed)) = found else {
            return refused(SignatureError::Mismatch);
        };
        if record.status != CredentialStatus::Active {
            return refused(SignatureError::Mismatch);
        }
        let secret = self
            .kek
            .open(&seal_context(&record.access_key), &sealed)
            .ok()
            .and_then(|plain| String::from_utf8(plain).ok())
            .ok_or_else(|| {
                tracing::error!(
                    access_key = %record.access_key,
                    "an access key's secret does not open with the key-encryption key"
                );
                SignedAuthError::Failed(DomainError::Internal)
            })?;
        aksk::verify(request, &credentials, &secret, self.clock.now().seconds())
            .map_err(SignedAuthError::Refused)?;
        let user = match self.store.get_user(record.user_id).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return refused(SignatureError::Mismatch),
            Err(e) => return Err(SignedAuthError::Failed(store_error(e))),
        };
        if !user.enabled {
            return refused(SignatureError::Mismatch);
        }
        if user.iam.access_mode == AccessMode::Console {
            // IAM `IAM.0081`: the signature is right, the user may not use keys.
            return Err(SignedAuthError::Failed(
                DomainError::ProgrammaticAccessDenied,
            ));
        }
        self.principal_for_user(&user, None)
            .await
            .map_err(SignedAuthError::Failed)
    }
}

impl From<SignedAuthError> for DomainError {
    fn from(e: SignedAuthError) -> Self {
        match e {
            SignedAuthError::Refused(_) => DomainError::Unauthenticated(AuthFailure::BadSignature),
            SignedAuthError::Failed(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_and_secrets_have_the_published_shape() {
        let key = random_text(UPPER_ALPHANUMERIC, ACCESS_KEY_LEN);
        assert_eq!(key.len(), 20);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        let secret = random_text(ALPHANUMERIC, SECRET_LEN);
        assert_eq!(secret.len(), 40);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(secret, random_text(ALPHANUMERIC, SECRET_LEN));
    }
}
