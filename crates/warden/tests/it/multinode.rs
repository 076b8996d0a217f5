//! Several stateless nodes over one PostgreSQL database behave as one service. These tests
//! need `TEST_POSTGRES_URL`; the test command's PostgreSQL pass runs them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::FutureExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use warden::{Application, Settings};

use crate::helpers::*;

/// How long a change on one node may take to show on the others: signing keys are reloaded
/// on an interval; cached reads are told by the change feed, which each node reads every 10 ms.
const PROPAGATION: Duration = Duration::from_secs(5);

/// Polls `check` until it holds, failing after `PROPAGATION`.
async fn within_propagation<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PROPAGATION;
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn admin_url() -> String {
    postgres_admin_url()
        .expect("multi-node tests run on PostgreSQL: set TEST_POSTGRES_URL (the test command does)")
}

fn node_settings(database_url: &str, client_id: &str) -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(dir.path(), client_id, Some(database_url.to_owned()));
    // Every node behind one load balancer shares one public URL, hence one token issuer.
    settings.public_url = Some("http://warden.cluster".to_owned());
    (dir, settings)
}

/// Starts `n` nodes on one fresh database at the same moment; returns them and how many of
/// them ran the bootstrap.
async fn cluster(n: usize) -> (Vec<TestApp>, usize, String) {
    let database_url = fresh_postgres_database(&admin_url());
    let client_id = uuid::Uuid::new_v4().to_string();
    let nodes: Vec<(tempfile::TempDir, Settings)> = (0..n)
        .map(|_| node_settings(&database_url, &client_id))
        .collect();
    let built = join_all(nodes.iter().map(|(_, s)| Application::build(s.clone()))).await;
    let mut apps = Vec::new();
    let mut bootstrapped = 0;
    for ((dir, settings), app) in nodes.into_iter().zip(built) {
        let app = app.expect("node starts");
        bootstrapped += usize::from(app.generated().is_some());
        apps.push(TestApp::serve(app, dir, client_id.clone(), settings));
    }
    (apps, bootstrapped, database_url)
}

#[tokio::test]
async fn nodes_started_together_bootstrap_once_and_accept_each_others_tokens() {
    let (nodes, bootstrapped, _) = cluster(3).await;
    assert_eq!(bootstrapped, 1);
    // They also share one signing key, made by whichever came first.
    let mut kids = Vec::new();
    for node in &nodes {
        kids.push(kid_of(&node.client_token().await).await);
    }
    assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
    for issuer in &nodes {
        let token = issuer.client_token().await;
        for node in &nodes {
            let r = node
                .http
                .get(node.at(&format!("/api/2/clients/{}", node.client_id)))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert_eq!(status, StatusCode::OK, "{}", r.text().await.unwrap());
        }
    }
}

async fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn a_key_rotation_is_honoured_by_every_node_and_old_tokens_stay_valid() {
    let (nodes, _, database_url) = cluster(3).await;
    let old_token = nodes[1].client_token().await;
    let old_kid = kid_of(&old_token).await;
    let (_dir, settings) = node_settings(&database_url, &nodes[0].client_id);
    let store = warden::app::open_store(&settings).await.unwrap();
    let new_kid = warden::app::rotate_key(&settings, store).await.unwrap();
    assert_ne!(new_kid, old_kid);
    let deadline = Instant::now() + PROPAGATION;
    for node in &nodes {
        loop {
            if kid_of(&node.client_token().await).await == new_kid {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still signs with the old key",
                node.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let fresh = nodes[2].client_token().await;
    for node in &nodes {
        for token in [&old_token, &fresh] {
            let r = node
                .http
                .get(node.at(&format!("/api/2/clients/{}", node.client_id)))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
}

#[tokio::test]
async fn disabling_a_user_changing_a_password_or_revoking_a_token_fails_it_on_every_node() {
    let (nodes, _, _) = cluster(3).await;
    let me = |node: &TestApp, token: &str| {
        node.http
            .get(node.at("/api/2/users/me"))
            .bearer_auth(token.to_owned())
            .send()
    };
    // Every node refuses the token once the change has reached it (its read cache is told by
    // the change feed), and from then on.
    let all_refuse = |token: String| {
        let nodes = &nodes;
        async move {
            for node in nodes {
                within_propagation(&format!("{} refuses the token", node.url), || async {
                    me(node, &token).await.unwrap().status() == StatusCode::UNAUTHORIZED
                })
                .await;
            }
            for node in nodes {
                assert_eq!(
                    me(node, &token).await.unwrap().status(),
                    StatusCode::UNAUTHORIZED,
                    "{}",
                    node.url
                );
            }
        }
    };

    // Revocation of one token on node 0.
    nodes[0].create_active_user("una").await;
    let token = nodes[1].keystone_token("una", USER_PASSWORD).await;
    let r = nodes[0]
        .http
        .delete(nodes[0].at("/v3/auth/tokens"))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    all_refuse(token).await;

    // A password change on node 1.
    let id = nodes[0].create_active_user("vera").await;
    let token = nodes[2].user_token("vera").await;
    let r = nodes[1]
        .http
        .post(nodes[1].at(&format!("/api/2/users/{id}/password")))
        .bearer_auth(nodes[1].client_token().await)
        .json(&json!({"password": "changed-Passw0rd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    all_refuse(token).await;

    // Disabling on node 2.
    let id = nodes[0].create_active_user("walt").await;
    let token = nodes[0].user_token("walt").await;
    let version = nodes[2].get_user(&id).await["version"].clone();
    let r = nodes[2]
        .http
        .put(nodes[2].at(&format!("/api/2/users/{id}")))
        .bearer_auth(nodes[2].client_token().await)
        .json(&json!({"enabled": false, "version": version}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    all_refuse(token).await;
}

#[tokio::test]
async fn concurrent_updates_across_three_nodes_lose_nothing_and_merge_nothing() {
    let (nodes, _, _) = cluster(3).await;
    let nodes = Arc::new(nodes);
    let id = nodes[0].create_user("hammer").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let initial = nodes[0].get_user(&id).await["version"].as_i64().unwrap();

    // One round with one version sent to every node: exactly one winner.
    let token = nodes[0].client_token().await;
    let round = join_all((0..9).map(|i| {
        let node = &nodes[i % 3];
        node.http
            .put(node.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&token)
            .json(&json!({"contact": {"city": format!("round-{i}")}, "version": initial}))
            .send()
    }))
    .await;
    let statuses: Vec<StatusCode> = round.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT));

    // Then read-modify-write workers on every node.
    let workers = (0..12).map(|w| {
        let nodes = nodes.clone();
        let id = id.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let node = &nodes[w % 3];
            let mut wins = Vec::new();
            for i in 0..8 {
                let current = node.get_user(&id).await;
                let tag = format!("w{w}-{i}");
                let r = node
                    .http
                    .put(node.at(&format!("/api/2/users/{id}")))
                    .bearer_auth(&token)
                    .json(&json!({"contact": {"city": tag, "firstname": tag}, "version": current["version"]}))
                    .send()
                    .await
                    .unwrap();
                match r.status() {
                    StatusCode::OK => wins.push(r.json::<Value>().await.unwrap()),
                    StatusCode::CONFLICT => {}
                    other => panic!("node {} answered {other}", node.url),
                }
            }
            wins
        })
    });
    let wins: Vec<Value> = join_all(workers)
        .await
        .into_iter()
        .flat_map(|w| w.unwrap())
        .collect();
    let total_wins = wins.len() as i64 + 1;
    // The last write may have been another node's: node 1 reads it once told.
    within_propagation("node 1 reads the last version", || async {
        nodes[1].get_user(&id).await["version"].as_i64() == Some(initial + total_wins)
    })
    .await;
    let final_user = nodes[1].get_user(&id).await;
    assert_eq!(
        final_user["version"].as_i64().unwrap(),
        initial + total_wins
    );
    let last = wins
        .iter()
        .max_by_key(|w| w["version"].as_i64().unwrap())
        .unwrap();
    assert_eq!(&final_user, last);
    assert_eq!(
        final_user["contact"]["city"],
        final_user["contact"]["firstname"]
    );
}

/// A TCP forwarder to PostgreSQL that the test can cut and restore, to simulate an outage.
struct Proxy {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    break;
                };
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", 5432)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy {
            port,
            task: Some(task),
        }
    }

    /// Cuts every connection and stops accepting.
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[tokio::test]
async fn a_database_outage_answers_503_fast_and_the_node_recovers() {
    let direct = fresh_postgres_database(&admin_url());
    let mut proxy = Proxy::start(0).await;
    let via_proxy = direct.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(
        direct, via_proxy,
        "the PostgreSQL URL must name 127.0.0.1:5432"
    );
    let client_id = uuid::Uuid::new_v4().to_string();
    let (dir, settings) = node_settings(&via_proxy, &client_id);
    let node = TestApp::start(dir, client_id, settings).await;
    let token = node.client_token().await;
    let id = node.create_user("outage").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let read_user = || {
        node.http
            .get(node.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&token)
            .send()
            .map(Result::unwrap)
    };

    proxy.cut();
    // Let the aborted connection tasks drop their sockets.
    tokio::task::yield_now().await;
    let started = Instant::now();
    // Until its change feed sees the cut, the node may still answer reads it has cached (and
    // that are still right); from then on every read goes to the database.
    within_propagation("the node notices the outage", || async {
        let r = read_user().await;
        match r.status() {
            StatusCode::OK => false,
            _ => {
                assert_eq!(account_error(r, StatusCode::SERVICE_UNAVAILABLE).await, 503);
                true
            }
        }
    })
    .await;
    let r = node
        .http
        .get(node.at("/v3/auth/tokens"))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .send()
        .await
        .unwrap();
    keystone_error(r, StatusCode::SERVICE_UNAVAILABLE).await;
    let health = node.http.get(node.at("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusals took {:?}",
        started.elapsed()
    );

    let _restored = Proxy::start(proxy.port).await;
    let deadline = Instant::now() + PROPAGATION;
    loop {
        let r = read_user().await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not recover: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        node.http
            .get(node.at("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
