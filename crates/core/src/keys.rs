//! Signing keys. They live in the store, private parts sealed with the key-encryption key, so
//! every node signs and verifies alike. Each key has a `kid` and decides its own algorithm.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::json;
use warden_domain::{DomainError, Timestamp};
use warden_store::{KeyState, SigningKeyRecord, Store};

use crate::secrets::{random_bytes, Kek};
use crate::store_error;

/// The algorithms Warden signs with. RS256 is what the account face's clients expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlg {
    Rs256,
    Es256,
    EdDsa,
}

impl SigningAlg {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "RS256" => Some(SigningAlg::Rs256),
            "ES256" => Some(SigningAlg::Es256),
            "EdDSA" => Some(SigningAlg::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    fn jwt(&self) -> Algorithm {
        match self {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// A key ready for use: decrypted and parsed once at load time, so that signing a token costs
/// the signature alone (parsing and checking an RSA private key costs more than signing).
pub struct LoadedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    signer: Signer,
    pub decoding: DecodingKey,
    pub jwk: serde_json::Value,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl LoadedKey {
    /// The JWS signature of `message` (`<header>.<payload>`) with this key: RSASSA-PKCS1-v1_5
    /// SHA-256, ECDSA P-256 SHA-256 as the fixed-length `r || s`, or Ed25519.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DomainError> {
        let failed = |_| {
            tracing::error!(kid = %self.kid, "signing with a loaded key failed");
            DomainError::Internal
        };
        match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
            Signer::Ecdsa(pair) => Ok(pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<LoadedKey>>,
    active: Option<Arc<LoadedKey>>,
}

pub struct KeyRing {
    store: Arc<dyn Store>,
    kek: Arc<Kek>,
    set: RwLock<KeySet>,
    last_reload: std::sync::Mutex<Option<Instant>>,
}

/// How often an unknown `kid` may trigger a reload from the store. Bounds the work an
/// attacker can cause by sending made-up key ids.
const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

impl KeyRing {
    pub fn new(store: Arc<dyn Store>, kek: Arc<Kek>) -> Self {
        Self {
            store,
            kek,
            set: RwLock::new(KeySet::default()),
            last_reload: std::sync::Mutex::new(None),
        }
    }

    /// Loads the stored keys, generating and activating one of `alg` if none is active.
    pub async fn init(&self, alg: SigningAlg, now: Timestamp) -> Result<(), DomainError> {
        self.reload().await?;
        if self.active().is_none() {
            // Only if no other node got there first: nodes starting together on an empty
            // database share one key instead of each activating (and retiring) its own.
            let record = generate(alg, &self.kek, now)?;
            self.store
                .insert_first_signing_key(&record)
                .await
                .map_err(store_error)?;
            self.reload().await?;
        }
        Ok(())
    }

    /// Generates a new key, makes it the active one and retires the previous active key.
    pub async fn rotate(&self, alg: SigningAlg, now: Timestamp) -> Result<String, DomainError> {
        let record = generate(alg, &self.kek, now)?;
        self.store
            .insert_signing_key(&record, true)
            .await
            .map_err(store_error)?;
        self.reload().await?;
        Ok(record.kid)
    }

    pub async fn reload(&self) -> Result<(), DomainError> {
        let records = self.store.signing_keys().await.map_err(store_error)?;
        let mut set = KeySet::default();
        for record in records {
            // Keys already loaded in the same state are kept: no decryption on every reload.
            let known = self.lookup(&record.kid).filter(|k| k.state == record.state);
            let key = match known {
                Some(key) => key,
                None => Arc::new(load(&record, &self.kek)?),
            };
            if key.state == KeyState::Active {
                set.active = Some(key.clone());
            }
            set.keys.insert(key.kid.clone(), key);
        }
        if let Ok(mut guard) = self.set.write() {
            *guard = set;
        }
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Some(Instant::now());
        }
        Ok(())
    }

    pub fn active(&self) -> Option<Arc<LoadedKey>> {
        self.set.read().ok().and_then(|s| s.active.clone())
    }

    /// The key with this id, reloading from the store (rate-limited) when it is unknown, so
    /// keys created by another node are found.
    pub async fn find(&self, kid: &str) -> Option<Arc<LoadedKey>> {
        if let Some(key) = self.lookup(kid) {
            return Some(key);
        }
        let due = self
            .last_reload
            .lock()
            .map(|last| last.is_none_or(|t| t.elapsed() >= RELOAD_INTERVAL))
            .unwrap_or(false);
        if due && self.reload().await.is_ok() {
            return self.lookup(kid);
        }
        None
    }

    fn lookup(&self, kid: &str) -> Option<Arc<LoadedKey>> {
        self.set.read().ok().and_then(|s| s.keys.get(kid).cloned())
    }

    /// The published key set: every key that may still verify a live token.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .set
            .read()
            .map(|s| s.keys.values().map(|k| k.jwk.clone()).collect())
            .unwrap_or_default();
        json!({ "keys": keys })
    }
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Creates a key pair and its record; the private key is sealed to its own `kid`.
fn generate(alg: SigningAlg, kek: &Kek, now: Timestamp) -> Result<SigningKeyRecord, DomainError> {
    let kid = hex::encode(random_bytes::<8>());
    let (pkcs8, jwk) = match alg {
        SigningAlg::Rs256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| DomainError::Internal)?;
            let der = pair.as_der().map_err(|_| DomainError::Internal)?;
            let public = pair.public_key();
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero()),
            });
            (der.as_ref().to_vec(), jwk)
        }
        SigningAlg::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| DomainError::Internal)?;
            let doc = pair.to_pkcs8v1().map_err(|_| DomainError::Internal)?;
            // Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
            let point = pair.public_key().as_ref();
            if point.len() != 65 {
                return Err(DomainError::Internal);
            }
            let jwk = json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            });
            (doc.as_ref().to_vec(), jwk)
        }
        SigningAlg::EdDsa => {
            let pair = Ed25519KeyPair::generate().map_err(|_| DomainError::Internal)?;
            let doc = pair.to_pkcs8().map_err(|_| DomainError::Internal)?;
            let jwk = json!({
                "kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": kid, "crv": "Ed25519",
                "x": b64(pair.public_key().as_ref()),
            });
            (doc.as_ref().to_vec(), jwk)
        }
    };
    Ok(SigningKeyRecord {
        private_key_encrypted: kek.seal(kid.as_bytes(), &pkcs8),
        kid,
        alg: alg.as_str().to_owned(),
        state: KeyState::Active,
        public_jwk: jwk,
        created_at: now,
    })
}

