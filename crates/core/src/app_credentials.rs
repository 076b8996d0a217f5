//! Keystone application credentials: a user delegates some of the roles they hold on the
//! project their token is scoped to, to an application that authenticates with the
//! credential's id (or its name and the user) and a secret. Tokens issued from a credential are
//! scoped to that project, narrowed to it, carry the delegated roles the user still held at
//! issue, and die with the credential.
//!
//! Secrets: a generated secret (512 random bits, as Keystone makes them) is stored as its
//! SHA-256, like an API client secret, so issuing tokens from it costs no KDF; a secret the
//! caller chose may be weak, so it is stored as an Argon2id PHC string, like a password.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use warden_domain::{
    AuthFailure, DomainError, FieldErrorKind, Password, Resource, Tenant, TenantId, Timestamp,
    User, UserId,
};
use warden_store::{app_credential_revocation_key, AppCredentialRecord};

use crate::auth::Principal;
use crate::keystone::{NameOrId, ScopeRequest, TokenView, UserRef};
use crate::password::Verification;
use crate::roles::RoleView;
use crate::secrets::{random_bytes, secret_matches, sha256_hex};
use crate::tokens::{
    tenant_urn, AppCredentialClaim, Claims, KeystoneClaims, Subject, TokenRequest,
    MAX_LIFETIME_SECONDS,
};
use crate::{store_error, store_error_for, Warden};

/// The method name in `POST /v3/auth/tokens` and in the tokens it issues.
pub const METHOD: &str = "application_credential";

/// An application credential as shown, without its secret.
#[derive(Clone, Debug)]
pub struct AppCredential {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub project_id: TenantId,
    pub name: String,
    pub description: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub unrestricted: bool,
    /// The delegated roles that still exist.
    pub roles: Vec<RoleView>,
}

/// A credential just created, with its secret shown this once.
#[derive(Clone, Debug)]
pub struct CreatedAppCredential {
    pub credential: AppCredential,
    pub secret: String,
}

/// A role named in a creation.
#[derive(Clone, Debug)]
pub enum RoleRef {
    Id(String),
    Name(String),
}

/// What a creation asks for.
#[derive(Clone, Debug, Default)]
pub struct NewAppCredential {
    pub name: String,
    pub description: Option<String>,
    pub secret: Option<String>,
    /// As sent: ISO 8601, with or without a zone (UTC when none).
    pub expires_at: Option<String>,
    pub unrestricted: bool,
    /// The roles to delegate; all the token's roles on the project when empty.
    pub roles: Vec<RoleRef>,
}

/// How an authentication names its credential.
#[derive(Clone, Debug)]
pub enum AppCredentialRef {
    Id(String),
    Named { name: String, user: UserRef },
}

/// The key that revokes the tokens issued from the credential a token names, if it names one.
pub(crate) fn revocation_key(claims: &Claims) -> Option<String> {
    let claim = claims.ks.as_ref()?.application_credential.as_ref()?;
    uuid::Uuid::parse_str(&claim.id)
        .ok()
        .map(app_credential_revocation_key)
}

pub(crate) fn is_app_credential_token(claims: &Claims) -> bool {
    claims
        .ks
        .as_ref()
        .is_some_and(|ks| ks.application_credential.is_some())
}

/// Cuts the policies of a principal whose token came from an application credential down to
/// the roles the credential delegated: such a token acts with those roles only, on every face.
pub(crate) fn restrict(mut principal: Principal) -> Principal {
    let roles = principal
        .claims
        .as_ref()
        .and_then(|c| c.ks.as_ref())
        .and_then(|ks| ks.application_credential.as_ref())
        .map(|claim| claim.roles.clone());
    if let Some(roles) = roles {
        principal
            .policies
            .retain(|p| roles.iter().any(|r| r == p.role.as_str()));
    }
    principal
}

