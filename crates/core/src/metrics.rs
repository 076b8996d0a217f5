//! Prometheus metrics, one registry per running application so that several instances in one
//! process (as in tests) never share counters.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A request's labels: the method's name ([`method_label`]) and the route's pattern
/// ([`route_label`]), static strings so that counting a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// The label of a request method: its name for the methods HTTP defines, `other` for the
/// rest, so that a client inventing methods cannot grow the metrics without bound.
pub fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// The label of a route pattern (`/api/2/users/{user_id}`), kept for the life of the process
/// the first time it is seen. Only a router's patterns may be passed: they are a fixed set,
/// so what is kept is bounded by the routes the program declares.
pub fn route_label(pattern: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{LazyLock, RwLock};
    static PATTERNS: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);
    if let Some(known) = PATTERNS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(pattern)
    {
        return known;
    }
    let mut patterns = PATTERNS.write().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = patterns.get(pattern) {
        return known;
    }
    let kept: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
    patterns.insert(kept);
    kept
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_pattern_is_kept_once_however_often_it_is_seen() {
        let first = route_label(&String::from("/api/2/users/{user_id}"));
        let again = route_label(&String::from("/api/2/users/{user_id}"));
        assert_eq!(first, "/api/2/users/{user_id}");
        assert!(std::ptr::eq(first, again));
        assert!(!std::ptr::eq(first, route_label("/api/2/users")));
    }

    #[test]
    fn methods_outside_http_share_one_label() {
        assert_eq!(method_label(&http::Method::PATCH), "PATCH");
        let invented = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "other");
    }
}
