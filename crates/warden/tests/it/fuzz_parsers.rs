//! Fuzzing the request parsers through the real handlers, in-process on the application's
//! router: the OAuth token request form, the Keystone auth JSON, the user update JSON and the
//! query strings. Input is near-valid (a real request with fields replaced by wrong types,
//! deep nesting, huge numbers, unicode, or removed; a truncated or spliced text) or arbitrary
//! bytes. The answer is a 2xx for valid input or a clean 4xx in the face's body, never a 5xx,
//! and a refused change leaves the user as it was. `FUZZ_SEED` varies the cases; failures
//! are not persisted to files.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use warden::Application;

use crate::helpers::*;

fn runner(cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// A running application, plus its router to drive requests in-process.
struct Harness {
    router: Router,
    app: TestApp,
    client_token: String,
    user_id: String,
    root_tenant: String,
    runtime: tokio::runtime::Runtime,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Harness {
    /// An application with an activated user `fuzzed` (password `USER_PASSWORD`).
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (router, app, client_token, user_id, root_tenant) = runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let client_id = uuid::Uuid::new_v4().to_string();
            let settings = settings_for(dir.path(), &client_id, fresh_database());
            let application = Application::build(settings.clone()).await.unwrap();
            let router = application.router();
            let app = TestApp::serve(application, dir, client_id, settings);
            let user_id = app.create_active_user("fuzzed").await;
            let client_token = app.client_token().await;
            let root_tenant = app.root_tenant_id().await;
            (router, app, client_token, user_id, root_tenant)
        });
        Self {
            router,
            app,
            client_token,
            user_id,
            root_tenant,
            runtime,
        }
    }

    fn send(&self, mut request: Request<Body>) -> Answer {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            Answer {
                status,
                headers,
                body,
            }
        })
    }

    fn user(&self) -> Value {
        let answer = self.send(
            Request::get(format!("/api/2/users/{}", self.user_id))
                .header("authorization", format!("Bearer {}", self.client_token))
                .body(Body::empty())
                .unwrap(),
        );
        assert_eq!(answer.status, StatusCode::OK);
        answer.json()
    }
}

fn check_status(answer: &Answer, allowed: &[u16], what: &str) -> Result<(), TestCaseError> {
    let status = answer.status.as_u16();
    prop_assert!(
        allowed.contains(&status),
        "{what}: answered {status} {}",
        String::from_utf8_lossy(&answer.body)
    );
    Ok(())
}

// ---- JSON generators -------------------------------------------------------------------

const FIELDS: [&str; 24] = [
    "auth",
    "identity",
    "methods",
    "password",
    "user",
    "name",
    "id",
    "domain",
    "scope",
    "project",
    "version",
    "contact",
    "email",
    "phone",
    "firstname",
    "address1",
    "login",
    "language",
    "notifications",
    "business_types",
    "enabled",
    "external_id",
    "unscoped",
    "",
];

/// A JSON value of any kind, plausible or plainly wrong for the field it lands in.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-0.0)),
        Just(json!(1e308)),
        Just(json!("")),
        Just(json!("3")),
        Just(json!("x".repeat(256))),
        Just(json!("y".repeat(10_000))),
        Just(json!("\u{0}\u{202e}\u{1F600}'\"<>%00\\")),
        Just(json!("Default")),
        Just(json!("password")),
        Just(json!(USER_PASSWORD)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(FIELDS.to_vec()), inner), 0..4)
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
        ]
    })
}

/// One change to a JSON document, at a node chosen by index among all its nodes.
#[derive(Clone, Debug)]
enum JsonEdit {
    Replace(usize, Value),
    Remove(usize),
    AddMember(usize, String, Value),
    /// The node wrapped in `levels` arrays.
    Nest(usize, usize),
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => (any::<usize>(), any_value()).prop_map(|(at, v)| JsonEdit::Replace(at, v)),
        2 => any::<usize>().prop_map(JsonEdit::Remove),
        2 => (any::<usize>(), proptest::sample::select(FIELDS.to_vec()), any_value())
            .prop_map(|(at, k, v)| JsonEdit::AddMember(at, k.to_owned(), v)),
        1 => (any::<usize>(), prop_oneof![1usize..10, 60usize..70, 120usize..140])
            .prop_map(|(at, levels)| JsonEdit::Nest(at, levels)),
    ]
}

