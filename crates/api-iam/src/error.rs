//! The IAM error body, `{"error_code", "error_msg", "request_id"}`, with IAM's codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use warden_domain::catalog::CatalogRule;
use warden_domain::error::FieldErrorKind;
use warden_domain::tenant::TenantRule;
use warden_domain::{AuthFailure, DomainError};
use warden_http::Json;
use warden_http::{current_request_id, BodyRejection};

#[derive(Debug)]
pub enum IamError {
    Domain(DomainError),
    Body(BodyRejection),
    /// A property of the body or query is missing: 400 `IAM.0072`, as OS-CREDENTIAL answers.
    Required(&'static str),
    /// A property has the wrong type or value: 400 `IAM.0073` (the value is not echoed).
    InvalidInput(&'static str),
    MethodNotAllowed,
    RouteNotFound,
}

impl From<DomainError> for IamError {
    fn from(e: DomainError) -> Self {
        IamError::Domain(e)
    }
}

impl From<BodyRejection> for IamError {
    fn from(e: BodyRejection) -> Self {
        IamError::Body(e)
    }
}

/// IAM's numeric code for a refused field (1100–1118).
fn field_code(kind: FieldErrorKind) -> &'static str {
    match kind {
        FieldErrorKind::Missing => "1100",
        FieldErrorKind::InvalidLogin => "1101",
        FieldErrorKind::InvalidEmail => "1102",
        FieldErrorKind::InvalidPassword => "1103",
        FieldErrorKind::InvalidPhone => "1104",
        FieldErrorKind::PhoneWithoutAreaCode => "1106",
        FieldErrorKind::InvalidExternalId => "1105",
        FieldErrorKind::PasswordUnchanged => "1108",
        FieldErrorKind::ExternalIdTaken => "1113",
        FieldErrorKind::EmailTaken => "1110",
        FieldErrorKind::PhoneTaken => "1111",
        FieldErrorKind::InvalidDescription => "1117",
        FieldErrorKind::WeakPassword => "1118",
        // Huawei's quota code of the OS-USER family; the message names the quota.
        FieldErrorKind::QuotaReached => "1115",
        FieldErrorKind::Invalid | FieldErrorKind::TooLong | FieldErrorKind::InvalidText => {
            "IAM.0007"
        }
    }
}

fn classify(e: &DomainError) -> (StatusCode, &'static str) {
    match e {
        DomainError::Invalid(fields) => (
            StatusCode::BAD_REQUEST,
            fields.first().map_or("IAM.0011", |f| field_code(f.kind)),
        ),
        DomainError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "IAM.0011"),
        DomainError::NotFound(_) => (StatusCode::NOT_FOUND, "IAM.0004"),
        DomainError::VersionMismatch | DomainError::UserStillEnabled | DomainError::Conflict(_) => {
            (StatusCode::CONFLICT, "IAM.0005")
        }
        DomainError::LoginTaken => (StatusCode::BAD_REQUEST, "1109"),
        DomainError::Unauthenticated(AuthFailure::BadSignature) => {
            (StatusCode::UNAUTHORIZED, "APIGW.0301")
        }
        DomainError::Unauthenticated(AuthFailure::Missing | AuthFailure::Invalid) => {
            (StatusCode::UNAUTHORIZED, "IAM.0001")
        }
        DomainError::Forbidden => (StatusCode::FORBIDDEN, "IAM.0002"),
        DomainError::ProgrammaticAccessDenied => (StatusCode::FORBIDDEN, "IAM.0081"),
        DomainError::TenantRule(rule) => match rule {
            TenantRule::NameTaken => (StatusCode::CONFLICT, "IAM.0005"),
            TenantRule::Locked => (StatusCode::FORBIDDEN, "IAM.0002"),
            TenantRule::ParentDisabled
            | TenantRule::StillEnabled
            | TenantRule::MoveUnderOwnDescendant
            | TenantRule::MoveUnderDisabled
            | TenantRule::MoveOutsideLockOwner => (StatusCode::BAD_REQUEST, "IAM.0007"),
        },
        DomainError::CatalogRule(rule) => match rule {
            CatalogRule::IdTaken => (StatusCode::CONFLICT, "IAM.0005"),
            CatalogRule::RegionHasEndpoints | CatalogRule::UnsupportedDomainConfig => {
                (StatusCode::FORBIDDEN, "IAM.0002")
            }
            CatalogRule::RegionCycle => (StatusCode::BAD_REQUEST, "IAM.0007"),
        },
        DomainError::Overloaded => (StatusCode::TOO_MANY_REQUESTS, "IAM.0012"),
        DomainError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "IAM.0006"),
        DomainError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "IAM.0006"),
    }
}

fn respond(status: StatusCode, code: &str, message: String) -> Response {
    let body =
        json!({ "error_code": code, "error_msg": message, "request_id": current_request_id() });
    let mut response = (status, Json(body)).into_response();
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

impl IntoResponse for IamError {
    fn into_response(self) -> Response {
        match self {
            IamError::Domain(e) => {
                let (status, code) = classify(&e);
                respond(status, code, e.public_message())
            }
            IamError::Body(BodyRejection::TooLarge) => respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                "IAM.1101",
                "The request body size is invalid.".to_owned(),
            ),
            IamError::Body(BodyRejection::UnsupportedMediaType | BodyRejection::Empty) => respond(
                StatusCode::BAD_REQUEST,
                "IAM.0011",
                "Request body is invalid.".to_owned(),
            ),
            IamError::Body(BodyRejection::Malformed(why)) => respond(
                StatusCode::BAD_REQUEST,
                "IAM.0011",
                format!("Request body is invalid: {why}."),
            ),
            IamError::Required(field) => respond(
                StatusCode::BAD_REQUEST,
                "IAM.0072",
                format!("'{field}' is a required property."),
            ),
            IamError::InvalidInput(field) => respond(
                StatusCode::BAD_REQUEST,
                "IAM.0073",
                format!("Invalid input for field '{field}'."),
            ),
            IamError::MethodNotAllowed => respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "IAM.0007",
                "The method specified in the request is not allowed for the requested resource."
                    .to_owned(),
            ),
            IamError::RouteNotFound => respond(
                StatusCode::NOT_FOUND,
                "IAM.0004",
                "The requested resource cannot be found.".to_owned(),
            ),
        }
    }
}

pub async fn method_not_allowed() -> IamError {
    IamError::MethodNotAllowed
}

pub async fn not_found() -> IamError {
    IamError::RouteNotFound
}
