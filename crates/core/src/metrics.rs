//! Prometheus metrics, one registry per running application so that several instances in one
//! process (as in tests) never share counters.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub face: String,
    pub grant: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram>,
    pub tokens_issued: Family<TokenLabels, Counter>,
    /// Password hashes waiting for a hashing slot.
    pub password_hash_waiting: Gauge,
    /// Password hashes being computed now.
    pub password_hash_running: Gauge,
    pub password_hash_rejected: Counter,
    pub password_hash_duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        let tokens_issued = Family::<TokenLabels, Counter>::default();
        let password_hash_waiting = Gauge::default();
        let password_hash_running = Gauge::default();
        let password_hash_rejected = Counter::default();
        let password_hash_duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            request_duration.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued",
            tokens_issued.clone(),
        );
        registry.register(
            "password_hash_waiting",
            "Password hashes queued for a hashing slot",
            password_hash_waiting.clone(),
        );
        registry.register(
            "password_hash_running",
            "Password hashes being computed",
            password_hash_running.clone(),
        );
        registry.register(
            "password_hash_rejected",
            "Password hashes refused because the queue was full",
            password_hash_rejected.clone(),
        );
        registry.register(
            "password_hash_duration_seconds",
            "Time to compute one password hash",
            password_hash_duration.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            request_duration,
            tokens_issued,
            password_hash_waiting,
            password_hash_running,
            password_hash_rejected,
            password_hash_duration,
        }
    }

    pub fn token_issued(&self, face: &str, grant: &str) {
        self.tokens_issued
            .get_or_create(&TokenLabels {
                face: face.to_owned(),
                grant: grant.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
                out.clear();
            }
        }
        out
    }
}
