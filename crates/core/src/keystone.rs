//! The Keystone view of authentication: password auth with a domain, project or no scope,
//! and token validation. Tokens are the same JWTs the account face issues, with a `ks` claim
//! recording method and scope, so either face accepts the other's tokens.

use std::sync::Arc;

use warden_domain::{
    AuthFailure, DomainError, FieldErrorKind, Resource, Tenant, TenantId, Timestamp, User, UserId,
};

use crate::auth::Principal;
use crate::tokens::{Claims, KeystoneClaims, ScopeClaim, Subject, TokenRequest};
use crate::{store_error, Warden};

/// The root tenant also answers to these, as Keystone's default domain does.
pub const DEFAULT_DOMAIN_ID: &str = "default";
pub const DEFAULT_DOMAIN_NAME: &str = "Default";

#[derive(Clone, Debug)]
pub enum NameOrId {
    Id(String),
    Name(String),
}

#[derive(Clone, Debug)]
pub enum UserRef {
    Id(String),
    Name { name: String, domain: NameOrId },
}

#[derive(Clone, Debug)]
pub enum ScopeRequest {
    Unscoped,
    /// `{"system": {"all": true}}`.
    System,
    Domain(NameOrId),
    Project {
        project: NameOrId,
        domain: Option<NameOrId>,
    },
}

// One short-lived value per token request; boxing the tenants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum ScopeView {
    Unscoped,
    /// The whole deployment (`{"system": {"all": true}}`); the root tenant.
    System(Tenant),
    Domain(Tenant),
    Project {
        project: Tenant,
        domain: Tenant,
    },
}

/// The name the keystone face gives a tenant: the root is Keystone's `Default` domain
/// whatever the operator named it, as Keystone's clients look it up by that name.
pub fn keystone_name(tenant: &Tenant) -> &str {
    if tenant.parent_id.is_none() {
        DEFAULT_DOMAIN_NAME
    } else {
        &tenant.name
    }
}

/// A system role assignment: a policy on the root reaching its whole tree.
fn is_system_role(policy: &warden_domain::AccessPolicy, root: TenantId) -> bool {
    policy.reach == warden_domain::Reach::Tree && policy.tenant_id == root
}

/// Everything a Keystone token body shows.
#[derive(Clone, Debug)]
pub struct TokenView {
    pub claims: Arc<Claims>,
    pub user: User,
    pub user_domain: Tenant,
    pub scope: ScopeView,
    pub roles: Vec<crate::roles::RoleView>,
}

impl Warden {
    pub(crate) async fn domain(&self, reference: &NameOrId) -> Result<Option<Tenant>, DomainError> {
        let found = match reference {
            NameOrId::Id(id) if id == DEFAULT_DOMAIN_ID => {
                self.store.root_tenant().await.map_err(store_error)?
            }
            NameOrId::Name(name) if name == DEFAULT_DOMAIN_NAME => {
                self.store.root_tenant().await.map_err(store_error)?
            }
            NameOrId::Id(id) => match TenantId::parse(id) {
                Some(id) => match self.store.get_tenant(id).await {
                    Ok(t) => Some(Arc::unwrap_or_clone(t)),
                    Err(warden_store::StoreError::NotFound) => None,
                    Err(e) => return Err(store_error(e)),
                },
                None => None,
            },
            NameOrId::Name(name) => self
                .store
                .find_domain_by_name(name)
                .await
                .map_err(store_error)?,
        };
        Ok(found.filter(|t| t.is_domain))
    }

    /// A domain by id (`default` naming the root); `None` when there is none.
    pub(crate) async fn find_domain_by_id(&self, raw: &str) -> Result<Option<Tenant>, DomainError> {
        self.domain(&NameOrId::Id(raw.to_owned())).await
    }

    /// The nearest domain at or above `tenant`.
    pub async fn domain_of(&self, tenant: TenantId) -> Result<Tenant, DomainError> {
        let mut current = self.tenant(tenant).await?;
        loop {
            if current.is_domain {
                return Ok(Arc::unwrap_or_clone(current));
            }
            match current.parent_id {
                Some(parent) => current = self.tenant(parent).await?,
                None => return Err(DomainError::Internal),
            }
        }
    }

