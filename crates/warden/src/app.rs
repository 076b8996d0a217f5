//! Assembles the application: store, services, the three faces, and the HTTP stack around
//! them (request ids, access log, metrics, body limit), bound to a listener and served with
//! explicit connection limits (head size, head timeout, connection count).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt as _};
use tower_http::normalize_path::NormalizePathLayer;
use warden_core::bootstrap::{BootstrapRequest, Generated};
use warden_core::mail::{MailSender, OutboxMailer, SmtpMailer, SmtpSettings};
use warden_core::metrics::{RequestLabels, RouteLabels};
use warden_core::{Clock, CoreSettings, Kek, Metrics, SigningAlg, SystemClock, Warden};
use warden_domain::{ClientId, PasswordPolicy};
use warden_store::Store;
use warden_store_postgres::PostgresStore;
use warden_store_sqlite::SqliteStore;

use crate::settings::{MailTransport, Settings};

pub struct Application {
    listener: TcpListener,
    router: Router,
    warden: Arc<Warden>,
    generated: Option<Generated>,
    limits: ConnectionLimits,
}

/// What one client connection may cost the server. Threat: a client that opens connections
/// and sends nothing, or a head a byte at a time, or an endless head, would otherwise hold a
/// task, a socket and a buffer for as long as it likes.
#[derive(Clone, Copy, Debug)]
struct ConnectionLimits {
    max_header_bytes: usize,
    request_header_timeout: Duration,
    max_connections: usize,
}

/// The largest head limit accepted: below hyper's own read buffer ceiling (about 400 KiB), so
/// the configured limit is the one that answers 431.
const MAX_HEADER_BYTES_CEILING: usize = 256 * 1024;

impl ConnectionLimits {
    fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        if !(1024..=MAX_HEADER_BYTES_CEILING).contains(&settings.max_header_bytes) {
            anyhow::bail!("max_header_bytes must be between 1024 and {MAX_HEADER_BYTES_CEILING}");
        }
        if settings.request_header_timeout_seconds < 1 {
            anyhow::bail!("request_header_timeout_seconds must be at least 1");
        }
        if settings.max_connections < 1 {
            anyhow::bail!("max_connections must be at least 1");
        }
        Ok(Self {
            max_header_bytes: settings.max_header_bytes,
            request_header_timeout: Duration::from_secs(settings.request_header_timeout_seconds),
            max_connections: settings.max_connections,
        })
    }
}

/// Opens the store named by the settings' database URL: `sqlite:` for the embedded store,
/// `postgres:`/`postgresql:` for a shared database behind any number of nodes.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        if settings.database_url.is_none() {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!("creating data directory {}", settings.data_dir.display())
            })?;
        }
        let store = SqliteStore::open(&url)
            .await
            .context("opening the SQLite store")?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = PostgresStore::open(&url, settings.database_max_connections)
            .await
            .context("opening the PostgreSQL store")?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!("unsupported database URL scheme; expected sqlite:// or postgres://")
    }
}

fn is_embedded(settings: &Settings) -> bool {
    settings.database_url().starts_with("sqlite:")
}

