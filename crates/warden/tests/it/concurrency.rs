//! Concurrent updates: compare-and-set on `version` never loses a write and never answers 5xx.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn racing_puts_with_one_version_yield_exactly_one_winner_and_nothing_merged() {
    let app = TestApp::spawn().await;
    let id = app.create_user("race").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.client_token().await;
    let attempts = 16;
    let responses = join_all((0..attempts).map(|i| {
        app.http
            .put(app.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&token)
            .json(&json!({"contact": {"city": format!("city-{i}"), "firstname": format!("writer-{i}")}, "version": 1}))
            .send()
    }))
    .await;
    let mut winners = Vec::new();
    for r in responses {
        let r = r.unwrap();
        match r.status() {
            StatusCode::OK => winners.push(r.json::<Value>().await.unwrap()),
            StatusCode::CONFLICT => assert_eq!(account_error(r, StatusCode::CONFLICT).await, 1001),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = app.get_user(&id).await;
    assert_eq!(stored["version"], 2);
    assert_eq!(stored, winners[0]);
    // The winner's two fields belong to one write: never a merge of two writers.
    let city = stored["contact"]["city"]
        .as_str()
        .unwrap()
        .trim_start_matches("city-")
        .to_owned();
    assert_eq!(
        stored["contact"]["firstname"],
        format!("writer-{city}").as_str()
    );
}

#[tokio::test]
async fn self_service_changes_racing_admin_changes_lose_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("mixed").await;
    let user_token = app.keystone_token("mixed", USER_PASSWORD).await;
    let client_token = app.client_token().await;
    let initial = app.get_user(&id).await["version"].as_i64().unwrap();
    let hex = uuid::Uuid::parse_str(&id).unwrap().simple().to_string();
    let iam = (0..8).map(|i| {
        app.http
            .put(app.at(&format!("/v3.0/OS-USER/users/{hex}/info")))
            .header("x-auth-token", &user_token)
            .json(&json!({"user": {"email": format!("iam{i}@example.com")}}))
            .send()
    });
    let account = (0..8).map(|i| {
        app.http
            .put(app.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&client_token)
            .json(&json!({"contact": {"city": format!("c{i}")}, "version": initial + i}))
            .send()
    });
    let (iam, account) = futures::join!(join_all(iam), join_all(account));
    let mut successes = 0;
    for r in iam.into_iter().chain(account) {
        let status = r.unwrap().status();
        assert!(!status.is_server_error(), "{status}");
        if status.is_success() {
            successes += 1;
        } else {
            assert_eq!(status, StatusCode::CONFLICT);
        }
    }
    let stored = app.get_user(&id).await;
    assert_eq!(stored["version"].as_i64().unwrap(), initial + successes);
    // Every self-service change carries no version and is retried, so all eight landed.
    assert!(successes >= 8, "{successes}");
}

/// Reads racing a stream of writes never see a version older than one already acknowledged:
/// whatever the node caches for reads, a committed write is what every later read sees.
#[tokio::test]
async fn reads_racing_writes_never_see_what_an_acknowledged_write_replaced() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let app = TestApp::spawn().await;
    let id = app.create_active_user("racer").await;
    let token = app.client_token().await;
    let acknowledged = AtomicI64::new(app.get_user(&id).await["version"].as_i64().unwrap());
    let path = app.at(&format!("/api/2/users/{id}"));
    let writer = async {
        for i in 0..40 {
            let version = acknowledged.load(Ordering::SeqCst);
            let r = app
                .http
                .put(path.clone())
                .bearer_auth(&token)
                .json(&json!({"contact": {"city": format!("c{i}")}, "version": version}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let stored: Value = r.json().await.unwrap();
            acknowledged.store(stored["version"].as_i64().unwrap(), Ordering::SeqCst);
        }
    };
    let reader = |_| async {
        let mut reads = 0;
        while reads < 150 {
            let floor = acknowledged.load(Ordering::SeqCst);
            let r = app
                .http
                .get(path.clone())
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let seen = r.json::<Value>().await.unwrap()["version"]
                .as_i64()
                .unwrap();
            assert!(
                seen >= floor,
                "read version {seen} after {floor} was acknowledged"
            );
            reads += 1;
        }
    };
    let readers = join_all((0..3).map(reader));
    futures::join!(writer, readers);
}

/// A token used often enough to be served from the node's caches stops working the moment it
/// is revoked, and so does a user's token the moment the user is disabled.
#[tokio::test]
async fn a_warm_token_stops_at_once_when_revoked_or_its_user_disabled() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("warm").await;
    let me = |token: &str| {
        let request = app.http.get(app.at("/api/2/users/me")).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    let user_token = app.keystone_token("warm", USER_PASSWORD).await;
    for _ in 0..20 {
        assert_eq!(me(&user_token).await, StatusCode::OK);
    }
    let r = app
        .http
        .delete(app.at("/v3/auth/tokens"))
        .header("x-auth-token", &user_token)
        .header("x-subject-token", &user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&user_token).await, StatusCode::UNAUTHORIZED);

    let fresh = app.keystone_token("warm", USER_PASSWORD).await;
    for _ in 0..20 {
        assert_eq!(me(&fresh).await, StatusCode::OK);
    }
    let admin = app.client_token().await;
    let version = app.get_user(&id).await["version"].as_i64().unwrap();
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"enabled": false, "version": version}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me(&fresh).await, StatusCode::UNAUTHORIZED);
}
