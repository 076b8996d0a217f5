//! Password guessing is throttled per account and per client address: after a few failures the
//! account (or address) waits, exponentially longer, and while it waits even the right password
//! is answered exactly like a wrong one, on every password path. The wait always ends; an
//! administrator can end an account's at once.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_core::ManualClock;
use warden_domain::Timestamp;

use crate::helpers::*;

async fn grant(app: &TestApp, login: &str, password: &str) -> (StatusCode, String) {
    grant_from(app, None, login, password).await
}

/// A password grant sent through a proxy that forwards for `source`.
async fn grant_from(
    app: &TestApp,
    source: Option<&str>,
    login: &str,
    password: &str,
) -> (StatusCode, String) {
    let mut request = app.http.post(app.at("/api/2/idp/token"));
    if let Some(source) = source {
        request = request.header("X-Forwarded-For", source);
    }
    let r = request
        .form(&[
            ("grant_type", "password"),
            ("username", login),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn keystone(app: &TestApp, login: &str, password: &str) -> (StatusCode, String) {
    let r = app
        .keystone_auth(login, password, json!({"domain": {"name": "Default"}}))
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"]["message"].as_str().unwrap_or("").to_owned(),
    )
}

async fn basic_me(app: &TestApp, login: &str, password: &str) -> StatusCode {
    app.http
        .get(app.at("/api/2/users/me"))
        .basic_auth(login, Some(password))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn after_five_failures_even_the_right_password_answers_like_a_wrong_one_until_the_wait_ends()
{
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(&clock).await;
    app.create_active_user("victim").await;
    let wrong = grant(&app, "victim", "wrong-password").await;
    assert_eq!(wrong.0, StatusCode::BAD_REQUEST);
    for _ in 0..4 {
        assert_eq!(grant(&app, "victim", "wrong-password").await, wrong);
    }
    // Five failures: the account now waits, and the lock looks exactly like a wrong password.
    assert_eq!(grant(&app, "victim", USER_PASSWORD).await, wrong);
    let (status, message) = keystone(&app, "victim", USER_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (status, message),
        keystone(&app, "victim", "wrong-password").await
    );
    assert_eq!(
        basic_me(&app, "victim", USER_PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );

    // The last failure was six attempts in: the wait is now 2 s.
    clock.advance_seconds(3);
    assert_eq!(grant(&app, "victim", USER_PASSWORD).await.0, StatusCode::OK);
    // Success forgets the failures.
    assert_eq!(grant(&app, "victim", "wrong-password").await, wrong);
    assert_eq!(grant(&app, "victim", USER_PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_hourly_maximum_locks_until_the_window_ends_and_never_longer() {
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    // Every attempt comes from one address; this test is about the account's own limit.
    let app = TestApp::spawn_with_clock_and(&clock, |s| s.login_source_free_failures = 1000).await;
    app.create_active_user("target").await;
    for _ in 0..100 {
        let (status, _) = grant(&app, "target", "wrong-password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Past every exponential wait, so only the hourly maximum can still refuse.
        clock.advance_seconds(1);
    }
    clock.advance_seconds(900);
    assert_eq!(
        grant(&app, "target", USER_PASSWORD).await.0,
        StatusCode::BAD_REQUEST
    );
    clock.advance_seconds(3600);
    assert_eq!(grant(&app, "target", USER_PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_administrator_unlocks_at_once_and_others_cannot() {
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(&clock).await;
    let id = app.create_active_user("locked").await;
    app.create_active_user("bystander").await;
    for _ in 0..10 {
        grant(&app, "locked", "wrong-password").await;
    }
    assert_eq!(
        grant(&app, "locked", USER_PASSWORD).await.0,
        StatusCode::BAD_REQUEST
    );
    let unlock = |token: String| {
        app.http
            .post(app.at(&format!("/api/2/users/{id}/unlock")))
            .bearer_auth(token)
            .send()
    };
    let bystander = app.user_token("bystander").await;
    let r = unlock(bystander).await.unwrap();
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    assert_eq!(
        grant(&app, "locked", USER_PASSWORD).await.0,
        StatusCode::BAD_REQUEST,
        "a refused unlock changed something"
    );
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{}/unlock", uuid::Uuid::new_v4())))
        .bearer_auth(app.client_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 404);
    let trail = |token: String| {
        app.http
            .get(app.at(&format!("/api/2/audit_events?object_id={id}")))
            .bearer_auth(token)
            .send()
    };
    let unlocks = |events: Value| {
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "unlock")
            .count()
    };
    let before: Value = trail(app.client_token().await)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unlocks(before), 0, "a refused unlock was recorded");
    assert_eq!(
        unlock(app.client_token().await).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(grant(&app, "locked", USER_PASSWORD).await.0, StatusCode::OK);
    // The unlock is in the audit trail, with the administrator who made it.
    let after: Value = trail(app.client_token().await)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "unlock")
        .cloned()
        .expect("an unlock event");
    assert_eq!(event["actor_id"], app.client_id.as_str());
    assert_eq!(unlocks(after), 1);
}

#[tokio::test]
async fn guessing_one_account_does_not_lock_another() {
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock_and(&clock, |s| {
        s.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    app.create_active_user("guessed").await;
    app.create_active_user("neighbour").await;
    let attacker = Some("198.51.100.66");
    for _ in 0..20 {
        grant_from(&app, attacker, "guessed", "wrong-password").await;
        grant_from(&app, attacker, "nobody-at-all", "wrong-password").await;
    }
    // From elsewhere, the neighbour logs in; the guessed account itself waits.
    let elsewhere = Some("203.0.113.5");
    assert_eq!(
        grant_from(&app, elsewhere, "neighbour", USER_PASSWORD)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        grant_from(&app, elsewhere, "guessed", USER_PASSWORD)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_source_spraying_many_accounts_waits_and_is_answered_like_a_wrong_password() {
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock_and(&clock, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
        s.login_source_free_failures = 6;
    })
    .await;
    app.create_active_user("alice").await;
    app.create_active_user("bob").await;
    let sprayer = Some("198.51.100.7");
    // One failure per account, on accounts that exist and accounts that do not: no account is
    // throttled, but the address is after six.
    let wrong = grant_from(&app, sprayer, "alice", "wrong-password").await;
    assert_eq!(wrong.0, StatusCode::BAD_REQUEST);
    for login in ["bob", "carol", "dave", "erin", "frank"] {
        assert_eq!(
            grant_from(&app, sprayer, login, "wrong-password").await,
            wrong
        );
    }
    // Now even a right password from that address is a wrong one, on the password grant...
    assert_eq!(
        grant_from(&app, sprayer, "alice", USER_PASSWORD).await,
        wrong
    );
    // ...and on the Keystone password method, exactly as a wrong password answers there.
    let keystone_from = |source: &'static str, password: &'static str| {
        app.http
            .post(app.at("/v3/auth/tokens"))
            .header("X-Forwarded-For", source)
            .json(
                &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "bob", "domain": {"name": "Default"}, "password": password}}}}}),
            )
            .send()
    };
    let locked = keystone_from("198.51.100.7", USER_PASSWORD).await.unwrap();
    assert_eq!(locked.status(), StatusCode::UNAUTHORIZED);
    let locked: Value = locked.json().await.unwrap();
    let elsewhere_wrong: Value = keystone_from("203.0.113.1", "wrong-password")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        locked["error"]["message"],
        elsewhere_wrong["error"]["message"]
    );
    // ...and with HTTP Basic.
    let basic = app
        .http
        .get(app.at("/api/2/users/me"))
        .header("X-Forwarded-For", "198.51.100.7")
        .basic_auth("bob", Some(USER_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // Neither account was locked: from another address both log in at once.
    assert_eq!(
        grant_from(&app, Some("203.0.113.1"), "alice", USER_PASSWORD)
            .await
            .0,
        StatusCode::OK
    );
    // The wait ends: after it, the address is heard again.
    clock.advance_seconds(2);
    assert_eq!(
        grant_from(&app, sprayer, "alice", USER_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    // No trusted proxies: the peer (127.0.0.1) is the source, whatever the header says.
    let app = TestApp::spawn_with_clock_and(&clock, |s| s.login_source_free_failures = 3).await;
    app.create_active_user("alice").await;
    for i in 0..3 {
        let spoofed = format!("198.51.100.{i}");
        grant_from(&app, Some(&spoofed), "nobody", "wrong-password").await;
    }
    assert_eq!(
        grant_from(&app, Some("203.0.113.9"), "alice", USER_PASSWORD)
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "a forged X-Forwarded-For escaped the throttle"
    );
    // IPv6 sources are counted by /64: rotating the interface id does not escape either.
    let app = TestApp::spawn_with_clock_and(&clock, |s| {
        s.trusted_proxies = vec!["127.0.0.1".to_owned()];
        s.login_source_free_failures = 3;
    })
    .await;
    app.create_active_user("alice").await;
    for i in 1..=3 {
        let address = format!("2001:db8:1:2::{i}");
        grant_from(&app, Some(&address), "nobody", "wrong-password").await;
    }
    assert_eq!(
        grant_from(&app, Some("2001:db8:1:2::ffff"), "alice", USER_PASSWORD)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        grant_from(&app, Some("2001:db8:1:3::1"), "alice", USER_PASSWORD)
            .await
            .0,
        StatusCode::OK
    );

    // A proxy that adds its own `X-Forwarded-For` line: the client's own line, whatever it
    // says, does not hide the address the proxy appended.
    let two_lines = |spoofed: String, password: &'static str| {
        app.http
            .post(app.at("/api/2/idp/token"))
            .header("X-Forwarded-For", spoofed)
            .header("X-Forwarded-For", "203.0.113.77")
            .form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ])
            .send()
    };
    for i in 0..3 {
        two_lines(format!("198.51.100.{i}"), "wrong-password")
            .await
            .unwrap();
    }
    let r = two_lines("198.51.100.200".to_owned(), USER_PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a second X-Forwarded-For line escaped the throttle"
    );
}
