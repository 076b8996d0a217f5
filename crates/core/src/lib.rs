//! Warden's services: every business rule, authorization decision, hash and signature lives
//! here, and every face calls the same method for the same operation.

pub mod aksk;
pub mod app_credentials;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod catalog;
pub mod clients;
pub mod clock;
pub mod credentials;
pub mod directory;
pub mod domain_config;
pub mod groups;
pub mod keys;
pub mod keystone;
pub mod keystone_credentials;
pub mod keystone_extras;
pub mod lockout;
pub mod mail;
pub mod metrics;
pub mod node_cache;
pub mod password;
pub mod policies;
pub mod projects;
pub mod request;
pub mod roles;
pub mod secrets;
pub mod tenants;
pub mod tokens;
pub mod user_fields;
pub mod users;

use std::sync::Arc;

use warden_domain::{DomainError, PasswordPolicy, Resource};
use warden_store::{Store, StoreError};

pub use auth::{Credential, Principal};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{NewCredential, SignedAuthError};
pub use keys::{KeyRing, SigningAlg};
pub use mail::{MailSender, OutboxMailer, SmtpMailer};
pub use metrics::Metrics;
pub use password::{HashParams, PasswordHasher};
pub use secrets::Kek;
pub use tokens::{Claims, Subject, TokenService};

/// Settings the services need; the binary fills them from its configuration.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// Base URL clients reach this server at, e.g. `http://127.0.0.1:8080`. Also the `iss`.
    pub public_url: String,
    pub audience: String,
    pub account_token_ttl_seconds: i64,
    pub keystone_token_ttl_seconds: i64,
    pub signing_alg: SigningAlg,
    pub password_policy: PasswordPolicy,
    pub hash_params: HashParams,
    pub hash_concurrency: usize,
    pub hash_queue: usize,
    /// Memory the verified-token cache may take (token text and claims).
    pub token_cache_bytes: u64,
    pub lockout: lockout::LockoutPolicy,
    /// Throttling of password attempts per client address, on each node.
    pub source_lockout: lockout::LockoutPolicy,
    /// How many client addresses each node remembers failures of.
    pub source_capacity: usize,
    /// Proxies whose `X-Forwarded-For` names the client; from anyone else it is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a mailed activation link works.
    pub activation_ttl_seconds: i64,
    /// How long a mailed e-mail change confirmation link works.
    pub email_change_ttl_seconds: i64,
    /// Base URL of the pages mailed links open (`<base>/activate?token=…`,
    /// `<base>/confirm-email?token=…`).
    pub mail_link_base_url: String,
}

impl CoreSettings {
    pub fn new(public_url: String) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            mail_link_base_url: public_url.clone(),
            public_url,
            audience: "warden".to_owned(),
            account_token_ttl_seconds: 7200,
            keystone_token_ttl_seconds: 86_400,
            signing_alg: SigningAlg::Rs256,
            password_policy: PasswordPolicy::default(),
            hash_params: HashParams::default(),
            hash_concurrency: cores,
            hash_queue: cores * 32,
            token_cache_bytes: 64 * 1024 * 1024,
            lockout: lockout::LockoutPolicy::default(),
            source_lockout: lockout::LockoutPolicy::per_source(),
            source_capacity: 100_000,
            trusted_proxies: Vec::new(),
            activation_ttl_seconds: 72 * 3600,
            email_change_ttl_seconds: 24 * 3600,
        }
    }
}

/// The services, shared by every face.
pub struct Warden {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: PasswordHasher,
    pub(crate) keys: Arc<KeyRing>,
    /// Seals what must be recoverable at rest: signing keys (through `keys`) and AK/SK secrets.
    pub(crate) kek: Arc<Kek>,
    pub(crate) tokens: TokenService,
    pub(crate) settings: CoreSettings,
    pub metrics: Arc<Metrics>,
    pub(crate) mailer: Arc<dyn MailSender>,
    pub(crate) sources: lockout::SourceThrottle,
    pub(crate) catalog: catalog::CatalogCache,
    pub(crate) role_cache: node_cache::NodeCache<roles::RoleBook>,
    pub(crate) pending_checks: lockout::PendingChecks,
}

