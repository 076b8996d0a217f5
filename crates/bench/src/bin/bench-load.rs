//! The load generator: HTTP/1.1 keep-alive connections driven from one thread, closed loop (as
//! fast as each connection can go) or open loop (requests scheduled at a fixed rate, latency
//! counted from the scheduled instant, so a stalled server cannot hide its queueing).
//!
//! Usage: `bench-load SPEC.json`. Prints `MEASURE_START`, `MEASURE_END`, then one JSON line
//! with the [`LoadResult`].

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Instant;
use warden_bench::spec::{Latency, LoadResult, LoadSpec, Pick, RequestSpec, VERSION_PLACEHOLDER};
use warden_bench::{MEASURE_END, MEASURE_START};

/// A request with its parts parsed once.
struct Prepared {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<String>,
    versioned: bool,
}

impl Prepared {
    fn new(spec: &RequestSpec, host: &HeaderValue) -> Result<Self> {
        let mut headers = vec![(HOST, host.clone())];
        for (name, value) in &spec.headers {
            headers.push((
                HeaderName::from_bytes(name.as_bytes()).context("header name")?,
                HeaderValue::from_str(value).context("header value")?,
            ));
        }
        Ok(Self {
            method: Method::from_bytes(spec.method.as_bytes()).context("method")?,
            path: spec.path.clone(),
            headers,
            versioned: spec
                .body
                .as_deref()
                .is_some_and(|b| b.contains(VERSION_PLACEHOLDER)),
            body: spec.body.clone(),
        })
    }

    fn build(&self, version: i64) -> Result<Request<Full<Bytes>>> {
        let body = match &self.body {
            None => Bytes::new(),
            Some(b) if self.versioned => {
                Bytes::from(b.replace(VERSION_PLACEHOLDER, &version.to_string()))
            }
            Some(b) => Bytes::from(b.clone()),
        };
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if self.body.is_some() {
            builder = builder.header(CONTENT_LENGTH, body.len());
        }
        Ok(builder.body(Full::new(body))?)
    }
}

struct Shared {
    spec: LoadSpec,
    requests: Vec<Prepared>,
    measure_start: Instant,
    measure_end: Instant,
    /// Next request for round-robin picking.
    next_request: AtomicU64,
    /// Next scheduled slot of the open loop.
    next_slot: AtomicU64,
}

type Histograms = HashMap<u16, Histogram<u64>>;

fn new_histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 120_000_000, 3)?)
}

#[derive(Deserialize)]
struct Versioned {
    version: i64,
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request; the status (0 for a transport error) and, when asked, the body.
async fn exchange(
    sender: &mut Option<Sender>,
    addr: &str,
    request: Request<Full<Bytes>>,
    want_body: bool,
) -> (u16, Option<Bytes>) {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        match connect(addr).await {
            Ok(s) => *sender = Some(s),
            Err(_) => {
                *sender = None;
                tokio::time::sleep(Duration::from_millis(5)).await;
                return (0, None);
            }
        }
    }
    let Some(s) = sender.as_mut() else {
        return (0, None);
    };
    if s.ready().await.is_err() {
        *sender = None;
        return (0, None);
    }
    match s.send_request(request).await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.into_body().collect().await {
                Ok(collected) => (status, want_body.then(|| collected.to_bytes())),
                Err(_) => {
                    *sender = None;
                    (0, None)
                }
            }
        }
        Err(_) => {
            *sender = None;
            (0, None)
        }
    }
}

