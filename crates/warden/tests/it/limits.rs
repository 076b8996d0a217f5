//! The bounds on what one client can make the server hold: request head size and header
//! count, the time to send a head, the number of connections, JSON nesting, string lengths,
//! and password hashing under a flood. Raw TCP where the behaviour is below HTTP.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::helpers::*;

/// How long any single step may take before the test gives up instead of hanging.
const PATIENCE: Duration = Duration::from_secs(15);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one response with a `Content-Length` body: its status and body. `None` when the
/// server closes (or resets) the connection before a whole response arrived.
async fn read_response(stream: &mut TcpStream) -> Option<(u16, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (end, status, length) = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            break (end + 4, status, length);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    while buf.len() < end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((status, buf[end..end + length].to_vec()))
}

/// One `GET /healthz` on a kept-alive connection.
async fn healthz(stream: &mut TcpStream) -> u16 {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: warden\r\n\r\n")
        .await
        .unwrap();
    timeout(PATIENCE, read_response(stream))
        .await
        .expect("a response in time")
        .expect("a whole response")
        .0
}

/// Waits until the server closes the connection; what it sent first, if anything.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    let closed = timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection is still open after {within:?}"
    );
    received
}

#[tokio::test]
async fn a_client_that_stops_in_the_middle_of_its_request_head_is_disconnected() {
    let app = TestApp::spawn_with(|s| s.request_header_timeout_seconds = 1).await;

    // Half a request line, then nothing.
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /heal").await.unwrap();
    // Headers started but never finished.
    let mut slower = connect(&app).await;
    slower
        .write_all(b"POST /v3/auth/tokens HTTP/1.1\r\nHost: warden\r\nContent-Ty")
        .await
        .unwrap();
    // Connected, and silent.
    let mut silent = connect(&app).await;

    // Closed within a few times the configured second, without a server error.
    for stream in [&mut slow, &mut slower, &mut silent] {
        let sent = until_closed(stream, Duration::from_secs(5)).await;
        assert!(
            sent.is_empty() || sent.starts_with(b"HTTP/1.1 4"),
            "{}",
            String::from_utf8_lossy(&sent)
        );
    }

    // A client that sends its head in time is served, on the same server.
    let mut prompt = connect(&app).await;
    assert_eq!(healthz(&mut prompt).await, 200);
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_without_being_served() {
    let app = TestApp::spawn_with(|s| s.max_header_bytes = 16 * 1024).await;

    // Within the limit: served.
    let mut small = connect(&app).await;
    let header = "v".repeat(8 * 1024);
    small
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: warden\r\nX-Pad: {header}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let (status, _) = timeout(PATIENCE, read_response(&mut small))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);

    // 100 KiB of header (well within hyper's own buffer, so only the configured limit stops
    // it), and 150 headers of a few bytes each: answered 431 or cut off, never served.
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: warden\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
        "v".repeat(100 * 1024)
    );
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: warden\r\nConnection: close\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-H{i}: {i}\r\n"))
            .collect::<String>()
    );
    for request in [huge, many] {
        let mut stream = connect(&app).await;
        // The server may close before it has read everything; a failed write is an answer.
        let _ = stream.write_all(request.as_bytes()).await;
        let sent = until_closed(&mut stream, PATIENCE).await;
        let text = String::from_utf8_lossy(&sent);
        assert!(
            sent.is_empty() || text.starts_with("HTTP/1.1 431"),
            "{}",
            text.lines().next().unwrap_or("")
        );
    }

    // The server is unharmed.
    let mut after = connect(&app).await;
    assert_eq!(healthz(&mut after).await, 200);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let app = TestApp::spawn_with(|s| {
        s.max_connections = 4;
        s.request_header_timeout_seconds = 60;
    })
    .await;

    // Four connections, each served once and then left open and idle.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&app).await;
        assert_eq!(healthz(&mut stream).await, 200);
        held.push(stream);
    }

    // A fifth completes its TCP handshake (the kernel's accept queue) and sends a request.
    let mut fifth = connect(&app).await;
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: warden\r\n\r\n")
        .await
        .unwrap();

    // The server goes on serving the four it holds, twice each, after the fifth request was
    // sent; the fifth still has no answer.
    for _ in 0..2 {
        for stream in &mut held {
            assert_eq!(healthz(stream).await, 200);
        }
    }
    let mut probe = [0u8; 1];
    match fifth.try_read(&mut probe) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the fifth connection was served while four were open: {other:?}"),
    }

    // One of the four closes: the fifth is accepted and answered.
    drop(held.pop());
    let answer = timeout(PATIENCE, read_response(&mut fifth))
        .await
        .expect("the fifth connection is served once a slot frees");
    assert_eq!(answer.map(|(status, _)| status), Some(200));
}

