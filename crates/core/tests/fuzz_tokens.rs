//! Fuzzing token verification: a real signed token, mutated byte by byte or re-encoded with
//! altered JSON, and arbitrary input. Nothing panics, and nothing but the exact token that was
//! issued verifies. `FUZZ_SEED` varies the cases; failures are not persisted to files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{json, Value};
use warden_core::keys::{KeyRing, SigningAlg};
use warden_core::tokens::{KeystoneClaims, TokenRequest, TokenService};
use warden_core::{Clock, Kek, ManualClock, Subject};
use warden_domain::{AuthFailure, DomainError, Timestamp, UserId};
use warden_store_sqlite::SqliteStore;

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

struct Fixture {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    tokens: TokenService,
    good: String,
}

impl Fixture {
    fn new(alg: SigningAlg) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let (tokens, good) = runtime.block_on(async {
            let store = SqliteStore::open(&url).await.unwrap();
            let kek = Kek::from_text(&Kek::generate_text()).unwrap();
            let keys = Arc::new(KeyRing::new(Arc::new(store), Arc::new(kek)));
            let clock = ManualClock::at(Timestamp::from_micros(1_800_000_000_000_000));
            keys.init(alg, clock.now()).await.unwrap();
            let tokens = TokenService::new(
                keys,
                Arc::new(clock),
                "http://warden.test".into(),
                "warden".into(),
                64 * 1024,
            );
            let good = tokens
                .issue(TokenRequest {
                    subject: Subject::User(UserId::new_random()),
                    owner_tenant: "t".into(),
                    scope: vec![],
                    keystone: Some(KeystoneClaims::default()),
                    ttl_seconds: 3600,
                })
                .unwrap()
                .token;
            (tokens, good)
        });
        assert!(runtime.block_on(tokens.verify(&good)).is_ok());
        Self {
            _dir: dir,
            runtime,
            tokens,
            good,
        }
    }

    /// Anything but the issued token is refused as an invalid credential.
    fn refused(&self, token: &str) -> Result<(), TestCaseError> {
        if token == self.good {
            return Ok(());
        }
        match self.runtime.block_on(self.tokens.verify(token)) {
            Err(DomainError::Unauthenticated(AuthFailure::Invalid)) => Ok(()),
            Err(other) => Err(TestCaseError::fail(format!(
                "{token:?} refused with {other:?}, not as an invalid credential"
            ))),
            Ok(_) => Err(TestCaseError::fail(format!("{token:?} was accepted"))),
        }
    }
}

/// One edit of a token's text.
#[derive(Clone, Debug)]
enum Edit {
    FlipBit { at: usize, bit: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Replace { at: usize, byte: u8 },
    Truncate { at: usize },
    SwapSegments { a: usize, b: usize },
    DuplicateSegment { which: usize },
}

/// Bytes an attacker would try: base64url's alphabet, its padding and standard-alphabet
/// cousins, separators, whitespace, and anything else.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => proptest::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
        ),
        2 => proptest::sample::select(b"=+/. \t\n\r\0%\\\"".to_vec()),
        1 => any::<u8>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::FlipBit { at, bit }),
        2 => (any::<usize>(), interesting_byte()).prop_map(|(at, byte)| Edit::Insert { at, byte }),
        2 => any::<usize>().prop_map(|at| Edit::Delete { at }),
        3 => (any::<usize>(), interesting_byte()).prop_map(|(at, byte)| Edit::Replace { at, byte }),
        1 => any::<usize>().prop_map(|at| Edit::Truncate { at }),
        1 => (0usize..3, 0usize..3).prop_map(|(a, b)| Edit::SwapSegments { a, b }),
        1 => (0usize..3).prop_map(|which| Edit::DuplicateSegment { which }),
    ]
}

fn apply(token: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::FlipBit { at, bit } => {
                if !bytes.is_empty() {
                    bytes[at % len] ^= 1 << bit;
                }
            }
            Edit::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), byte),
            Edit::Delete { at } => {
                if !bytes.is_empty() {
                    bytes.remove(at % len);
                }
            }
            Edit::Replace { at, byte } => {
                if !bytes.is_empty() {
                    bytes[at % len] = byte;
                }
            }
            Edit::Truncate { at } => bytes.truncate(at % len),
            Edit::SwapSegments { a, b } => {
                let mut parts: Vec<Vec<u8>> =
                    bytes.split(|&b| b == b'.').map(<[u8]>::to_vec).collect();
                if a < parts.len() && b < parts.len() {
                    parts.swap(a, b);
                }
                bytes = parts.join(&b'.');
            }
            Edit::DuplicateSegment { which } => {
                let mut parts: Vec<Vec<u8>> =
                    bytes.split(|&b| b == b'.').map(<[u8]>::to_vec).collect();
                if which < parts.len() {
                    let copy = parts[which].clone();
                    parts.insert(which, copy);
                }
                bytes = parts.join(&b'.');
            }
        }
    }
    bytes
}

