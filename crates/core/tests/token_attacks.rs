//! The JWT attack checklist against token verification: every forged, altered, confused or
//! malformed token is refused, whatever key algorithm signs. Tokens are built here by hand,
//! with and without the real signing key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use warden_core::keys::{KeyRing, SigningAlg};
use warden_core::tokens::{KeystoneClaims, TokenRequest, TokenService};
use warden_core::{Clock, Kek, ManualClock, Subject};
use warden_domain::{Timestamp, UserId};
use warden_store_sqlite::SqliteStore;

const ISSUER: &str = "http://warden.test";
const AUDIENCE: &str = "warden";

struct Fixture {
    _dir: tempfile::TempDir,
    keys: Arc<KeyRing>,
    tokens: TokenService,
    clock: ManualClock,
    good: String,
}

async fn fixture(alg: SigningAlg) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let kek = Kek::from_text(&Kek::generate_text()).unwrap();
    let keys = Arc::new(KeyRing::new(Arc::new(store), Arc::new(kek)));
    let clock = ManualClock::at(Timestamp::from_micros(1_800_000_000_000_000));
    keys.init(alg, clock.now()).await.unwrap();
    let tokens = TokenService::new(
        keys.clone(),
        Arc::new(clock.clone()),
        ISSUER.into(),
        AUDIENCE.into(),
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
    Fixture {
        _dir: dir,
        keys,
        tokens,
        clock,
        good,
    }
}

fn segments(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    let decode =
        |s: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]), parts[2].to_owned())
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn b64_bytes(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Fixture {
    fn now(&self) -> i64 {
        self.clock.now().seconds()
    }

    /// Signs `header` + `claims` with the real active key, exactly as given.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let key = self.keys.active().unwrap();
        // The exact bytes of `header` and `claims` are signed, whatever they say.
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = b64_bytes(&key.sign(input.as_bytes()).unwrap());
        format!("{input}.{signature}")
    }

    fn valid_claims(&self) -> Value {
        let (_, claims, _) = segments(&self.good);
        claims
    }

    fn header(&self) -> Value {
        let (header, _, _) = segments(&self.good);
        header
    }

    async fn refused(&self, token: &str, case: &str) {
        assert!(self.tokens.verify(token).await.is_err(), "accepted: {case}");
    }
}

#[tokio::test]
async fn the_reference_token_is_accepted_and_a_re_signed_copy_too() {
    let f = fixture(SigningAlg::Rs256).await;
    assert!(f.tokens.verify(&f.good).await.is_ok());
    let again = f.sign(&f.header(), &f.valid_claims());
    assert!(
        f.tokens.verify(&again).await.is_ok(),
        "the test signer must produce valid tokens"
    );
}

#[tokio::test]
async fn the_verified_token_cache_stays_within_its_bytes() {
    let f = fixture(SigningAlg::Rs256).await;
    let tokens: Vec<String> = (0..200)
        .map(|i| {
            let mut claims = f.valid_claims();
            claims["jti"] = json!(format!("token-{i}"));
            f.sign(&f.header(), &claims)
        })
        .collect();
    for token in &tokens {
        assert!(f.tokens.verify(token).await.is_ok());
        assert!(f.tokens.cached_bytes() <= 64 * 1024);
    }
    // 200 tokens of about 1.5 KiB each (300 KiB) cannot all be held within 64 KiB; every one,
    // cached or not, still verifies.
    assert!(f.tokens.cached_bytes() > 32 * 1024);
    for token in &tokens {
        assert!(f.tokens.verify(token).await.is_ok());
    }
}

#[tokio::test]
async fn alg_none_in_every_spelling_is_refused() {
    let f = fixture(SigningAlg::Rs256).await;
    let (mut header, claims, signature) = segments(&f.good);
    for alg in ["none", "None", "NONE", "nOnE"] {
        header["alg"] = json!(alg);
        let unsigned = format!("{}.{}", b64(&header), b64(&claims));
        f.refused(&format!("{unsigned}."), alg).await;
        f.refused(&format!("{unsigned}.{signature}"), alg).await;
        f.refused(&unsigned, alg).await;
    }
}

