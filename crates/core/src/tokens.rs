//! Access tokens: JWTs signed with the active key, accepted by every face. Verification checks
//! length, header, signature, then `exp`/`nbf`/`iss`/`aud`/use, and caches the verified claims
//! under the token's whole text until they expire; revocation is checked by the caller every
//! time.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use warden_domain::{AuthFailure, ClientId, DomainError, Timestamp, UserId};

use crate::clock::Clock;
use crate::keys::{KeyRing, LoadedKey};
use crate::secrets::random_bytes;

/// Tokens longer than this are refused before any parsing. Ours are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// How far in the future an `iat` may lie, for clocks of other nodes running ahead.
const CLOCK_SKEW_SECONDS: i64 = 60;

/// No token Warden issues lives longer than this; a longer-lived one was not made by it.
pub(crate) const MAX_LIFETIME_SECONDS: i64 = 7 * 86_400;

/// Whether the token is a compact JWS (three segments) whose header is a JSON object naming
/// nothing this server does not do. Keys come only from our own store: a header naming where
/// to fetch a key (`jku`, `x5u`) or carrying one (`jwk`, `x5c`) is an attack, not a hint; a
/// `crit` extension cannot be honoured, and `zip` has no meaning on a JWS (RFC 7515 §4.1.11,
/// RFC 7516 §4.1.3).
fn plain_jws_header(token: &str) -> bool {
    use base64::Engine;
    let mut segments = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(&bytes)
    else {
        return false;
    };
    const REFUSED: [&str; 6] = ["jku", "jwk", "x5u", "x5c", "crit", "zip"];
    !fields.keys().any(|k| REFUSED.contains(&k.as_str()))
}

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
    /// Scoped to the system (the whole deployment).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    /// The application credential the token was issued from, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_credential: Option<AppCredentialClaim>,
}

/// The application credential a token was issued from, and the roles it may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredentialClaim {
    /// 32 hex digits.
    pub id: String,
    pub name: String,
    /// Whether the token may manage application credentials.
    pub unrestricted: bool,
    /// The policy roles (as stored) the token may use: those delegated by the credential that
    /// the user held on its project when the token was issued.
    pub roles: Vec<String>,
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
    /// Limits on where the token may act: every inner list must hold a tenant URN
    /// (`urn:acronis.com:tenant-id:<uuid>`) whose subtree contains the target tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub narrowing: Vec<Vec<String>>,
    /// The ids of the tokens this one was exchanged from (jwt-bearer), oldest first: revoking
    /// any of them revokes this one too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<String>,
}

/// The URN that names a tenant in a `scope` request and in the `narrowing` claim.
pub const TENANT_URN_PREFIX: &str = "urn:acronis.com:tenant-id:";

/// The tenant a `urn:acronis.com:tenant-id:<uuid>` names, if that is what `urn` is.
pub fn tenant_from_urn(urn: &str) -> Option<warden_domain::TenantId> {
    urn.strip_prefix(TENANT_URN_PREFIX)
        .and_then(warden_domain::TenantId::parse)
}

