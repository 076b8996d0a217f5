//! HTTP plumbing every face shares: reading a bounded JSON body, parsing a query string,
//! pulling credentials out of headers, and the request id. Each face turns the rejections
//! defined here into its own error body.

use axum::body::Body;
use axum::http::{header, HeaderMap, Request};
use base64::Engine;
use serde::de::DeserializeOwned;
use warden_core::aksk::{self, SignatureError};
use warden_core::{Credential, Principal, SignedAuthError, Warden};

/// A JSON response: the value serialised straight into a vector sized for a typical record,
/// as `application/json`. (axum's `Json` writes through a 128-byte buffer that a user record
/// outgrows three times, copying each time.) A value that cannot be serialised answers 500.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

/// Room for a typical single record; lists grow past it as needed.
const JSON_CAPACITY: usize = 1024;

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        let mut body = Vec::with_capacity(JSON_CAPACITY);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "a response could not be serialised");
                axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// The most a request body may hold; set per application, read by every body extractor.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// Why a body could not be turned into the expected value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRejection {
    /// The `Content-Type` is missing or is not JSON (account face: 415).
    UnsupportedMediaType,
    /// The body is larger than the configured limit (413).
    TooLarge,
    /// The body is empty where one is required.
    Empty,
    /// The body is not valid JSON of the expected shape; the text is safe to show.
    Malformed(String),
}

/// Whether a request declares a JSON body (`application/json`, any parameters, or `+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the whole body up to the application's limit.
pub async fn read_body(
    request: Request<Body>,
) -> Result<(axum::http::request::Parts, bytes::Bytes), BodyRejection> {
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .map_or(1024 * 1024, |l| l.0);
    let (parts, body) = request.into_parts();
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(BodyRejection::TooLarge);
        }
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| BodyRejection::TooLarge)?;
    Ok((parts, bytes))
}

/// The deepest nesting of arrays and objects a JSON body may have. No request of any face
/// needs more than a handful of levels.
pub const MAX_JSON_DEPTH: usize = 64;

/// Parses JSON, describing the first problem by its path, never by the value sent.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyRejection> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyRejection::Empty);
    }
    if json_depth_exceeds(bytes, MAX_JSON_DEPTH) {
        return Err(BodyRejection::Malformed(format!(
            "JSON nested deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    if json_has_nul(bytes) {
        // No name, id or text Warden keeps may hold one, and PostgreSQL's text cannot.
        return Err(BodyRejection::Malformed(
            "a string holds a NUL character (\\u0000)".to_owned(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| BodyRejection::Malformed(describe(&e)))?;
    de.end()
        .map_err(|e| BodyRejection::Malformed(describe_syntax(&e)))?;
    Ok(value)
}

/// Whether `bytes` opens more than `max` arrays or objects inside one another, brackets in
/// strings not counted. One pass and no allocation, before any parsing: threat, a body of
/// nothing but brackets costing the parser a deep recursion (serde_json's own limit is 128).
pub fn json_depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Whether a JSON string in `bytes` holds the escape `\u0000` (a NUL character; raw control
/// characters are not valid JSON in the first place). One pass, no allocation.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !in_string {
            in_string = b == b'"';
        } else if b == b'"' {
            in_string = false;
        } else if b == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(&b"0000"[..]) {
                return true;
            }
            // Skip the escaped character, so `\\u0000` (a backslash, then text) is not one.
            i += 1;
        }
        i += 1;
    }
    false
}

fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = e.inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => describe_syntax(inner),
        Category::Data => {
            let path = e.path().to_string();
            let text = inner.to_string();
            if let Some(field) = text.strip_prefix("missing field ") {
                let field = field.split(" at line ").next().unwrap_or(field);
                if path == "." {
                    format!("missing field {field}")
                } else {
                    format!("missing field {field} in '{path}'")
                }
            } else {
                format!("'{path}' has an invalid type or value")
            }
        }
    }
}

fn describe_syntax(e: &serde_json::Error) -> String {
    format!("not valid JSON (line {}, column {})", e.line(), e.column())
}

/// Parses a query string into `T`.
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, String> {
    serde_urlencoded::from_str(query.unwrap_or("")).map_err(|e| e.to_string())
}

/// A malformed `Authorization` header, as opposed to an absent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedCredentials;

/// `Authorization: Bearer <token>`, borrowed from the header.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, MalformedCredentials> {
    match authorization(headers)? {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = rest.trim();
            if token.is_empty() {
                Err(MalformedCredentials)
            } else {
                Ok(Some(token))
            }
        }
        _ => Ok(None),
    }
}

/// `Authorization: Basic base64(user:password)`.
pub fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, MalformedCredentials> {
    match authorization(headers)? {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .map_err(|_| MalformedCredentials)?;
            let text = String::from_utf8(decoded).map_err(|_| MalformedCredentials)?;
            let (user, password) = text.split_once(':').ok_or(MalformedCredentials)?;
            Ok(Some((user.to_owned(), password.to_owned())))
        }
        _ => Ok(None),
    }
}

