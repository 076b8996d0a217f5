//! What a load run does, and what it reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One request as sent; `body` may hold the placeholder [`VERSION_PLACEHOLDER`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestSpec {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: Option<String>,
}

/// Replaced in a body by the version the connection last saw for its object.
pub const VERSION_PLACEHOLDER: &str = "{version}";

/// How requests are picked from [`LoadSpec::requests`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// Each request takes the next one of the list, shared by all connections.
    RoundRobin,
    /// Connection `i` always sends request `i % len`; with `initial_versions`, each connection
    /// owns one object and follows its `version` from every 200 answer.
    PerConnection,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadSpec {
    /// `host:port` of the server.
    pub addr: String,
    pub connections: usize,
    pub warmup_seconds: f64,
    pub seconds: f64,
    /// Open loop at this many requests per second; closed loop (as fast as possible) if absent.
    #[serde(default)]
    pub rate: Option<f64>,
    pub pick: Pick,
    pub requests: Vec<RequestSpec>,
    /// Starting versions, one per request (with [`Pick::PerConnection`]).
    #[serde(default)]
    pub initial_versions: Option<Vec<i64>>,
}

/// Latency summary in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoadResult {
    /// Requests completed in the measured phase (whatever their status).
    pub completed: u64,
    /// Completed requests per second of the measured phase.
    pub rate: f64,
    pub seconds: f64,
    /// Answers by HTTP status; `0` counts transport errors.
    pub statuses: BTreeMap<u16, u64>,
    pub latency: Latency,
    /// Latency by HTTP status.
    pub by_status: BTreeMap<u16, Latency>,
}

impl LoadResult {
    /// Requests answered with a status outside 2xx, by status.
    pub fn non_2xx(&self) -> BTreeMap<u16, u64> {
        self.statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(s, n)| (*s, *n))
            .collect()
    }

    /// Requests answered with a 2xx status.
    pub fn ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| *n)
            .sum()
    }
}

/// What the SQLite and Argon2 baselines report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BaselineResult {
    pub completed: u64,
    pub rate: f64,
    pub seconds: f64,
    #[serde(default)]
    pub mean_ms: f64,
}
