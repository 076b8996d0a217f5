//! The OAuth2 / OpenID token service: `POST /idp/token`, the key set and discovery.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::Warden;

use crate::error::OAuthError;
use crate::openapi::OAuthErrorBody;

/// The routes of `/idp` and discovery.
pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(keys))
        .routes(routes!(openid_configuration))
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
}

#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    #[allow(dead_code)]
    scope: Option<String>,
}

/// The client's credentials: HTTP Basic, or `client_id`/`client_secret` in the form.
fn client_credentials(
    headers: &axum::http::HeaderMap,
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

#[utoipa::path(post, path = "/idp/token", tag = "idp",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthErrorBody), (status = 401, body = OAuthErrorBody),
        (status = 429, body = OAuthErrorBody), (status = 503, body = OAuthErrorBody)),
    security((), ("basic" = [])))]
pub async fn token(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<Response, OAuthError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let (parts, bytes) = warden_http::read_body(request)
        .await
        .map_err(|_| OAuthError::invalid_request("The request body is too large."))?;
    let form: TokenForm = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| OAuthError::invalid_request("The form is malformed."))?;
    let client = client_credentials(&parts.headers, &form)?;
    let issued = match form.grant_type.as_deref() {
        None => return Err(OAuthError::invalid_request("grant_type is required.")),
        Some("client_credentials") => {
            let (id, secret) = client.ok_or_else(OAuthError::invalid_client)?;
            let client = warden
                .client_login(&id, &secret)
                .await
                .map_err(|_| OAuthError::invalid_client())?;
            warden.issue_client_token(&client).await?
        }
        Some("password") => {
            // A client is optional for this grant (published scripts send none); when one is
            // named, it must authenticate.
            if let Some((id, secret)) = client {
                warden
                    .client_login(&id, &secret)
                    .await
                    .map_err(|_| OAuthError::invalid_client())?;
            }
            let (Some(username), Some(password)) =
                (form.username.as_deref(), form.password.as_deref())
            else {
                return Err(OAuthError::invalid_request(
                    "username and password are required.",
                ));
            };
            let user = warden.password_login(username, password).await?;
            warden.issue_user_token(&user).await?
        }
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
    };
    let claims = &issued.claims;
    let body = TokenResponse {
        expires_in: claims.exp - claims.iat,
        expires_on: claims.exp,
        access_token: issued.token,
        token_type: "bearer".to_owned(),
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[utoipa::path(get, path = "/idp/keys", tag = "idp", responses((status = 200, description = "The JSON Web Key Set", body = serde_json::Value)))]
pub async fn keys(State(warden): State<Arc<Warden>>) -> Json<serde_json::Value> {
    Json(warden.jwks())
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "idp", responses((status = 200, description = "OpenID Provider metadata", body = serde_json::Value)))]
pub async fn openid_configuration(State(warden): State<Arc<Warden>>) -> Json<serde_json::Value> {
    let base = &warden.settings().public_url;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/api/2/idp/authorize"),
        "token_endpoint": format!("{base}/api/2/idp/token"),
        "jwks_uri": format!("{base}/api/2/idp/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [warden.settings().signing_alg.as_str()],
        "grant_types_supported": ["client_credentials", "password"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}