fn authorization(headers: &HeaderMap) -> Result<Option<(&str, &str)>, MalformedCredentials> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| MalformedCredentials)?;
    let (scheme, rest) = text.split_once(' ').ok_or(MalformedCredentials)?;
    Ok(Some((scheme, rest)))
}

/// A token header such as `X-Auth-Token` or `X-Subject-Token`.
pub fn token_header(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<String>, MalformedCredentials> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().map_err(|_| MalformedCredentials)?.trim();
            if text.is_empty() {
                Err(MalformedCredentials)
            } else {
                Ok(Some(text.to_owned()))
            }
        }
    }
}

/// The credential a keystone or iam request carries: the caller of a verified AK/SK signature
/// (see [`signed_requests`]), else `X-Auth-Token`, else a Bearer token.
pub fn keystone_credential(
    headers: &HeaderMap,
) -> Result<Option<Credential>, MalformedCredentials> {
    if let Some(principal) = signed_caller() {
        return Ok(Some(Credential::Signed(Box::new(principal))));
    }
    if let Some(token) = token_header(headers, "x-auth-token")? {
        return Ok(Some(Credential::Token(token)));
    }
    Ok(bearer(headers)?.map(|token| Credential::Token(token.to_owned())))
}

tokio::task_local! {
    /// The caller of the request being served, when its AK/SK signature was verified.
    static SIGNED_CALLER: Principal;
}

/// The caller whose signature [`signed_requests`] verified for the request being served.
fn signed_caller() -> Option<Principal> {
    SIGNED_CALLER.try_with(Principal::clone).ok()
}

/// What checking a request for an AK/SK signature found.
pub enum SignatureCheck {
    /// No `Authorization: SDK-HMAC-SHA256 …`: the request goes on as it came.
    Unsigned(Request<Body>),
    /// The signature verified: the request, its body restored, and its caller.
    Signed(Request<Body>, Principal),
}

/// Why a signed request goes no further.
#[derive(Debug)]
pub enum SignatureRejection {
    /// The body could not be read within the limit.
    Body(BodyRejection),
    /// The signature, its key or its user is not acceptable: 401 `APIGW.0301`.
    Refused(SignatureError),
    /// The check could not be made (store unavailable…).
    Failed(warden_domain::DomainError),
}

/// Verifies an `Authorization: SDK-HMAC-SHA256 …` request over what was received: method,
/// path and query as sent (before any router stripped a prefix), every header, the body bytes
/// (read within the application's body limit, then put back for the handler).
pub async fn check_signature(
    warden: &Warden,
    request: Request<Body>,
) -> Result<SignatureCheck, SignatureRejection> {
    let signed = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(aksk::parse_authorization)
        .is_some();
    if !signed {
        return Ok(SignatureCheck::Unsigned(request));
    }
    let (parts, bytes) = read_body(request).await.map_err(SignatureRejection::Body)?;
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    // HTTP/2 carries the host as `:authority`, which is not among the headers.
    if !parts.headers.contains_key(header::HOST) {
        if let Some(authority) = uri.authority() {
            headers.push(("host".to_owned(), authority.as_str().to_owned()));
        }
    }
    let method = parts.method.as_str().to_owned();
    let signed_request = aksk::SignedRequest {
        method: &method,
        path: uri.path(),
        query: uri.query(),
        headers: &headers,
        body: &bytes,
    };
    let principal = warden
        .authenticate_signed(&signed_request)
        .await
        .map_err(|e| match e {
            SignedAuthError::Refused(why) => SignatureRejection::Refused(why),
            SignedAuthError::Failed(e) => SignatureRejection::Failed(e),
        })?;
    Ok(SignatureCheck::Signed(
        Request::from_parts(parts, Body::from(bytes)),
        principal,
    ))
}