/// Keystone's `expires_at`: ISO 8601 with a zone, or without one meaning UTC.
fn parse_expiry(raw: &str) -> Option<Timestamp> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(Timestamp::from_datetime(at.with_timezone(&Utc)));
    }
    let naive = raw.trim_end_matches('Z');
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(naive, format).ok())
    .map(|at| Timestamp::from_datetime(at.and_utc()))
}

/// A generated secret: 512 random bits, base64url without padding, as Keystone generates them.
fn generated_secret() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<64>())
}

/// A stored SHA-256 is 64 hex digits; a PHC string starts with `$`.
fn is_phc(stored: &str) -> bool {
    stored.starts_with('$')
}

fn invalid(field: &str) -> DomainError {
    DomainError::invalid(field, FieldErrorKind::Invalid)
}

impl Warden {
    /// The claim of the caller's token, when it came from an application credential that may
    /// not manage application credentials: Keystone refuses such tokens with 403.
    fn refuse_restricted(principal: &Principal) -> Result<(), DomainError> {
        let restricted = principal
            .claims
            .as_ref()
            .and_then(|c| c.ks.as_ref())
            .and_then(|ks| ks.application_credential.as_ref())
            .is_some_and(|claim| !claim.unrestricted);
        if restricted {
            Err(DomainError::Forbidden)
        } else {
            Ok(())
        }
    }

