//! Fuzzing AK/SK request signing: the `Authorization` header parser with mutated and arbitrary
//! headers, and verification with mutated requests. Nothing panics; a parsed header always has
//! its three parts; a signature verifies exactly when the request canonicalises to the one
//! that was signed. `FUZZ_SEED` varies the cases; failures are not persisted to files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use warden_core::aksk::{
    canonical_request, parse_authorization, sign, string_to_sign, verify, Credentials,
    SignatureError, SignedRequest, ALGORITHM,
};

const CASES: u32 = 2000;
const SECRET: &str = "TESTSKsecret";
const DATE: &str = "20240101T000000Z";
/// `DATE` as Unix seconds.
const NOW: i64 = 1_704_067_200;

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

fn valid_header() -> String {
    format!(
        "{ALGORITHM} Access=TESTAK1234567890, SignedHeaders=content-type;host;x-sdk-date, Signature={}",
        "4f90925f1efb0ea52c4ab03f0f7e54e600eaea7b6ac5b0ad252b375dac8ef85f"
    )
}

/// Text edits of a header: characters the grammar cares about, and anything else.
fn mutated(base: String) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(vec![
            ",",
            ", ",
            "=",
            ";",
            " ",
            "",
            "Access=",
            "SignedHeaders=",
            "Signature=",
            "\u{0}",
            "\u{202e}",
            "é",
            "==",
            ",,",
            "SDK-HMAC-SHA256",
        ])
        .prop_map(str::to_owned),
        ".{0,3}",
    ];
    proptest::collection::vec((any::<usize>(), any::<usize>(), piece), 1..5).prop_map(
        move |edits| {
            let mut chars: Vec<char> = base.chars().collect();
            for (at, cut, piece) in edits {
                let at = at % (chars.len() + 1);
                let end = (at + cut % 4).min(chars.len());
                chars.splice(at..end, piece.chars());
            }
            chars.into_iter().collect()
        },
    )
}

fn check_parse(header: &str) -> Result<(), TestCaseError> {
    let prefix = format!("{ALGORITHM} ");
    match parse_authorization(header) {
        None => prop_assert!(
            !header.starts_with(&prefix),
            "{header:?}: a header of this algorithm must parse or be refused"
        ),
        Some(Ok(c)) => {
            prop_assert!(header.starts_with(&prefix), "{:?}", header);
            prop_assert!(!c.access_key.is_empty(), "{header:?}");
            prop_assert!(!c.signed_headers.is_empty(), "{header:?}");
            prop_assert_eq!(c.signature.len(), 64, "{:?}", header);
            prop_assert!(c
                .signed_headers
                .iter()
                .all(|h| *h == h.to_ascii_lowercase()));
        }
        Some(Err(e)) => prop_assert_eq!(e, SignatureError::Malformed),
    }
    Ok(())
}

#[test]
fn fuzz_aksk_authorization_header_parser() {
    let strategy = prop_oneof![
        3 => mutated(valid_header()),
        1 => any::<String>(),
        1 => any::<String>().prop_map(|s| format!("{ALGORITHM} {s}")),
        1 => proptest::collection::vec(
            ("[A-Za-z]{0,14}", "[ -~]{0,70}"),
            0..5
        )
        .prop_map(|parts| {
            let list: Vec<String> = parts.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{ALGORITHM} {}", list.join(", "))
        }),
    ];
    runner(CASES)
        .run(&strategy, |header| check_parse(&header))
        .unwrap();
    assert!(matches!(parse_authorization(&valid_header()), Some(Ok(_))));
}

/// A request and what may be changed in it before it reaches the server.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn signed(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }
}

fn original() -> Request {
    Request {
        method: "PUT".into(),
        path: "/v3.0/OS-USER/users/u-0001/info".into(),
        query: Some("a=1&b=x%20y".into()),
        headers: vec![
            (
                "Content-Type".into(),
                "application/json;charset=utf-8".into(),
            ),
            ("X-Sdk-Date".into(), DATE.into()),
            ("Host".into(), "127.0.0.1:8080".into()),
        ],
        body: br#"{"user": {"email": "a@example.com"}}"#.to_vec(),
    }
}

fn signed_list() -> Vec<String> {
    ["content-type", "host", "x-sdk-date"]
        .map(str::to_owned)
        .to_vec()
}