/// Paths to every node: object members by key, array items by index.
fn nodes(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(path.clone());
    match value {
        Value::Object(members) => {
            for (k, v) in members {
                path.push(k.clone());
                nodes(v, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                nodes(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut at = value;
    for step in path {
        at = match at {
            Value::Object(members) => members.get_mut(step)?,
            Value::Array(items) => items.get_mut(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

fn apply_edits(mut doc: Value, edits: &[JsonEdit]) -> Value {
    for edit in edits {
        let mut all = Vec::new();
        nodes(&doc, &mut Vec::new(), &mut all);
        let pick = |at: usize| all[at % all.len()].clone();
        match edit {
            JsonEdit::Replace(at, v) => {
                if let Some(node) = node_mut(&mut doc, &pick(*at)) {
                    *node = v.clone();
                }
            }
            JsonEdit::Remove(at) => {
                let path = pick(*at);
                if let Some((last, parent)) = path.split_last() {
                    match node_mut(&mut doc, parent) {
                        Some(Value::Object(members)) => {
                            members.remove(last);
                        }
                        Some(Value::Array(items)) => {
                            if let Ok(i) = last.parse::<usize>() {
                                if i < items.len() {
                                    items.remove(i);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            JsonEdit::AddMember(at, k, v) => {
                if let Some(Value::Object(members)) = node_mut(&mut doc, &pick(*at)) {
                    members.insert(k.clone(), v.clone());
                }
            }
            JsonEdit::Nest(at, levels) => {
                if let Some(node) = node_mut(&mut doc, &pick(*at)) {
                    let mut v = node.take();
                    for _ in 0..*levels {
                        v = Value::Array(vec![v]);
                    }
                    *node = v;
                }
            }
        }
    }
    doc
}

/// A body derived from `valid`: edited JSON, a damaged text, or arbitrary bytes.
fn body_from(valid: BoxedStrategy<Value>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => valid.clone().prop_map(|v| v.to_string().into_bytes()),
        6 => (valid.clone(), proptest::collection::vec(json_edit(), 1..4))
            .prop_map(|(v, edits): (Value, Vec<JsonEdit>)| {
                apply_edits(v, &edits).to_string().into_bytes()
            }),
        1 => (valid.clone(), any::<usize>()).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            text[..cut % text.len()].to_vec()
        }),
        1 => (valid, any::<usize>(), ".{1,4}").prop_map(|(v, at, insert)| {
            let mut text = v.to_string().into_bytes();
            let at = at % text.len();
            text.splice(at..at, insert.into_bytes());
            text
        }),
        1 => any::<Vec<u8>>(),
    ]
}

fn json_content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        8 => Just(Some("application/json")),
        1 => Just(Some("application/json;charset=utf8")),
        1 => Just(Some("text/plain")),
        1 => Just(None),
    ]
}

// ---- Keystone auth JSON ----------------------------------------------------------------

fn keystone_auth_body(root_tenant: String) -> impl Strategy<Value = Value> {
    let root_hex = uuid::Uuid::parse_str(&root_tenant)
        .unwrap()
        .simple()
        .to_string();
    let scope = prop_oneof![
        Just(Some(json!({"domain": {"name": "Default"}}))),
        Just(Some(json!({"domain": {"id": "default"}}))),
        Just(Some(
            json!({"project": {"name": "Root", "domain": {"name": "Default"}}})
        )),
        Just(Some(json!({"project": {"id": root_hex}}))),
        Just(Some(json!("unscoped"))),
        Just(None),
    ];
    let user = prop_oneof![
        Just(json!({"name": "fuzzed", "domain": {"name": "Default"}, "password": USER_PASSWORD})),
        Just(json!({"name": "fuzzed", "domain": {"id": "default"}, "password": USER_PASSWORD})),
        Just(json!({"name": "nobody", "domain": {"name": "Default"}, "password": "x"})),
    ];
    (scope, user).prop_map(|(scope, user)| {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": user}}});
        if let Some(scope) = scope {
            auth["scope"] = scope;
        }
        json!({ "auth": auth })
    })
}

#[test]
fn fuzz_keystone_auth_json() {
    let h = Harness::start();
    let strategy = (
        body_from(keystone_auth_body(h.root_tenant.clone()).boxed()),
        json_content_type(),
        proptest::option::of(prop_oneof![
            Just("nocatalog"),
            Just("nocatalog=1"),
            Just("%zz")
        ]),
    );
    runner(250)
        .run(&strategy, |(body, content_type, query)| {
            let uri = match query {
                Some(q) => format!("/v3/auth/tokens?{q}"),
                None => "/v3/auth/tokens".to_owned(),
            };
            let mut request = Request::post(uri);
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            let answer = h.send(request.body(Body::from(body)).unwrap());
            check_status(
                &answer,
                &[201, 400, 401, 404, 413, 415],
                "POST /v3/auth/tokens",
            )?;
            if answer.status == StatusCode::CREATED {
                prop_assert!(answer.headers.contains_key("x-subject-token"));
            } else {
                let error = answer.json();
                prop_assert_eq!(&error["error"]["code"], &json!(answer.status.as_u16()));
                prop_assert!(error["error"]["message"].is_string());
            }
            Ok(())
        })
        .unwrap();
}

// ---- The user update JSON --------------------------------------------------------------

/// A valid update; `"@current"` and `"@stale"` stand for the user's version and an old one.
fn user_update_body() -> impl Strategy<Value = Value> {
    let version = prop_oneof![
        4 => Just(json!("@current")),
        1 => Just(json!("@stale")),
        1 => Just(json!(i64::MAX)),
    ];
    let contact = prop_oneof![
        Just(json!({"firstname": "Foo", "lastname": "Bar"})),
        Just(json!({"address1": "John Doe Str.", "city": null})),
        Just(json!({"phone": "0086-18292010816"})),
        Just(json!({"email": "fuzzed@example.com"})),
    ];
    let extra = proptest::sample::select(vec![
        ("language", json!("en")),
        ("language", json!("pt-BR")),
        ("notifications", json!(["quota", "reports"])),
        ("business_types", json!(["buyer"])),
        ("external_id", json!("ext-1")),
        ("enabled", json!(true)),
        ("login", json!("fuzzed")),
    ]);
    (version, contact, proptest::collection::vec(extra, 0..3)).prop_map(
        |(version, contact, extra)| {
            let mut body = Map::new();
            body.insert("version".into(), version);
            body.insert("contact".into(), contact);
            for (k, v) in extra {
                body.insert(k.into(), v);
            }
            Value::Object(body)
        },
    )
}

/// Replaces the version placeholders in the body's text.
fn with_version(body: &[u8], current: i64) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if !text.contains("\"@") {
        return body.to_vec();
    }
    text.replace("\"@current\"", &current.to_string())
        .replace("\"@stale\"", &(current - 1).to_string())
        .into_bytes()
}

#[test]
fn fuzz_user_update_json() {
    let h = Harness::start();
    let strategy = (body_from(user_update_body().boxed()), json_content_type());
    let accepted = std::cell::Cell::new(0);
    runner(400)
        .run(&strategy, |(body, content_type)| {
            let before = h.user();
            let current = before["version"].as_i64().unwrap();
            let mut request = Request::put(format!("/api/2/users/{}", h.user_id))
                .header("authorization", format!("Bearer {}", h.client_token));
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            let answer = h.send(
                request
                    .body(Body::from(with_version(&body, current)))
                    .unwrap(),
            );
            check_status(&answer, &[200, 400, 409, 413, 415], "PUT /api/2/users/{id}")?;
            let after = h.user();
            if answer.status == StatusCode::OK {
                accepted.set(accepted.get() + 1);
                let version = after["version"].as_i64().unwrap();
                prop_assert!(version == current || version == current + 1);
            } else {
                prop_assert_eq!(&after, &before, "a refused update changed the user");
                let error = answer.json();
                prop_assert_eq!(&error["error"]["domain"], &json!("PlatformAccountServer"));
                prop_assert!(error["error"]["code"].is_i64());
            }
            Ok(())
        })
        .unwrap();
    // Valid updates were among the cases, so the refusals above were not the only outcome.
    assert!(accepted.get() > 0);
}

// ---- The token request form ------------------------------------------------------------

fn form_value(h: &Harness) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "client_credentials".to_owned(),
            "password".to_owned(),
            "refresh_token".to_owned(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
            "fuzzed".to_owned(),
            USER_PASSWORD.to_owned(),
            h.app.client_id.clone(),
            CLIENT_SECRET.to_owned(),
            h.client_token.clone(),
            "offline_access".to_owned(),
            format!("urn:acronis.com:tenant-id:{}", h.root_tenant),
        ]),
        1 => "[ -~]{0,20}",
        1 => any::<String>(),
        1 => Just("%".to_owned()),
        1 => Just("x".repeat(5000)),
    ]
}

fn form_body(h: &Harness) -> impl Strategy<Value = Vec<u8>> {
    let name = proptest::sample::select(vec![
        "grant_type",
        "username",
        "password",
        "client_id",
        "client_secret",
        "scope",
        "refresh_token",
        "assertion",
        "grant_type",
        "junk",
    ]);
    let client = h.app.client_id.clone();
    let valid = proptest::sample::select(vec![
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client.clone()),
            ("client_secret", CLIENT_SECRET.to_owned()),
        ],
        vec![
            ("grant_type", "password".to_owned()),
            ("username", "fuzzed".to_owned()),
            ("password", USER_PASSWORD.to_owned()),
        ],
        vec![
            ("grant_type", "password".to_owned()),
            ("username", "fuzzed".to_owned()),
            ("password", USER_PASSWORD.to_owned()),
            ("scope", "offline_access".to_owned()),
        ],
        vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
            ),
            ("assertion", h.client_token.clone()),
            (
                "scope",
                format!("urn:acronis.com:tenant-id:{}", h.root_tenant),
            ),
        ],
    ]);
    // A valid form with pairs replaced, removed, added or repeated.
    let edit = (0u8..4, any::<usize>(), name.clone(), form_value(h));
    let edited = (valid, proptest::collection::vec(edit, 0..3)).prop_map(|(mut pairs, edits)| {
        for (kind, at, name, value) in edits {
            let at = at % pairs.len().max(1);
            match kind {
                0 if !pairs.is_empty() => pairs[at].1 = value,
                1 if !pairs.is_empty() => {
                    pairs.remove(at);
                }
                2 if !pairs.is_empty() => pairs.push(pairs[at].clone()),
                _ => pairs.push((name, value)),
            }
        }
        serde_urlencoded::to_string(pairs).unwrap().into_bytes()
    });
    prop_oneof![
        4 => edited,
        2 => proptest::collection::vec((name, form_value(h)), 0..6).prop_map(|pairs| {
            serde_urlencoded::to_string(pairs).unwrap().into_bytes()
        }),
        // Raw text: unescaped separators, bad escapes, invalid UTF-8.
        1 => "([a-z_]{0,12}=?[%&=+ -~]{0,12}&?){0,6}".prop_map(String::into_bytes),
        1 => any::<Vec<u8>>(),
    ]
}

#[test]
fn fuzz_token_request_form() {
    let h = Harness::start();
    let basic = |user: &str, password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let authorization = prop_oneof![
        3 => Just(None),
        1 => Just(Some(basic(&h.app.client_id, CLIENT_SECRET))),
        1 => Just(Some(basic(&h.app.client_id, "wrong"))),
        1 => Just(Some("Basic !!!".to_owned())),
        1 => Just(Some(format!("Bearer {}", h.client_token))),
        1 => "[ -~]{0,30}".prop_map(Some),
    ];
    let content_type = prop_oneof![
        6 => Just(Some("application/x-www-form-urlencoded")),
        1 => Just(Some("application/x-www-form-urlencoded; charset=UTF-8")),
        1 => Just(Some("application/json")),
        1 => Just(None),
    ];
    let strategy = (form_body(&h), content_type, authorization);
    runner(600)
        .run(&strategy, |(body, content_type, authorization)| {
            let mut request = Request::post("/api/2/idp/token");
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            if let Some(a) = authorization {
                request = request.header("authorization", a);
            }
            let answer = h.send(request.body(Body::from(body)).unwrap());
            check_status(&answer, &[200, 400, 401], "POST /api/2/idp/token")?;
            let reply = answer.json();
            if answer.status == StatusCode::OK {
                prop_assert!(reply["access_token"].is_string());
            } else {
                prop_assert!(reply["error"].is_string(), "{}", reply);
            }
            Ok(())
        })
        .unwrap();
}

// ---- Query strings ---------------------------------------------------------------------

fn query_value(h: &Harness) -> impl Strategy<Value = String> {
    let cursor = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    prop_oneof![
        2 => proptest::sample::select(vec![
            h.user_id.clone(),
            h.root_tenant.clone(),
            format!("{},{}", h.user_id, h.root_tenant),
            uuid::Uuid::new_v4().to_string(),
            "fuzzed".to_owned(),
            "2024-05-01T10:00:00Z".to_owned(),
            "2024-05-01T10:00:00 02:00".to_owned(),
            "0".to_owned(),
            "-1".to_owned(),
            "1000000000000000000000".to_owned(),
            "1".to_owned(),
            "true".to_owned(),
            "me".to_owned(),
        ]),
        1 => any::<Vec<u8>>().prop_map(move |b| cursor(&b)),
        1 => any_value().prop_map(move |v| cursor(v.to_string().as_bytes())),
        1 => "[ -~]{0,20}",
        1 => any::<String>(),
        1 => Just(",".repeat(300)),
    ]
}

fn query_string(h: &Harness) -> impl Strategy<Value = String> {
    let name = proptest::sample::select(vec![
        "uuids",
        "tenant_id",
        "subtree_root_tenant_id",
        "updated_since",
        "limit",
        "after",
        "parent_id",
        "subtree_root_id",
        "tenant",
        "text",
        "username",
        "version",
        "nocatalog",
        "access_token",
        "lod",
    ]);
    prop_oneof![
        6 => proptest::collection::vec((name, query_value(h)), 0..5)
            .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap()),
        1 => "[%&=+a-z0-9_]{0,30}",
    ]
}

#[test]
fn fuzz_query_parsers() {
    let h = Harness::start();
    let other = h.runtime.block_on(h.app.create_user("bystander"));
    let other_id = other["id"].as_str().unwrap().to_owned();
    let routes = vec![
        (Method::GET, "/api/2/users".to_owned()),
        (Method::GET, "/api/2/tenants".to_owned()),
        (Method::GET, format!("/api/2/tenants/{}", h.root_tenant)),
        (
            Method::GET,
            format!("/api/2/tenants/{}/children", h.root_tenant),
        ),
        (
            Method::GET,
            format!("/api/2/tenants/{}/users", h.root_tenant),
        ),
        (Method::GET, "/api/2/search".to_owned()),
        (Method::GET, "/api/2/users/check_login".to_owned()),
        (Method::GET, format!("/api/2/users/{}", h.user_id)),
        (Method::DELETE, format!("/api/2/users/{other_id}")),
        (Method::GET, "/v3/auth/tokens".to_owned()),
    ];
    let strategy = (proptest::sample::select(routes), query_string(&h));
    runner(1000)
        .run(&strategy, |((method, path), query)| {
            let request = Request::builder()
                .method(method.clone())
                .uri(format!("{path}?{query}"))
                .header("authorization", format!("Bearer {}", h.client_token))
                .header("x-subject-token", h.client_token.clone())
                .body(Body::empty())
                .unwrap();
            let answer = h.send(request);
            check_status(
                &answer,
                &[200, 204, 400, 401, 403, 404, 409],
                &format!("{method} {path}?{query}"),
            )?;
            Ok(())
        })
        .unwrap();
    // The enabled bystander was never deleted, whatever `version` said.
    let answer = h.send(
        Request::get(format!("/api/2/users/{other_id}"))
            .header("authorization", format!("Bearer {}", h.client_token))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(answer.status, StatusCode::OK);
}