#[tokio::test]
async fn tampered_signatures_and_payloads_are_refused() {
    let f = fixture(SigningAlg::Rs256).await;
    // With the genuine token verified and cached, no copy of it differing anywhere passes.
    assert!(f.tokens.verify(&f.good).await.is_ok());
    let parts: Vec<&str> = f.good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    f.refused(&format!("{h}.{p}."), "stripped").await;
    f.refused(&format!("{h}.{p}.{}", &s[..s.len() / 2]), "truncated")
        .await;
    let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
    sig[10] ^= 1;
    f.refused(
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&sig)),
        "bit flipped in signature",
    )
    .await;
    let mut claims = f.valid_claims();
    claims["scope"] = json!([{"tuid": "everything", "rn": "account-server", "role": "root_admin"}]);
    f.refused(
        &format!("{h}.{}.{s}", b64(&claims)),
        "widened scope, old signature",
    )
    .await;
    let mut header = f.header();
    header["typ"] = json!("at+jwt");
    f.refused(
        &format!("{}.{p}.{s}", b64(&header)),
        "header changed, old signature",
    )
    .await;
    let other = fixture(SigningAlg::Rs256).await;
    let other_sig = other.good.split('.').nth(2).unwrap().to_owned();
    f.refused(&format!("{h}.{p}.{other_sig}"), "spliced signature")
        .await;
    f.refused(&other.good, "a token of another issuer's keys")
        .await;
}

#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let f = fixture(SigningAlg::Rs256).await;
    let jwk = f.keys.active().unwrap().jwk.clone();
    let public_forms: Vec<Vec<u8>> = vec![
        jwk.to_string().into_bytes(),
        URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap(),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
    ];
    for (i, secret) in public_forms.iter().enumerate() {
        for alg in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            let mut header = Header::new(alg);
            header.kid = Some(jwk["kid"].as_str().unwrap().to_owned());
            let token = jsonwebtoken::encode(
                &header,
                &f.valid_claims(),
                &EncodingKey::from_secret(secret),
            )
            .unwrap();
            f.refused(&token, &format!("{alg:?} with public key form {i}"))
                .await;
        }
    }
    for alg in ["PS256", "RS512", "ES256", "EdDSA"] {
        let mut header = f.header();
        header["alg"] = json!(alg);
        f.refused(&f.sign(&header, &f.valid_claims()), alg).await;
    }
}

#[tokio::test]
async fn ecdsa_psychic_and_malformed_signatures_are_refused() {
    let f = fixture(SigningAlg::Es256).await;
    assert!(f.tokens.verify(&f.good).await.is_ok());
    let parts: Vec<&str> = f.good.split('.').collect();
    let (h, p) = (parts[0], parts[1]);
    f.refused(
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode([0u8; 64])),
        "r = s = 0",
    )
    .await;
    f.refused(
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode([0xffu8; 64])),
        "r, s >= n",
    )
    .await;
    let raw = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    // The same r and s in ASN.1 DER, where JOSE requires 64 raw bytes.
    let mut der = vec![0x30, 68, 0x02, 32];
    der.extend_from_slice(&raw[..32]);
    der.extend_from_slice(&[0x02, 32]);
    der.extend_from_slice(&raw[32..]);
    f.refused(
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&der)),
        "DER signature",
    )
    .await;
}

#[tokio::test]
async fn ed25519_non_canonical_and_short_signatures_are_refused() {
    let f = fixture(SigningAlg::EdDsa).await;
    assert!(f.tokens.verify(&f.good).await.is_ok());
    let parts: Vec<&str> = f.good.split('.').collect();
    let (h, p) = (parts[0], parts[1]);
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    f.refused(
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&sig[..63])),
        "63-byte signature",
    )
    .await;
    // S + L is the same point mathematically but not canonical: strict verifiers refuse it.
    sig[63] |= 0xf0;
    f.refused(
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&sig)),
        "S >= L",
    )
    .await;
    let mut small_order = vec![0u8; 64];
    small_order[0] = 1;
    f.refused(
        &format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&small_order)),
        "small-order R",
    )
    .await;
}

#[tokio::test]
async fn keys_named_or_carried_by_the_header_are_never_used() {
    let f = fixture(SigningAlg::Rs256).await;
    let jwk = f.keys.active().unwrap().jwk.clone();
    for (name, value) in [
        ("jwk", jwk.clone()),
        ("jku", json!("http://192.0.2.1/keys")),
        ("x5u", json!("http://192.0.2.1/cert.pem")),
        ("x5c", json!([STANDARD.encode("certificate")])),
        ("crit", json!(["exp"])),
        ("zip", json!("DEF")),
    ] {
        let mut header = f.header();
        header[name] = value;
        // Validly signed with our own key: refused for the header alone.
        f.refused(&f.sign(&header, &f.valid_claims()), name).await;
    }
}