#[test]
fn fuzz_jwt_every_byte_level_mutation_of_a_signed_token_is_refused() {
    for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
        let f = Fixture::new(alg);
        let mut runner = runner(CASES / 2);
        runner
            .run(&proptest::collection::vec(edit(), 1..5), |edits| {
                let mutated = apply(&f.good, &edits);
                // Verification takes text; bytes that are not UTF-8 cannot reach it.
                let text = String::from_utf8_lossy(&mutated);
                f.refused(&text)
            })
            .unwrap();
        // The fixture's own token still verifies: the refusals above were not vacuous.
        assert!(f.runtime.block_on(f.tokens.verify(&f.good)).is_ok());
    }
}

/// A JSON value that is plausible in a JOSE header or a claim set, or plainly wrong.
fn claim_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!("none")),
        Just(json!("HS256")),
        Just(json!("access")),
        Just(json!("refresh")),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A change to one member of a JSON object: a new value, removal, or a new member.
#[derive(Clone, Debug)]
enum JsonEdit {
    Set(usize, Value),
    Remove(usize),
    Add(String, Value),
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    let names = proptest::sample::select(vec![
        "alg",
        "kid",
        "typ",
        "jku",
        "jwk",
        "x5u",
        "x5c",
        "crit",
        "zip",
        "b64",
        "exp",
        "nbf",
        "iat",
        "iss",
        "aud",
        "sub",
        "jti",
        "token_use",
        "scope",
        "ks",
    ]);
    prop_oneof![
        (any::<usize>(), claim_value()).prop_map(|(i, v)| JsonEdit::Set(i, v)),
        any::<usize>().prop_map(JsonEdit::Remove),
        (names, claim_value()).prop_map(|(k, v)| JsonEdit::Add(k.to_owned(), v)),
    ]
}

fn edit_object(segment: &str, edits: &[JsonEdit]) -> String {
    let mut object: serde_json::Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap();
    for edit in edits {
        let keys: Vec<String> = object.keys().cloned().collect();
        match edit {
            JsonEdit::Set(i, v) => {
                object.insert(keys[i % keys.len()].clone(), v.clone());
            }
            JsonEdit::Remove(i) => {
                object.remove(&keys[i % keys.len()]);
            }
            JsonEdit::Add(k, v) => {
                object.insert(k.clone(), v.clone());
            }
        }
    }
    URL_SAFE_NO_PAD.encode(Value::Object(object).to_string())
}

#[test]
fn fuzz_jwt_re_encoded_headers_and_claims_under_the_old_signature_are_refused() {
    let f = Fixture::new(SigningAlg::Rs256);
    let parts: Vec<String> = f.good.split('.').map(str::to_owned).collect();
    let strategy = (
        proptest::collection::vec(json_edit(), 0..3),
        proptest::collection::vec(json_edit(), 0..3),
    );
    runner(CASES)
        .run(&strategy, |(header_edits, claim_edits)| {
            let header = edit_object(&parts[0], &header_edits);
            let claims = edit_object(&parts[1], &claim_edits);
            f.refused(&format!("{header}.{claims}.{}", parts[2]))
        })
        .unwrap();
}

#[test]
fn fuzz_jwt_arbitrary_text_and_segments_are_refused() {
    let f = Fixture::new(SigningAlg::Rs256);
    let segment = prop_oneof![
        "[A-Za-z0-9_-]{0,64}",
        any::<Vec<u8>>().prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        claim_value().prop_map(|v| URL_SAFE_NO_PAD.encode(v.to_string())),
    ];
    let strategy = prop_oneof![
        any::<String>(),
        "[ -~]{0,200}",
        // Around the 8 KiB length cap.
        (8100usize..8300, "[A-Za-z0-9_-]{1,8}").prop_map(|(n, unit)| {
            let text = unit.repeat(n / unit.len() + 1);
            format!("{}.{}.{}", &text[..n / 3], &text[..n / 3], &text[..n / 3])
        }),
        proptest::collection::vec(segment, 0..6).prop_map(|s| s.join(".")),
    ];
    runner(CASES)
        .run(&strategy, |token| f.refused(&token))
        .unwrap();
}