    /// `GET /v3/auth/domains` (`domains`) or `/v3/auth/projects`: what the caller may scope a
    /// token to — the tenants on the way from their own tenant up to its domain, and every
    /// tenant on which they hold a role — each once, domains or projects as asked, by name.
    pub async fn keystone_scope_targets(
        &self,
        principal: &Principal,
        domains: bool,
    ) -> Result<Vec<Tenant>, DomainError> {
        let mut found: Vec<Tenant> = Vec::new();
        let mut current = Some(self.tenant(principal.tenant_id).await?);
        while let Some(tenant) = current {
            let is_domain = tenant.is_domain;
            let parent = tenant.parent_id;
            found.push(Arc::unwrap_or_clone(tenant));
            current = match (is_domain, parent) {
                (false, Some(parent)) => Some(self.tenant(parent).await?),
                _ => None,
            };
        }
        for policy in &principal.policies {
            if !found.iter().any(|t| t.id == policy.tenant_id) {
                match self.store.get_tenant(policy.tenant_id).await {
                    Ok(tenant) => found.push(Arc::unwrap_or_clone(tenant)),
                    // A policy on a tenant deleted meanwhile scopes to nothing.
                    Err(warden_store::StoreError::NotFound) => {}
                    Err(e) => return Err(store_error(e)),
                }
            }
        }
        found.retain(|t| t.is_domain == domains && t.enabled);
        found.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(found)
    }

    /// `GET /v3/users`: the users the caller may read — of one domain (by id, `default`
    /// included) when asked, that is whose nearest domain it is — with one name (logins are
    /// case-insensitive) and enabled or not, as asked; each with its domain. At most
    /// `MAX_PAGE_SIZE` users; the flag tells whether there were more.
    pub async fn keystone_list_users(
        &self,
        principal: &Principal,
        domain_id: Option<&str>,
        name: Option<&str>,
        enabled: Option<bool>,
    ) -> Result<(Vec<(User, Tenant)>, bool), DomainError> {
        let domain = match domain_id {
            Some(raw) => match self.domain(&NameOrId::Id(raw.to_owned())).await? {
                Some(domain) => Some(domain),
                // An unknown domain holds no users.
                None => return Ok((Vec::new(), false)),
            },
            None => None,
        };
        let limit = crate::directory::MAX_PAGE_SIZE;
        let mut domains: std::collections::HashMap<TenantId, Tenant> =
            std::collections::HashMap::new();
        let mut found = Vec::new();
        // A name names at most one user (logins are unique): it is looked up through its
        // index. Otherwise pages are read until `limit` users pass the filters, so a filter
        // never hides users that lie beyond a first page.
        let mut after: Option<String> = None;
        loop {
            let (users, next) = match name {
                Some(name) => (self.readable_user_by_login(principal, name).await?, None),
                None => {
                    let filters = crate::directory::UserFilters::new(
                        None,
                        None,
                        domain.as_ref().map(|d| d.id),
                        None,
                    )
                    .map_err(|e| DomainError::Invalid(vec![e]))?;
                    let page = self
                        .list_users(
                            principal,
                            crate::directory::UserListing {
                                filters,
                                limit: Some(limit),
                                after: after.take(),
                            },
                        )
                        .await?;
                    (page.users, page.after)
                }
            };
            for user in users {
                if enabled.is_some_and(|e| user.enabled != e) {
                    continue;
                }
                let user_domain = match domains.get(&user.tenant_id) {
                    Some(d) => d.clone(),
                    None => {
                        let d = self.domain_of(user.tenant_id).await?;
                        domains.insert(user.tenant_id, d.clone());
                        d
                    }
                };
                if domain.as_ref().is_some_and(|d| d.id != user_domain.id) {
                    continue;
                }
                if found.len() == limit {
                    return Ok((found, true));
                }
                found.push((user, user_domain));
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => return Ok((found, false)),
            }
        }
    }

