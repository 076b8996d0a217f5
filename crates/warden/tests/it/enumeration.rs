//! No enumeration through password paths: an unknown user and a wrong password get the same
//! status and body, and take the same time. Timing is compared statistically, with the
//! production hash parameters (the defaults): medians of interleaved samples within 10 %.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Samples per kind of attempt and path.
const SAMPLES: usize = 25;
/// Accounts the wrong passwords are spread over, as a guesser would. Throttled or not, a wrong
/// password costs the same: a locked account still verifies the hash.
const ACCOUNTS: usize = 7;

#[derive(Clone, Copy, Debug)]
enum Path {
    PasswordGrant,
    Keystone,
    Basic,
}

/// One attempt: its status, its body with the per-request id removed, and how long it took.
async fn attempt(app: &TestApp, path: Path, login: &str) -> (StatusCode, String, Duration) {
    let started = Instant::now();
    let r = match path {
        Path::PasswordGrant => app
            .http
            .post(app.at("/api/2/idp/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", login),
                ("password", "not-the-Passw0rd"),
            ])
            .send(),
        Path::Keystone => app
            .http
            .post(app.at("/v3/auth/tokens"))
            .json(
                &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": login, "domain": {"name": "Default"}, "password": "not-the-Passw0rd"}}}}}),
            )
            .send(),
        Path::Basic => app
            .http
            .get(app.at("/api/2/users/me"))
            .basic_auth(login, Some("not-the-Passw0rd"))
            .send(),
    }
    .await
    .unwrap();
    let status = r.status();
    let mut body: Value = r.json().await.unwrap_or(Value::Null);
    if let Some(details) = body.pointer_mut("/error/details") {
        details["request_id"] = Value::Null;
    }
    (status, body.to_string(), started.elapsed())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Medians of interleaved unknown-user and wrong-password attempts on `path`.
async fn medians(app: &TestApp, path: Path, round: usize) -> (Duration, Duration) {
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        let nobody = format!("nobody-{round}-{i}");
        let somebody = format!("member-{}", (round * SAMPLES + i) % ACCOUNTS);
        // Alternate which goes first, so drift in the machine's load favours neither.
        let (u, w) = if i % 2 == 0 {
            let u = attempt(app, path, &nobody).await;
            (u, attempt(app, path, &somebody).await)
        } else {
            let w = attempt(app, path, &somebody).await;
            (attempt(app, path, &nobody).await, w)
        };
        assert_eq!((u.0, &u.1), (w.0, &w.1), "{path:?}: the answers differ");
        unknown.push(u.2);
        wrong.push(w.2);
    }
    (median(unknown), median(wrong))
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_look_and_time_the_same_on_every_password_path() {
    // Production hash parameters (the defaults). Every attempt comes from this one address,
    // whose throttle would answer at once without a hash: it is set out of reach.
    let app = TestApp::spawn_with(|s| {
        s.login_source_free_failures = 1_000_000;
        s.login_source_max_failures = 1_000_000;
    })
    .await;
    assert_eq!(app.settings.password_hash_memory_kib, 19 * 1024);
    assert_eq!(app.settings.password_hash_iterations, 2);
    for i in 0..ACCOUNTS {
        app.create_active_user(&format!("member-{i}")).await;
    }
    for path in [Path::PasswordGrant, Path::Keystone, Path::Basic] {
        // A machine busy with other tests adds noise; a real difference shows every time, so
        // the path passes when any of three rounds is within bounds.
        let mut rounds = Vec::new();
        for round in 0..3 {
            let (unknown, wrong) = medians(&app, path, round).await;
            let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
            rounds.push((unknown, wrong, ratio));
            if (0.9..=1.1).contains(&ratio) {
                break;
            }
        }
        let (unknown, wrong, ratio) = *rounds.last().unwrap();
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{path:?}: median unknown user {unknown:?}, wrong password {wrong:?} (ratio {ratio:.3}); rounds {rounds:?}"
        );
    }
}
