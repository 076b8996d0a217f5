//! Fuzzing the parsers every face shares: JSON bodies, query strings and credential headers,
//! with near-valid input (real shapes with wrong types, deep nesting, huge numbers, unicode,
//! mutated headers) and arbitrary bytes. Nothing panics, every refusal is a clean rejection,
//! and JSON errors never echo a value sent. `FUZZ_SEED` varies the cases; failures are not
//! persisted to files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::Credential;
use warden_http::{
    basic, bearer, keystone_credential, parse_json, parse_query, token_header, BodyRejection,
    MalformedCredentials, MAX_JSON_DEPTH,
};

const CASES: u32 = 2000;

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
        max_shrink_iters: 512,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Marks every string the generators put into a body, so an error text echoing one is seen.
const MARK: &str = "SECRET-VALUE";

/// A body shaped like the faces' requests, with the field names they know.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Body {
    version: i64,
    enabled: Option<bool>,
    login: Option<String>,
    contact: Option<Contact>,
    notifications: Option<Vec<String>>,
    #[serde(default)]
    extra: Value,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Contact {
    email: Option<String>,
    phone: Option<String>,
    areacode: Option<String>,
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether a string anywhere in `v`, a member name included, holds a NUL character.
fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(members) => members
            .iter()
            .any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(1e308)),
        any::<String>().prop_map(|s| Value::from(format!("{MARK}{s}"))),
        Just(Value::from(format!("{MARK}\u{0}\u{202e}\u{1F600}\"\\"))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let names = proptest::sample::select(vec![
        "version",
        "enabled",
        "login",
        "contact",
        "email",
        "phone",
        "areacode",
        "notifications",
        "extra",
        "",
        "\u{0}",
    ]);
    leaf().prop_recursive(4, 32, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((names.clone(), inner), 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// A value wrapped `levels` times in arrays or objects.
fn nest(mut v: Value, levels: usize, objects: bool) -> Value {
    for _ in 0..levels {
        v = if objects {
            json!({ "contact": v })
        } else {
            json!([v])
        };
    }
    v
}

/// A body, with its nesting depth and whether it holds a NUL when it is valid JSON.
fn body_bytes() -> impl Strategy<Value = (Vec<u8>, Option<(usize, bool)>)> {
    prop_oneof![
        // Near-valid: a real shape with random values and extra members.
        4 => (any::<i64>(), value(), value()).prop_map(|(version, contact, extra)| {
            let v = json!({"version": version, "contact": contact, "extra": extra});
            let d = (depth(&v), holds_nul(&v));
            (v.to_string().into_bytes(), Some(d))
        }),
        2 => value().prop_map(|v| { let d = (depth(&v), holds_nul(&v)); (v.to_string().into_bytes(), Some(d)) }),
        // Deep nesting around the limit, as arrays or objects.
        2 => (value(), 50usize..200, any::<bool>()).prop_map(|(v, levels, objects)| {
            let v = nest(v, levels, objects);
            let d = (depth(&v), holds_nul(&v));
            (v.to_string().into_bytes(), Some(d))
        }),
        // Unbalanced brackets and huge numbers in text.
        1 => (1usize..3000, any::<bool>()).prop_map(|(n, open)| {
            let text = if open { "[".repeat(n) } else { format!("{}{}", "{\"a\":".repeat(n), "1") };
            (text.into_bytes(), None)
        }),
        1 => "[0-9]{300,400}".prop_map(|n| (format!("{{\"version\": {n}}}").into_bytes(), None)),
        // Arbitrary bytes.
        2 => any::<Vec<u8>>().prop_map(|b| (b, None)),
    ]
}

#[test]
fn fuzz_parse_json_rejects_cleanly_and_never_echoes_values() {
    runner(CASES)
        .run(&body_bytes(), |(bytes, shape)| {
            let typed = parse_json::<Body>(&bytes);
            let untyped = parse_json::<Value>(&bytes);
            if let Some((depth, nul)) = shape {
                prop_assert_eq!(
                    depth > MAX_JSON_DEPTH,
                    matches!(&untyped, Err(BodyRejection::Malformed(why)) if why.contains("nested deeper")),
                    "depth {} answered {:?}",
                    depth,
                    untyped
                );
                if depth <= MAX_JSON_DEPTH {
                    // A NUL in any string is refused, and only that refuses valid JSON.
                    prop_assert_eq!(
                        nul,
                        matches!(&untyped, Err(BodyRejection::Malformed(why)) if why.contains("NUL")),
                        "NUL {} answered {:?}",
                        nul,
                        untyped
                    );
                    prop_assert!(nul || untyped.is_ok(), "valid JSON refused: {untyped:?}");
                }
            }
            for outcome in [typed.as_ref().err(), untyped.as_ref().err()]
                .into_iter()
                .flatten()
            {
                match outcome {
                    BodyRejection::Malformed(why) => {
                        prop_assert!(!why.contains(MARK), "the error echoes a value: {why}");
                        prop_assert!(why.len() < 300, "{why}");
                    }
                    BodyRejection::Empty => {
                        prop_assert!(bytes.iter().all(u8::is_ascii_whitespace))
                    }
                    other => prop_assert!(false, "parse_json cannot answer {other:?}"),
                }
            }
            if let Ok(value) = &untyped {
                // What parse_json accepts, serde_json accepts as the same value.
                prop_assert_eq!(&serde_json::from_slice::<Value>(&bytes).unwrap(), value);
            }
            if typed.is_ok() {
                prop_assert!(untyped.is_ok());
            }
            Ok(())
        })
        .unwrap();
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Query {
    limit: Option<i64>,
    after: Option<String>,
    tenant_id: Option<String>,
    enabled: Option<bool>,
    uuids: Option<String>,
    nocatalog: Option<String>,
}

fn query_text() -> impl Strategy<Value = String> {
    let name = proptest::sample::select(vec![
        "limit",
        "after",
        "tenant_id",
        "enabled",
        "uuids",
        "nocatalog",
        "access_token",
        "",
        "lim%69t",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("true".to_owned()),
        Just("1e999".to_owned()),
        Just("%".to_owned()),
        Just("%zz%00%ff%C3%28".to_owned()),
        "[0-9]{20,40}",
        "[ -~]{0,16}",
        any::<String>(),
    ];
    prop_oneof![
        4 => proptest::collection::vec((name, value, any::<bool>()), 0..7).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v, eq)| if eq { format!("{k}={v}") } else { k.to_owned() })
                .collect::<Vec<_>>()
                .join("&")
        }),
        1 => any::<String>(),
    ]
}

#[test]
fn fuzz_parse_query_never_panics() {
    runner(CASES)
        .run(&proptest::option::of(query_text()), |query| {
            let typed = parse_query::<Query>(query.as_deref());
            if let Err(why) = &typed {
                prop_assert!(!why.is_empty());
            }
            // A query of known names with well-formed values always parses.
            let untyped = parse_query::<Vec<(String, String)>>(query.as_deref());
            prop_assert!(untyped.is_ok(), "{:?}", untyped);
            Ok(())
        })
        .unwrap();
}

/// Header values as a client can send them: visible ASCII, spaces and tabs, and bytes above
/// 0x7f (which are not text).
fn header_value() -> impl Strategy<Value = HeaderValue> {
    let byte = prop_oneof![
        8 => 0x20u8..0x7f,
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    let raw = proptest::collection::vec(byte, 0..120);
    let scheme = proptest::sample::select(vec![
        "", "Basic ", "basic ", "BASIC  ", "Bearer ", "bearer\t", "Bearer", "Token ", " Bearer ",
    ]);
    let credential = prop_oneof![
        raw.clone(),
        // Base64 of `user:password` pairs, some without a colon, some not UTF-8.
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| STANDARD.encode(b).into_bytes()),
        ("[ -~]{0,12}", "[ -~]{0,12}")
            .prop_map(|(u, p)| STANDARD.encode(format!("{u}:{p}")).into_bytes()),
    ];
    (scheme, credential).prop_map(|(scheme, credential)| {
        let mut bytes = scheme.as_bytes().to_vec();
        bytes.extend(credential);
        HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| HeaderValue::from_static("x"))
    })
}