    /// The user with this login, if there is one and the caller may read it.
    async fn readable_user_by_login(
        &self,
        principal: &Principal,
        login: &str,
    ) -> Result<Vec<User>, DomainError> {
        let Ok(login) = warden_domain::Login::parse_keystone("name", login) else {
            return Ok(Vec::new());
        };
        let Some(creds) = self
            .store
            .user_credentials_by_login(&login.key())
            .await
            .map_err(store_error)?
        else {
            return Ok(Vec::new());
        };
        match self.get_user(principal, &creds.user.id.to_string()).await {
            Ok(user) => Ok(vec![Arc::unwrap_or_clone(user)]),
            Err(DomainError::Forbidden | DomainError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `GET /v3/users/{id}`: a user the caller may read, with their domain.
    pub async fn keystone_show_user(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<(Arc<User>, Tenant), DomainError> {
        let user = self.get_user(principal, raw_id).await?;
        let domain = self.domain_of(user.tenant_id).await?;
        Ok((user, domain))
    }

    /// `POST /v3/auth/tokens` with the `password` method.
    pub async fn keystone_password_auth(
        &self,
        user: &UserRef,
        password: &str,
        scope: &ScopeRequest,
    ) -> Result<(String, TokenView), DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        let user = match user {
            UserRef::Id(raw) => {
                let id = UserId::parse(raw).ok_or_else(|| invalid.clone())?;
                self.password_login_by_id(id, password).await?
            }
            UserRef::Name { name, domain } => {
                // An unknown domain holds no user: the name is checked as an unknown user's.
                let wanted = self
                    .domain(domain)
                    .await?
                    .map_or_else(TenantId::new_random, |d| d.id);
                self.password_login_in(name, password, Some(wanted)).await?
            }
        };
        self.keystone_scoped_token(user, vec!["password".to_owned()], scope, None)
            .await
    }

    /// `POST /v3/auth/tokens` with the `token` method: a new token for the same user, in the
    /// scope asked for, that expires with the token it came from and is revoked with it.
    pub async fn keystone_token_auth(
        &self,
        token: &str,
        scope: &ScopeRequest,
    ) -> Result<(String, TokenView), DomainError> {
        // Keystone answers a token it cannot find, revoked or expired, with 404.
        let not_found = DomainError::NotFound(Resource::Token);
        let principal = match self.authenticate_token(token).await {
            Ok(principal) => principal,
            Err(DomainError::Unauthenticated(_)) => return Err(not_found),
            Err(e) => return Err(e),
        };
        let (Some(user_id), Some(claims)) = (principal.user_id(), principal.claims.clone()) else {
            return Err(not_found);
        };
        // Only a Keystone token is exchanged here, and never one narrowed on the account face.
        // Nor one from an application credential: the new token would shed its limits.
        let Some(ks) = claims
            .ks
            .as_ref()
            .filter(|ks| claims.narrowing.is_empty() && ks.application_credential.is_none())
        else {
            return Err(DomainError::Unauthenticated(AuthFailure::Invalid));
        };
        let mut methods = ks.methods.clone();
        if !methods.iter().any(|m| m == "token") {
            methods.push("token".to_owned());
        }
        let user = Arc::unwrap_or_clone(self.load_user(user_id).await?);
        self.keystone_scoped_token(user, methods, scope, Some(&claims))
            .await
    }

    /// Issues a Keystone token for an authenticated user in the scope asked for: a domain, a
    /// project, the system, or none (then the user's default project, when they may scope to
    /// it). A user may scope to the domain or project they belong to, or to any tenant on
    /// which they hold a role there; to the system when they hold a system role. Anything else
    /// is refused as Keystone refuses it, 401.
    async fn keystone_scoped_token(
        &self,
        user: User,
        methods: Vec<String>,
        scope: &ScopeRequest,
        from: Option<&Claims>,
    ) -> Result<(String, TokenView), DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        let policies = self
            .store
            .held_policies(user.id.uuid())
            .await
            .map_err(store_error)?;
        let principal = Principal {
            subject: Subject::User(user.id),
            tenant_id: user.tenant_id,
            policies,
            claims: None,
        };
        let user_tenant = self.tenant(user.tenant_id).await?;
        let may_scope = |tenant: &Tenant| {
            tenant.contains(&user_tenant)
                || principal
                    .policies
                    .iter()
                    .any(|p| p.reach.confers(p.tenant_id, tenant))
        };
        let method = if from.is_some() { "token" } else { "password" };
        let mut ks = KeystoneClaims {
            methods,
            ..KeystoneClaims::default()
        };
        match scope {
            ScopeRequest::Unscoped => {
                if let Some(id) = user.default_project_id {
                    match self.store.get_tenant(id).await {
                        Ok(project) if may_scope(&project) => {
                            ks.project_id = Some(project.id.simple());
                        }
                        _ => {}
                    }
                }
            }
            ScopeRequest::Domain(reference) => {
                let domain = self
                    .domain(reference)
                    .await?
                    .ok_or_else(|| invalid.clone())?;
                if !may_scope(&domain) {
                    return Err(invalid);
                }
                ks.domain_id = Some(domain.id.simple());
            }
            ScopeRequest::Project { project, domain } => {
                let project = self
                    .project(project, domain.as_ref())
                    .await?
                    .ok_or_else(|| invalid.clone())?;
                if !may_scope(&project) {
                    return Err(invalid);
                }
                ks.project_id = Some(project.id.simple());
            }
            ScopeRequest::System => {
                let root = user_tenant
                    .ancestors
                    .first()
                    .copied()
                    .unwrap_or(user_tenant.id);
                if !principal.policies.iter().any(|p| is_system_role(p, root)) {
                    return Err(invalid);
                }
                ks.system = true;
            }
        }
        let request = TokenRequest {
            subject: Subject::User(user.id),
            owner_tenant: user.tenant_id.to_string(),
            scope: principal
                .policies
                .iter()
                .map(|p| ScopeClaim {
                    tuid: p.tenant_id.to_string(),
                    rn: "account-server".to_owned(),
                    role: p.role.as_str().to_owned(),
                })
                .collect(),
            keystone: Some(ks),
            ttl_seconds: self.settings.keystone_token_ttl_seconds,
        };
        let issued = match from {
            None => self.tokens.issue(request)?,
            Some(from) => {
                let mut derived_from = from.derived_from.clone();
                derived_from.push(from.jti.clone());
                self.tokens
                    .issue_narrowed(request, Vec::new(), Some(from.exp), derived_from)?
            }
        };
        self.metrics.token_issued("keystone", method);
        let view = self
            .token_view(Arc::new(issued.claims), user, &principal)
            .await?;
        Ok((issued.token, view))
    }

    pub(crate) async fn project(
        &self,
        project: &NameOrId,
        domain: Option<&NameOrId>,
    ) -> Result<Option<Tenant>, DomainError> {
        match project {
            NameOrId::Id(raw) => match TenantId::parse(raw) {
                Some(id) => match self.store.get_tenant(id).await {
                    Ok(t) => Ok(Some(Arc::unwrap_or_clone(t))),
                    Err(warden_store::StoreError::NotFound) => Ok(None),
                    Err(e) => Err(store_error(e)),
                },
                None => Ok(None),
            },
            // A name is unique among a domain's projects; without a domain, the caller's
            // client named none, and Keystone refuses that as an unknown project.
            NameOrId::Name(name) => {
                let Some(domain) = (match domain {
                    Some(reference) => self.domain(reference).await?,
                    None => None,
                }) else {
                    return Ok(None);
                };
                self.project_named_in(&domain, name).await
            }
        }
    }

    pub(crate) async fn token_view(
        &self,
        claims: Arc<Claims>,
        user: User,
        principal: &Principal,
    ) -> Result<TokenView, DomainError> {
        let user_domain = self.domain_of(user.tenant_id).await?;
        let ks = claims.ks.clone().unwrap_or_default();
        let scope = if let Some(raw) = &ks.domain_id {
            ScopeView::Domain(Arc::unwrap_or_clone(
                self.tenant(TenantId::parse(raw).ok_or(DomainError::Internal)?)
                    .await?,
            ))
        } else if let Some(raw) = &ks.project_id {
            let project = self
                .tenant(TenantId::parse(raw).ok_or(DomainError::Internal)?)
                .await?;
            let domain = self.domain_of(project.id).await?;
            ScopeView::Project {
                project: Arc::unwrap_or_clone(project),
                domain,
            }
        } else if ks.system {
            let root = self.root().await?;
            ScopeView::System(root)
        } else {
            ScopeView::Unscoped
        };
        let mut roles: Vec<crate::roles::RoleView> = Vec::new();
        let book = if matches!(scope, ScopeView::Unscoped) {
            Arc::new(crate::roles::RoleBook::default())
        } else {
            self.role_book().await?
        };
        if let ScopeView::System(t) | ScopeView::Domain(t) | ScopeView::Project { project: t, .. } =
            &scope
        {
            let system = matches!(scope, ScopeView::System(_));
            for p in &principal.policies {
                let held = if system {
                    is_system_role(p, t.id)
                } else {
                    p.reach.confers(p.tenant_id, t)
                };
                if held {
                    let role = book.view_of(&p.role);
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
            }
        }
        // A domain-specific role is not held as such: only the roles it implies are.
        roles = book.with_implied(roles);
        roles.retain(|r| r.domain_id.is_none());
        Ok(TokenView {
            claims,
            user,
            user_domain,
            scope,
            roles,
        })
    }

    /// `GET /v3/auth/tokens`: a caller may validate their own tokens; validating another
    /// user's needs read access to that user. An invalid subject token is `NotFound`.
    pub async fn keystone_validate(
        &self,
        caller: &Principal,
        subject_token: &str,
    ) -> Result<TokenView, DomainError> {
        let not_found = DomainError::NotFound(Resource::Token);
        let claims = self
            .tokens
            .verify(subject_token)
            .await
            .map_err(|_| not_found.clone())?;
        let subject = match self.principal_for_claims(claims.clone()).await {
            Ok(p) => p,
            Err(DomainError::Unauthenticated(_)) => return Err(not_found),
            Err(e) => return Err(e),
        };
        let Subject::User(user_id) = subject.subject else {
            return Err(not_found);
        };
        let user = self
            .store
            .get_user(user_id)
            .await
            .map_err(|_| not_found.clone())?;
        if caller.subject != subject.subject
            && !caller.can_read(&*self.tenant(user.tenant_id).await?)
        {
            return Err(DomainError::Forbidden);
        }
        self.token_view(claims, Arc::unwrap_or_clone(user), &subject)
            .await
    }

    /// `DELETE /v3/auth/tokens`: revokes a token the caller may validate. Every node checks
    /// revocations in the store on every request, so it fails everywhere at once.
    pub async fn keystone_revoke(
        &self,
        caller: &Principal,
        subject_token: &str,
    ) -> Result<(), DomainError> {
        let view = self.keystone_validate(caller, subject_token).await?;
        self.store
            .revoke_token(&view.claims.jti, view.claims.expires_at())
            .await
            .map_err(store_error)
    }
}

/// A user to create through the keystone or iam face.
#[derive(Clone, Debug, Default)]
pub struct NewKeystoneUser {
    pub name: String,
    pub domain_id: Option<String>,
    pub password: Option<String>,
    pub enabled: bool,
    pub email: Option<String>,
    pub description: String,
    pub default_project_id: Option<String>,
    /// The iam face's further fields (phone, access mode, external identity, …).
    pub iam: crate::user_fields::IamUserFields,
    /// Attributes Warden has no field for: kept and shown as given (in a change, `null`
    /// removes one).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The IAM face's rule: the e-mail address and phone must not be another user's of the
    /// domain (`1110`, `1111`).
    pub iam_rules: bool,
}

/// How many times a Keystone or IAM change of a user is tried against concurrent changes:
/// each round one of the racing changes wins, so this many writers can race on one user
/// before any is refused with 409.
const KEYSTONE_UPDATE_ATTEMPTS: usize = 64;

/// A change to a user through the keystone or iam face; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct KeystoneUserPatch {
    pub name: Option<String>,
    pub password: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)` removes the address.
    pub email: Option<Option<String>>,
    pub description: Option<String>,
    /// `Some(None)` removes the default project.
    pub default_project_id: Option<Option<String>>,
    pub domain_id: Option<String>,
    /// The iam face's further fields (phone, access mode, external identity, …).
    pub iam: crate::user_fields::IamUserFields,
    /// The IAM face's rules: a new password must differ from the current one (`1108`;
    /// Keystone's administrator reset allows it), and a new e-mail address or phone must not
    /// be another user's of the tenant (`1110`, `1111`; Keystone keeps no such rule).
    pub iam_rules: bool,
    /// Attributes Warden has no field for: kept and shown as given (in a change, `null`
    /// removes one).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A user of Keystone's or IAM's creation as stored: active from the start when it has a
/// password, with no personal tenant.
fn user_from_new(user: warden_domain::NewUser, has_password: bool, now: Timestamp) -> User {
    User {
        id: UserId::new_random(),
        tenant_id: user.tenant_id,
        login: user.login,
        contact: user.contact,
        language: user.language,
        activated: has_password,
        enabled: user.enabled,
        terms_accepted: false,
        mfa_status: "disabled".to_owned(),
        notifications: user.notifications,
        business_types: user.business_types,
        external_id: None,
        personal_tenant_id: None,
        description: user.description,
        default_project_id: user.default_project_id,
        extra: user.extra,
        iam: user.iam,
        has_password,
        tokens_not_before: Timestamp::EPOCH,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

impl Warden {
    /// A default project as named in a user body: it must exist and be a project.
    async fn default_project(&self, raw: &str) -> Result<TenantId, DomainError> {
        match self.find_tenant(raw).await? {
            Some(project) if !project.is_domain => Ok(project.id),
            _ => Err(DomainError::invalid(
                "default_project_id",
                FieldErrorKind::Invalid,
            )),
        }
    }

    /// `POST /v3/users` (and IAM `POST /v3.0/OS-USER/users`): a user in a domain the caller
    /// manages (the caller's own by default), with a password from the start when one is
    /// given. Returns the user and their domain.
    pub async fn keystone_create_user(
        &self,
        principal: &Principal,
        new: NewKeystoneUser,
    ) -> Result<(User, Tenant), DomainError> {
        let mut errors = Vec::new();
        let login =
            warden_domain::Login::parse_keystone("name", &new.name).map_err(|e| errors.push(e));
        let email = new
            .email
            .as_deref()
            .map(|e| warden_domain::Email::parse("email", e).map_err(|e| errors.push(e)))
            .transpose();
        let password = new
            .password
            .as_deref()
            .map(|p| {
                warden_domain::Password::new_checked("password", p, &self.settings.password_policy)
                    .map_err(|e| errors.push(e))
            })
            .transpose();
        let fields = new.iam.parse(Some(&new.description), &mut errors);
        let (Ok(login), Ok(email), Ok(password), true) =
            (login, email, password, errors.is_empty())
        else {
            return Err(DomainError::Invalid(errors));
        };
        let domain = match &new.domain_id {
            Some(raw) => self.domain_by_id(raw).await?,
            None => self.domain_of(principal.tenant_id).await?,
        };
        if !principal.can_manage(&domain) {
            return Err(DomainError::Forbidden);
        }
        let default_project_id = match &new.default_project_id {
            Some(raw) => Some(self.default_project(raw).await?),
            None => None,
        };
        let mut user = warden_domain::NewUser::new(domain.id, login);
        user.contact.email = email;
        user.enabled = new.enabled;
        user.default_project_id = default_project_id;
        user.extra = new.extra;
        if let Some(phone) = &fields.phone {
            user.contact.areacode.clone_from(&phone.areacode);
            user.contact.phone.clone_from(&phone.phone);
        }
        user.description = fields.description.unwrap_or_default();
        // IAM: a user given a password must change it at first login unless told otherwise.
        user.iam.pwd_status = fields.pwd_status.unwrap_or(password.is_some());
        user.iam.access_mode = fields.access_mode.unwrap_or_default();
        user.iam.external = fields.external.flatten();
        let claim = new
            .iam_rules
            .then(|| crate::users::contact_claim(None, &user.contact))
            .filter(|claim| !claim.is_empty());
        let user = match (password, claim) {
            (None, None) => self.create_user(principal, user).await?,
            (password, claim) => {
                let hash = match &password {
                    Some(password) => Some(self.hasher.hash(password).await?),
                    None => None,
                };
                let user = user_from_new(user, hash.is_some(), self.clock.now());
                self.store
                    .insert_directory_user(
                        &user,
                        hash.as_deref(),
                        claim.as_ref(),
                        &self.audit_by(principal),
                    )
                    .await
                    .map_err(crate::store_error_for(Resource::User))?;
                user
            }
        };
        Ok((user, domain))
    }

    /// `PATCH /v3/users/{id}` (and the IAM administrator's `PUT`): a manager of the user's
    /// tenant changes it. An address changes at once, as Keystone does (the account face's
    /// confirmation by mail is for a user's own change); a new password ends the user's
    /// sessions. The user cannot move to another domain.
    ///
    /// These faces have no `version` to send: a change that raced another one to the same
    /// user is applied again to what that one stored (the last change wins, as in Keystone)
    /// rather than refused with 409.
    pub async fn keystone_update_user(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: KeystoneUserPatch,
    ) -> Result<(User, Tenant), DomainError> {
        crate::retrying_races(KEYSTONE_UPDATE_ATTEMPTS, || {
            self.keystone_update_user_once(principal, raw_id, patch.clone())
        })
        .await
    }

    async fn keystone_update_user_once(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: KeystoneUserPatch,
    ) -> Result<(User, Tenant), DomainError> {
        let current = self.load_user(Self::parse_user_id(raw_id)?).await?;
        self.ensure_can_manage(principal, &current).await?;
        let domain = self.domain_of(current.tenant_id).await?;
        if let Some(raw) = &patch.domain_id {
            if self.find_domain_by_id(raw).await?.map(|d| d.id) != Some(domain.id) {
                return Err(DomainError::invalid("domain_id", FieldErrorKind::Invalid));
            }
        }
        let mut errors = Vec::new();
        let mut next = User::clone(&current);
        if let Some(name) = &patch.name {
            match warden_domain::Login::parse_keystone("name", name) {
                Ok(login) => next.login = login,
                Err(e) => errors.push(e),
            }
        }
        match &patch.email {
            Some(Some(raw)) => match warden_domain::Email::parse("email", raw) {
                Ok(email) => next.contact.email = Some(email),
                Err(e) => errors.push(e),
            },
            Some(None) => next.contact.email = None,
            None => {}
        }
        let password = match &patch.password {
            Some(raw) => match warden_domain::Password::new_checked(
                "password",
                raw,
                &self.settings.password_policy,
            ) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            None => None,
        };
        let fields = patch.iam.parse(patch.description.as_deref(), &mut errors);
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        if let Some(password) = password.as_ref().filter(|_| patch.iam_rules) {
            self.ensure_new_password(&current, password).await?;
        }
        if let Some(enabled) = patch.enabled {
            next.enabled = enabled;
        }
        for (key, value) in patch.extra {
            if value.is_null() {
                next.extra.remove(&key);
            } else {
                next.extra.insert(key, value);
            }
        }
        fields.apply(&mut next);
        match &patch.default_project_id {
            Some(Some(raw)) => next.default_project_id = Some(self.default_project(raw).await?),
            Some(None) => next.default_project_id = None,
            None => {}
        }
        if !next.enabled && current.enabled {
            // Disabling a user ends every session they hold.
            next.tokens_not_before = self.clock.now();
        }
        let audit = self.audit_by(principal);
        let claim = patch
            .iam_rules
            .then(|| crate::users::contact_claim(Some(&current.contact), &next.contact))
            .filter(|claim| !claim.is_empty());
        let mut user = if next == *current {
            Arc::unwrap_or_clone(current)
        } else {
            self.store
                .update_user_with_tokens(&warden_store::UserWrite {
                    next: &next,
                    expected_version: current.version,
                    changed: true,
                    revoke: None,
                    issue: None,
                    claim: claim.as_ref(),
                    audit: &audit,
                })
                .await
                .map_err(crate::store_error_for(Resource::User))?
        };
        if let Some(password) = password {
            let hash = self.hasher.hash(&password).await?;
            user = self
                .store
                .set_user_password(user.id, &hash, None, &audit)
                .await
                .map_err(crate::store_error_for(Resource::User))?;
        }
        Ok((user, domain))
    }

    /// `DELETE /v3/users/{id}`: Keystone deletes a user whether enabled or not.
    pub async fn keystone_delete_user(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<(), DomainError> {
        let current = self.load_user(Self::parse_user_id(raw_id)?).await?;
        self.ensure_can_manage(principal, &current).await?;
        if principal.is_user(current.id) {
            // Threat: an administrator locking themself out by accident; another must do it.
            return Err(DomainError::Forbidden);
        }
        self.store
            .delete_user_if_version(current.id, current.version, &self.audit_by(principal))
            .await
            .map_err(crate::store_error_for(Resource::User))
    }
}
