//! User operations shared by every face: create, read, change, delete, set a password.
//! Each checks authorization against the principal before it touches the store, and every
//! change is a compare-and-set on `version`.

use std::sync::Arc;

use warden_domain::{
    ContactPatch, DomainError, FieldErrorKind, NewUser, Password, Resource, Timestamp, User,
    UserId, UserPatch,
};

use crate::auth::Principal;
use crate::tokens::Subject;
use crate::{store_error, store_error_for, Warden};

/// How many times a change without a caller-supplied version (IAM self-service) re-reads and
/// retries after losing a race, before it reports the conflict.
const SELF_SERVICE_RETRIES: usize = 8;

impl Warden {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn parse_user_id(raw: &str) -> Result<UserId, DomainError> {
        UserId::parse(raw).ok_or(DomainError::NotFound(Resource::User))
    }

    pub(crate) async fn load_user(&self, id: UserId) -> Result<Arc<User>, DomainError> {
        self.store
            .get_user(id)
            .await
            .map_err(store_error_for(Resource::User))
    }

    fn is_self(principal: &Principal, user: &User) -> bool {
        principal.subject == Subject::User(user.id)
    }

    async fn ensure_can_read(&self, principal: &Principal, user: &User) -> Result<(), DomainError> {
        if Self::is_self(principal, user)
            || principal.can_read(&*self.tenant(user.tenant_id).await?)
        {
            Ok(())
        } else {
            Err(DomainError::Forbidden)
        }
    }

    pub(crate) async fn ensure_can_manage(
        &self,
        principal: &Principal,
        user: &User,
    ) -> Result<(), DomainError> {
        if !principal.can_manage(&*self.tenant(user.tenant_id).await?) {
            return Err(DomainError::Forbidden);
        }
        // Taking over an account is taking over its roles: whoever changes the credentials or
        // identity of a user holding roles must be able to grant each of those roles. Threat:
        // a `user_admin` resetting an administrator's password to act as them.
        let held = self
            .store
            .policies_of(user.id.uuid())
            .await
            .map_err(store_error)?;
        for policy in held {
            if !principal.can_grant(&*self.tenant(policy.tenant_id).await?) {
                return Err(DomainError::Forbidden);
            }
        }
        Ok(())
    }

    /// Whether a login is still free. Any authenticated caller may ask.
    pub async fn login_is_free(
        &self,
        _principal: &Principal,
        raw: &str,
    ) -> Result<bool, DomainError> {
        let login = warden_domain::Login::parse("username", raw)
            .map_err(|e| DomainError::Invalid(vec![e]))?;
        let taken = self
            .store
            .login_taken(&login.key())
            .await
            .map_err(store_error)?;
        Ok(!taken)
    }

    pub async fn create_user(
        &self,
        principal: &Principal,
        new: NewUser,
    ) -> Result<User, DomainError> {
        let tenant = self.tenant(new.tenant_id).await.map_err(|e| match e {
            DomainError::NotFound(_) => DomainError::invalid("tenant_id", FieldErrorKind::Invalid),
            other => other,
        })?;
        if !principal.can_manage(&tenant) {
            return Err(DomainError::Forbidden);
        }
        let now = self.clock.now();
        let user = User {
            id: UserId::new_random(),
            tenant_id: new.tenant_id,
            login: new.login,
            contact: new.contact,
            language: new.language,
            activated: false,
            enabled: new.enabled,
            terms_accepted: false,
            mfa_status: "disabled".to_owned(),
            notifications: new.notifications,
            business_types: new.business_types,
            external_id: new.external_id,
            personal_tenant_id: None,
            description: new.description,
            default_project_id: new.default_project_id,
            extra: new.extra,
            iam: new.iam,
            has_password: false,
            tokens_not_before: Timestamp::EPOCH,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        // A user of a customer also gets a personal tenant (see `tenants`).
        let mut user = user;
        self.insert_user_in(&tenant, &mut user, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::User))?;
        Ok(user)
    }

    pub async fn get_user(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<Arc<User>, DomainError> {
        let user = self.load_user(Self::parse_user_id(raw_id)?).await?;
        self.ensure_can_read(principal, &user).await?;
        Ok(user)
    }

    /// The caller's own account; API clients have none.
    pub async fn me(&self, principal: &Principal) -> Result<Arc<User>, DomainError> {
        let id = principal
            .user_id()
            .ok_or(DomainError::NotFound(Resource::User))?;
        self.load_user(id).await
    }

    /// Applies `patch` if the user is still at `expected_version`. A user may change the
    /// self-service fields of their own account; anything else needs a managing role.
    pub async fn update_user(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: UserPatch,
        expected_version: i64,
    ) -> Result<User, DomainError> {
        let current = self.load_user(Self::parse_user_id(raw_id)?).await?;
        if !(Self::is_self(principal, &current) && patch.is_self_service()) {
            self.ensure_can_manage(principal, &current).await?;
        }
        if current.version != expected_version {
            return Err(DomainError::VersionMismatch);
        }
        let mut next = current.patched(&patch);
        if !next.enabled && current.enabled {
            // Disabling a user ends every session they hold.
            next.tokens_not_before = self.clock.now();
        }
        if next.contact.email != current.contact.email {
            // A new address may need confirming from the old one first (see `directory`).
            return self
                .change_user_with_email(&current, next, expected_version, &self.audit_by(principal))
                .await;
        }
        self.store
            .update_user_if_version(&next, expected_version, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::User))
    }

