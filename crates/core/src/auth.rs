//! Authentication: who is calling, proven by a token, a password or a client secret; and the
//! principal that authorization decisions are made about.

use std::sync::Arc;

use warden_domain::{
    AccessPolicy, ApiClient, AuthFailure, ClientId, DomainError, Login, Password, Resource, Role,
    Tenant, TenantId, User,
};

use crate::password::Verification;
use crate::tokens::{Claims, IssuedToken, ScopeClaim, Subject, TokenRequest};
use crate::{store_error, store_error_for, Warden};

/// Credentials as presented, before anything is checked.
#[derive(Clone)]
pub enum Credential {
    /// A bearer token, from `Authorization: Bearer`, `X-Auth-Token` or `access_token`.
    Token(String),
    /// HTTP Basic with a user's login and password.
    Basic { username: String, password: String },
    /// A caller already authenticated by the signature of the request itself (AK/SK, see
    /// [`Warden::authenticate_signed`]); built by the HTTP layer only once that verified.
    Signed(Box<Principal>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token(<redacted>)"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::Signed(principal) => write!(f, "Signed({:?})", principal.subject),
        }
    }
}

/// An authenticated caller with the policies it holds right now.
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: Subject,
    /// The tenant the user or client belongs to.
    pub tenant_id: TenantId,
    pub policies: Vec<AccessPolicy>,
    /// The verified token, when the caller used one.
    pub claims: Option<Arc<Claims>>,
}

impl Principal {
    pub fn user_id(&self) -> Option<warden_domain::UserId> {
        match self.subject {
            Subject::User(id) => Some(id),
            Subject::Client(_) => None,
        }
    }

    /// Whether the caller holds a role satisfying `need` on `tenant` or one of its ancestors.
    /// An API client acts for its own tenant's subtree. A narrowed token acts only inside its
    /// narrowing, whatever its subject could do otherwise.
    fn holds(&self, tenant: &Tenant, need: fn(&Role) -> bool) -> bool {
        if !self
            .claims
            .as_ref()
            .is_none_or(|claims| claims.narrowing_allows(tenant))
        {
            return false;
        }
        match self.subject {
            Subject::Client(_) => {
                tenant.id == self.tenant_id || tenant.ancestors.contains(&self.tenant_id)
            }
            Subject::User(_) => self
                .policies
                .iter()
                .any(|p| need(&p.role) && p.reach.authorizes(p.tenant_id, tenant)),
        }
    }

    pub fn can_read(&self, tenant: &Tenant) -> bool {
        self.holds(tenant, Role::reads)
    }

    pub fn can_manage(&self, tenant: &Tenant) -> bool {
        self.holds(tenant, Role::manages)
    }

    /// May hand out or take away roles on `tenant`: an API client for its subtree, a user
    /// holding a granting admin role that reaches the tenant.
    pub fn can_grant(&self, tenant: &Tenant) -> bool {
        self.holds(tenant, Role::grants)
    }

    /// Whether the caller is this user.
    pub fn is_user(&self, user: warden_domain::UserId) -> bool {
        self.user_id() == Some(user)
    }
}

impl Warden {
    /// Authenticates a token or a login:password pair.
    pub async fn authenticate(&self, credential: &Credential) -> Result<Principal, DomainError> {
        match credential {
            Credential::Token(token) => self.authenticate_token(token).await,
            Credential::Basic { username, password } => {
                let user = self.password_login(username, password).await?;
                self.principal_for_user(&user, None).await
            }
            Credential::Signed(principal) => Ok(principal.as_ref().clone()),
        }
    }

