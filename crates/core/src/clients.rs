//! API clients and the OAuth grants built on them: registering, reading, listing, changing and
//! deleting clients, rotating their secrets; the password, refresh-token and jwt-bearer
//! grants; narrowed principals; token introspection and revocation.

use std::collections::HashMap;
use std::sync::Arc;

use warden_domain::client::{ClientPatch, NewApiClient};
use warden_domain::{
    ApiClient, AuthFailure, ClientId, DomainError, FieldErrorKind, Resource, Tenant, TenantId,
    Timestamp, User,
};
use warden_store::{ClientSecrets, RefreshRedemption, RefreshTokenRecord, StoreError};

use crate::auth::Principal;
use crate::secrets::{new_client_secret, random_bytes, secret_matches, sha256_hex};
use crate::tokens::{tenant_from_urn, tenant_urn, Claims, IssuedToken, Subject, TokenRequest};
use crate::{store_error, store_error_for, Warden};

/// How long a replaced client secret keeps working after a rotation unless the caller asks
/// for another period: long enough to roll the new secret out to every deployment.
pub const DEFAULT_SECRET_GRACE_SECONDS: i64 = 24 * 3600;

/// The longest grace period a rotation may ask for; two valid secrets are a wider target.
pub const MAX_SECRET_GRACE_SECONDS: i64 = 30 * 24 * 3600;

/// How long an unused refresh token stays valid. Each use returns a new one, so an active
/// session continues indefinitely while an abandoned one ends.
pub const REFRESH_TOKEN_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// Presented refresh tokens longer than this are refused before hashing; ours are 43 bytes.
const MAX_REFRESH_TOKEN_BYTES: usize = 512;

/// A presented secret is accepted if it is the current one, or the replaced one while its
/// grace period lasts. Both comparisons always run, in constant time, so the timing does not
/// tell which secret matched.
pub(crate) fn secret_accepted(presented: &str, secrets: &ClientSecrets, now: Timestamp) -> bool {
    let current = secret_matches(presented, &secrets.current_sha256);
    let previous = match (&secrets.previous_sha256, secrets.previous_expires_at) {
        (Some(hash), Some(until)) => secret_matches(presented, hash) & (now < until),
        _ => false,
    };
    current | previous
}

/// A client just registered, with the secrets shown to its creator this once.
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    pub client: ApiClient,
    pub client_secret: String,
    pub registration_access_token: String,
}

/// A client whose secret was just replaced, with the new secret shown this once.
#[derive(Clone, Debug)]
pub struct RotatedSecret {
    pub client: ApiClient,
    pub client_secret: String,
    /// Until when the replaced secret is still accepted; `None` when it stopped at once.
    pub previous_secret_expires_at: Option<Timestamp>,
}

/// What a token grant hands out.
pub struct GrantedTokens {
    pub access: IssuedToken,
    /// Present when the grant asked for `offline_access`, and on every refresh.
    pub refresh_token: Option<String>,
}

/// What introspection found out about a token.
#[derive(Clone, Debug)]
pub enum Introspection {
    /// Unknown, malformed, expired or revoked; or its subject is gone or disabled.
    Inactive,
    Access(Arc<Claims>),
    Refresh(RefreshTokenRecord),
}

/// A new opaque refresh token: 256 random bits, URL-safe.
fn new_refresh_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

fn looks_like_jwt(token: &str) -> bool {
    token.contains('.')
}

/// How many times a token may be exchanged for a narrower one in a chain.
const MAX_EXCHANGE_DEPTH: usize = 4;

impl Warden {
    fn parse_client_id(raw: &str) -> Result<ClientId, DomainError> {
        ClientId::parse(raw).ok_or(DomainError::NotFound(Resource::Client))
    }

    async fn load_client(&self, id: ClientId) -> Result<ApiClient, DomainError> {
        self.store
            .get_client(id)
            .await
            .map_err(store_error_for(Resource::Client))
    }

    /// A client credential manages its whole tenant subtree, so only a caller that may grant
    /// roles there may mint one: otherwise `user_admin` could turn itself into an admin.
    async fn ensure_can_manage_client(
        &self,
        principal: &Principal,
        tenant: TenantId,
    ) -> Result<Tenant, DomainError> {
        let tenant = self.tenant(tenant).await?;
        if principal.can_manage(&tenant) && principal.can_grant(&tenant) {
            Ok(Arc::unwrap_or_clone(tenant))
        } else {
            Err(DomainError::Forbidden)
        }
    }