fn load(record: &SigningKeyRecord, kek: &Kek) -> Result<LoadedKey, DomainError> {
    let alg = SigningAlg::parse(&record.alg).ok_or(DomainError::Internal)?;
    let pkcs8 = kek.open(record.kid.as_bytes(), &record.private_key_encrypted).map_err(|e| {
        tracing::error!(kid = %record.kid, error = %e, "cannot decrypt a signing key; is the key-encryption key the one it was sealed with?");
        DomainError::Internal
    })?;
    let jwk_str = |name: &str| -> Result<String, DomainError> {
        record.public_jwk[name]
            .as_str()
            .map(str::to_owned)
            .ok_or(DomainError::Internal)
    };
    let unusable = |_| {
        tracing::error!(kid = %record.kid, "a stored signing key does not parse");
        DomainError::Internal
    };
    let (signer, decoding) = match alg {
        SigningAlg::Rs256 => (
            Signer::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(unusable)?),
            DecodingKey::from_rsa_components(&jwk_str("n")?, &jwk_str("e")?)
                .map_err(|_| DomainError::Internal)?,
        ),
        SigningAlg::Es256 => (
            Signer::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                    .map_err(unusable)?,
            ),
            DecodingKey::from_ec_components(&jwk_str("x")?, &jwk_str("y")?)
                .map_err(|_| DomainError::Internal)?,
        ),
        SigningAlg::EdDsa => (
            Signer::Ed25519(Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(unusable)?),
            DecodingKey::from_ed_components(&jwk_str("x")?).map_err(|_| DomainError::Internal)?,
        ),
    };
    Ok(LoadedKey {
        kid: record.kid.clone(),
        alg: alg.jwt(),
        state: record.state,
        signer,
        decoding,
        jwk: record.public_jwk.clone(),
    })
}
