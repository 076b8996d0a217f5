//! The access log: one line per request, written straight into the batched log writer.
//!
//! The line has the shape a `tracing::info!` event of target `warden::app` would have in the
//! configured format, so collectors and filters see no difference, but it is formatted here,
//! without `tracing-subscriber`'s field visitors (which render every field through `Debug`
//! into a temporary string and escape it again): on a cached read that formatting was about a
//! tenth of the request's CPU. The log filter still decides: a line is written only when an
//! `INFO` event of `warden::app` would be. Until [`install`] is called (tests, embedders), and
//! for coloured output at a terminal, the line goes through `tracing` as an ordinary event.

use std::io::{Stderr, Write};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::log_writer::Batched;
use crate::settings::LogFormat;

/// Where access lines go once the process has set up its log.
struct Sink {
    writer: Batched<Stderr>,
    format: LogFormat,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sends access lines straight to `writer`, formatted as `format`. Call once, when the log is
/// set up, with the writer the log uses; later calls change nothing.
pub fn install(writer: Batched<Stderr>, format: LogFormat) {
    let _ = SINK.set(Sink { writer, format });
}

/// One served request.
pub struct Entry<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub latency: Duration,
    pub request_id: &'a str,
}

/// Logs `entry`, if the log filter lets `INFO` events of `warden::app` through.
pub fn record(entry: &Entry<'_>) {
    let Some(sink) = SINK.get() else {
        tracing::info!(
            target: "warden::app",
            method = %entry.method,
            route = %entry.route,
            status = entry.status,
            latency_ms = latency_ms(entry.latency),
            request_id = %entry.request_id,
            "request"
        );
        return;
    };
    if !tracing::enabled!(target: "warden::app", tracing::Level::INFO) {
        return;
    }
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        format_line(&mut line, sink.format, SystemTime::now(), entry);
        sink.writer.append(&line);
    });
}

thread_local! {
    /// The line being formatted, reused: a request allocates nothing to log.
    static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(256));
    /// The timestamp's whole-second part, formatted once a second.
    static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
}

fn latency_ms(latency: Duration) -> f64 {
    latency.as_secs_f64() * 1000.0
}

/// Appends `entry` as one line of `format` to `out`.
fn format_line(out: &mut Vec<u8>, format: LogFormat, now: SystemTime, entry: &Entry<'_>) {
    match format {
        LogFormat::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            timestamp(out, now);
            out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\",\"method\":");
            json_str(out, entry.method);
            out.extend_from_slice(b",\"route\":");
            json_str(out, entry.route);
            out.extend_from_slice(b",\"status\":");
            let _ = serde_json::to_writer(&mut *out, &entry.status);
            out.extend_from_slice(b",\"latency_ms\":");
            let _ = serde_json::to_writer(&mut *out, &latency_ms(entry.latency));
            out.extend_from_slice(b",\"request_id\":");
            json_str(out, entry.request_id);
            out.extend_from_slice(b",\"target\":\"warden::app\"}\n");
        }
        LogFormat::Text => {
            timestamp(out, now);
            let _ = writeln!(
                out,
                "  INFO warden::app: request method={} route={} status={} latency_ms={:?} request_id={}",
                entry.method,
                entry.route,
                entry.status,
                latency_ms(entry.latency),
                entry.request_id
            );
        }
    }
}

fn json_str(out: &mut Vec<u8>, value: &str) {
    // Writing a string into a vector cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// RFC 3339 in UTC with microseconds, as the rest of the log: `2026-12-07T05:05:50.662260Z`.
fn timestamp(out: &mut Vec<u8>, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached == seconds {
        out.extend_from_slice(&text);
    } else {
        let at = chrono::DateTime::from_timestamp(i64::try_from(seconds).unwrap_or(0), 0)
            .unwrap_or_default();
        let formatted = at.format("%Y-%m-%dT%H:%M:%S").to_string();
        out.extend_from_slice(formatted.as_bytes());
        // Years outside 0–9999 have another length and are not cached.
        if formatted.len() == text.len() {
            text.copy_from_slice(formatted.as_bytes());
            SECOND.set((seconds, text));
        }
    }
    let _ = write!(out, ".{:06}Z", since.subsec_micros());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(request_id: &str) -> Entry<'_> {
        Entry {
            method: "GET",
            route: "/api/2/users/{user_id}",
            status: 401,
            latency: Duration::from_micros(230_452),
            request_id,
        }
    }

    fn line(format: LogFormat, at: SystemTime, entry: &Entry<'_>) -> String {
        let mut out = Vec::new();
        format_line(&mut out, format, at, entry);
        String::from_utf8(out).unwrap()
    }

    fn at(micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(micros)
    }

    #[test]
    fn a_json_line_has_the_fields_and_order_of_a_tracing_event() {
        let text = line(
            LogFormat::Json,
            at(1_796_619_950_662_260),
            &entry("22e811e9-ba87-4a7f-95fe-5ea4d4b9eb10"),
        );
        assert_eq!(
            text,
            "{\"timestamp\":\"2026-12-07T05:05:50.662260Z\",\"level\":\"INFO\",\"message\":\"request\",\
             \"method\":\"GET\",\"route\":\"/api/2/users/{user_id}\",\"status\":401,\"latency_ms\":230.452,\
             \"request_id\":\"22e811e9-ba87-4a7f-95fe-5ea4d4b9eb10\",\"target\":\"warden::app\"}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["status"], 401);
    }

    #[test]
    fn a_request_id_the_client_chose_is_escaped_in_json() {
        let text = line(LogFormat::Json, at(0), &entry("a\"b\\c"));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["request_id"], "a\"b\\c");
        assert_eq!(parsed["timestamp"], "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn a_text_line_reads_as_a_tracing_event_does() {
        let text = line(LogFormat::Text, at(1_796_619_951_081_822), &entry("7fa3"));
        assert_eq!(
            text,
            "2026-12-07T05:05:51.081822Z  INFO warden::app: request method=GET \
             route=/api/2/users/{user_id} status=401 latency_ms=230.452 request_id=7fa3\n"
        );
    }

    #[test]
    fn the_cached_second_moves_with_the_clock() {
        let first = line(LogFormat::Text, at(59_999_999), &entry("x"));
        let second = line(LogFormat::Text, at(60_000_001), &entry("x"));
        assert!(first.starts_with("1970-01-01T00:00:59.999999Z"), "{first}");
        assert!(
            second.starts_with("1970-01-01T00:01:00.000001Z"),
            "{second}"
        );
    }
}