    /// The roles the principal holds on `tenant`, as Keystone shows them, each once.
    async fn roles_on(
        &self,
        principal: &Principal,
        tenant: &Tenant,
    ) -> Result<Vec<RoleView>, DomainError> {
        let book = self.role_book().await?;
        let mut roles: Vec<RoleView> = Vec::new();
        for p in principal
            .policies
            .iter()
            .filter(|p| p.reach.confers(p.tenant_id, tenant))
        {
            let role = book.view_of(&p.role);
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    async fn app_credential_view(
        &self,
        record: AppCredentialRecord,
    ) -> Result<AppCredential, DomainError> {
        let known = self.store.list_roles().await.map_err(store_error)?;
        let roles = record
            .roles
            .iter()
            .filter_map(|id| {
                known
                    .iter()
                    .find(|r| r.id.simple() == *id)
                    .map(|r| RoleView {
                        id: r.id.simple(),
                        name: r.name.clone(),
                        domain_id: r.domain_id,
                    })
            })
            .collect();
        Ok(AppCredential {
            id: record.id,
            user_id: record.user_id,
            project_id: record.project_id,
            name: record.name,
            description: record.description,
            expires_at: record.expires_at,
            unrestricted: record.unrestricted,
            roles,
        })
    }

    /// `POST /v3/users/{user_id}/application_credentials`: the user themself, with a token
    /// scoped to a project, delegates roles they hold there (all of them by default).
    pub async fn create_app_credential(
        &self,
        principal: &Principal,
        raw_user_id: &str,
        new: NewAppCredential,
    ) -> Result<CreatedAppCredential, DomainError> {
        let now = self.clock.now();
        let expires_at = match new.expires_at.as_deref() {
            None => None,
            Some(raw) => match parse_expiry(raw) {
                Some(at) if at > now => Some(at),
                _ => return Err(invalid("expires_at")),
            },
        };
        Self::refuse_restricted(principal)?;
        // Threat: an administrator minting a credential that acts as someone else; Keystone
        // lets only the user create their own.
        let user_id = UserId::parse(raw_user_id).ok_or(DomainError::Forbidden)?;
        if !principal.is_user(user_id) {
            return Err(DomainError::Forbidden);
        }
        let project_id = principal
            .claims
            .as_ref()
            .and_then(|c| c.ks.as_ref())
            .and_then(|ks| ks.project_id.as_deref())
            .and_then(TenantId::parse)
            .ok_or(DomainError::Forbidden)?;
        let project = self.tenant(project_id).await?;
        let held = self.roles_on(principal, &project).await?;
        let roles = if new.roles.is_empty() {
            held
        } else {
            let book = self.store.list_roles().await.map_err(store_error)?;
            let mut wanted: Vec<RoleView> = Vec::new();
            for reference in &new.roles {
                let (in_token, exists) = match reference {
                    RoleRef::Id(id) => (
                        held.iter().find(|r| r.id == *id),
                        book.iter().any(|r| r.id.simple() == *id),
                    ),
                    RoleRef::Name(name) => (
                        held.iter()
                            .find(|r| r.name == *name && r.domain_id.is_none()),
                        book.iter()
                            .any(|r| r.name == *name && r.domain_id.is_none()),
                    ),
                };
                // Keystone: an unknown role is 404, a role not held on the project 400.
                let role = match in_token {
                    Some(role) => role.clone(),
                    None if exists => return Err(invalid("roles")),
                    None => return Err(DomainError::NotFound(Resource::Role)),
                };
                if !wanted.contains(&role) {
                    wanted.push(role);
                }
            }
            wanted
        };
        if roles.is_empty() {
            // A credential without roles could never authenticate.
            return Err(invalid("roles"));
        }
        let (secret, secret_hash) = match new.secret {
            Some(secret) => {
                let password = Password::for_login(&secret).ok_or_else(|| invalid("secret"))?;
                let hash = self.hasher.hash(&password).await?;
                (secret, hash)
            }
            None => {
                let secret = generated_secret();
                let hash = sha256_hex(secret.as_bytes());
                (secret, hash)
            }
        };
        let record = AppCredentialRecord {
            id: uuid::Uuid::new_v4(),
            user_id,
            project_id,
            name: new.name,
            description: new.description,
            secret_hash,
            expires_at,
            unrestricted: new.unrestricted,
            roles: roles.iter().map(|r| r.id.clone()).collect(),
            created_at: now,
        };
        self.store
            .insert_app_credential(&record, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                warden_store::StoreError::Conflict(_) => {
                    DomainError::Conflict(Resource::ApplicationCredential)
                }
                other => store_error(other),
            })?;
        Ok(CreatedAppCredential {
            credential: AppCredential {
                id: record.id,
                user_id,
                project_id,
                name: record.name,
                description: record.description,
                expires_at,
                unrestricted: record.unrestricted,
                roles,
            },
            secret,
        })
    }

    /// The user named in the path, when the caller is them or may manage them.
    async fn app_credential_owner(
        &self,
        principal: &Principal,
        raw_user_id: &str,
    ) -> Result<User, DomainError> {
        let user = self.load_user(Self::parse_user_id(raw_user_id)?).await?;
        if !principal.is_user(user.id) {
            self.ensure_can_manage(principal, &user).await?;
        }
        Ok(Arc::unwrap_or_clone(user))
    }

    /// One credential of the user in the path; another user's is not found there.
    async fn owned_app_credential(
        &self,
        principal: &Principal,
        raw_user_id: &str,
        raw_id: &str,
    ) -> Result<AppCredentialRecord, DomainError> {
        let user = self.app_credential_owner(principal, raw_user_id).await?;
        let not_found = DomainError::NotFound(Resource::ApplicationCredential);
        let id = uuid::Uuid::parse_str(raw_id).map_err(|_| not_found.clone())?;
        match self
            .store
            .get_app_credential(id)
            .await
            .map_err(store_error)?
        {
            Some(record) if record.user_id == user.id => Ok(record),
            _ => Err(not_found),
        }
    }

    /// `GET /v3/users/{user_id}/application_credentials`, with one name or all.
    pub async fn list_app_credentials(
        &self,
        principal: &Principal,
        raw_user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<AppCredential>, DomainError> {
        let user = self.app_credential_owner(principal, raw_user_id).await?;
        let records = self
            .store
            .list_app_credentials(user.id, name)
            .await
            .map_err(store_error)?;
        let mut found = Vec::with_capacity(records.len());
        for record in records {
            found.push(self.app_credential_view(record).await?);
        }
        Ok(found)
    }

    /// `GET /v3/users/{user_id}/application_credentials/{id}`.
    pub async fn get_app_credential(
        &self,
        principal: &Principal,
        raw_user_id: &str,
        raw_id: &str,
    ) -> Result<AppCredential, DomainError> {
        let record = self
            .owned_app_credential(principal, raw_user_id, raw_id)
            .await?;
        self.app_credential_view(record).await
    }

    /// `DELETE /v3/users/{user_id}/application_credentials/{id}`: the credential goes, and
    /// every token issued from it stops working at once, on every node.
    pub async fn delete_app_credential(
        &self,
        principal: &Principal,
        raw_user_id: &str,
        raw_id: &str,
    ) -> Result<(), DomainError> {
        Self::refuse_restricted(principal)?;
        let record = self
            .owned_app_credential(principal, raw_user_id, raw_id)
            .await?;
        // No token lives longer than MAX_LIFETIME_SECONDS, nor past its credential's expiry.
        let now = self.clock.now();
        let mut until = now.plus_seconds(MAX_LIFETIME_SECONDS);
        if let Some(expires_at) = record.expires_at {
            until = until.min(expires_at.max(now));
        }
        self.store
            .delete_app_credential(record.id, until, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::ApplicationCredential))
    }

    /// The credential an authentication names, or `None`.
    async fn find_app_credential(
        &self,
        reference: &AppCredentialRef,
    ) -> Result<Option<AppCredentialRecord>, DomainError> {
        match reference {
            AppCredentialRef::Id(raw) => match uuid::Uuid::parse_str(raw) {
                Ok(id) => self.store.get_app_credential(id).await.map_err(store_error),
                Err(_) => Ok(None),
            },
            AppCredentialRef::Named { name, user } => {
                let user_id = match user {
                    UserRef::Id(raw) => UserId::parse(raw),
                    UserRef::Name { name, domain } => {
                        self.user_in_domain(name, domain).await?.map(|u| u.id)
                    }
                };
                let Some(user_id) = user_id else {
                    return Ok(None);
                };
                let mut found = self
                    .store
                    .list_app_credentials(user_id, Some(name))
                    .await
                    .map_err(store_error)?;
                Ok(found.pop())
            }
        }
    }

    /// The user with this login whose nearest domain is `domain`.
    async fn user_in_domain(
        &self,
        login: &str,
        domain: &NameOrId,
    ) -> Result<Option<User>, DomainError> {
        let (Some(domain), Ok(login)) = (
            self.domain(domain).await?,
            warden_domain::Login::parse("name", login),
        ) else {
            return Ok(None);
        };
        let Some(creds) = self
            .store
            .user_credentials_by_login(&login.key())
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let user_domain = self.domain_of(creds.user.tenant_id).await?;
        Ok((user_domain.id == domain.id).then_some(creds.user))
    }

    /// Whether `secret` is the credential's.
    async fn app_credential_secret_matches(
        &self,
        record: &AppCredentialRecord,
        secret: &str,
    ) -> Result<bool, DomainError> {
        if !is_phc(&record.secret_hash) {
            return Ok(secret_matches(secret, &record.secret_hash));
        }
        let Some(password) = Password::for_login(secret) else {
            return Ok(false);
        };
        Ok(matches!(
            self.hasher
                .verify(&password, Some(&record.secret_hash))
                .await?,
            Verification::Match { .. }
        ))
    }

    /// `POST /v3/auth/tokens` with the `application_credential` method: a token scoped to the
    /// credential's project, with the delegated roles the user still holds there. An unknown,
    /// expired or deleted credential, a wrong secret, a disabled user, no delegated role left,
    /// or a requested scope other than the credential's project: 401, all alike.
    pub async fn keystone_app_credential_auth(
        &self,
        reference: &AppCredentialRef,
        secret: &str,
        scope: &ScopeRequest,
    ) -> Result<(String, TokenView), DomainError> {
        let refused = DomainError::Unauthenticated(AuthFailure::Invalid);
        let now = self.clock.now();
        let record = self
            .find_app_credential(reference)
            .await?
            .ok_or_else(|| refused.clone())?;
        if !self.app_credential_secret_matches(&record, secret).await?
            || record.expires_at.is_some_and(|at| at <= now)
        {
            return Err(refused);
        }
        let user = match self.store.get_user(record.user_id).await {
            Ok(user) if user.enabled => user,
            Ok(_) | Err(warden_store::StoreError::NotFound) => return Err(refused),
            Err(e) => return Err(store_error(e)),
        };
        let project = match self.store.get_tenant(record.project_id).await {
            Ok(project) if project.enabled => project,
            Ok(_) | Err(warden_store::StoreError::NotFound) => return Err(refused),
            Err(e) => return Err(store_error(e)),
        };
        match scope {
            ScopeRequest::Unscoped => {}
            ScopeRequest::Domain(_) | ScopeRequest::System => return Err(refused),
            ScopeRequest::Project {
                project: named,
                domain,
            } => {
                let asked = self.project(named, domain.as_ref()).await?;
                if asked.map(|p| p.id) != Some(project.id) {
                    return Err(refused);
                }
            }
        }
        // The delegated roles the user still holds on the project, as the policies that give
        // them: the token will act with those policies only.
        let mut principal = self.principal_for_user(&user, None).await?;
        let book = self.role_book().await?;
        principal.policies.retain(|p| {
            p.reach.confers(p.tenant_id, &project)
                && record.roles.contains(&book.view_of(&p.role).id)
        });
        if principal.policies.is_empty() {
            return Err(refused);
        }
        let mut roles: Vec<String> = Vec::new();
        for p in &principal.policies {
            let role = p.role.as_str().to_owned();
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        let ks = KeystoneClaims {
            methods: vec![METHOD.to_owned()],
            project_id: Some(project.id.simple()),
            application_credential: Some(AppCredentialClaim {
                id: record.id.simple().to_string(),
                name: record.name.clone(),
                unrestricted: record.unrestricted,
                roles,
            }),
            ..KeystoneClaims::default()
        };
        let issued = self.tokens.issue_narrowed(
            TokenRequest {
                subject: Subject::User(user.id),
                owner_tenant: user.tenant_id.to_string(),
                scope: Self::account_scope(&principal.policies),
                keystone: Some(ks),
                ttl_seconds: self.settings.keystone_token_ttl_seconds,
            },
            // The token acts inside its project only, whatever else the user may do.
            vec![vec![tenant_urn(project.id)]],
            record.expires_at.map(|at| at.seconds()),
            Vec::new(),
        )?;
        self.metrics.token_issued("keystone", METHOD);
        let claims = std::sync::Arc::new(issued.claims);
        principal.claims = Some(claims.clone());
        let view = self
            .token_view(claims, Arc::unwrap_or_clone(user), &principal)
            .await?;
        Ok((issued.token, view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_with_or_without_a_zone() {
        let utc = parse_expiry("2030-01-02T03:04:05.123456").map(|t| t.micros());
        assert_eq!(
            utc,
            parse_expiry("2030-01-02T03:04:05.123456Z").map(|t| t.micros())
        );
        assert_eq!(
            utc,
            parse_expiry("2030-01-02T04:04:05.123456+01:00").map(|t| t.micros())
        );
        assert!(parse_expiry("2030-01-02T03:04:05").is_some());
        assert!(parse_expiry("tomorrow").is_none());
    }

    #[test]
    fn generated_secrets_are_stored_as_sha256_and_chosen_ones_are_not() {
        let secret = generated_secret();
        assert_eq!(secret.len(), 86);
        assert!(!is_phc(&sha256_hex(secret.as_bytes())));
        assert!(is_phc("$argon2id$v=19$m=19456,t=2,p=1$..."));
    }
}
