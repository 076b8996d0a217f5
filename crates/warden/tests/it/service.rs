//! Service behaviour: health, metrics, request ids, restart over the same data.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn metrics_text(app: &TestApp) -> String {
    let r = app.http.get(app.at("/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}

#[tokio::test]
async fn healthz_metrics_and_request_ids() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.headers()["x-request-id"].is_empty());
    let sent = app
        .http
        .get(app.at("/healthz"))
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.headers()["x-request-id"], "trace-me-1");
    app.client_token().await;
    app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(
            "warden_http_requests_total{method=\"POST\",route=\"/api/2/idp/token\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "warden_tokens_issued_total{face=\"account\",grant=\"client_credentials\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("warden_tokens_issued_total{face=\"keystone\",grant=\"password\"} 1"));
    assert!(metrics.contains("warden_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("warden_password_hash_waiting"));
}

#[tokio::test]
async fn request_metrics_stay_bounded_whatever_method_a_client_invents() {
    let app = TestApp::spawn().await;
    for method in ["BREW", "WHEN", "GET"] {
        let r = app
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.at("/healthz"),
            )
            .send()
            .await
            .unwrap();
        // Every answer, an error too, carries its request id.
        assert!(!r.headers()["x-request-id"].is_empty(), "{method}");
    }
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(
            "warden_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 2"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "warden_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("BREW") && !metrics.contains("WHEN"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_restart_keeps_users_keys_and_tokens_and_does_not_bootstrap_again() {
    // The issuer is the public URL; pin it, since port 0 picks a new port on every start.
    let app = TestApp::spawn_with(|s| s.public_url = Some("http://warden.test".to_owned())).await;
    let id = app.create_active_user("quinn").await;
    let token = app.user_token("quinn").await;
    let client_id = app.client_id.clone();
    let (dir, settings) = app.stop().await;
    let kek = dir.path().join("kek");
    #[cfg(unix)]
    if settings.database_url.is_none() {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let app = warden::Application::build(settings.clone()).await.unwrap();
    assert!(app.generated().is_none(), "bootstrap must not run twice");
    drop(app);
    let app = TestApp::start(dir, client_id, settings).await;
    let me: Value = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], id.as_str());
}

#[tokio::test]
async fn first_start_generates_what_was_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database();
    let settings = warden::Settings {
        listen: "127.0.0.1:0".to_owned(),
        data_dir: dir.path().to_owned(),
        kek: database_url
            .as_ref()
            .map(|_| secrecy::SecretString::from(TEST_KEK)),
        database_url,
        ..warden::Settings::default()
    };
    let app = warden::Application::build(settings).await.unwrap();
    let generated = app.generated().unwrap().clone();
    assert_eq!(generated.admin_login, "admin");
    let password = generated.admin_password.unwrap();
    assert!(password.len() >= 20);
    assert_eq!(generated.client_secret.unwrap().len(), 32);
    let warden = app.warden();
    assert!(warden.password_login("admin", &password).await.is_ok());
}