/// The key-encryption key: from the settings, else from `<data_dir>/kek`, created on first
/// start with owner-only permissions.
fn load_kek(settings: &Settings) -> anyhow::Result<Kek> {
    if let Some(text) = Settings::expose(&settings.kek) {
        return Kek::from_text(&text).context("the configured key-encryption key");
    }
    if !is_embedded(settings) {
        // Every node sharing a database must seal and open keys with the same key; a key
        // generated locally would make this node's keys unreadable to the others.
        anyhow::bail!(
            "a shared database needs the key-encryption key configured: set WARDEN_KEK or WARDEN_KEK_FILE on every node"
        );
    }
    let path = settings.data_dir.join("kek");
    if !path.exists() {
        std::fs::create_dir_all(&settings.data_dir)?;
        write_private(&path, &Kek::generate_text())?;
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Kek::from_text(&text).with_context(|| format!("the key-encryption key in {}", path.display()))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn core_settings(settings: &Settings, public_url: String) -> anyhow::Result<CoreSettings> {
    let mut core = CoreSettings::new(public_url);
    core.signing_alg = SigningAlg::parse(&settings.signing_alg).with_context(|| {
        format!(
            "signing_alg {:?}: expected RS256, ES256 or EdDSA",
            settings.signing_alg
        )
    })?;
    core.account_token_ttl_seconds = settings.account_token_ttl_seconds;
    core.keystone_token_ttl_seconds = settings.keystone_token_ttl_seconds;
    core.password_policy = PasswordPolicy {
        min_chars: settings.password_min_length,
    };
    if settings.password_hash_memory_kib < 19 * 1024 || settings.password_hash_iterations < 2 {
        anyhow::bail!("password hashing below Argon2id m=19456 KiB, t=2 is not allowed");
    }
    core.hash_params.memory_kib = settings.password_hash_memory_kib;
    core.hash_params.iterations = settings.password_hash_iterations;
    if let Some(concurrency) = settings.password_hash_concurrency {
        if concurrency < 1 {
            anyhow::bail!("password_hash_concurrency must be at least 1");
        }
        core.hash_concurrency = concurrency;
    }
    if let Some(queue) = settings.password_hash_queue {
        if queue < 1 {
            anyhow::bail!("password_hash_queue must be at least 1");
        }
        core.hash_queue = queue;
    }
    if settings.activation_token_ttl_seconds < 1 || settings.email_change_token_ttl_seconds < 1 {
        anyhow::bail!(
            "activation_token_ttl_seconds and email_change_token_ttl_seconds must be positive"
        );
    }
    core.trusted_proxies = settings
        .trusted_proxies
        .iter()
        .map(|raw| {
            raw.parse::<ipnet::IpNet>()
                .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| {
                    format!("trusted_proxies: {raw:?} is not an address or CIDR block")
                })
        })
        .collect::<anyhow::Result<_>>()?;
    let (free, max) = (
        settings.login_source_free_failures,
        settings.login_source_max_failures,
    );
    if free < 1 || max < free {
        anyhow::bail!(
            "login_source_free_failures must be at least 1 and login_source_max_failures at least as many"
        );
    }
    core.source_lockout.free_failures = free;
    core.source_lockout.max_failures = max;
    core.activation_ttl_seconds = settings.activation_token_ttl_seconds;
    core.email_change_ttl_seconds = settings.email_change_token_ttl_seconds;
    if let Some(base) = &settings.mail_link_base_url {
        core.mail_link_base_url = base.trim_end_matches('/').to_owned();
    }
    Ok(core)
}

/// The mail transport the settings name: the outbox folder, or an SMTP server.
fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn MailSender>> {
    match settings.mail_transport {
        MailTransport::Outbox => {
            let outbox = OutboxMailer::new(settings.mail_outbox_dir(), &settings.mail_from)
                .context("mail outbox")?;
            Ok(Arc::new(outbox))
        }
        MailTransport::Smtp => {
            let smtp = SmtpSettings {
                host: settings
                    .smtp_host
                    .clone()
                    .context("mail_transport = \"smtp\" needs smtp_host")?,
                port: settings.smtp_port,
                tls: settings.smtp_tls,
                username: settings.smtp_username.clone(),
                password: settings.smtp_password.clone(),
                timeout: std::time::Duration::from_secs(settings.smtp_timeout_seconds.max(1)),
            };
            let mailer = SmtpMailer::new(&smtp, &settings.mail_from).context("SMTP settings")?;
            Ok(Arc::new(mailer))
        }
    }
}

impl Application {
    /// Opens the store, loads keys, bootstraps an empty store, binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// `build` with the services reading time from `clock`, so that expiry can be tested
    /// without waiting.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let limits = ConnectionLimits::from_settings(&settings)?;
        let mailer = mailer(&settings)?;
        let store = open_store(&settings).await?;
        let kek = load_kek(&settings)?;
        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        let metrics = Arc::new(Metrics::new());
        let warden = Warden::start(
            store,
            kek,
            clock,
            core_settings(&settings, public_url)?,
            metrics,
        )
        .await
        .map_err(|e| anyhow::anyhow!("starting services: {e}"))?
        .with_mailer(mailer);
        let warden = Arc::new(warden);
        let client_id = settings
            .bootstrap_client_id
            .as_deref()
            .map(|raw| ClientId::parse(raw).context("bootstrap_client_id must be a UUID"))
            .transpose()?;
        let generated = warden
            .bootstrap(BootstrapRequest {
                root_name: settings.root_tenant_name.clone(),
                admin_login: settings.bootstrap_admin_login.clone(),
                admin_password: Settings::expose(&settings.bootstrap_admin_password),
                client_id,
                client_secret: Settings::expose(&settings.bootstrap_client_secret),
            })
            .await
            .map_err(|e| anyhow::anyhow!("bootstrap: {}", e.public_message()))?;
        // The listener is bound above, so `public_url` already names the real port (also when
        // it is 0 and no public URL is configured) and the identity endpoints point at it.
        warden
            .ensure_identity_catalog()
            .await
            .map_err(|e| anyhow::anyhow!("service catalog: {}", e.public_message()))?;
        let router = router(warden.clone(), settings.max_body_bytes);
        Ok(Self {
            listener,
            router,
            warden,
            generated,
            limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn warden(&self) -> Arc<Warden> {
        self.warden.clone()
    }

    /// The routes with their middleware, to drive requests in-process without a socket.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// What first start generated (credentials to show once); `None` on later starts.
    pub fn generated(&self) -> Option<&Generated> {
        self.generated.as_ref()
    }

    /// Serves until `shutdown` completes, then stops accepting and drains in-flight requests.
    /// Background upkeep (key reload, clean-up) runs for as long as the server does.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let upkeep = tokio::spawn(upkeep(self.warden.clone()));
        let served = serve_connections(self.listener, self.router, self.limits, shutdown).await;
        upkeep.abort();
        served
    }
}

/// The accept loop. HTTP/1.1 with hyper, configured explicitly: a request head larger than
/// `max_header_bytes` or with more than 100 headers is answered 431 and the connection
/// closed; a head not complete within `request_header_timeout` closes the connection; at most
/// `max_connections` are served at once, and the next is accepted only when one closes, so a
/// burst waits in the kernel's accept queue instead of in the server's memory.
async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Trailing slashes are trimmed before routing: `/v3/` and `/v3` are one resource.
    let service = NormalizePathLayer::trim_trailing_slash().layer(router);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.request_header_timeout)
        .max_header_size(limits.max_header_bytes);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait before trying again rather
                    // than spinning.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let service = service.clone().map_request(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            },
        );
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

