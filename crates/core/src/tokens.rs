//! Access tokens: JWTs signed with the active key, accepted by every face. Verification checks
//! length, header, signature, then `exp`/`nbf`/`iss`/`aud`/use, and caches the verified claims
//! by a hash of the token until they expire; revocation is checked by the caller every time.

use std::sync::Arc;

use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use warden_domain::{AuthFailure, ClientId, DomainError, Timestamp, UserId};

use crate::clock::Clock;
use crate::keys::KeyRing;
use crate::secrets::random_bytes;

/// Tokens longer than this are refused before any parsing. Ours are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The only value of `token_use` an access token may carry.
const ACCESS: &str = "access";

/// One access policy as carried in the token, in the account face's claim shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeClaim {
    pub tuid: String,
    pub rn: String,
    pub role: String,
}

/// The Keystone view of a token: how it was obtained and what it is scoped to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeystoneClaims {
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub ver: u8,
    /// `user` or `api_client`.
    pub sub_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The tenant of the user or client.
    pub owner_tuid: String,
    #[serde(default)]
    pub scope: Vec<ScopeClaim>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ks: Option<KeystoneClaims>,
    /// Issue time in microseconds, compared with the subject's "not before" epoch.
    pub iat_us: i64,
    pub token_use: String,
}

/// Who a verified token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    User(UserId),
    Client(ClientId),
}

impl Claims {
    pub fn subject(&self) -> Result<Subject, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        match self.sub_type.as_str() {
            "user" => UserId::parse(&self.sub).map(Subject::User).ok_or(invalid),
            "api_client" => ClientId::parse(&self.sub)
                .map(Subject::Client)
                .ok_or(invalid),
            _ => Err(invalid),
        }
    }

    pub fn issued_at(&self) -> Timestamp {
        Timestamp::from_micros(self.iat_us)
    }

    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_micros(self.exp.saturating_mul(1_000_000))
    }
}

/// What a new token is for; the service fills in the registered claims.
pub struct TokenRequest {
    pub subject: Subject,
    pub owner_tenant: String,
    pub scope: Vec<ScopeClaim>,
    pub keystone: Option<KeystoneClaims>,
    pub ttl_seconds: i64,
}

pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
}

pub struct TokenService {
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    issuer: String,
    audience: String,
    cache: quick_cache::sync::Cache<[u8; 32], Arc<Claims>>,
}

impl TokenService {
    pub fn new(
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        issuer: String,
        audience: String,
        cache_entries: usize,
    ) -> Self {
        Self {
            keys,
            clock,
            issuer,
            audience,
            cache: quick_cache::sync::Cache::new(cache_entries.max(16)),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn issue(&self, request: TokenRequest) -> Result<IssuedToken, DomainError> {
        let key = self.keys.active().ok_or(DomainError::Internal)?;
        let now = self.clock.now();
        let (sub, sub_type, uid, client_id) = match request.subject {
            Subject::User(id) => (id.to_string(), "user", Some(id.to_string()), None),
            Subject::Client(id) => (id.to_string(), "api_client", None, Some(id.to_string())),
        };
        let claims = Claims {
            iss: self.issuer.clone(),
            sub,
            aud: self.audience.clone(),
            exp: now.seconds() + request.ttl_seconds,
            iat: now.seconds(),
            nbf: now.seconds(),
            jti: hex::encode(random_bytes::<16>()),
            ver: 2,
            sub_type: sub_type.to_owned(),
            uid,
            client_id,
            owner_tuid: request.owner_tenant,
            scope: request.scope,
            ks: request.keystone,
            iat_us: now.micros(),
            token_use: ACCESS.to_owned(),
        };
        let mut header = Header::new(key.alg);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|e| {
            tracing::error!(error = %e, "signing a token failed");
            DomainError::Internal
        })?;
        Ok(IssuedToken { token, claims })
    }

    /// Verifies a token's form, signature and registered claims. Does not check revocation.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(invalid);
        }
        let now = self.clock.now().seconds();
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.cache.get(&fingerprint) {
            if claims.exp > now && claims.nbf <= now {
                return Ok(claims);
            }
            self.cache.remove(&fingerprint);
            return Err(invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid.clone())?;
        // Keys come only from our own store: a token naming where to fetch a key, or carrying
        // one, is an attack, not a hint.
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(invalid);
        }
        let kid = header.kid.as_deref().ok_or_else(|| invalid.clone())?;
        let key = self.keys.find(kid).await.ok_or_else(|| invalid.clone())?;
        // The key decides the algorithm; a header naming another one fails here.
        if header.alg != key.alg {
            return Err(invalid);
        }
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked below against the injected clock, not the library's wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| invalid.clone())?;
        let claims = data.claims;
        if claims.token_use != ACCESS || claims.exp <= now || claims.nbf > now {
            return Err(invalid);
        }
        let claims = Arc::new(claims);
        self.cache.insert(fingerprint, claims.clone());
        Ok(claims)
    }
}
