//! Keystone's error body, `{"error": {"code", "message", "title"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use warden_domain::catalog::CatalogRule;
use warden_domain::tenant::TenantRule;
use warden_domain::DomainError;
use warden_http::BodyRejection;
use warden_http::Json;

#[derive(Debug)]
pub enum KeystoneError {
    Domain(DomainError),
    Body(BodyRejection),
    MethodNotAllowed,
    RouteNotFound,
}

impl From<DomainError> for KeystoneError {
    fn from(e: DomainError) -> Self {
        KeystoneError::Domain(e)
    }
}

impl From<BodyRejection> for KeystoneError {
    fn from(e: BodyRejection) -> Self {
        KeystoneError::Body(e)
    }
}

fn status_of(e: &DomainError) -> StatusCode {
    match e {
        DomainError::Invalid(_) | DomainError::MalformedBody(_) | DomainError::UserStillEnabled => {
            StatusCode::BAD_REQUEST
        }
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::VersionMismatch | DomainError::LoginTaken | DomainError::Conflict(_) => {
            StatusCode::CONFLICT
        }
        DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        DomainError::Forbidden | DomainError::ProgrammaticAccessDenied => StatusCode::FORBIDDEN,
        DomainError::TenantRule(rule) => match rule {
            TenantRule::NameTaken => StatusCode::CONFLICT,
            // Keystone refuses to delete an enabled domain with 403.
            TenantRule::Locked | TenantRule::StillEnabled => StatusCode::FORBIDDEN,
            TenantRule::ParentDisabled
            | TenantRule::MoveUnderOwnDescendant
            | TenantRule::MoveUnderDisabled
            | TenantRule::MoveOutsideLockOwner => StatusCode::BAD_REQUEST,
        },
        // Keystone: `Conflict` 409, `RegionDeletionError` 403, `CircularRegionHierarchyError` 400.
        DomainError::CatalogRule(rule) => match rule {
            CatalogRule::IdTaken => StatusCode::CONFLICT,
            // Keystone's `InvalidDomainConfig` is a 403.
            CatalogRule::RegionHasEndpoints | CatalogRule::UnsupportedDomainConfig => {
                StatusCode::FORBIDDEN
            }
            CatalogRule::RegionCycle => StatusCode::BAD_REQUEST,
        },
        DomainError::Overloaded => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        DomainError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn respond(status: StatusCode, message: String) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = json!({ "error": { "code": status.as_u16(), "message": message, "title": title } });
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    match status {
        StatusCode::UNAUTHORIZED => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Keystone uri=\"/v3\""),
            );
        }
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}

impl IntoResponse for KeystoneError {
    fn into_response(self) -> Response {
        match self {
            KeystoneError::Domain(e) => respond(status_of(&e), e.public_message()),
            KeystoneError::Body(BodyRejection::TooLarge) => respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large".to_owned(),
            ),
            KeystoneError::Body(BodyRejection::UnsupportedMediaType) => respond(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The request body must be JSON.".to_owned(),
            ),
            KeystoneError::Body(BodyRejection::Empty) => respond(
                StatusCode::BAD_REQUEST,
                "The request body is empty.".to_owned(),
            ),
            KeystoneError::Body(BodyRejection::Malformed(why)) => respond(
                StatusCode::BAD_REQUEST,
                format!("Invalid input for request body: {why}."),
            ),
            KeystoneError::MethodNotAllowed => respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "The method is not allowed for the requested URL.".to_owned(),
            ),
            KeystoneError::RouteNotFound => respond(
                StatusCode::NOT_FOUND,
                "The resource could not be found.".to_owned(),
            ),
        }
    }
}

pub async fn method_not_allowed() -> KeystoneError {
    KeystoneError::MethodNotAllowed
}

pub async fn not_found() -> KeystoneError {
    KeystoneError::RouteNotFound
}