pub fn router(warden: Arc<Warden>, max_body_bytes: usize) -> Router {
    let around = Around {
        warden: warden.clone(),
        body_limit: warden_http::BodyLimit(max_body_bytes),
    };
    Router::new()
        .merge(warden_api_keystone::root_router())
        .merge(warden_api_account::root_router())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(warden_api_account::router())
        .nest("/v3", warden_api_keystone::router(warden.clone()))
        .nest("/v3.0", warden_api_iam::router(warden.clone()))
        .fallback(unrouted)
        .layer(middleware::from_fn_with_state(around, around_request))
        .with_state(warden)
}

/// A request no route matches: answered in the body of the face whose space it is in, and
/// in Keystone's, the root's dialect, anywhere else. (The Keystone and IAM faces' own spaces
/// are nested routers with fallbacks of their own.)
async fn unrouted(uri: axum::http::Uri) -> Response {
    if warden_api_account::owns(uri.path()) {
        warden_api_account::not_found().await.into_response()
    } else {
        warden_api_keystone::fallback().await.into_response()
    }
}

/// What [`around_request`] needs.
#[derive(Clone)]
struct Around {
    warden: Arc<Warden>,
    body_limit: warden_http::BodyLimit,
}

static X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Everything done around each request, in one layer (each layer of a router costs every
/// request a boxed service clone and a future of its own):
///
/// - the request id: the client's `X-Request-Id`, or a new random one, sent back in
///   `X-Request-Id`;
/// - the body limit every body extractor reads;
/// - the request's context (its id and the client's address) for everything it runs;
/// - one access log line (with the method as sent) and one metrics sample (methods HTTP does
///   not define counted as `other`).
async fn around_request(
    State(around): State<Around>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = match request.headers().get(&X_REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = new_request_id();
            request
                .headers_mut()
                .insert(X_REQUEST_ID.clone(), id.clone());
            id
        }
    };
    request.extensions_mut().insert(around.body_limit);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| {
            warden_core::metrics::route_label(p.as_str())
        });
    let id_text = id.to_str().unwrap_or_default();
    let context = warden_http::request_context(&around.warden, &request, id_text.to_owned());
    let mut response = warden_core::request::in_request(context, next.run(request)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    crate::access_log::record(&crate::access_log::Entry {
        method: method.as_str(),
        route,
        status,
        latency: elapsed,
        request_id: id_text,
    });
    let metrics = &around.warden.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: warden_core::metrics::method_label(&method),
            route,
            status,
        })
        .inc();
    metrics
        .request_duration
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    if !response.headers().contains_key(&X_REQUEST_ID) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), id);
    }
    response
}