    /// Registers a client in a tenant the caller manages. The secret and the registration
    /// access token are generated here, stored only as hashes and returned this once.
    pub async fn create_client(
        &self,
        principal: &Principal,
        new: NewApiClient,
    ) -> Result<RegisteredClient, DomainError> {
        self.ensure_can_manage_client(principal, new.tenant_id)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => {
                    DomainError::invalid("tenant_id", FieldErrorKind::Invalid)
                }
                other => other,
            })?;
        let client_secret = new_client_secret();
        let registration_access_token = new_client_secret();
        let client = ApiClient {
            id: ClientId::new_random(),
            tenant_id: new.tenant_id,
            kind: new.kind.as_str().to_owned(),
            token_endpoint_auth_method: new.token_endpoint_auth_method.as_str().to_owned(),
            data: new.data.into_value(),
            enabled: true,
            allow_password_grant: new.allow_password_grant,
            created_by: principal.user_id(),
            created_at: self.clock.now(),
            version: 1,
            tokens_not_before: warden_domain::Timestamp::EPOCH,
        };
        self.store
            .insert_client(
                &client,
                &sha256_hex(client_secret.as_bytes()),
                &sha256_hex(registration_access_token.as_bytes()),
                &self.audit_by(principal),
            )
            .await
            .map_err(store_error_for(Resource::Client))?;
        Ok(RegisteredClient {
            client,
            client_secret,
            registration_access_token,
        })
    }

    /// Every client the caller can read: those of its own subtree for an API client, those
    /// under the tenants where a user holds a reading role.
    pub async fn list_clients(&self, principal: &Principal) -> Result<Vec<ApiClient>, DomainError> {
        let mut roots: Vec<TenantId> = match principal.subject {
            Subject::Client(_) => vec![principal.tenant_id],
            Subject::User(_) => principal
                .policies
                .iter()
                .filter(|p| p.role.reads())
                .map(|p| p.tenant_id)
                .collect(),
        };
        roots.sort();
        roots.dedup();
        // The same subtrees `can_read` admits; a narrowed principal was already cut down to
        // its narrowing when it was built.
        self.store
            .clients_in_subtrees(&roots)
            .await
            .map_err(store_error)
    }

    /// Ids of the clients registered directly in a tenant the caller can read.
    pub async fn tenant_client_ids(
        &self,
        principal: &Principal,
        raw_tenant_id: &str,
    ) -> Result<Vec<ClientId>, DomainError> {
        let id = TenantId::parse(raw_tenant_id).ok_or(DomainError::NotFound(Resource::Tenant))?;
        let tenant = self.tenant(id).await?;
        if !principal.can_read(&tenant) {
            return Err(DomainError::Forbidden);
        }
        self.store
            .client_ids_of_tenant(tenant.id)
            .await
            .map_err(store_error)
    }

    /// Changes a client's data, status or password-grant flag. `expected_version`, when given,
    /// must be the current one; without it the change applies to the version just read.
    pub async fn update_client(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: ClientPatch,
        expected_version: Option<i64>,
    ) -> Result<ApiClient, DomainError> {
        let current = self.load_client(Self::parse_client_id(raw_id)?).await?;
        self.ensure_can_manage_client(principal, current.tenant_id)
            .await?;
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(DomainError::VersionMismatch);
        }
        let next = current.patched(&patch);
        self.store
            .update_client_if_version(&next, current.version, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::Client))
    }

    /// Deletes a client. Its tokens stop working at once: every request looks the client up.
    pub async fn delete_client(
        &self,
        principal: &Principal,
        raw_id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let current = self.load_client(Self::parse_client_id(raw_id)?).await?;
        self.ensure_can_manage_client(principal, current.tenant_id)
            .await?;
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(DomainError::VersionMismatch);
        }
        self.store
            .delete_client_if_version(current.id, current.version, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::Client))
    }

    /// Gives a client a new secret. The replaced one keeps working for `grace_seconds`
    /// (default [`DEFAULT_SECRET_GRACE_SECONDS`]); 0 ends it at once, as after a leak.
    pub async fn rotate_client_secret(
        &self,
        principal: &Principal,
        raw_id: &str,
        grace_seconds: Option<i64>,
    ) -> Result<RotatedSecret, DomainError> {
        let current = self.load_client(Self::parse_client_id(raw_id)?).await?;
        self.ensure_can_manage_client(principal, current.tenant_id)
            .await?;
        let grace = grace_seconds.unwrap_or(DEFAULT_SECRET_GRACE_SECONDS);
        if !(0..=MAX_SECRET_GRACE_SECONDS).contains(&grace) {
            return Err(DomainError::invalid(
                "grace_period_seconds",
                FieldErrorKind::Invalid,
            ));
        }
        let previous_expires_at = (grace > 0).then(|| self.clock.now().plus_seconds(grace));
        let client_secret = new_client_secret();
        let client = self
            .store
            .rotate_client_secret(
                current.id,
                current.version,
                &sha256_hex(client_secret.as_bytes()),
                previous_expires_at,
                &self.audit_by(principal),
            )
            .await
            .map_err(store_error_for(Resource::Client))?;
        Ok(RotatedSecret {
            client,
            client_secret,
            previous_secret_expires_at: previous_expires_at,
        })
    }

    /// The `password` grant. A client, when one authenticated, must be allowed this grant;
    /// without a client the grant stays open, as the published scripts use it that way.
    /// `offline` (scope `offline_access`) adds a refresh token.
    pub async fn password_grant(
        &self,
        client: Option<&ApiClient>,
        username: &str,
        password: &str,
        offline: bool,
    ) -> Result<GrantedTokens, DomainError> {
        if client.is_some_and(|c| !c.allow_password_grant) {
            return Err(DomainError::Forbidden);
        }
        let user = self.password_login(username, password).await?;
        let access = self.issue_user_token(&user).await?;
        let refresh_token = if offline {
            let now = self.clock.now();
            let token = new_refresh_token();
            let record = RefreshTokenRecord {
                token_sha256: sha256_hex(token.as_bytes()),
                family_id: uuid::Uuid::new_v4(),
                user_id: user.id,
                client_id: client.map(|c| c.id),
                auth_time: now,
                issued_at: now,
                expires_at: now.plus_seconds(REFRESH_TOKEN_TTL_SECONDS),
                used_at: None,
                revoked: false,
            };
            self.store
                .insert_refresh_token(&record)
                .await
                .map_err(store_error)?;
            Some(token)
        } else {
            None
        };
        Ok(GrantedTokens {
            access,
            refresh_token,
        })
    }

    /// Whether a refresh token's user may still get tokens from it.
    async fn refresh_user(&self, record: &RefreshTokenRecord) -> Result<Option<User>, DomainError> {
        match self.store.get_user(record.user_id).await {
            Ok(user) if user.enabled && record.auth_time >= user.tokens_not_before => {
                Ok(Some(Arc::unwrap_or_clone(user)))
            }
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// The `refresh_token` grant with rotation: the presented token is spent and a new one
    /// returned. Presenting a spent token again means it was copied, so the whole family is
    /// revoked and the legitimate holder has to log in again too.
    pub async fn refresh_grant(
        &self,
        client: Option<&ApiClient>,
        presented: &str,
    ) -> Result<GrantedTokens, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_BYTES {
            return Err(invalid);
        }
        let hash = sha256_hex(presented.as_bytes());
        let record = self
            .store
            .find_refresh_token(&hash)
            .await
            .map_err(store_error)?
            .ok_or_else(|| invalid.clone())?;
        // A token issued through a client is bound to it; a mismatch spends nothing.
        if record.client_id != client.map(|c| c.id) {
            return Err(invalid);
        }
        if client.is_some_and(|c| !c.allow_password_grant) {
            return Err(DomainError::Forbidden);
        }
        let now = self.clock.now();
        let token = new_refresh_token();
        let next = RefreshTokenRecord {
            token_sha256: sha256_hex(token.as_bytes()),
            issued_at: now,
            expires_at: now.plus_seconds(REFRESH_TOKEN_TTL_SECONDS),
            used_at: None,
            revoked: false,
            ..record.clone()
        };
        match self
            .store
            .redeem_refresh_token(&hash, &next, now)
            .await
            .map_err(store_error)?
        {
            RefreshRedemption::Rotated => {}
            RefreshRedemption::Reused => {
                tracing::warn!(family = %record.family_id, user = %record.user_id,
                    "a spent refresh token was presented again; its family is revoked");
                return Err(invalid);
            }
            RefreshRedemption::Unusable => return Err(invalid),
        }
        let Some(user) = self.refresh_user(&record).await? else {
            self.store
                .revoke_refresh_family(record.family_id)
                .await
                .map_err(store_error)?;
            return Err(invalid);
        };
        let access = self.issue_user_token(&user).await?;
        Ok(GrantedTokens {
            access,
            refresh_token: Some(token),
        })
    }

    /// The `urn:ietf:params:oauth:grant-type:jwt-bearer` grant: exchanges an access token for
    /// one narrowed to a tenant the assertion's subject can reach, named in `scope` as
    /// `urn:acronis.com:tenant-id:<uuid>`. The new token expires no later than the assertion.
    pub async fn jwt_bearer_grant(
        &self,
        assertion: &str,
        scope: Option<&str>,
    ) -> Result<IssuedToken, DomainError> {
        let principal = self.authenticate_token(assertion).await?;
        let claims = principal
            .claims
            .clone()
            .ok_or(DomainError::Unauthenticated(AuthFailure::Invalid))?;
        let urns: Vec<&str> = scope
            .unwrap_or("")
            .split_whitespace()
            .filter(|word| word.starts_with(crate::tokens::TENANT_URN_PREFIX))
            .collect();
        let target = match urns.as_slice() {
            [] => return Err(DomainError::invalid("scope", FieldErrorKind::Missing)),
            [urn] => tenant_from_urn(urn)
                .ok_or_else(|| DomainError::invalid("scope", FieldErrorKind::Invalid))?,
            _ => return Err(DomainError::invalid("scope", FieldErrorKind::Invalid)),
        };
        // An unknown tenant and one out of reach look alike, so the grant reveals nothing.
        let tenant = match self.store.get_tenant(target).await {
            Ok(tenant) => tenant,
            Err(StoreError::NotFound) => return Err(DomainError::Forbidden),
            Err(e) => return Err(store_error(e)),
        };
        if !principal.can_read(&tenant) {
            return Err(DomainError::Forbidden);
        }
        // Threat: an application credential's token exchanged for one that no longer carries
        // the credential's limits (its roles, its revocation); Keystone delegates no further.
        if crate::app_credentials::is_app_credential_token(&claims) {
            return Err(DomainError::Forbidden);
        }
        // Exchanges may chain, but not without bound: every link is checked on every request.
        if claims.derived_from.len() >= MAX_EXCHANGE_DEPTH {
            return Err(DomainError::Forbidden);
        }
        let mut derived_from = claims.derived_from.clone();
        derived_from.push(claims.jti.clone());
        let issued = self.tokens.issue_narrowed(
            TokenRequest {
                subject: principal.subject,
                owner_tenant: claims.owner_tuid.clone(),
                // The roles as narrowed, so services reading `scope` see no more than the
                // token may do.
                scope: Self::account_scope(&principal.policies),
                keystone: None,
                ttl_seconds: self.settings.account_token_ttl_seconds,
            },
            vec![vec![tenant_urn(tenant.id)]],
            Some(claims.exp),
            derived_from,
        )?;
        self.metrics.token_issued("account", "jwt_bearer");
        Ok(issued)
    }

    /// Limits a principal built from a narrowed token to the intersection of what its subject
    /// can reach and the narrowing, so every authorization check downstream honours it. A
    /// narrowing that leaves nothing, or names no existing tenant, makes the token unusable.
    pub(crate) async fn narrow_principal(
        &self,
        mut principal: Principal,
    ) -> Result<Principal, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        let Some(claims) = principal.claims.clone() else {
            return Ok(principal);
        };
        if claims.narrowing.is_empty() {
            return Ok(principal);
        }
        let mut tenants: HashMap<TenantId, Option<Tenant>> = HashMap::new();
        let mut groups: Vec<Vec<Tenant>> = Vec::new();
        for group in &claims.narrowing {
            let mut resolved = Vec::new();
            for urn in group {
                let id = tenant_from_urn(urn).ok_or_else(|| invalid.clone())?;
                if let Some(tenant) = self.cached_tenant(&mut tenants, id).await? {
                    resolved.push(tenant);
                }
            }
            groups.push(resolved);
        }
        match principal.subject {
            Subject::Client(_) => {
                let reach = self
                    .narrow_scope(&mut tenants, principal.tenant_id, &groups)
                    .await?;
                // A client acts for exactly one subtree; tokens minted here narrow to one.
                let [only] = reach.as_slice() else {
                    return Err(invalid);
                };
                principal.tenant_id = *only;
            }
            Subject::User(_) => {
                let mut narrowed = Vec::new();
                for policy in &principal.policies {
                    for scope in self
                        .narrow_scope(&mut tenants, policy.tenant_id, &groups)
                        .await?
                    {
                        let mut p = policy.clone();
                        p.tenant_id = scope;
                        if !narrowed.contains(&p) {
                            narrowed.push(p);
                        }
                    }
                }
                principal.policies = narrowed;
            }
        }
        Ok(principal)
    }

    pub(crate) async fn cached_tenant(
        &self,
        cache: &mut HashMap<TenantId, Option<Tenant>>,
        id: TenantId,
    ) -> Result<Option<Tenant>, DomainError> {
        if let Some(found) = cache.get(&id) {
            return Ok(found.clone());
        }
        let found = match self.store.get_tenant(id).await {
            Ok(tenant) => Some(Arc::unwrap_or_clone(tenant)),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(store_error(e)),
        };
        cache.insert(id, found.clone());
        Ok(found)
    }

    /// The roots of the subtrees that lie both under `scope` and under some tenant of every
    /// group. Two subtrees either nest or are disjoint, so each intersection is one of the two.
    async fn narrow_scope(
        &self,
        cache: &mut HashMap<TenantId, Option<Tenant>>,
        scope: TenantId,
        groups: &[Vec<Tenant>],
    ) -> Result<Vec<TenantId>, DomainError> {
        let mut reach = vec![scope];
        for group in groups {
            let mut next: Vec<TenantId> = Vec::new();
            for root in &reach {
                for limit in group {
                    let meet = if limit.id == *root || limit.ancestors.contains(root) {
                        Some(limit.id)
                    } else {
                        match self.cached_tenant(cache, *root).await? {
                            Some(t) if t.ancestors.contains(&limit.id) => Some(t.id),
                            _ => None,
                        }
                    };
                    if let Some(meet) = meet.filter(|m| !next.contains(m)) {
                        next.push(meet);
                    }
                }
            }
            reach = next;
        }
        Ok(reach)
    }

    /// The principal of an API client that authenticated with its id and secret (HTTP Basic
    /// on the IdP endpoints).
    pub async fn client_principal(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Principal, DomainError> {
        let client = self.client_login(client_id, secret).await?;
        Ok(Principal {
            subject: Subject::Client(client.id),
            tenant_id: client.tenant_id,
            policies: Vec::new(),
            claims: None,
        })
    }

    /// Token introspection for any authenticated caller: holding a token already reveals its
    /// claims, so introspection adds only whether it is still live.
    pub async fn introspect(
        &self,
        _caller: &Principal,
        token: &str,
    ) -> Result<Introspection, DomainError> {
        if looks_like_jwt(token) {
            let Ok(claims) = self.tokens.verify(token).await else {
                return Ok(Introspection::Inactive);
            };
            return match self.principal_for_claims(claims.clone()).await {
                Ok(_) => Ok(Introspection::Access(claims)),
                Err(DomainError::Unauthenticated(_)) => Ok(Introspection::Inactive),
                Err(e) => Err(e),
            };
        }
        if token.is_empty() || token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(Introspection::Inactive);
        }
        let record = self
            .store
            .find_refresh_token(&sha256_hex(token.as_bytes()))
            .await
            .map_err(store_error)?;
        let Some(record) = record else {
            return Ok(Introspection::Inactive);
        };
        let live =
            !record.revoked && record.used_at.is_none() && record.expires_at > self.clock.now();
        if !live || self.refresh_user(&record).await?.is_none() {
            return Ok(Introspection::Inactive);
        }
        if let Some(client) = record.client_id {
            match self.store.get_client(client).await {
                Ok(c) if c.enabled => {}
                Ok(_) | Err(StoreError::NotFound) => return Ok(Introspection::Inactive),
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(Introspection::Refresh(record))
    }

    /// Token revocation (RFC 7009) for any authenticated caller. Revoking only takes access
    /// away, so holding the token is authority enough; an unknown or invalid token is not an
    /// error. A refresh token takes its whole family with it.
    pub async fn revoke(&self, _caller: &Principal, token: &str) -> Result<(), DomainError> {
        if looks_like_jwt(token) {
            if let Ok(claims) = self.tokens.verify(token).await {
                self.store
                    .revoke_token(&claims.jti, claims.expires_at())
                    .await
                    .map_err(store_error)?;
            }
            return Ok(());
        }
        if token.is_empty() || token.len() > MAX_REFRESH_TOKEN_BYTES {
            return Ok(());
        }
        if let Some(record) = self
            .store
            .find_refresh_token(&sha256_hex(token.as_bytes()))
            .await
            .map_err(store_error)?
        {
            self.store
                .revoke_refresh_family(record.family_id)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// Deletes refresh tokens that have expired anyway; safe on every node at once.
    pub async fn purge_expired_refresh_tokens(&self) -> Result<u64, DomainError> {
        self.store
            .purge_expired_refresh_tokens(self.clock.now())
            .await
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::BootstrapRequest;
    use crate::{Clock, CoreSettings, Kek, ManualClock, Metrics};
    use warden_store_sqlite::SqliteStore;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    async fn start(clock: ManualClock) -> (tempfile::TempDir, Warden, ApiClient) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("warden.db").display());
        let store = Arc::new(SqliteStore::open(&url).await.unwrap());
        let kek = Kek::from_text(&Kek::generate_text()).unwrap();
        let warden = Warden::start(
            store,
            kek,
            Arc::new(clock),
            CoreSettings::new("http://warden.test".to_owned()),
            Arc::new(Metrics::new()),
        )
        .await
        .unwrap();
        let generated = warden
            .bootstrap(BootstrapRequest {
                root_name: "Root".to_owned(),
                admin_login: "admin".to_owned(),
                admin_password: Some("admin-Passw0rd-for-tests".to_owned()),
                client_id: None,
                client_secret: Some(SECRET.to_owned()),
            })
            .await
            .unwrap()
            .unwrap();
        let client = warden
            .client_login(&generated.client_id, SECRET)
            .await
            .unwrap();
        (dir, warden, client)
    }

    fn acting_as(client: &ApiClient) -> Principal {
        Principal {
            subject: Subject::Client(client.id),
            tenant_id: client.tenant_id,
            policies: Vec::new(),
            claims: None,
        }
    }

    #[tokio::test]
    async fn a_replaced_secret_works_until_its_grace_period_ends_then_stops() {
        let clock = ManualClock::at(Timestamp::from_micros(1_700_000_000_000_000));
        let (_dir, warden, client) = start(clock.clone()).await;
        let id = client.id.to_string();
        let rotated = warden
            .rotate_client_secret(&acting_as(&client), &id, Some(600))
            .await
            .unwrap();
        assert_eq!(
            rotated.previous_secret_expires_at,
            Some(clock.now().plus_seconds(600))
        );
        assert!(warden.client_login(&id, SECRET).await.is_ok());
        assert!(warden
            .client_login(&id, &rotated.client_secret)
            .await
            .is_ok());

        clock.advance_seconds(599);
        assert!(warden.client_login(&id, SECRET).await.is_ok());
        clock.advance_seconds(1);
        assert_eq!(
            warden.client_login(&id, SECRET).await.unwrap_err(),
            DomainError::Unauthenticated(AuthFailure::Invalid)
        );
        assert!(warden
            .client_login(&id, &rotated.client_secret)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_second_rotation_ends_the_first_replaced_secret_at_once() {
        let clock = ManualClock::at(Timestamp::from_micros(1_700_000_000_000_000));
        let (_dir, warden, client) = start(clock.clone()).await;
        let id = client.id.to_string();
        let first = warden
            .rotate_client_secret(&acting_as(&client), &id, None)
            .await
            .unwrap();
        assert_eq!(
            first.previous_secret_expires_at,
            Some(clock.now().plus_seconds(DEFAULT_SECRET_GRACE_SECONDS))
        );
        let second = warden
            .rotate_client_secret(&acting_as(&client), &id, Some(0))
            .await
            .unwrap();
        assert_eq!(second.previous_secret_expires_at, None);
        assert!(warden.client_login(&id, SECRET).await.is_err());
        assert!(warden
            .client_login(&id, &first.client_secret)
            .await
            .is_err());
        assert!(warden
            .client_login(&id, &second.client_secret)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_grace_period_out_of_bounds_is_refused_and_changes_nothing() {
        let clock = ManualClock::at(Timestamp::from_micros(1_700_000_000_000_000));
        let (_dir, warden, client) = start(clock).await;
        let id = client.id.to_string();
        for grace in [-1, MAX_SECRET_GRACE_SECONDS + 1] {
            let err = warden
                .rotate_client_secret(&acting_as(&client), &id, Some(grace))
                .await
                .unwrap_err();
            assert!(matches!(err, DomainError::Invalid(_)));
        }
        assert!(warden.client_login(&id, SECRET).await.is_ok());
        assert_eq!(warden.store.get_client(client.id).await.unwrap().version, 1);
    }

    #[tokio::test]
    async fn refresh_tokens_expire_after_their_lifetime() {
        let clock = ManualClock::at(Timestamp::from_micros(1_700_000_000_000_000));
        let (_dir, warden, client) = start(clock.clone()).await;
        let granted = warden
            .password_grant(Some(&client), "admin", "admin-Passw0rd-for-tests", true)
            .await
            .unwrap();
        let refresh = granted.refresh_token.unwrap();
        clock.advance_seconds(REFRESH_TOKEN_TTL_SECONDS);
        assert!(warden.refresh_grant(Some(&client), &refresh).await.is_err());
        assert_eq!(warden.purge_expired_refresh_tokens().await.unwrap(), 0);
        clock.advance_seconds(1);
        assert_eq!(warden.purge_expired_refresh_tokens().await.unwrap(), 1);
    }

    fn tenant(id: TenantId, ancestors: Vec<TenantId>) -> Tenant {
        Tenant {
            id,
            parent_id: ancestors.last().copied(),
            ancestors,
            kind: warden_domain::TenantKind::Customer,
            name: "t".to_owned(),
            is_domain: false,
            enabled: true,
            language: "en".to_owned(),
            owner_id: None,
            contact: warden_domain::tenant::TenantContact::default(),
            customer_type: "default".to_owned(),
            customer_id: None,
            internal_tag: None,
            update_lock: warden_domain::tenant::UpdateLock::default(),
            ancestral_access: true,
            mfa_status: "disabled".to_owned(),
            pricing_mode: "trial".to_owned(),
            has_children: false,
            description: String::new(),
            tags: Vec::new(),
            version: 1,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        }
    }

    #[test]
    fn a_narrowing_admits_its_subtree_and_nothing_else() {
        let (root, partner, customer, other) = (
            TenantId::new_random(),
            TenantId::new_random(),
            TenantId::new_random(),
            TenantId::new_random(),
        );
        let claims = Claims {
            iss: String::new(),
            sub: String::new(),
            aud: String::new(),
            exp: 0,
            iat: 0,
            nbf: 0,
            jti: String::new(),
            ver: 2,
            sub_type: "user".to_owned(),
            uid: None,
            client_id: None,
            owner_tuid: String::new(),
            scope: Vec::new(),
            ks: None,
            iat_us: 0,
            token_use: "access".to_owned(),
            narrowing: vec![vec![tenant_urn(partner)]],
            derived_from: Vec::new(),
        };
        assert!(claims.narrowing_allows(&tenant(partner, vec![root])));
        assert!(claims.narrowing_allows(&tenant(customer, vec![root, partner])));
        assert!(!claims.narrowing_allows(&tenant(root, vec![])));
        assert!(!claims.narrowing_allows(&tenant(other, vec![root])));
        let garbled = Claims {
            narrowing: vec![vec!["urn:acronis.com:tenant-id:nope".to_owned()]],
            ..claims.clone()
        };
        assert!(!garbled.narrowing_allows(&tenant(partner, vec![root])));
        let unlimited = Claims {
            narrowing: Vec::new(),
            ..claims
        };
        assert!(unlimited.narrowing_allows(&tenant(other, vec![root])));
    }

    #[test]
    fn a_secret_matches_the_current_hash_or_the_previous_one_until_it_expires() {
        let now = Timestamp::from_micros(1_000_000);
        let secrets = ClientSecrets {
            current_sha256: sha256_hex(b"new"),
            previous_sha256: Some(sha256_hex(b"old")),
            previous_expires_at: Some(now.plus_seconds(1)),
        };
        assert!(secret_accepted("new", &secrets, now));
        assert!(secret_accepted("old", &secrets, now));
        assert!(!secret_accepted("old", &secrets, now.plus_seconds(1)));
        assert!(!secret_accepted("other", &secrets, now));
    }
}