impl Warden {
    /// Builds the services over `store`, loading or creating the signing key.
    pub async fn start(
        store: Arc<dyn Store>,
        kek: Kek,
        clock: Arc<dyn Clock>,
        settings: CoreSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, DomainError> {
        let kek = Arc::new(kek);
        let keys = Arc::new(KeyRing::new(store.clone(), kek.clone()));
        keys.init(settings.signing_alg, clock.now()).await?;
        let hasher = PasswordHasher::new(
            settings.hash_params,
            settings.hash_concurrency,
            settings.hash_queue,
            metrics.clone(),
        )?;
        let tokens = TokenService::new(
            keys.clone(),
            clock.clone(),
            settings.public_url.clone(),
            settings.audience.clone(),
            settings.token_cache_bytes,
        );
        Ok(Self {
            sources: lockout::SourceThrottle::new(
                settings.source_lockout,
                settings.source_capacity,
            ),
            store,
            clock,
            hasher,
            keys,
            kek,
            tokens,
            settings,
            metrics,
            // Until a transport is wired in, sending fails rather than dropping messages.
            mailer: Arc::new(mail::NoMailer),
            catalog: catalog::CatalogCache::default(),
            role_cache: node_cache::NodeCache::default(),
            pending_checks: lockout::PendingChecks::default(),
        })
    }

    /// The services sending mail through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn MailSender>) -> Self {
        self.mailer = mailer;
        self
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.keys.jwks()
    }

    /// Generates a new signing key and makes it the active one.
    pub async fn rotate_signing_key(&self) -> Result<String, DomainError> {
        self.keys
            .rotate(self.settings.signing_alg, self.clock.now())
            .await
    }

    /// Re-reads the signing keys, so a rotation made by another node is picked up.
    pub async fn reload_keys(&self) -> Result<(), DomainError> {
        self.keys.reload().await
    }

    /// Deletes revocations of tokens that have expired anyway, and expired one-time links;
    /// safe on every node at once.
    pub async fn purge_expired(&self) -> Result<u64, DomainError> {
        let revocations = self
            .store
            .purge_expired(self.clock.now())
            .await
            .map_err(store_error)?;
        Ok(revocations
            + self.purge_expired_user_tokens().await?
            + self.purge_expired_refresh_tokens().await?)
    }

    /// The client address of a request from `peer` carrying `forwarded_for`
    /// (`X-Forwarded-For`), which counts only when `peer` is a trusted proxy.
    pub fn client_address(
        &self,
        peer: Option<std::net::IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<std::net::IpAddr> {
        request::client_address(peer, forwarded_for, &self.settings.trusted_proxies)
    }

    /// Whether the store answers; used by `/healthz`.
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}

/// Runs `attempt` — a read, a change computed from it and a compare-and-set write — again
/// while it loses to a concurrent change (`VersionMismatch`), at most `attempts` times in all;
/// the last loss is the answer. For changes whose callers send no version of their own.
pub(crate) async fn retrying_races<T, F>(
    attempts: usize,
    mut attempt: impl FnMut() -> F,
) -> Result<T, DomainError>
where
    F: std::future::Future<Output = Result<T, DomainError>>,
{
    let mut left = attempts;
    loop {
        left = left.saturating_sub(1);
        match attempt().await {
            Err(DomainError::VersionMismatch) if left > 0 => {}
            answer => return answer,
        }
    }
}

/// Maps a store failure to the domain error. `NotFound` and `Conflict` are mapped by callers
/// that know which resource they were after; here they mean an inconsistency.
pub(crate) fn store_error(e: StoreError) -> DomainError {
    match e {
        StoreError::VersionMismatch => DomainError::VersionMismatch,
        StoreError::InvalidText => {
            DomainError::invalid("input", warden_domain::FieldErrorKind::InvalidText)
        }
        StoreError::Unavailable(why) => {
            tracing::warn!(error = %why, "store unavailable");
            DomainError::Unavailable
        }
        StoreError::NotFound | StoreError::Conflict(_) | StoreError::Internal(_) => {
            tracing::error!(error = %e, "store failure");
            DomainError::Internal
        }
    }
}

/// Maps a store failure where `NotFound` means the named resource does not exist.
pub(crate) fn store_error_for(resource: Resource) -> impl Fn(StoreError) -> DomainError {
    move |e| match e {
        StoreError::NotFound => DomainError::NotFound(resource),
        StoreError::Conflict("login") => DomainError::LoginTaken,
        StoreError::Conflict("xuser") => {
            DomainError::invalid("xuser_id", warden_domain::FieldErrorKind::ExternalIdTaken)
        }
        StoreError::Conflict("email") => {
            DomainError::invalid("email", warden_domain::FieldErrorKind::EmailTaken)
        }
        StoreError::Conflict("phone") => {
            DomainError::invalid("phone", warden_domain::FieldErrorKind::PhoneTaken)
        }
        other => store_error(other),
    }
}