/// JSON nested 65 levels deep inside a body that is otherwise the right shape.
fn too_deep() -> Value {
    let mut value = json!("x");
    for _ in 0..65 {
        value = json!([value]);
    }
    value
}

#[tokio::test]
async fn json_nested_too_deep_is_refused_in_each_faces_body() {
    let app = TestApp::spawn().await;
    let user = app.create_active_user("nested").await;
    let hex = uuid::Uuid::parse_str(&user).unwrap().simple().to_string();
    let token = app.client_token().await;
    let keystone_token = app.keystone_token("nested", USER_PASSWORD).await;
    let before = app.get_user(&user).await;

    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{user}")))
        .bearer_auth(&token)
        .json(&json!({"version": before["version"], "contact": {"city": too_deep()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["domain"], "PlatformAccountServer");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested deeper than 64 levels"),
        "{body}"
    );

    let r = app
        .http
        .post(app.at("/v3/auth/tokens"))
        .json(
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "nested", "domain": {"name": "Default"}, "password": USER_PASSWORD}}},
            "scope": too_deep()}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested deeper than 64 levels"),
        "{body}"
    );

    let r = app
        .http
        .put(app.at(&format!("/v3.0/OS-USER/users/{hex}/info")))
        .header("x-auth-token", &keystone_token)
        .json(&json!({"user": {"email": "nested@example.com", "extra": too_deep()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "IAM.0011");
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap()
            .contains("nested deeper than 64 levels"),
        "{body}"
    );

    // Nothing changed; 64 levels in all are still read (and refused for what they hold).
    assert_eq!(app.get_user(&user).await, before);
    let mut allowed = json!("x");
    for _ in 0..62 {
        allowed = json!([allowed]);
    }
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{user}")))
        .bearer_auth(&token)
        .json(&json!({"version": before["version"], "contact": {"city": allowed}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested deeper"),
        "{body}"
    );
}

#[tokio::test]
async fn over_long_strings_are_refused_with_400_on_each_face() {
    let app = TestApp::spawn().await;
    let user = app.create_active_user("lengthy").await;
    let hex = uuid::Uuid::parse_str(&user).unwrap().simple().to_string();
    let token = app.client_token().await;
    let before = app.get_user(&user).await;

    // Account: a contact field over 255 characters, a login over 64.
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{user}")))
        .bearer_auth(&token)
        .json(&json!({"version": before["version"], "contact": {"firstname": "é".repeat(256)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
    let r = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&token)
        .json(&json!({"tenant_id": app.root_tenant_id().await, "login": "l".repeat(65)}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);

    // Keystone: a user name, a scope name over 255 characters, a password over 1024 bytes.
    for (name, scope, password) in [
        (
            "n".repeat(256),
            json!({"domain": {"name": "Default"}}),
            USER_PASSWORD.to_owned(),
        ),
        (
            "lengthy".to_owned(),
            json!({"project": {"name": "p".repeat(256), "domain": {"name": "Default"}}}),
            USER_PASSWORD.to_owned(),
        ),
        (
            "lengthy".to_owned(),
            json!({"domain": {"name": "Default"}}),
            "p".repeat(1025),
        ),
    ] {
        let r = app.keystone_auth(&name, &password, scope).await;
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }

    // IAM: an e-mail address over 255 characters, a phone number over 32 digits.
    let keystone_token = app.keystone_token("lengthy", USER_PASSWORD).await;
    for (body, code) in [
        (
            json!({"user": {"email": format!("{}@example.com", "a".repeat(250))}}),
            "1102",
        ),
        (
            json!({"user": {"phone": "1".repeat(33), "areacode": "0086"}}),
            "1104",
        ),
    ] {
        let r = app
            .http
            .put(app.at(&format!("/v3.0/OS-USER/users/{hex}/info")))
            .header("x-auth-token", &keystone_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, code);
    }

    assert_eq!(app.get_user(&user).await, before);
}

/// This process's resident memory, in KiB; the server runs in it.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_password_flood_is_refused_at_once_with_retry_after_and_memory_stays_bounded() {
    const FLOOD: usize = 300;
    let app = TestApp::spawn_with(|s| {
        s.password_hash_concurrency = Some(1);
        s.password_hash_queue = Some(2);
    })
    .await;
    app.create_active_user("flooded").await;
    let grant = || {
        app.http.post(app.at("/api/2/idp/token")).form(&[
            ("grant_type", "password"),
            ("username", "flooded"),
            ("password", USER_PASSWORD),
        ])
    };

    // What one password grant costs when nothing else runs: mostly one hash.
    let mut one_hash = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let r = grant().send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        one_hash = one_hash.min(started.elapsed());
    }

    let resident_before = resident_kib();
    let started = Instant::now();
    let answers = futures::future::join_all((0..FLOOD).map(|_| async {
        let r = grant().send().await.unwrap();
        let status = r.status();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = r.json().await.unwrap();
        (status, retry_after, body, started.elapsed())
    }))
    .await;
    let flood_took = started.elapsed();
    let resident_after = resident_kib();

    let mut refused = Vec::new();
    for (status, retry_after, body, at) in &answers {
        match *status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let seconds: u64 = retry_after
                    .as_deref()
                    .expect("a refusal carries Retry-After")
                    .parse()
                    .unwrap();
                assert!(seconds >= 1);
                assert!(body["error"].is_string(), "{body}");
                refused.push(*at);
            }
            other => panic!("answered {other} {body}"),
        }
    }
    // One hash at a time and two waiting: nearly everything is refused...
    assert!(refused.len() >= FLOOD / 2, "only {} refused", refused.len());
    // ...and refused without waiting for the hashes queued before it. Queued one after
    // another, the whole flood would take FLOOD hashes; the slowest refusal comes in a
    // small fraction of that.
    let all_queued = one_hash * FLOOD as u32;
    let slowest_refusal = refused.iter().max().copied().unwrap();
    assert!(
        slowest_refusal < all_queued / 4,
        "slowest refusal after {slowest_refusal:?}; one hash takes {one_hash:?}, the flood took {flood_took:?}"
    );
    // Memory: one hash's 19 MiB at a time, on the one hashing thread, plus connection buffers:
    // nowhere near a hash per request (300 × 19 MiB), nor per thread that ever hashed.
    let grown_mib = resident_after.saturating_sub(resident_before) / 1024;
    eprintln!("resident memory grew by {grown_mib} MiB during the flood");
    assert!(grown_mib < 100, "resident memory grew by {grown_mib} MiB");
}

/// A NUL character (`\u0000`) in any JSON string is refused on every face before anything is
/// read or stored, as PostgreSQL's text could not hold it; in a path it never gets a 5xx.
#[tokio::test]
async fn a_nul_character_is_refused_in_every_face_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let client = app.client_token().await;
    let raw = |body: &str| body.replace("NUL", "\\u0000");
    let r = app
        .http
        .post(app.at("/v3/regions"))
        .header("x-auth-token", &admin)
        .header("content-type", "application/json")
        .body(raw(r#"{"region": {"id": "nulNUL"}}"#))
        .send()
        .await
        .unwrap();
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    let tenant = app.root_tenant_id().await;
    let r = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&client)
        .header("content-type", "application/json")
        .body(raw(&format!(
            r#"{{"tenant_id": "{tenant}", "login": "nulNUL"}}"#
        )))
        .send()
        .await
        .unwrap();
    account_error(r, StatusCode::BAD_REQUEST).await;
    let id = app.create_active_user("holder").await;
    let hex = uuid::Uuid::parse_str(&id).unwrap().simple().to_string();
    let own = app.keystone_token("holder", USER_PASSWORD).await;
    let r = app
        .http
        .put(app.at(&format!("/v3.0/OS-USER/users/{hex}/info")))
        .header("x-auth-token", &own)
        .header("content-type", "application/json")
        .body(raw(r#"{"user": {"email": "aNUL@example.com"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, "IAM.0011");
    assert_eq!(
        app.get_user(&id).await["contact"]["email"],
        "holder@example.com"
    );
    for path in [
        "/v3/regions/nul%00",
        "/v3/OS-EP-FILTER/endpoint_groups/%00",
        "/v3/users?name=%00",
    ] {
        let r = app
            .http
            .get(app.at(path))
            .header("x-auth-token", &admin)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error() || r.status().is_success(),
            "{path}: {}",
            r.status()
        );
    }
    let r = app
        .http
        .get(app.at("/v3/regions"))
        .header("x-auth-token", &admin)
        .send()
        .await
        .unwrap();
    let regions: Value = r.json().await.unwrap();
    assert!(regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r["id"].as_str().unwrap().contains('\0')));
}