    /// Self-service contact change (IAM `/info`): only the user themself, no version from the
    /// caller, so a lost race is retried on a fresh read rather than reported.
    pub async fn update_own_contact(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: ContactPatch,
    ) -> Result<User, DomainError> {
        let id = Self::parse_user_id(raw_id)?;
        let patch = UserPatch {
            contact: patch,
            ..UserPatch::default()
        };
        let patch = &patch;
        crate::retrying_races(SELF_SERVICE_RETRIES, || async move {
            let current = self.load_user(id).await?;
            if !Self::is_self(principal, &current) {
                return Err(DomainError::Forbidden);
            }
            if patch.contact.is_empty() {
                // Nothing to change: no write, no new version.
                return Ok(Arc::unwrap_or_clone(current));
            }
            let next = current.patched(patch);
            let claim = contact_claim(Some(&current.contact), &next.contact);
            self.store
                .update_user_with_tokens(&warden_store::UserWrite {
                    next: &next,
                    expected_version: current.version,
                    changed: true,
                    revoke: None,
                    issue: None,
                    claim: Some(&claim).filter(|c| !c.is_empty()),
                    audit: &self.audit_by(principal),
                })
                .await
                .map_err(store_error_for(Resource::User))
        })
        .await
    }

    /// Deletes a disabled user whose version is still `expected_version`.
    pub async fn delete_user(
        &self,
        principal: &Principal,
        raw_id: &str,
        expected_version: i64,
    ) -> Result<(), DomainError> {
        let current = self.load_user(Self::parse_user_id(raw_id)?).await?;
        self.ensure_can_manage(principal, &current).await?;
        if current.version != expected_version {
            return Err(DomainError::VersionMismatch);
        }
        if current.enabled {
            return Err(DomainError::UserStillEnabled);
        }
        self.store
            .delete_user_if_version(current.id, expected_version, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::User))
    }

    /// Sets a user's password and activates the account. Revokes the user's earlier tokens.
    pub async fn set_password(
        &self,
        principal: &Principal,
        raw_id: &str,
        raw_password: &str,
    ) -> Result<User, DomainError> {
        let current = self.load_user(Self::parse_user_id(raw_id)?).await?;
        self.ensure_can_manage(principal, &current).await?;
        let password =
            Password::new_checked("password", raw_password, &self.settings.password_policy)
                .map_err(|e| DomainError::Invalid(vec![e]))?;
        let hash = self.hasher.hash(&password).await?;
        self.store
            .set_user_password(current.id, &hash, None, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::User))
    }

    /// A user changes their own password (Keystone `POST /v3/users/{id}/password`). As in
    /// Keystone the current password is the proof, so no token is needed: it is checked — and
    /// throttled — like any login, and an unknown user fails as a wrong password does. The
    /// new password must satisfy the policy and differ from the current one. Every token the
    /// user held stops working, and IAM's `pwd_status` (must change the password) clears.
    pub async fn change_own_password(
        &self,
        raw_id: &str,
        original: &str,
        new: &str,
    ) -> Result<User, DomainError> {
        let invalid = DomainError::Unauthenticated(warden_domain::AuthFailure::Invalid);
        let id = Self::parse_user_id(raw_id).map_err(|_| invalid.clone())?;
        let password = Password::new_checked("password", new, &self.settings.password_policy)
            .map_err(|e| DomainError::Invalid(vec![e]))?;
        let current = self.password_login_by_id(id, original).await?;
        if original == new {
            return Err(DomainError::invalid(
                "password",
                warden_domain::FieldErrorKind::WeakPassword,
            ));
        }
        let hash = self.hasher.hash(&password).await?;
        let audit = warden_store::Audit::new(
            warden_store::Actor::User(current.id),
            crate::request::current_request_id(),
            self.clock.now(),
        );
        // The user chose it: IAM's "must change the password" (`pwd_status`) is satisfied.
        self.store
            .set_user_password(current.id, &hash, Some(false), &audit)
            .await
            .map_err(store_error_for(Resource::User))
    }
}

/// The contact details a change through the IAM face claims for its user alone in the tenant
/// (`1110`, `1111`): those it sets to something new, not those it keeps.
pub(crate) fn contact_claim(
    before: Option<&warden_domain::Contact>,
    after: &warden_domain::Contact,
) -> warden_store::ContactClaim {
    let email = after
        .email
        .as_ref()
        .filter(|new| {
            before
                .and_then(|b| b.email.as_ref())
                .is_none_or(|old| !old.as_str().eq_ignore_ascii_case(new.as_str()))
        })
        .map(|e| e.as_str().to_owned());
    let phone = Some((after.areacode.clone(), after.phone.clone()))
        .filter(|(_, phone)| !phone.is_empty())
        .filter(|(code, phone)| before.is_none_or(|b| b.areacode != *code || b.phone != *phone));
    warden_store::ContactClaim { email, phone }
}
