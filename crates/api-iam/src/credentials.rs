//! `/v3.0/OS-CREDENTIAL/credentials`: a user's permanent access keys (AK/SK). The secret is in
//! the answer to the creation only; lists and reads show the key without it.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};
use warden_core::{NewCredential, Warden};
use warden_domain::{DomainError, FieldErrorKind};
use warden_http::Json;
use warden_store::{CredentialRecord, CredentialStatus};

use crate::error::IamError;
use crate::users::caller;

/// A key as lists, reads and changes show it (field names of the Huawei SDK's `Credentials`).
fn credential_json(c: &CredentialRecord) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("user_id".into(), json!(c.user_id.simple()));
    object.insert("access".into(), json!(c.access_key));
    object.insert("status".into(), json!(c.status.as_str()));
    object.insert("create_time".into(), json!(c.created_at.rfc3339_micros_z()));
    object.insert("description".into(), json!(c.description));
    object
}

/// The `credential` object of a body; 400 `IAM.0072` when absent, `IAM.0073` when not an object.
fn credential_object(bytes: &[u8]) -> Result<Map<String, Value>, IamError> {
    let body: Value = warden_http::parse_json(bytes)?;
    match body.get("credential") {
        None | Some(Value::Null) => Err(IamError::Required("credential")),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(_) => Err(IamError::InvalidInput("credential")),
    }
}

/// An optional text property; `IAM.0073` when it is there but not text.
fn text<'a>(
    object: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, IamError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(IamError::InvalidInput(field)),
    }
}

/// Field refusals of the services in OS-CREDENTIAL's codes; the quota keeps its own.
fn refused(e: DomainError) -> IamError {
    match &e {
        DomainError::Invalid(fields) => match fields.first() {
            Some(f) if f.kind == FieldErrorKind::QuotaReached => IamError::Domain(e),
            Some(f) if f.field == "description" => IamError::InvalidInput("description"),
            _ => IamError::Domain(e),
        },
        _ => IamError::Domain(e),
    }
}

/// `POST /v3.0/OS-CREDENTIAL/credentials` → 201 with the key and its secret, shown only here.
pub async fn create(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), IamError> {
    let principal = caller(&warden, request.headers()).await?;
    let (_, bytes) = warden_http::read_body(request).await?;
    let object = credential_object(&bytes)?;
    let user_id = text(&object, "user_id")?.ok_or(IamError::Required("user_id"))?;
    let description = text(&object, "description")?;
    let NewCredential { credential, secret } = warden
        .create_credential(&principal, user_id, description)
        .await
        .map_err(refused)?;
    let mut shown = credential_json(&credential);
    shown.insert("secret".into(), json!(secret));
    Ok((StatusCode::CREATED, Json(json!({ "credential": shown }))))
}

#[derive(serde::Deserialize)]
struct ListQuery {
    user_id: Option<String>,
}

/// `GET /v3.0/OS-CREDENTIAL/credentials?user_id=` (the caller's own keys without `user_id`).
pub async fn list(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<Json<Value>, IamError> {
    let principal = caller(&warden, request.headers()).await?;
    let query: ListQuery = warden_http::parse_query(request.uri().query())
        .map_err(|_| IamError::InvalidInput("user_id"))?;
    let user_id = match query.user_id {
        Some(id) => id,
        None => principal
            .user_id()
            .map(|id| id.to_string())
            .ok_or(IamError::Required("user_id"))?,
    };
    let found = warden.list_credentials(&principal, &user_id).await?;
    let credentials: Vec<Value> = found
        .iter()
        .map(|c| Value::Object(credential_json(c)))
        .collect();
    Ok(Json(json!({ "credentials": credentials })))
}

/// `GET /v3.0/OS-CREDENTIAL/credentials/{access_key}`. The last use is not recorded (it would
/// be a write on every signed request), so `last_use_time` is `null`.
pub async fn show(
    State(warden): State<Arc<Warden>>,
    Path(access_key): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, IamError> {
    let principal = caller(&warden, &headers).await?;
    let credential = warden.get_credential(&principal, &access_key).await?;
    let mut shown = credential_json(&credential);
    shown.insert("last_use_time".into(), Value::Null);
    Ok(Json(json!({ "credential": shown })))
}

/// `PUT /v3.0/OS-CREDENTIAL/credentials/{access_key}` with `status` and/or `description`.
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Path(access_key): Path<String>,
    request: Request,
) -> Result<Json<Value>, IamError> {
    let principal = caller(&warden, request.headers()).await?;
    let (_, bytes) = warden_http::read_body(request).await?;
    let object = credential_object(&bytes)?;
    let status = text(&object, "status")?
        .map(|raw| CredentialStatus::parse(raw).ok_or(IamError::InvalidInput("status")))
        .transpose()?;
    let description = text(&object, "description")?;
    if status.is_none() && description.is_none() {
        return Err(IamError::Required("status"));
    }
    let credential = warden
        .update_credential(&principal, &access_key, status, description)
        .await
        .map_err(refused)?;
    Ok(Json(json!({ "credential": credential_json(&credential) })))
}

/// `DELETE /v3.0/OS-CREDENTIAL/credentials/{access_key}` → 204.
pub async fn delete(
    State(warden): State<Arc<Warden>>,
    Path(access_key): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, IamError> {
    let principal = caller(&warden, &headers).await?;
    warden.delete_credential(&principal, &access_key).await?;
    Ok(StatusCode::NO_CONTENT)
}