pub fn tenant_urn(tenant: warden_domain::TenantId) -> String {
    format!("{TENANT_URN_PREFIX}{tenant}")
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

    /// Whether the narrowing lets this token act on `tenant`. An unreadable narrowing entry
    /// matches nothing: a limit that cannot be understood must not become no limit.
    pub fn narrowing_allows(&self, tenant: &warden_domain::Tenant) -> bool {
        self.narrowing.iter().all(|any_of| {
            any_of.iter().any(|urn| {
                tenant_from_urn(urn)
                    .is_some_and(|scope| tenant.id == scope || tenant.ancestors.contains(&scope))
            })
        })
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
    cache: quick_cache::sync::Cache<Box<str>, Arc<Claims>, TokenWeight>,
}

/// A cached token costs its text and its claims; the cache holds at most
/// [`TokenService::new`]'s `cache_bytes` of them.
///
/// The cache is keyed by the token's whole text, compared byte for byte on every hit, so a
/// forged token can never be taken for a verified one whatever the hash (a digest as key is
/// as safe only while the digest resists collisions, and SHA-256 of a kilobyte of token cost
/// several times the seeded hash and comparison used now).
#[derive(Clone)]
struct TokenWeight;

/// What a token's verified claims take in memory, about (ids, names, scopes).
const CLAIMS_WEIGHT: u64 = 512;

impl quick_cache::Weighter<Box<str>, Arc<Claims>> for TokenWeight {
    fn weight(&self, token: &Box<str>, _: &Arc<Claims>) -> u64 {
        token.len() as u64 + CLAIMS_WEIGHT
    }
}

impl TokenService {
    pub fn new(
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        issuer: String,
        audience: String,
        cache_bytes: u64,
    ) -> Self {
        // Tokens of the usual size (about 1 KiB) set the number of slots reserved up front.
        let typical = 1024 + CLAIMS_WEIGHT;
        let cache_bytes = cache_bytes.max(16 * typical);
        Self {
            keys,
            clock,
            issuer,
            audience,
            cache: quick_cache::sync::Cache::with_weighter(
                (cache_bytes / typical) as usize,
                cache_bytes,
                TokenWeight,
            ),
        }
    }

    /// What the verified-token cache holds now, in bytes as weighed (text and claims).
    pub fn cached_bytes(&self) -> u64 {
        self.cache.weight()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn issue(&self, request: TokenRequest) -> Result<IssuedToken, DomainError> {
        self.issue_narrowed(request, Vec::new(), None, Vec::new())
    }

    /// Issues a token limited by `narrowing` and expiring no later than `not_after` (Unix
    /// seconds), so a token derived from another never outlives it.
    pub fn issue_narrowed(
        &self,
        request: TokenRequest,
        narrowing: Vec<Vec<String>>,
        not_after: Option<i64>,
        derived_from: Vec<String>,
    ) -> Result<IssuedToken, DomainError> {
        let key = self.keys.active().ok_or(DomainError::Internal)?;
        let now = self.clock.now();
        let exp = now.seconds() + request.ttl_seconds;
        let exp = not_after.map_or(exp, |cap| exp.min(cap));
        let (sub, sub_type, uid, client_id) = match request.subject {
            Subject::User(id) => (id.to_string(), "user", Some(id.to_string()), None),
            Subject::Client(id) => (id.to_string(), "api_client", None, Some(id.to_string())),
        };
        let claims = Claims {
            iss: self.issuer.clone(),
            sub,
            aud: self.audience.clone(),
            exp,
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
            narrowing,
            derived_from,
        };
        let mut header = Header::new(key.alg);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(key.kid.clone());
        let token = compact_jws(&header, &claims, &key)?;
        Ok(IssuedToken { token, claims })
    }

    /// Verifies a token's form, signature and registered claims. Does not check revocation.
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, DomainError> {
        let invalid = DomainError::Unauthenticated(AuthFailure::Invalid);
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(invalid);
        }
        let now = self.clock.now().seconds();
        if let Some(claims) = self.cache.get(token) {
            if claims.exp > now && claims.nbf <= now {
                return Ok(claims);
            }
            self.cache.remove(token);
            return Err(invalid);
        }
        if !plain_jws_header(token) {
            return Err(invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid.clone())?;
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
        let issued_in_future = claims.iat > now + CLOCK_SKEW_SECONDS;
        let lives_too_long = claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECONDS;
        if claims.token_use != ACCESS
            || claims.subject().is_err()
            || claims.exp <= now
            || claims.nbf > now
            || issued_in_future
            || lives_too_long
        {
            return Err(invalid);
        }
        let claims = Arc::new(claims);
        self.cache.insert(token.into(), claims.clone());
        Ok(claims)
    }
}

/// The compact serialisation of a JWS (RFC 7515 §7.1): `<header>.<claims>.<signature>`, each
/// part base64url without padding, signed with the key as parsed at load time. Verification
/// reads these tokens back through `jsonwebtoken`.
fn compact_jws(header: &Header, claims: &Claims, key: &LoadedKey) -> Result<String, DomainError> {
    let header = serde_json::to_vec(header).map_err(|_| DomainError::Internal)?;
    let claims = serde_json::to_vec(claims).map_err(|_| DomainError::Internal)?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}