#[derive(Clone, Debug)]
enum Change {
    Method(String),
    Path(String),
    Query(Option<String>),
    HeaderValue(usize, String),
    HeaderName(usize, String),
    AddHeader(String, String),
    DropHeader(usize),
    Body(Vec<u8>),
    FlipBodyBit(usize, u8),
    Signature(String),
    SignedHeaders(Vec<String>),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        prop_oneof![Just("put".to_owned()), "[A-Z]{0,7}".prop_map(|s| s)].prop_map(Change::Method),
        prop_oneof![
            Just("/v3.0/OS-USER/users/u-0001/info/".to_owned()),
            Just("/v3.0/OS-USER/users/u%2D0001/info".to_owned()),
            Just("/v3.0/OS-USER/users/u-0002/info".to_owned()),
            Just("/v3.0/OS-USER/users/%ZZ/info".to_owned()),
            "/[ -~]{0,40}".prop_map(|s| s),
            any::<String>(),
        ]
        .prop_map(Change::Path),
        prop_oneof![
            Just(None),
            Just(Some("b=x%20y&a=1".to_owned())),
            Just(Some("a=1&b=x+y".to_owned())),
            Just(Some("a=2&b=x%20y".to_owned())),
            Just(Some("%".to_owned())),
            proptest::option::of(any::<String>()),
        ]
        .prop_map(Change::Query),
        (
            0usize..3,
            prop_oneof![
                Just(" 127.0.0.1:8080 ".to_owned()),
                ".{0,20}".prop_map(|s| s)
            ]
        )
            .prop_map(|(i, v)| Change::HeaderValue(i, v)),
        (
            0usize..3,
            prop_oneof![Just("HOST".to_owned()), "[a-z-]{1,12}".prop_map(|s| s)]
        )
            .prop_map(|(i, n)| Change::HeaderName(i, n)),
        ("[a-z-]{1,12}", ".{0,12}").prop_map(|(n, v)| Change::AddHeader(n, v)),
        (0usize..3).prop_map(Change::DropHeader),
        any::<Vec<u8>>().prop_map(Change::Body),
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Change::FlipBodyBit(at, bit)),
        prop_oneof!["[0-9a-f]{64}".prop_map(|s| s), ".{0,70}".prop_map(|s| s)]
            .prop_map(Change::Signature),
        proptest::collection::vec(
            proptest::sample::select(vec!["content-type", "host", "x-sdk-date", "user-agent", ""]),
            0..5
        )
        .prop_map(|v| Change::SignedHeaders(v.into_iter().map(str::to_owned).collect())),
    ]
}

#[test]
fn fuzz_aksk_verify_accepts_exactly_the_signed_request() {
    let base = original();
    let list = signed_list();
    let signature = sign(
        SECRET,
        &string_to_sign(DATE, &canonical_request(&base.signed(), &list)),
    );
    let base_credentials = Credentials {
        access_key: "TESTAK1234567890".into(),
        signed_headers: list.clone(),
        signature: signature.clone(),
    };
    assert_eq!(
        verify(&base.signed(), &base_credentials, SECRET, NOW),
        Ok(())
    );
    let canonical = canonical_request(&base.signed(), &list);
    let still_valid = AtomicUsize::new(0);
    runner(CASES)
        .run(&proptest::collection::vec(change(), 1..4), |changes| {
            let mut request = base.clone();
            let mut credentials = base_credentials.clone();
            for change in changes {
                match change {
                    Change::Method(m) => request.method = m,
                    Change::Path(p) => request.path = p,
                    Change::Query(q) => request.query = q,
                    Change::HeaderValue(i, v) => {
                        if let Some(h) = request.headers.get_mut(i) {
                            h.1 = v;
                        }
                    }
                    Change::HeaderName(i, n) => {
                        if let Some(h) = request.headers.get_mut(i) {
                            h.0 = n;
                        }
                    }
                    Change::AddHeader(n, v) => request.headers.insert(0, (n, v)),
                    Change::DropHeader(i) => {
                        if i < request.headers.len() {
                            request.headers.remove(i);
                        }
                    }
                    Change::Body(b) => request.body = b,
                    Change::FlipBodyBit(at, bit) => {
                        if !request.body.is_empty() {
                            let at = at % request.body.len();
                            request.body[at] ^= 1 << bit;
                        }
                    }
                    Change::Signature(s) => credentials.signature = s,
                    Change::SignedHeaders(h) => credentials.signed_headers = h,
                }
            }
            let outcome = verify(&request.signed(), &credentials, SECRET, NOW);
            let same = credentials.signed_headers == list
                && credentials.signature == signature
                && canonical_request(&request.signed(), &list) == canonical;
            if same {
                // Only changes the canonical form erases (case of names, spacing, encoding).
                prop_assert_eq!(outcome, Ok(()), "{:?}", request);
                still_valid.fetch_add(1, Ordering::Relaxed);
            } else {
                prop_assert!(
                    outcome.is_err(),
                    "accepted a changed request: {request:?} {credentials:?}"
                );
            }
            Ok(())
        })
        .unwrap();
    // Both sides of the equivalence were exercised.
    let still_valid = still_valid.into_inner();
    assert!(
        still_valid > 0 && still_valid < CASES as usize,
        "{still_valid}"
    );
}

#[test]
fn fuzz_aksk_canonical_request_of_arbitrary_input_never_panics() {
    let text = || {
        prop_oneof![
            any::<String>(),
            "[ -~]{0,24}",
            "(%[0-9A-Fa-f]{0,2}|[/?&=+ a-z]){0,12}"
        ]
    };
    let strategy = (
        text(),
        text(),
        proptest::option::of(text()),
        proptest::collection::vec((text(), text()), 0..4),
        any::<Vec<u8>>(),
        proptest::collection::vec(text(), 0..4),
        text(),
    );
    runner(CASES / 2)
        .run(
            &strategy,
            |(method, path, query, headers, body, signed, date)| {
                let mut headers = headers;
                headers.push(("x-sdk-date".into(), date));
                let request = SignedRequest {
                    method: &method,
                    path: &path,
                    query: query.as_deref(),
                    headers: &headers,
                    body: &body,
                };
                let _ = canonical_request(&request, &signed);
                let credentials = Credentials {
                    access_key: "a".into(),
                    signed_headers: signed.clone(),
                    signature: "0".repeat(64),
                };
                prop_assert!(verify(&request, &credentials, SECRET, NOW).is_err());
                Ok(())
            },
        )
        .unwrap();
}
