//! Extractors: the authenticated caller and the JSON body, each rejecting in this face's
//! error envelope.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use warden_core::{Credential, Principal, Warden};
use warden_domain::{AuthFailure, DomainError};

use crate::error::AccountError;

/// A caller authenticated by a bearer token (header, or the `access_token` query parameter,
/// never both).
pub struct Caller(pub Principal);

/// A caller authenticated by a bearer token or by HTTP Basic with a login and password, as
/// the published scripts use on `GET /users/me` and `POST /clients`.
pub struct CallerOrBasic(pub Principal);

fn unauthenticated(failure: AuthFailure) -> AccountError {
    AccountError::Domain(DomainError::Unauthenticated(failure))
}

fn query_token(parts: &Parts) -> Result<Option<String>, AccountError> {
    #[derive(serde::Deserialize)]
    struct Q {
        access_token: Option<String>,
    }
    if parts.uri.query().is_none() {
        return Ok(None);
    }
    let q: Q = warden_http::parse_query(parts.uri.query()).unwrap_or(Q { access_token: None });
    Ok(q.access_token)
}

/// The request's bearer token: the `Authorization` header's (borrowed) or the `access_token`
/// query parameter's, never both.
fn bearer_token(parts: &Parts) -> Result<Option<Cow<'_, str>>, AccountError> {
    let header =
        warden_http::bearer(&parts.headers).map_err(|_| unauthenticated(AuthFailure::Invalid))?;
    let query = query_token(parts)?;
    match (header, query) {
        (Some(_), Some(_)) => Err(unauthenticated(AuthFailure::Invalid)),
        (Some(t), None) => Ok(Some(Cow::Borrowed(t))),
        (None, Some(t)) => Ok(Some(Cow::Owned(t))),
        (None, None) => Ok(None),
    }
}

impl FromRequestParts<Arc<Warden>> for Caller {
    type Rejection = AccountError;

    async fn from_request_parts(
        parts: &mut Parts,
        warden: &Arc<Warden>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?.ok_or_else(|| unauthenticated(AuthFailure::Missing))?;
        Ok(Caller(warden.authenticate_token(&token).await?))
    }
}

impl FromRequestParts<Arc<Warden>> for CallerOrBasic {
    type Rejection = AccountError;

    async fn from_request_parts(
        parts: &mut Parts,
        warden: &Arc<Warden>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer_token(parts)? {
            return Ok(CallerOrBasic(warden.authenticate_token(&token).await?));
        }
        let (username, password) = warden_http::basic(&parts.headers)
            .map_err(|_| unauthenticated(AuthFailure::Invalid))?
            .ok_or_else(|| unauthenticated(AuthFailure::Missing))?;
        let credential = Credential::Basic { username, password };
        Ok(CallerOrBasic(warden.authenticate(&credential).await?))
    }
}

/// A JSON body: `Content-Type: application/json` required (415 otherwise), size bounded (413).
pub struct AccountJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AccountJson<T> {
    type Rejection = AccountError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !warden_http::is_json(request.headers()) {
            return Err(AccountError::Body(
                warden_http::BodyRejection::UnsupportedMediaType,
            ));
        }
        let (_, bytes) = warden_http::read_body(request).await?;
        Ok(AccountJson(warden_http::parse_json(&bytes)?))
    }
}

/// Query parameters, rejected in this face's envelope.
pub struct AccountQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AccountQuery<T> {
    type Rejection = AccountError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        warden_http::parse_query(parts.uri.query())
            .map(AccountQuery)
            .map_err(AccountError::Query)
    }
}
