//! The account face's OpenAPI document: generated from the handlers, checked against the
//! routes that answer, and exercised by schemathesis (no 5xx, no response that violates it).

use std::path::PathBuf;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn document(app: &TestApp) -> Value {
    let r = app
        .http
        .get(app.at("/api/2/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_operation_in_it_is_routed() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"][0]["url"], "/api/2");
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/users",
        "/users/{user_id}",
        "/users/me",
        "/users/check_login",
        "/users/{user_id}/password",
        "/users/{user_id}/access_policies",
        "/clients/{client_id}",
        "/idp/token",
        "/idp/keys",
        "/search",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    // Every documented operation reaches a handler: without credentials it is refused or
    // answered, never "no such route" (404) or "no such method" (405).
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let concrete = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        uuid::Uuid::new_v4().to_string()
                    } else {
                        s.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let r = app
                .http
                .request(method.clone(), app.at(&format!("/api/2{concrete}")))
                .send()
                .await
                .unwrap();
            assert!(
                r.status() != StatusCode::METHOD_NOT_ALLOWED
                    && !(r.status() == StatusCode::NOT_FOUND && concrete == *path),
                "{method} {path} answered {}",
                r.status()
            );
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_response_that_violates_the_document() {
    let python =
        PathBuf::from(std::env::var_os("COMPAT_PYTHON").expect(
            "COMPAT_PYTHON is not set: run the test command from the README (scripts/test)",
        ));
    let schemathesis = python.with_file_name("schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: reinstall compat/requirements.txt",
        schemathesis.display()
    );
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let workdir = tempfile::tempdir().unwrap();
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261123".to_owned());
    let out = tokio::task::spawn_blocking({
        let url = app.at("/api/2/openapi.json");
        let dir = workdir.path().to_owned();
        move || {
            Command::new(schemathesis)
                .current_dir(dir)
                .env("NO_COLOR", "1")
                .args([
                    "run",
                    &url,
                    "--checks",
                    "not_a_server_error,response_schema_conformance",
                ])
                .args(["--max-examples", "25", "--seed", &seed, "--workers", "1"])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}