/// The answer to a refused signature, the API gateway's body:
/// `{"error_msg", "error_code": "APIGW.0301", "request_id"}` with 401, whichever face.
pub fn signature_refused(why: SignatureError) -> axum::response::Response {
    use axum::response::IntoResponse;
    let detail = match why {
        SignatureError::Expired => "signature expired",
        SignatureError::Malformed | SignatureError::MissingDate | SignatureError::Mismatch => {
            "verify aksk signature fail"
        }
    };
    let body = serde_json::json!({
        "error_msg": format!("Incorrect IAM authentication information: {detail}"),
        "error_code": "APIGW.0301",
        "request_id": current_request_id(),
    });
    (axum::http::StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// Middleware of the keystone and iam faces: a request signed `SDK-HMAC-SHA256` is verified
/// before it is routed on, and its handler then sees the key's user as its caller (through
/// [`keystone_credential`]) whatever token headers it also carries. A refused signature is
/// answered here with 401 `APIGW.0301`; an unreadable body in the face's error body `E`.
pub async fn signed_requests<E>(
    axum::extract::State(warden): axum::extract::State<std::sync::Arc<Warden>>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response
where
    E: axum::response::IntoResponse + From<BodyRejection> + From<warden_domain::DomainError>,
{
    match check_signature(&warden, request).await {
        Ok(SignatureCheck::Unsigned(request)) => next.run(request).await,
        Ok(SignatureCheck::Signed(request, principal)) => {
            SIGNED_CALLER.scope(principal, next.run(request)).await
        }
        Err(SignatureRejection::Refused(why)) => signature_refused(why),
        Err(SignatureRejection::Body(rejection)) => E::from(rejection).into_response(),
        Err(SignatureRejection::Failed(e)) => E::from(e).into_response(),
    }
}

/// The request id and the client's address (the peer, or whom a trusted proxy forwarded
/// for) of `request`, to be made available to everything the request runs: error bodies,
/// audit events, per-source throttling (`warden_core::request::in_request`).
pub fn request_context(
    warden: &warden_core::Warden,
    request: &Request<Body>,
    id: String,
) -> warden_core::request::RequestContext {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    // Every `X-Forwarded-For` line, in order: a proxy may add its own line rather than extend
    // the client's, and the hop it appends is the one to believe.
    let mut lines = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let forwarded_for = lines.next().map(|first| {
        let mut joined = first.to_owned();
        for line in lines {
            joined.push(',');
            joined.push_str(line);
        }
        joined
    });
    warden_core::request::RequestContext {
        id,
        source: warden.client_address(peer, forwarded_for.as_deref()),
    }
}

/// The id of the request being served, for error bodies; empty outside a request.
pub fn current_request_id() -> String {
    warden_core::request::current_request_id()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test]
    async fn a_json_response_is_the_value_as_application_json() {
        use axum::response::IntoResponse;
        let value =
            serde_json::json!({"id": "u-1", "contact": {"email": "a\"b@example.com"}, "n": [1, 2]});
        let response = Json(&value).into_response();
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            value
        );
    }

    #[test]
    fn a_value_that_cannot_be_serialised_answers_500() {
        use axum::response::IntoResponse;
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        let response = Json(map).into_response();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn a_nul_in_a_json_string_is_refused_and_nothing_else_is() {
        let refused = |text: &str| parse_json::<serde_json::Value>(text.as_bytes()).is_err();
        assert!(json_has_nul(br#"{"name": "a\u0000b"}"#));
        assert!(json_has_nul(br#"["\u0000"]"#));
        assert!(refused(r#"{"user": {"name": "x\u0000"}}"#));
        // An escaped backslash followed by text, other escapes, and keys outside strings.
        assert!(!json_has_nul(br#"{"path": "c:\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a": "\u0001\"\u00e9", "b": 0}"#));
        assert!(!refused(r#"{"path": "c:\\u0000", "e": "\u00e9"}"#));
    }

    #[test]
    fn json_content_types_are_recognised_with_parameters() {
        assert!(is_json(&headers(
            "content-type",
            "application/json;charset=utf8"
        )));
        assert!(is_json(&headers(
            "content-type",
            "Application/JSON; charset=UTF-8"
        )));
        assert!(!is_json(&headers("content-type", "text/plain")));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn basic_and_bearer_are_told_apart_and_malformed_headers_are_refused() {
        // "alice:s3:cret" — the password may itself contain a colon.
        let h = headers("authorization", "Basic YWxpY2U6czM6Y3JldA==");
        assert_eq!(basic(&h), Ok(Some(("alice".into(), "s3:cret".into()))));
        assert_eq!(bearer(&h), Ok(None));
        assert_eq!(
            bearer(&headers("authorization", "Bearer abc")),
            Ok(Some("abc"))
        );
        assert_eq!(
            basic(&headers("authorization", "Basic !!!")),
            Err(MalformedCredentials)
        );
        assert_eq!(
            bearer(&headers("authorization", "Bearer ")),
            Err(MalformedCredentials)
        );
        assert_eq!(
            bearer(&headers("authorization", "garbage")),
            Err(MalformedCredentials)
        );
    }

    #[test]
    fn json_errors_do_not_echo_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            version: i64,
        }
        let err = parse_json::<T>(br#"{"version": "secret-looking"}"#).unwrap_err();
        let BodyRejection::Malformed(text) = err else {
            panic!("expected malformed")
        };
        assert!(!text.contains("secret-looking"), "{text}");
        assert!(text.contains("version"), "{text}");
        assert!(matches!(parse_json::<T>(b"  "), Err(BodyRejection::Empty)));
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(
            parse_json::<serde_json::Value>(deep.as_bytes()),
            Err(BodyRejection::Malformed(
                "JSON nested deeper than 64 levels".into()
            ))
        );
        let allowed = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse_json::<serde_json::Value>(allowed.as_bytes()).is_ok());
        // Brackets inside strings, escaped quotes included, do not count.
        let in_string = format!(r#"{{"a": "\"{}"}}"#, "[".repeat(100));
        assert!(parse_json::<serde_json::Value>(in_string.as_bytes()).is_ok());
        assert!(matches!(
            parse_json::<T>(b"{} trailing"),
            Err(BodyRejection::Malformed(_))
        ));
    }
}
