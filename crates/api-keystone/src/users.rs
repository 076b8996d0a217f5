//! `/v3/users`: what a user does to their own account.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde::Deserialize;
use warden_core::Warden;
use warden_domain::{DomainError, FieldErrorKind};

use crate::error::KeystoneError;
use crate::tokens::caller_credential;

#[derive(Deserialize)]
struct PasswordChange {
    user: PasswordChangeUser,
}

#[derive(Deserialize)]
struct PasswordChangeUser {
    password: Option<String>,
    original_password: Option<String>,
}

/// `POST /v3/users/{user_id}/password` → 204: the user, with their own token and current
/// password, sets a new one; every token they held stops working.
pub async fn change_password(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    request: Request,
) -> Result<StatusCode, KeystoneError> {
    let caller = warden
        .authenticate(&caller_credential(request.headers())?)
        .await?;
    let (_, bytes) = warden_http::read_body(request).await?;
    let body: PasswordChange = warden_http::parse_json(&bytes)?;
    let missing = |field: &str| DomainError::invalid(field, FieldErrorKind::Missing);
    let new = body.user.password.ok_or_else(|| missing("user.password"))?;
    let original = body
        .user
        .original_password
        .ok_or_else(|| missing("user.original_password"))?;
    warden
        .change_own_password(&caller, &user_id, &original, &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