#[tokio::test]
async fn unknown_and_malicious_kids_are_refused() {
    let f = fixture(SigningAlg::Rs256).await;
    for kid in [
        "unknown",
        "../../../../dev/null",
        "' OR '1'='1",
        "$(reboot)",
        "",
    ] {
        let mut header = f.header();
        header["kid"] = json!(kid);
        f.refused(&f.sign(&header, &f.valid_claims()), kid).await;
    }
    let mut header = f.header();
    header["kid"] = json!("k".repeat(11 * 1024));
    f.refused(&f.sign(&header, &f.valid_claims()), "a 11 KiB kid")
        .await;
    let mut header = f.header();
    header.as_object_mut().unwrap().remove("kid");
    f.refused(&f.sign(&header, &f.valid_claims()), "no kid")
        .await;
}

/// A change to a token's claims.
type Alteration = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn claims_are_checked_after_the_signature() {
    let f = fixture(SigningAlg::Rs256).await;
    let now = f.now();
    let cases: Vec<(&str, Alteration)> = vec![
        (
            "missing exp",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        ("expired", Box::new(move |c| c["exp"] = json!(now - 1))),
        (
            "nbf in the future",
            Box::new(move |c| c["nbf"] = json!(now + 120)),
        ),
        (
            "iat in the future",
            Box::new(move |c| c["iat"] = json!(now + 3600)),
        ),
        (
            "lives a year",
            Box::new(move |c| c["exp"] = json!(now + 365 * 86_400)),
        ),
        (
            "wrong iss",
            Box::new(|c| c["iss"] = json!("http://evil.test")),
        ),
        (
            "missing aud",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
        ),
        ("wrong aud", Box::new(|c| c["aud"] = json!("someone-else"))),
        (
            "aud array without us",
            Box::new(|c| c["aud"] = json!(["a", "b"])),
        ),
        (
            "refresh token used as access token",
            Box::new(|c| c["token_use"] = json!("refresh")),
        ),
        (
            "id token used as access token",
            Box::new(|c| c["token_use"] = json!("id")),
        ),
        (
            "unknown subject type",
            Box::new(|c| c["sub_type"] = json!("root")),
        ),
        (
            "exp as a string",
            Box::new(move |c| c["exp"] = json!((now + 100).to_string())),
        ),
        (
            "exp as a float",
            Box::new(move |c| c["exp"] = json!(now as f64 + 100.5)),
        ),
        ("exp overflowing", Box::new(|c| c["exp"] = json!(u64::MAX))),
        ("negative exp", Box::new(|c| c["exp"] = json!(-1))),
    ];
    for (case, alter) in cases {
        let mut claims = f.valid_claims();
        alter(&mut claims);
        f.refused(&f.sign(&f.header(), &claims), case).await;
    }
    // Passing time alone ends a token.
    let token = f.sign(&f.header(), &f.valid_claims());
    assert!(f.tokens.verify(&token).await.is_ok());
    f.clock.advance_seconds(3601);
    f.refused(&token, "expired while cached").await;
}

#[tokio::test]
async fn malformed_encodings_are_refused() {
    let f = fixture(SigningAlg::Rs256).await;
    let parts: Vec<&str> = f.good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let standard = |x: &str| STANDARD.encode(URL_SAFE_NO_PAD.decode(x).unwrap());
    f.refused(
        &format!("{}.{}.{}", standard(h), standard(p), standard(s)),
        "standard base64 with padding",
    )
    .await;
    f.refused(&format!("{h}.{p}.{s}="), "padding on the signature")
        .await;
    f.refused(&format!("{h}. {p}.{s}"), "whitespace").await;
    f.refused(&format!("{h}.{p}\n.{s}"), "newline").await;
    f.refused(&format!("{h}.{p}.{s}.x"), "four segments").await;
    f.refused(&format!("{h}.x.{p}.{s}.y"), "JWE-shaped").await;
    f.refused(
        &format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00])),
        "not UTF-8",
    )
    .await;
    f.refused(&"a.".repeat(600_000), "a megabyte").await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    f.refused(
        &format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(&deep)),
        "nested 10 000 deep",
    )
    .await;

    // Duplicate members, validly signed over the exact bytes.
    let key = f.keys.active().unwrap();
    let header_text = format!(
        r#"{{"alg":"RS256","alg":"none","typ":"JWT","kid":"{}"}}"#,
        key.kid
    );
    let claims = f.valid_claims();
    let claims_text = claims.to_string();
    let duplicated_claims = format!(
        "{},\"exp\":{}}}",
        &claims_text[..claims_text.len() - 1],
        f.now() + 10_000_000
    );
    for (header, body) in [
        (header_text.clone(), claims_text.clone()),
        (f.header().to_string(), duplicated_claims),
    ] {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&header),
            URL_SAFE_NO_PAD.encode(&body)
        );
        let signature = b64_bytes(&key.sign(input.as_bytes()).unwrap());
        f.refused(&format!("{input}.{signature}"), "duplicate members")
            .await;
    }
}
