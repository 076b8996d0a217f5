//! The OAuth2 / OpenID token service: `POST /idp/token` (client credentials, password,
//! refresh token and jwt-bearer grants), introspection, revocation, the key set and discovery.
//! Every answer here, errors included, is in the OAuth envelope with `Cache-Control: no-store`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::clients::{GrantedTokens, Introspection};
use warden_core::{Principal, Warden};
use warden_domain::{ApiClient, DomainError};
use warden_http::Json;

use crate::error::OAuthError;
use crate::openapi::OAuthErrorBody;

/// The jwt-bearer grant type (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The routes of `/idp` and discovery.
pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(introspect_token))
        .routes(routes!(revoke_token))
        .routes(routes!(keys))
        .routes(routes!(openid_configuration))
}

/// An error of the IdP endpoints: one the shared OAuth mapping gives, or one whose OAuth code
/// depends on the grant (RFC 6749 §5.2, RFC 6750 §3.1).
#[derive(Debug)]
pub enum IdpError {
    OAuth(OAuthError),
    Specific {
        status: StatusCode,
        error: &'static str,
        description: &'static str,
    },
}

impl IdpError {
    fn invalid_grant() -> Self {
        IdpError::Specific {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
            description: "The grant is invalid, expired, revoked or outside the caller's reach.",
        }
    }

    fn unauthorized_client() -> Self {
        IdpError::Specific {
            status: StatusCode::BAD_REQUEST,
            error: "unauthorized_client",
            description: "The client is not allowed to use this grant type.",
        }
    }

    fn invalid_scope() -> Self {
        IdpError::Specific {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_scope",
            description:
                "The scope must name exactly one tenant as urn:acronis.com:tenant-id:<uuid>.",
        }
    }

    fn invalid_token() -> Self {
        IdpError::Specific {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            description: "The access token is missing, invalid, expired or revoked.",
        }
    }

    fn invalid_request(description: &str) -> Self {
        IdpError::OAuth(OAuthError::invalid_request(description))
    }

    /// The shared mapping, except that refusals of a grant speak that grant's language.
    fn for_grant(e: DomainError) -> Self {
        match e {
            DomainError::Unauthenticated(_) => Self::invalid_grant(),
            DomainError::Forbidden | DomainError::ProgrammaticAccessDenied => {
                Self::unauthorized_client()
            }
            other => IdpError::OAuth(other.into()),
        }
    }
}

impl From<OAuthError> for IdpError {
    fn from(e: OAuthError) -> Self {
        IdpError::OAuth(e)
    }
}

impl From<DomainError> for IdpError {
    fn from(e: DomainError) -> Self {
        IdpError::OAuth(e.into())
    }
}

impl IntoResponse for IdpError {
    fn into_response(self) -> Response {
        match self {
            IdpError::OAuth(e) => e.into_response(),
            IdpError::Specific {
                status,
                error,
                description,
            } => {
                let body = json!({ "error": error, "error_description": description });
                let mut response = no_store((status, Json(body)).into_response());
                if status == StatusCode::UNAUTHORIZED {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(
                            "Bearer realm=\"warden\", error=\"invalid_token\"",
                        ),
                    );
                }
                response
            }
        }
    }
}

/// Token responses and IdP errors must not be cached by anything on the way (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A successful token response.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `bearer`.
    token_type: String,
    /// Seconds until expiry.
    expires_in: i64,
    /// Expiry as a Unix time in seconds.
    expires_on: i64,
    /// An opaque refresh token: after a password grant with scope `offline_access`, and after
    /// every refresh (the presented one is then spent).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// `client_credentials`, `password`, `refresh_token` or
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Space-separated. `offline_access` asks the password grant for a refresh token; the
    /// jwt-bearer grant takes `urn:acronis.com:tenant-id:<uuid>`.
    scope: Option<String>,
    refresh_token: Option<String>,
    /// The access token to narrow (jwt-bearer); a Bearer `Authorization` header also serves.
    assertion: Option<String>,
}

/// The body of introspection and revocation.
#[derive(Deserialize, ToSchema)]
pub struct TokenParamForm {
    /// An access token or a refresh token.
    token: Option<String>,
    /// Accepted and ignored: the kind of token is evident from its form.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// The client's credentials: HTTP Basic, or `client_id`/`client_secret` in the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<Option<(String, String)>, OAuthError> {
    match warden_http::basic(headers) {
        Ok(Some(pair)) => Ok(Some(pair)),
        Err(_) => Err(OAuthError::invalid_client()),
        Ok(None) => Ok(match (&form.client_id, &form.client_secret) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            _ => None,
        }),
    }
}

