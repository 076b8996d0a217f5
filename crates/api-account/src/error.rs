//! The account face's error bodies: the platform envelope
//! `{"error": {"code", "message", "details", "domain"}}` everywhere, and the OAuth envelope
//! `{"error", "error_description"}` on `/idp/*`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use warden_domain::catalog::CatalogRule;
use warden_domain::tenant::TenantRule;
use warden_domain::{AuthFailure, DomainError, Resource};
use warden_http::Json;
use warden_http::{current_request_id, BodyRejection};

const DOMAIN: &str = "PlatformAccountServer";

#[derive(Debug)]
pub enum AccountError {
    Domain(DomainError),
    Body(BodyRejection),
    Query(String),
    MethodNotAllowed,
    RouteNotFound,
}

impl From<DomainError> for AccountError {
    fn from(e: DomainError) -> Self {
        AccountError::Domain(e)
    }
}

impl From<BodyRejection> for AccountError {
    fn from(e: BodyRejection) -> Self {
        AccountError::Body(e)
    }
}

/// Status and platform code for each domain error; no wildcard arm, so a new variant must be
/// placed here before the crate compiles.
fn classify(e: &DomainError) -> (StatusCode, u32) {
    match e {
        DomainError::Invalid(_) | DomainError::MalformedBody(_) => (StatusCode::BAD_REQUEST, 400),
        DomainError::NotFound(Resource::Tenant) => (StatusCode::NOT_FOUND, 1005),
        DomainError::NotFound(
            Resource::User
            | Resource::Client
            | Resource::Token
            | Resource::Domain
            | Resource::Project
            | Resource::Credential
            | Resource::Role
            | Resource::Group
            | Resource::Region
            | Resource::Service
            | Resource::Endpoint
            | Resource::ApplicationCredential
            | Resource::Policy
            | Resource::Consumer
            | Resource::EndpointGroup
            | Resource::DomainConfig,
        ) => (StatusCode::NOT_FOUND, 404),
        DomainError::VersionMismatch => (StatusCode::CONFLICT, 1001),
        DomainError::LoginTaken | DomainError::Conflict(_) => (StatusCode::CONFLICT, 409),
        DomainError::UserStillEnabled => (StatusCode::BAD_REQUEST, 1027),
        DomainError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, 401),
        DomainError::Forbidden | DomainError::ProgrammaticAccessDenied => {
            (StatusCode::FORBIDDEN, 1002)
        }
        DomainError::TenantRule(rule) => match rule {
            TenantRule::ParentDisabled => (StatusCode::BAD_REQUEST, 1003),
            TenantRule::NameTaken => (StatusCode::CONFLICT, 1004),
            TenantRule::StillEnabled => (StatusCode::BAD_REQUEST, 1006),
            TenantRule::MoveUnderOwnDescendant => (StatusCode::BAD_REQUEST, 1007),
            TenantRule::Locked => (StatusCode::FORBIDDEN, 1012),
            TenantRule::MoveUnderDisabled => (StatusCode::BAD_REQUEST, 1013),
            TenantRule::MoveOutsideLockOwner => (StatusCode::BAD_REQUEST, 1032),
        },
        DomainError::CatalogRule(rule) => match rule {
            CatalogRule::IdTaken => (StatusCode::CONFLICT, 409),
            CatalogRule::RegionHasEndpoints | CatalogRule::UnsupportedDomainConfig => {
                (StatusCode::FORBIDDEN, 403)
            }
            CatalogRule::RegionCycle => (StatusCode::BAD_REQUEST, 400),
        },
        DomainError::Overloaded => (StatusCode::TOO_MANY_REQUESTS, 429),
        DomainError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, 503),
        DomainError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 1000),
    }
}

fn envelope(status: StatusCode, code: u32, message: String) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "details": { "info": message, "request_id": current_request_id() },
            "domain": DOMAIN,
        }
    });
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    match status {
        StatusCode::UNAUTHORIZED => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warden\", error=\"invalid_token\""),
            );
        }
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}

impl IntoResponse for AccountError {
    fn into_response(self) -> Response {
        match self {
            AccountError::Domain(e) => {
                let (status, code) = classify(&e);
                envelope(status, code, e.public_message())
            }
            AccountError::Body(BodyRejection::UnsupportedMediaType) => envelope(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                415,
                "The request body must be JSON with Content-Type: application/json.".to_owned(),
            ),
            AccountError::Body(BodyRejection::TooLarge) => envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                413,
                "The request body is too large.".to_owned(),
            ),
            AccountError::Body(BodyRejection::Empty) => envelope(
                StatusCode::BAD_REQUEST,
                400,
                "The request body is empty.".to_owned(),
            ),
            AccountError::Body(BodyRejection::Malformed(why)) => envelope(
                StatusCode::BAD_REQUEST,
                400,
                format!("The request body is invalid: {why}."),
            ),
            AccountError::Query(why) => envelope(
                StatusCode::BAD_REQUEST,
                400,
                format!("The query string is invalid: {why}."),
            ),
            AccountError::MethodNotAllowed => envelope(
                StatusCode::METHOD_NOT_ALLOWED,
                405,
                "The method is not allowed for this resource.".to_owned(),
            ),
            AccountError::RouteNotFound => envelope(
                StatusCode::NOT_FOUND,
                404,
                "The requested resource was not found.".to_owned(),
            ),
        }
    }
}

pub async fn method_not_allowed() -> AccountError {
    AccountError::MethodNotAllowed
}

/// An OAuth 2.0 error (RFC 6749 §5.2), used by `/idp/*`.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    pub fn unsupported_grant_type() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: "The grant type is not supported.".to_owned(),
        }
    }

    pub fn invalid_client() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "Client authentication failed.".to_owned(),
        }
    }
}

impl From<DomainError> for OAuthError {
    fn from(e: DomainError) -> Self {
        let (status, error) = match &e {
            DomainError::Unauthenticated(
                AuthFailure::Missing | AuthFailure::Invalid | AuthFailure::BadSignature,
            ) => (StatusCode::BAD_REQUEST, "invalid_grant"),
            DomainError::Invalid(_) | DomainError::MalformedBody(_) => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            DomainError::Forbidden | DomainError::ProgrammaticAccessDenied => {
                (StatusCode::FORBIDDEN, "unauthorized_client")
            }
            DomainError::NotFound(_)
            | DomainError::VersionMismatch
            | DomainError::LoginTaken
            | DomainError::Conflict(_)
            | DomainError::UserStillEnabled
            | DomainError::TenantRule(_)
            | DomainError::CatalogRule(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            DomainError::Overloaded => (StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable"),
            DomainError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            }
            DomainError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        };
        let description = match &e {
            DomainError::Unauthenticated(_) => "The credentials are invalid.".to_owned(),
            other => other.public_message(),
        };
        Self {
            status,
            error,
            description,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"warden\""),
                );
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
