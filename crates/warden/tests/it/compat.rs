//! Real clients against a live server: the two seed documents replayed with Python
//! `requests`, `curl`, and the official `huaweicloudsdkiam` SDK. The test command installs the
//! pinned packages into a virtualenv and names its interpreter in `COMPAT_PYTHON`.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::*;

fn python() -> PathBuf {
    let path = std::env::var_os("COMPAT_PYTHON").map(PathBuf::from).expect(
        "COMPAT_PYTHON is not set: run the test command from the README (scripts/test), \
         which installs the pinned Python clients and sets it",
    );
    assert!(
        path.exists(),
        "COMPAT_PYTHON points to {}, which does not exist",
        path.display()
    );
    path
}

pub fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../compat")
}

/// Runs a script against a fresh application; returns what it printed.
async fn run(script: &str) -> String {
    run_script(python(), script, &[]).await
}

/// Runs `script` of `compat/` with the interpreter `python` against a fresh application, with
/// its URL and bootstrap credentials (see `compat/warden_env.py`) and `extra_env` in the
/// environment. Stops the test with what the script printed unless it exits 0; returns its
/// output.
pub async fn run_script(python: PathBuf, script: &str, extra_env: &[(&str, PathBuf)]) -> String {
    let app = TestApp::spawn().await;
    let out = tokio::task::spawn_blocking({
        let url = app.url.clone();
        let client_id = app.client_id.clone();
        let script = script.to_owned();
        let extra_env: Vec<(String, PathBuf)> = extra_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move || {
            Command::new(python)
                .arg(&script)
                .current_dir(compat_dir())
                .env("WARDEN_URL", url)
                .env("WARDEN_CLIENT_ID", client_id)
                .env("WARDEN_CLIENT_SECRET", CLIENT_SECRET)
                .env("WARDEN_ADMIN_LOGIN", ADMIN_LOGIN)
                .env("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .envs(extra_env)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    println!("{stdout}");
    stdout.into_owned()
}

#[tokio::test]
async fn seed_000_replayed_with_python_requests() {
    run("seed_000.py").await;
}

#[tokio::test]
async fn seed_004_replayed_with_curl() {
    run("seed_004.py").await;
}

#[tokio::test]
async fn seed_004_through_the_official_huawei_sdk() {
    run("sdk_iam.py").await;
}

#[tokio::test]
async fn access_keys_through_the_official_huawei_sdk_token_and_signed() {
    let out = run("sdk_aksk.py").await;
    for line in [
        "create_permanent_access_key: 201 status=active access_len=20 secret_len=40",
        "list_permanent_access_keys (token): 200 count=1 has_secret=False",
        "show_user (signed): 200 name_matches=True",
        "list_permanent_access_keys (signed): 200 count=1",
        "wrong secret: ClientRequestException 401 APIGW.0301",
        "keystone_create_user_token_by_password: 201 user_matches=True",
        "keystone_validate_token: 200 user_matches=True",
        "create_user (token): 201 fields_match=True",
        "show_user (token): 200 fields_match=True",
        "update_user (token): 200 fields_match=True",
        "keystone_list_users (token): 200 count=1",
        "create_user taken name (token): 400 1109",
        "create_user taken email (token): 400 1110",
        "update_user_information (token): 204 fields_match=True",
        "create_user (signed): 201 fields_match=True",
        "show_user (signed): 200 fields_match=True",
        "update_user (signed): 200 fields_match=True",
        "keystone_list_users (signed): 200 count=1",
        "create_user taken name (signed): 400 1109",
        "create_user taken email (signed): 400 1110",
        "update_user_information (signed): 204 fields_match=True",
        "sdk aksk: ok",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
}