/// The client that authenticated, if one presented credentials; wrong ones are `invalid_client`.
async fn optional_client(
    warden: &Warden,
    credentials: Option<(String, String)>,
) -> Result<Option<ApiClient>, IdpError> {
    match credentials {
        None => Ok(None),
        Some((id, secret)) => warden
            .client_login(&id, &secret)
            .await
            .map(Some)
            .map_err(|_| OAuthError::invalid_client().into()),
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads a form body; with `json_too`, a JSON body is read the same way.
async fn read_form<T: DeserializeOwned>(
    request: Request,
    json_too: bool,
) -> Result<(HeaderMap, T), IdpError> {
    let kind = content_type(request.headers());
    let is_form = kind.starts_with("application/x-www-form-urlencoded");
    let is_json = json_too && warden_http::is_json(request.headers());
    if !is_form && !is_json {
        return Err(IdpError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let (parts, bytes) = warden_http::read_body(request)
        .await
        .map_err(|_| IdpError::invalid_request("The request body is too large."))?;
    let parsed = if is_form {
        serde_urlencoded::from_bytes(&bytes).ok()
    } else {
        warden_http::parse_json(&bytes).ok()
    };
    let form = parsed.ok_or_else(|| IdpError::invalid_request("The body is malformed."))?;
    Ok((parts.headers, form))
}

#[utoipa::path(post, path = "/api/2/idp/token", tag = "idp",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthErrorBody), (status = 401, body = OAuthErrorBody),
        (status = 429, body = OAuthErrorBody), (status = 503, body = OAuthErrorBody)),
    security((), ("basic" = []), ("bearer" = [])))]
pub async fn token(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<Response, IdpError> {
    let (headers, form) = read_form::<TokenForm>(request, false).await?;
    let credentials = client_credentials(&headers, &form)?;
    let scope = form.scope.as_deref().unwrap_or("");
    let granted = match form.grant_type.as_deref() {
        None => return Err(IdpError::invalid_request("grant_type is required.")),
        Some("client_credentials") => {
            let client = optional_client(&warden, credentials)
                .await?
                .ok_or_else(OAuthError::invalid_client)?;
            GrantedTokens {
                access: warden.issue_client_token(&client).await?,
                refresh_token: None,
            }
        }
        Some("password") => {
            let client = optional_client(&warden, credentials).await?;
            let (Some(username), Some(password)) =
                (form.username.as_deref(), form.password.as_deref())
            else {
                return Err(IdpError::invalid_request(
                    "username and password are required.",
                ));
            };
            let offline = scope.split_whitespace().any(|s| s == "offline_access");
            warden
                .password_grant(client.as_ref(), username, password, offline)
                .await
                .map_err(IdpError::for_grant)?
        }
        Some("refresh_token") => {
            let client = optional_client(&warden, credentials).await?;
            let presented = form
                .refresh_token
                .as_deref()
                .ok_or_else(|| IdpError::invalid_request("refresh_token is required."))?;
            warden
                .refresh_grant(client.as_ref(), presented)
                .await
                .map_err(IdpError::for_grant)?
        }
        Some(JWT_BEARER) => {
            // Client credentials are optional here, but ones that are sent must be right.
            optional_client(&warden, credentials).await?;
            let header = warden_http::bearer(&headers).map_err(|_| IdpError::invalid_grant())?;
            let assertion = match (form.assertion.as_deref(), header) {
                (Some(a), Some(h)) if a != h => {
                    return Err(IdpError::invalid_request(
                        "The assertion and the Bearer token differ.",
                    ))
                }
                (Some(a), _) => a,
                (None, Some(h)) => h,
                (None, None) => return Err(IdpError::invalid_request("assertion is required.")),
            };
            let access = warden
                .jwt_bearer_grant(assertion, form.scope.as_deref())
                .await
                .map_err(|e| match e {
                    DomainError::Invalid(_) => IdpError::invalid_scope(),
                    // An unknown tenant and one out of reach answer alike.
                    DomainError::Forbidden | DomainError::Unauthenticated(_) => {
                        IdpError::invalid_grant()
                    }
                    other => other.into(),
                })?;
            GrantedTokens {
                access,
                refresh_token: None,
            }
        }
        Some(_) => return Err(OAuthError::unsupported_grant_type().into()),
    };
    let claims = &granted.access.claims;
    let body = TokenResponse {
        expires_in: claims.exp - claims.iat,
        expires_on: claims.exp,
        access_token: granted.access.token,
        token_type: "bearer".to_owned(),
        refresh_token: granted.refresh_token,
    };
    Ok(no_store(Json(body).into_response()))
}

/// Who calls introspection or revocation: a Bearer token, or a client's HTTP Basic id:secret.
async fn idp_caller(warden: &Warden, headers: &HeaderMap) -> Result<Principal, IdpError> {
    if let Some(token) = warden_http::bearer(headers).map_err(|_| IdpError::invalid_token())? {
        return warden.authenticate_token(token).await.map_err(|e| match e {
            DomainError::Unauthenticated(_) => IdpError::invalid_token(),
            other => other.into(),
        });
    }
    let (id, secret) = warden_http::basic(headers)
        .map_err(|_| OAuthError::invalid_client())?
        .ok_or_else(OAuthError::invalid_client)?;
    warden
        .client_principal(&id, &secret)
        .await
        .map_err(|e| match e {
            DomainError::Unauthenticated(_) => OAuthError::invalid_client().into(),
            other => other.into(),
        })
}

/// Introspection: `{"active": false}` for anything not live, else `active` with the claims.
#[utoipa::path(post, path = "/api/2/idp/introspect_token", tag = "idp",
    request_body(content = TokenParamForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`{\"active\": bool, \"token_type\", ...claims}`", body = serde_json::Value), (status = 400, body = OAuthErrorBody), (status = 401, body = OAuthErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn introspect_token(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<Response, IdpError> {
    let (headers, form) = read_form::<TokenParamForm>(request, true).await?;
    let caller = idp_caller(&warden, &headers).await?;
    let token = form
        .token
        .ok_or_else(|| IdpError::invalid_request("token is required."))?;
    let body = match warden.introspect(&caller, &token).await? {
        Introspection::Inactive => json!({ "active": false }),
        Introspection::Access(claims) => {
            let mut body = serde_json::to_value(&*claims).map_err(|e| {
                tracing::error!(error = %e, "rendering claims failed");
                IdpError::from(DomainError::Internal)
            })?;
            if let Some(map) = body.as_object_mut() {
                map.insert("active".to_owned(), json!(true));
                map.insert("token_type".to_owned(), json!("Bearer"));
            }
            body
        }
        Introspection::Refresh(record) => json!({
            "active": true,
            "token_type": "refresh_token",
            "sub": record.user_id.to_string(),
            "sub_type": "user",
            "uid": record.user_id.to_string(),
            "client_id": record.client_id.map(|c| c.to_string()),
            "iat": record.issued_at.seconds(),
            "exp": record.expires_at.seconds(),
        }),
    };
    Ok(no_store(Json(body).into_response()))
}

/// Revocation (RFC 7009): an access token by its id, a refresh token with its whole family.
/// Answers 200 with an empty body whether or not the token was known.
#[utoipa::path(post, path = "/api/2/idp/revoke_token", tag = "idp",
    request_body(content = TokenParamForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked, or not a live token; empty body"), (status = 400, body = OAuthErrorBody), (status = 401, body = OAuthErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn revoke_token(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<Response, IdpError> {
    let (headers, form) = read_form::<TokenParamForm>(request, true).await?;
    let caller = idp_caller(&warden, &headers).await?;
    let token = form
        .token
        .ok_or_else(|| IdpError::invalid_request("token is required."))?;
    warden.revoke(&caller, &token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

#[utoipa::path(get, path = "/api/2/idp/keys", tag = "idp", responses((status = 200, description = "The JSON Web Key Set", body = serde_json::Value)))]
pub async fn keys(State(warden): State<Arc<Warden>>) -> Json<serde_json::Value> {
    Json(warden.jwks())
}

#[utoipa::path(get, path = "/api/2/.well-known/openid-configuration", tag = "idp", responses((status = 200, description = "OpenID Provider metadata", body = serde_json::Value)))]
pub async fn openid_configuration(State(warden): State<Arc<Warden>>) -> Json<serde_json::Value> {
    let base = &warden.settings().public_url;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/api/2/idp/authorize"),
        "token_endpoint": format!("{base}/api/2/idp/token"),
        "introspection_endpoint": format!("{base}/api/2/idp/introspect_token"),
        "revocation_endpoint": format!("{base}/api/2/idp/revoke_token"),
        "jwks_uri": format!("{base}/api/2/idp/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [warden.settings().signing_alg.as_str()],
        "grant_types_supported": ["client_credentials", "password", "refresh_token", JWT_BEARER],
        "scopes_supported": ["offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
}
