//! Password guessing is throttled per account: after a few failures the account waits,
//! exponentially longer, and while it waits even the right password is answered exactly like a
//! wrong one, on every password path. The wait always ends; an administrator can end it at once.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_core::ManualClock;
use warden_domain::Timestamp;

use crate::helpers::*;

async fn grant(app: &TestApp, login: &str, password: &str) -> (StatusCode, String) {
    let r = app
        .http
        .post(app.at("/api/2/idp/token"))
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
    let app = TestApp::spawn_with_clock(&clock).await;
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
    assert_eq!(
        unlock(app.client_token().await).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(grant(&app, "locked", USER_PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn guessing_one_account_does_not_lock_another() {
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(&clock).await;
    app.create_active_user("guessed").await;
    app.create_active_user("neighbour").await;
    for _ in 0..20 {
        grant(&app, "guessed", "wrong-password").await;
        grant(&app, "nobody-at-all", "wrong-password").await;
    }
    assert_eq!(
        grant(&app, "neighbour", USER_PASSWORD).await.0,
        StatusCode::OK
    );
    assert_eq!(
        grant(&app, "guessed", USER_PASSWORD).await.0,
        StatusCode::BAD_REQUEST
    );
}