#[test]
fn fuzz_credential_headers_parse_or_refuse() {
    let strategy = (header_value(), proptest::option::of(header_value()));
    runner(CASES)
        .run(&strategy, |(authorization, auth_token)| {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", authorization.clone());
            if let Some(token) = &auth_token {
                headers.insert("x-auth-token", token.clone());
            }
            let text = std::str::from_utf8(authorization.as_bytes()).ok();
            match bearer(&headers) {
                Ok(Some(token)) => {
                    prop_assert!(!token.is_empty());
                    prop_assert_eq!(token.trim(), token);
                    let text = text.unwrap();
                    prop_assert!(text[..7].eq_ignore_ascii_case("bearer "), "{:?}", text);
                }
                Ok(None) => {}
                Err(MalformedCredentials) => {}
            }
            match basic(&headers) {
                Ok(Some((user, password))) => {
                    // Exactly what was encoded: the user up to the first colon, the rest the
                    // password.
                    let (_, encoded) = text.unwrap().split_once(' ').unwrap();
                    let decoded = STANDARD.decode(encoded.trim()).unwrap();
                    prop_assert_eq!(decoded, format!("{user}:{password}").into_bytes());
                    prop_assert!(!user.contains(':'));
                }
                Ok(None) => {}
                Err(MalformedCredentials) => {}
            }
            match keystone_credential(&headers) {
                Ok(Some(Credential::Token(token))) => {
                    let expected = match token_header(&headers, "x-auth-token") {
                        Ok(Some(t)) => t,
                        _ => bearer(&headers).unwrap().unwrap().to_owned(),
                    };
                    prop_assert_eq!(token, expected);
                }
                Ok(Some(other)) => prop_assert!(false, "not a token: {other:?}"),
                Ok(None) => prop_assert!(auth_token.is_none()),
                Err(MalformedCredentials) => {}
            }
            Ok(())
        })
        .unwrap();
}
