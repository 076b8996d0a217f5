//! Random requests to every route of every face: random methods, ids, query strings, headers
//! (known and unknown names, odd and long values, many of them), credentials and bodies
//! (random bytes, and random JSON built from the field names the faces know). Whatever
//! arrives, the answer is never a 5xx and the server keeps serving.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::helpers::*;

const REQUESTS_PER_ROUTE: usize = 40;

const FIELDS: [&str; 32] = [
    "config",
    "ldap",
    "driver",
    "url",
    "version",
    "contact",
    "email",
    "phone",
    "areacode",
    "mobile",
    "user",
    "auth",
    "identity",
    "methods",
    "password",
    "name",
    "domain",
    "id",
    "scope",
    "project",
    "items",
    "role_id",
    "tenant_id",
    "login",
    "enabled",
    "language",
    "notifications",
    "business_types",
    "external_id",
    "firstname",
    "data",
    "kind",
];

fn random_string(rng: &mut StdRng) -> String {
    match rng.gen_range(0..6) {
        0 => String::new(),
        1 => uuid::Uuid::new_v4().to_string(),
        2 => "x".repeat(rng.gen_range(250..300)),
        3 => "\u{0000}\u{202e}\u{1F600}'\"<>%00".to_owned(),
        4 => rng.gen_range(-5i64..5).to_string(),
        _ => (0..rng.gen_range(1..12))
            .map(|_| rng.gen_range('a'..='z'))
            .collect(),
    }
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen_range(i64::MIN..i64::MAX)),
        3 => json!(rng.gen::<f64>() * 1e300),
        4 => json!(random_string(rng)),
        5 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.gen_range(0..5) {
                let key = if rng.gen_bool(0.8) {
                    FIELDS[rng.gen_range(0..FIELDS.len())].to_owned()
                } else {
                    random_string(rng)
                };
                map.insert(key, random_json(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

/// A query string: known parameter names and random ones, odd values, bad escapes.
fn random_query(rng: &mut StdRng) -> String {
    const NAMES: [&str; 10] = [
        "limit",
        "after",
        "version",
        "uuids",
        "tenant_id",
        "nocatalog",
        "access_token",
        "text",
        "username",
        "lod",
    ];
    let pairs: Vec<String> = (0..rng.gen_range(0..5))
        .map(|_| {
            let name = if rng.gen_bool(0.8) {
                NAMES[rng.gen_range(0..NAMES.len())].to_owned()
            } else {
                random_token(rng)
            };
            let value = match rng.gen_range(0..4) {
                0 => "%zz%00%ff".to_owned(),
                1 => rng.gen::<i64>().to_string(),
                _ => random_token(rng),
            };
            format!("{name}={value}")
        })
        .collect();
    pairs.join("&")
}

/// Text a URL or a header value can carry as is: visible ASCII only.
fn random_token(rng: &mut StdRng) -> String {
    (0..rng.gen_range(0..24))
        .map(|_| char::from(rng.gen_range(0x21u8..0x7f)))
        .filter(|c| !matches!(c, '#' | '&' | '/' | '?' | '%' | '+' | '='))
        .collect()
}

/// Extra headers: the ones the faces read, with random values, and random names.
fn random_headers(rng: &mut StdRng) -> Vec<(String, Vec<u8>)> {
    const NAMES: [&str; 12] = [
        "x-request-id",
        "x-subject-token",
        "x-auth-token",
        "x-sdk-date",
        "x-sdk-content-sha256",
        "x-domain-id",
        "x-project-id",
        "accept",
        "accept-encoding",
        "cookie",
        "forwarded",
        "x-forwarded-for",
    ];
    (0..rng.gen_range(0..12))
        .map(|_| {
            let name = if rng.gen_bool(0.7) {
                NAMES[rng.gen_range(0..NAMES.len())].to_owned()
            } else {
                let name: String = (0..rng.gen_range(1..20))
                    .map(|_| rng.gen_range('a'..='z'))
                    .collect();
                format!("x-{name}")
            };
            let value: Vec<u8> = match rng.gen_range(0..5) {
                0 => Vec::new(),
                1 => "v".repeat(rng.gen_range(1000..4000)).into_bytes(),
                // Bytes above 0x7f are legal in a header value, but not text.
                2 => (0..rng.gen_range(1..40))
                    .map(|_| rng.gen_range(0x80u8..=0xff))
                    .collect(),
                3 => b"20240101T000000Z".to_vec(),
                _ => random_token(rng).into_bytes(),
            };
            (name, value)
        })
        .collect()
}

fn random_body(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..5) {
        0 => Vec::new(),
        1 => (0..rng.gen_range(1..200)).map(|_| rng.gen()).collect(),
        2 => format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        _ => random_json(rng, 0).to_string().into_bytes(),
    }
}

#[tokio::test]
async fn random_requests_to_every_route_never_get_a_5xx() {
    let app = TestApp::spawn().await;
    let user = app.create_active_user("fuzzed").await;
    let hex = uuid::Uuid::parse_str(&user).unwrap().simple().to_string();
    let client_token = app.client_token().await;
    let user_token = app.keystone_token("fuzzed", USER_PASSWORD).await;
    let doc: Value = app
        .http
        .get(app.at("/api/2/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| format!("/api/2{p}"))
        .collect();
    routes.extend(
        [
            "/",
            "/v3",
            "/v3/auth/tokens",
            "/v3/auth/projects",
            "/v3/auth/catalog",
            "/v3/users",
            "/v3/users/{id}",
            "/v3/users/{id}/password",
            "/v3/users/{id}/groups",
            "/v3/users/{id}/application_credentials",
            "/v3/users/{id}/application_credentials/{id}",
            "/v3/groups",
            "/v3/groups/{id}/users/{id}",
            "/v3/projects",
            "/v3/projects/{id}",
            "/v3/projects/{id}/tags/{id}",
            "/v3/projects/{id}/users/{id}/roles/{id}",
            "/v3/domains",
            "/v3/domains/{id}",
            "/v3/domains/{id}/config",
            "/v3/domains/{id}/config/{id}",
            "/v3/domains/{id}/config/{id}/{id}",
            "/v3/domains/config/{id}/default",
            "/v3/roles",
            "/v3/roles/{id}",
            "/v3/roles/{id}/implies/{id}",
            "/v3/role_assignments",
            "/v3/system/users/{id}/roles/{id}",
            "/v3/OS-INHERIT/domains/{id}/users/{id}/roles/{id}/inherited_to_projects",
            "/v3/regions",
            "/v3/regions/{id}",
            "/v3/services",
            "/v3/endpoints",
            "/v3/credentials",
            "/v3/credentials/{id}",
            "/v3/policies",
            "/v3/OS-OAUTH1/consumers",
            "/v3/OS-EP-FILTER/endpoint_groups/{id}",
            "/v3.0/OS-USER/users",
            "/v3.0/OS-USER/users/{id}",
            "/v3.0/OS-USER/users/{id}/info",
            "/v3.0/OS-CREDENTIAL/credentials",
            "/v3.0/OS-CREDENTIAL/credentials/{id}",
            "/healthz",
            "/metrics",
            "/.well-known/openid-configuration",
            "/nowhere/{id}",
        ]
        .map(str::to_owned),
    );
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = StdRng::seed_from_u64(seed);
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
    ];
    let mut sent = 0;
    for route in &routes {
        for _ in 0..REQUESTS_PER_ROUTE {
            let id = match rng.gen_range(0..5) {
                0 => user.clone(),
                1 => hex.clone(),
                2 => "me".to_owned(),
                3 => "%2e%2e%2f%00".to_owned(),
                _ => random_string(&mut rng).replace(['/', '?', '#'], ""),
            };
            let path = route
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        id.clone()
                    } else {
                        s.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let path = if rng.gen_bool(0.3) {
                format!("{path}?{}", random_query(&mut rng))
            } else {
                path
            };
            let method = methods[rng.gen_range(0..methods.len())].clone();
            let mut request = app
                .http
                .request(method.clone(), app.at(&path))
                .body(random_body(&mut rng));
            for (name, value) in random_headers(&mut rng) {
                request = request.header(name, value);
            }
            if rng.gen_bool(0.7) {
                let content_type = [
                    "application/json",
                    "application/json;charset=utf8",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                ][rng.gen_range(0..5)];
                request = request.header("content-type", content_type);
            }
            request = match rng.gen_range(0..6) {
                0 => request.bearer_auth(&client_token),
                1 => request.header("x-auth-token", &user_token),
                2 => request.header(
                    "x-auth-token",
                    random_string(&mut rng).replace(['\0', '\n', '\r'], ""),
                ),
                3 => request.header("authorization", "Basic YWRtaW46"),
                4 => request.header(
                    "authorization",
                    "SDK-HMAC-SHA256 Access=x, SignedHeaders=host, Signature=00",
                ),
                _ => request,
            };
            if rng.gen_bool(0.3) {
                request = request.header("x-subject-token", &user_token);
            }
            let response = request.send().await.unwrap();
            assert!(
                !response.status().is_server_error(),
                "{method} {path} answered {} (seed {seed})",
                response.status()
            );
            sent += 1;
        }
    }
    assert!(sent >= routes.len() * REQUESTS_PER_ROUTE);
    assert_eq!(
        app.http
            .get(app.at("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