    /// Verifies a token, then checks on every call that it was not revoked and that its
    /// subject still exists, is enabled and has not revoked tokens issued before this one.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, DomainError> {
        let claims = self.tokens.verify(token).await?;
        self.principal_for_claims(claims).await
    }

    pub(crate) async fn principal_for_claims(
        &self,
        claims: Arc<Claims>,
    ) -> Result<Principal, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        // The token, and every token it was exchanged from, must still stand; the subject is
        // read in the same round trip.
        let app_credential = crate::app_credentials::revocation_key(&claims);
        let jtis: Vec<&str> = claims
            .derived_from
            .iter()
            .chain(std::iter::once(&claims.jti))
            .map(String::as_str)
            .chain(app_credential.as_deref())
            .collect();
        let principal = match claims.subject()? {
            Subject::User(id) => {
                let user = self
                    .store
                    .token_user(&jtis, id)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| invalid.clone())?;
                if !user.enabled || claims.issued_at() < user.tokens_not_before {
                    return Err(invalid);
                }
                self.principal_for_user(&user, Some(claims)).await?
            }
            Subject::Client(id) => {
                let client = self
                    .store
                    .token_client(&jtis, id)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| invalid.clone())?;
                if !client.enabled || claims.issued_at() < client.tokens_not_before {
                    return Err(invalid);
                }
                Principal {
                    subject: Subject::Client(client.id),
                    tenant_id: client.tenant_id,
                    policies: Vec::new(),
                    claims: Some(claims),
                }
            }
        };
        // A narrowed token's reach is cut down here, once, so every check downstream sees it;
        // so are the roles of a token issued from an application credential.
        let principal = self.narrow_principal(principal).await?;
        Ok(crate::app_credentials::restrict(principal))
    }

    pub(crate) async fn principal_for_user(
        &self,
        user: &User,
        claims: Option<Arc<Claims>>,
    ) -> Result<Principal, DomainError> {
        let policies = self
            .store
            .held_policies(user.id.uuid())
            .await
            .map_err(store_error)?;
        Ok(Principal {
            subject: Subject::User(user.id),
            tenant_id: user.tenant_id,
            policies,
            claims,
        })
    }

    /// Checks a login and password. Unknown users, users without a password, disabled users
    /// and wrong passwords are indistinguishable to the caller, in body and in time.
    pub async fn password_login(&self, login: &str, password: &str) -> Result<User, DomainError> {
        self.password_login_in(login, password, None).await
    }

    /// `password_login` of a user who must belong to the domain `domain` (Keystone names a
    /// user by name and domain). A user of another domain is an unknown user: the dummy hash
    /// is verified and nothing about the account is written.
    pub(crate) async fn password_login_in(
        &self,
        login: &str,
        password: &str,
        domain: Option<warden_domain::TenantId>,
    ) -> Result<User, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        let password = Password::for_login(password).ok_or_else(|| invalid.clone())?;
        let key = Login::parse_keystone("username", login)
            .map(|l| l.key())
            .ok();
        let mut creds = match &key {
            Some(key) => self
                .store
                .user_credentials_by_login(key)
                .await
                .map_err(store_error)?,
            None => None,
        };
        if let (Some(found), Some(domain)) = (&creds, domain) {
            if self.domain_of(found.user.tenant_id).await?.id != domain {
                creds = None;
            }
        }
        self.check_password(creds, &password).await
    }

    /// Checks the password of a user named by id (Keystone `user.id`).
    pub async fn password_login_by_id(
        &self,
        id: warden_domain::UserId,
        password: &str,
    ) -> Result<User, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        let password = Password::for_login(password).ok_or_else(|| invalid.clone())?;
        let creds = self
            .store
            .user_credentials_by_id(id)
            .await
            .map_err(store_error)?;
        self.check_password(creds, &password).await
    }

    async fn check_password(
        &self,
        creds: Option<warden_store::UserCredentials>,
        password: &Password,
    ) -> Result<User, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        // A throttled source learns nothing about the account and costs no hash.
        if self.source_locked() {
            return Err(invalid);
        }
        let stored = creds.as_ref().and_then(|c| c.password_hash.as_deref());
        // An attempt on an existing account counts as a failure while its hash is verified, so
        // a wrong password takes the time of the hash alone, as an unknown user does; a right
        // password forgets the failures again below. An attempt refused for overload counts
        // nothing. The hash is verified even for a locked account, so a lock costs the same
        // time too.
        // Checks of this account already running on this node have counted failures they may
        // yet take back: they are not held against this one (else a burst of right passwords
        // would lock the account it logs into). This forgives at most the node's hashing
        // queue, which bounds how many checks run at once.
        let pending = creds.as_ref().map(|c| self.pending_checks.begin(c.user.id));
        let count_failure = async {
            if let Some(c) = &creds {
                self.note_login_failure(c.user.id, &c.failures).await;
            }
        };
        let verdict = self
            .hasher
            .verify_alongside(password, stored, count_failure)
            .await?;
        let Some(creds) = creds else {
            self.note_source_failure();
            return Err(invalid);
        };
        let running = pending.as_ref().map_or(0, |p| p.running_before);
        let settled = warden_store::LoginFailures {
            count: creds.failures.count.saturating_sub(running),
            ..creds.failures
        };
        let locked = self
            .settings
            .lockout
            .locked_until(&settled, self.clock.now())
            .is_some();
        let Verification::Match { needs_rehash } = verdict else {
            self.note_source_failure();
            return Err(invalid);
        };
        if locked {
            // The right password does not end the wait, but it is not held against the
            // account either.
            if let Err(e) = self.store.forgive_login_failure(creds.user.id).await {
                tracing::warn!(error = %e, "taking back a counted failure failed");
            }
            return Err(invalid);
        }
        if !creds.user.enabled {
            // As for a lock: the right password of a disabled account is not held against it.
            if let Err(e) = self.store.forgive_login_failure(creds.user.id).await {
                tracing::warn!(error = %e, "taking back a counted failure failed");
            }
            return Err(invalid);
        }
        if let Err(e) = self.store.clear_login_failures(creds.user.id).await {
            tracing::warn!(error = %e, "clearing failed logins failed");
        }
        if needs_rehash {
            if let (Ok(new_hash), Some(old)) = (
                self.hasher.hash(password).await,
                creds.password_hash.as_deref(),
            ) {
                // A failed rehash only means the old, weaker hash stays; login still succeeds.
                if let Err(e) = self
                    .store
                    .rehash_user_password(creds.user.id, old, &new_hash)
                    .await
                {
                    tracing::warn!(error = %e, "password rehash failed");
                }
            }
        }
        Ok(creds.user)
    }

    /// Checks an API client's id and secret (HTTP Basic on `/idp/token`). After a rotation the
    /// replaced secret is also accepted until its grace period ends.
    pub async fn client_login(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<ApiClient, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        let id = ClientId::parse(client_id).ok_or_else(|| invalid.clone())?;
        let found = self.store.client_secrets(id).await.map_err(store_error)?;
        match found {
            Some((client, secrets))
                if crate::clients::secret_accepted(secret, &secrets, self.clock.now())
                    && client.enabled =>
            {
                Ok(client)
            }
            _ => Err(invalid),
        }
    }

    pub(crate) fn account_scope(policies: &[AccessPolicy]) -> Vec<ScopeClaim> {
        policies
            .iter()
            .map(|p| ScopeClaim {
                tuid: p.tenant_id.to_string(),
                rn: "account-server".to_owned(),
                role: p.role.as_str().to_owned(),
            })
            .collect()
    }

    /// An account-face token for an API client (`client_credentials`).
    pub async fn issue_client_token(&self, client: &ApiClient) -> Result<IssuedToken, DomainError> {
        let issued = self.tokens.issue(TokenRequest {
            subject: Subject::Client(client.id),
            owner_tenant: client.tenant_id.to_string(),
            scope: vec![ScopeClaim {
                tuid: client.tenant_id.to_string(),
                rn: "account-server".to_owned(),
                role: "tenant_admin".to_owned(),
            }],
            keystone: None,
            ttl_seconds: self.settings.account_token_ttl_seconds,
        })?;
        self.metrics.token_issued("account", "client_credentials");
        Ok(issued)
    }

    /// An account-face token for a user (`password` grant).
    pub async fn issue_user_token(&self, user: &User) -> Result<IssuedToken, DomainError> {
        let policies = self
            .store
            .policies_of(user.id.uuid())
            .await
            .map_err(store_error)?;
        let issued = self.tokens.issue(TokenRequest {
            subject: Subject::User(user.id),
            owner_tenant: user.tenant_id.to_string(),
            scope: Self::account_scope(&policies),
            keystone: None,
            ttl_seconds: self.settings.account_token_ttl_seconds,
        })?;
        self.metrics.token_issued("account", "password");
        Ok(issued)
    }

    pub async fn get_client(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<ApiClient, DomainError> {
        let id = ClientId::parse(raw_id).ok_or(DomainError::NotFound(Resource::Client))?;
        let client = self
            .store
            .get_client(id)
            .await
            .map_err(store_error_for(Resource::Client))?;
        let own = principal.subject == Subject::Client(client.id);
        if !own {
            let tenant = self.tenant(client.tenant_id).await?;
            if !principal.can_read(&tenant) {
                return Err(DomainError::Forbidden);
            }
        }
        Ok(client)
    }

    /// The root tenant (Keystone's Default domain), which first start created.
    pub(crate) async fn root(&self) -> Result<Tenant, DomainError> {
        self.store
            .root_tenant()
            .await
            .map_err(store_error)?
            .ok_or(DomainError::Internal)
    }

    pub(crate) async fn tenant(&self, id: TenantId) -> Result<Arc<Tenant>, DomainError> {
        self.store
            .get_tenant(id)
            .await
            .map_err(store_error_for(Resource::Tenant))
    }
}
