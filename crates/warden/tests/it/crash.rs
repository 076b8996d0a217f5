//! Crash safety: the real binary is killed with SIGKILL under a write load, again and again,
//! and every write it acknowledged must be there after a restart, with exactly its audit
//! events, in a database that passes its integrity check. Runs on SQLite, and on PostgreSQL
//! in the PostgreSQL pass.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const ROUNDS: usize = 20;
const WRITERS: usize = 6;

struct Node {
    child: Child,
    url: String,
}

fn start(data_dir: &std::path::Path, database_url: Option<&str>, client_id: &str) -> Node {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warden"));
    for (key, _) in std::env::vars() {
        if key.starts_with("WARDEN_") {
            command.env_remove(key);
        }
    }
    command
        .arg("serve")
        .env("WARDEN_LISTEN", "127.0.0.1:0")
        .env("WARDEN_DATA_DIR", data_dir)
        .env("WARDEN_LOG_FORMAT", "json")
        .env("WARDEN_LOG_LEVEL", "warn,warden=info")
        .env("WARDEN_PUBLIC_URL", "http://warden.crash")
        .env("WARDEN_BOOTSTRAP_CLIENT_ID", client_id)
        .env("WARDEN_BOOTSTRAP_CLIENT_SECRET", CLIENT_SECRET)
        .env("WARDEN_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD);
    if let Some(url) = database_url {
        command
            .env("WARDEN_DATABASE_URL", url)
            .env("WARDEN_KEK", TEST_KEK);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["message"] == "listening" {
                address = event["address"].as_str().map(str::to_owned);
                break;
            }
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Node {
        child,
        url: format!("http://{}", address.expect("the server logs its address")),
    }
}

fn kill(mut node: Node) {
    let pid = node.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    node.child.wait().unwrap();
}

async fn client_token(http: &reqwest::Client, url: &str, client_id: &str) -> String {
    let r = http
        .post(format!("{url}/api/2/idp/token"))
        .basic_auth(client_id, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What the server acknowledged: per user, the highest version a 2xx reported.
type Acknowledged = Arc<Mutex<HashMap<String, i64>>>;

async fn writer(
    http: reqwest::Client,
    url: String,
    token: String,
    tenant: String,
    name: String,
    acked: Acknowledged,
) {
    let r = http
        .post(format!("{url}/api/2/users"))
        .bearer_auth(&token)
        .json(&json!({"tenant_id": tenant, "login": name, "contact": {"email": format!("{name}@example.com")}}))
        .send()
        .await;
    let Ok(r) = r else { return };
    if r.status() != StatusCode::OK {
        return;
    }
    let Ok(user) = r.json::<Value>().await else {
        return;
    };
    let id = user["id"].as_str().unwrap().to_owned();
    let mut version = user["version"].as_i64().unwrap();
    acked.lock().unwrap().insert(id.clone(), version);
    loop {
        let r = http
            .put(format!("{url}/api/2/users/{id}"))
            .bearer_auth(&token)
            .json(&json!({"contact": {"city": format!("v{}", version + 1)}, "version": version}))
            .send()
            .await;
        let Ok(r) = r else { return };
        if r.status() != StatusCode::OK {
            return;
        }
        let Ok(user) = r.json::<Value>().await else {
            return;
        };
        version = user["version"].as_i64().unwrap();
        acked.lock().unwrap().insert(id.clone(), version);
    }
}

fn sqlite_integrity(path: &std::path::Path) -> String {
    let python = std::env::var("COMPAT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = Command::new(python)
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn every_acknowledged_write_survives_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database();
    let client_id = uuid::Uuid::new_v4().to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let acked: Acknowledged = Arc::default();
    for round in 0..ROUNDS {
        let node = start(dir.path(), database_url.as_deref(), &client_id);
        let token = client_token(&http, &node.url, &client_id).await;
        let me: Value = http
            .get(format!("{}/api/2/clients/{client_id}", node.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tenant = me["tenant_id"].as_str().unwrap().to_owned();
        // Everything acknowledged before this start is still there, at least at the version
        // that was acknowledged.
        let snapshot: Vec<(String, i64)> = acked
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (id, version) in &snapshot {
            let r = http
                .get(format!("{}/api/2/users/{id}", node.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "round {round}: acknowledged user {id} is gone"
            );
            let user: Value = r.json().await.unwrap();
            assert!(
                user["version"].as_i64().unwrap() >= *version,
                "round {round}: {id} lost version {version}: {user}"
            );
        }
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(writer(
                    http.clone(),
                    node.url.clone(),
                    token.clone(),
                    tenant.clone(),
                    format!("crash-{round}-{w}"),
                    acked.clone(),
                ))
            })
            .collect();
        // Kill once some writes of this round have been acknowledged, mid-stream.
        let target = snapshot.len() + 2;
        for _ in 0..200 {
            if acked.lock().unwrap().len() >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(20 + (round as u64 * 7) % 60)).await;
        kill(node);
        for w in writers {
            let _ = w.await;
        }
    }
    assert!(
        acked.lock().unwrap().len() >= ROUNDS * 2,
        "too few writes were acknowledged to prove anything"
    );
    // The final restart sees everything, and SQLite's own check passes.
    let node = start(dir.path(), database_url.as_deref(), &client_id);
    let token = client_token(&http, &node.url, &client_id).await;
    let everything: Vec<(String, i64)> = acked.lock().unwrap().clone().into_iter().collect();
    for (id, version) in everything {
        let user: Value = http
            .get(format!("{}/api/2/users/{id}", node.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored = user["version"].as_i64().unwrap();
        assert!(stored >= version, "{id}: {user}");
        // Each change and its audit event commit together: the user's trail holds exactly
        // one event per version it went through, no more and no fewer.
        let trail: Value = http
            .get(format!(
                "{}/api/2/audit_events?object_id={id}&limit=1000",
                node.url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let versions: Vec<i64> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["new_version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, (1..=stored).collect::<Vec<_>>(), "{id}");
    }
    kill(node);
    if database_url.is_none() {
        assert_eq!(sqlite_integrity(&dir.path().join("warden.db")), "ok");
    }
}