/// A random (version 4) UUID for a request that brings no `X-Request-Id`, from the thread's
/// CSPRNG rather than a system call per request: an id must be unique, not secret.
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut text);
    // A UUID's text is always a valid header value.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("unassigned"))
}

async fn healthz(State(warden): State<Arc<Warden>>) -> Response {
    if warden.ready().await {
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable"})),
        )
            .into_response()
    }
}

async fn metrics(State(warden): State<Arc<Warden>>) -> Response {
    let mut response = warden.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// `warden keys rotate`: a new active key in the store; running nodes pick it up when they
/// meet its `kid` or reload.
pub async fn rotate_key(settings: &Settings, store: Arc<dyn Store>) -> anyhow::Result<String> {
    let kek = load_kek(settings)?;
    let alg = SigningAlg::parse(&settings.signing_alg).context("signing_alg")?;
    let keys = warden_core::KeyRing::new(store, Arc::new(kek));
    keys.rotate(alg, warden_core::Clock::now(&SystemClock))
        .await
        .map_err(|e| anyhow::anyhow!("rotating the signing key: {e}"))
}

/// How often a node re-reads the signing keys, so a rotation on any node is honoured by all
/// within this interval.
const KEY_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// How often expired revocations are deleted.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

async fn upkeep(warden: Arc<Warden>) {
    let mut reload = tokio::time::interval(KEY_RELOAD_INTERVAL);
    let mut purge = tokio::time::interval(PURGE_INTERVAL);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = reload.tick() => {
                if let Err(e) = warden.reload_keys().await {
                    tracing::warn!(error = %e, "reloading signing keys failed; keeping the loaded ones");
                }
            }
            _ = purge.tick() => {
                match warden.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "expired revocations deleted"),
                    Err(e) => tracing::warn!(error = %e, "purging expired revocations failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_limits_outside_their_ranges_are_refused_at_start() {
        let valid = Settings::default();
        assert!(ConnectionLimits::from_settings(&valid).is_ok());
        for broken in [
            Settings {
                max_header_bytes: 512,
                ..Settings::default()
            },
            Settings {
                max_header_bytes: 1024 * 1024,
                ..Settings::default()
            },
            Settings {
                request_header_timeout_seconds: 0,
                ..Settings::default()
            },
            Settings {
                max_connections: 0,
                ..Settings::default()
            },
        ] {
            assert!(ConnectionLimits::from_settings(&broken).is_err());
        }
        let no_queue = Settings {
            password_hash_queue: Some(0),
            ..Settings::default()
        };
        assert!(core_settings(&no_queue, "http://x".into()).is_err());
    }
}