async fn worker(index: usize, shared: Arc<Shared>) -> Result<Histograms> {
    let spec = &shared.spec;
    let mut histograms: Histograms = HashMap::new();
    let mut sender: Option<Sender> = None;
    let own = index % shared.requests.len();
    let mut version = spec
        .initial_versions
        .as_ref()
        .and_then(|v| v.get(own).copied())
        .unwrap_or(0);
    let slot = spec.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let started = shared.measure_start - Duration::from_secs_f64(spec.warmup_seconds);
    loop {
        let scheduled = match slot {
            Some(slot) => {
                let k = shared.next_slot.fetch_add(1, Ordering::Relaxed);
                let at = started + slot.mul_f64(k as f64);
                if at >= shared.measure_end {
                    break;
                }
                wait_until(at).await;
                Some(at)
            }
            None => {
                if Instant::now() >= shared.measure_end {
                    break;
                }
                None
            }
        };
        let pick = match spec.pick {
            Pick::RoundRobin => {
                (shared.next_request.fetch_add(1, Ordering::Relaxed) as usize)
                    % shared.requests.len()
            }
            Pick::PerConnection => own,
        };
        let prepared = &shared.requests[pick];
        let request = prepared.build(version)?;
        let sent = Instant::now();
        let (status, body) = exchange(&mut sender, &spec.addr, request, prepared.versioned).await;
        let done = Instant::now();
        let from = scheduled.unwrap_or(sent);
        let counted = match scheduled {
            Some(at) => at >= shared.measure_start,
            None => done >= shared.measure_start && done <= shared.measure_end,
        };
        if counted {
            let micros = done.saturating_duration_since(from).as_micros() as u64;
            let histogram = match histograms.entry(status) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(new_histogram()?),
            };
            histogram.saturating_record(micros.max(1));
        }
        if status == 200 {
            if let Some(body) = body {
                if let Ok(v) = serde_json::from_slice::<Versioned>(&body) {
                    version = v.version;
                }
            }
        }
    }
    Ok(histograms)
}

/// Waits for `at` more precisely than the timer wheel's millisecond: sleeps until just before,
/// then yields to the other connections until the instant has come.
async fn wait_until(at: Instant) {
    let coarse = at.checked_sub(Duration::from_millis(2));
    if let Some(coarse) = coarse.filter(|c| *c > Instant::now()) {
        tokio::time::sleep_until(coarse).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

fn summarize(h: &Histogram<u64>) -> Latency {
    Latency {
        count: h.len(),
        p50_us: h.value_at_quantile(0.50),
        p90_us: h.value_at_quantile(0.90),
        p99_us: h.value_at_quantile(0.99),
        max_us: h.max(),
        mean_us: h.mean(),
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn run(spec: LoadSpec) -> Result<LoadResult> {
    anyhow::ensure!(!spec.requests.is_empty(), "no requests in the spec");
    anyhow::ensure!(spec.connections > 0, "no connections in the spec");
    let host = HeaderValue::from_str(&spec.addr)?;
    let requests = spec
        .requests
        .iter()
        .map(|r| Prepared::new(r, &host))
        .collect::<Result<Vec<_>>>()?;
    let now = Instant::now();
    let measure_start = now + Duration::from_secs_f64(spec.warmup_seconds);
    let measure_end = measure_start + Duration::from_secs_f64(spec.seconds);
    let shared = Arc::new(Shared {
        spec,
        requests,
        measure_start,
        measure_end,
        next_request: AtomicU64::new(0),
        next_slot: AtomicU64::new(0),
    });
    let markers = tokio::spawn(async move {
        tokio::time::sleep_until(measure_start).await;
        say(MEASURE_START);
        tokio::time::sleep_until(measure_end).await;
        say(MEASURE_END);
    });
    let handles: Vec<_> = (0..shared.spec.connections)
        .map(|i| tokio::spawn(worker(i, shared.clone())))
        .collect();
    let mut merged: BTreeMap<u16, Histogram<u64>> = BTreeMap::new();
    // Requests still queued in the server when the phase ends get a while to finish.
    let drain_deadline = measure_end + Duration::from_secs(15);
    for handle in handles {
        let histograms = match tokio::time::timeout_at(drain_deadline, handle).await {
            Ok(joined) => joined??,
            Err(_) => continue,
        };
        for (status, h) in histograms {
            match merged.entry(status) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().add(&h)?,
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(h);
                }
            }
        }
    }
    markers.await?;
    let mut all = new_histogram()?;
    for h in merged.values() {
        all.add(h)?;
    }
    let seconds = shared.spec.seconds;
    Ok(LoadResult {
        completed: all.len(),
        rate: all.len() as f64 / seconds,
        seconds,
        statuses: merged.iter().map(|(s, h)| (*s, h.len())).collect(),
        latency: summarize(&all),
        by_status: merged.iter().map(|(s, h)| (*s, summarize(h))).collect(),
    })
}

fn main() -> Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: bench-load SPEC.json")?;
    let spec: LoadSpec =
        serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {path}"))?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(spec))?;
    say(&serde_json::to_string(&result)?);
    Ok(())
}
