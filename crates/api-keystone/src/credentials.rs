//! `/v3/credentials`: Keystone credentials (EC2 keys, TOTP secrets, certificates…) of a user,
//! read and changed by the user or whoever may manage them. `blob` is a string, shown as sent.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::keystone_credentials::{
    KeystoneCredential, KeystoneCredentialPatch, NewKeystoneCredential,
};
use warden_core::Warden;
use warden_domain::{DomainError, FieldErrorKind};
use warden_http::Json;

use crate::error::KeystoneError;
use crate::fields::{authenticated_member, with_extra, MAX_NAME, MAX_TEXT};
use crate::tokens::caller_credential;

pub fn routes() -> Router<Arc<Warden>> {
    Router::new()
        .route("/credentials", get(list).post(create))
        .route(
            "/credentials/{credential_id}",
            get(show).patch(update).delete(delete),
        )
}

fn credential_json(public_url: &str, c: &KeystoneCredential) -> Value {
    with_extra(
        &c.extra,
        json!({
            "id": c.id,
            "user_id": c.user_id.simple(),
            "project_id": c.project_id,
            "type": c.credential_type,
            "blob": c.blob,
            "links": { "self": format!("{public_url}/v3/credentials/{}", c.id) },
        }),
    )
}

fn member(warden: &Warden, credential: &KeystoneCredential) -> Json<Value> {
    let public_url = &warden.settings().public_url;
    Json(json!({ "credential": credential_json(public_url, credential) }))
}

#[derive(Deserialize)]
struct ListQuery {
    user_id: Option<String>,
    #[serde(rename = "type")]
    credential_type: Option<String>,
}

/// `GET /v3/credentials` with the `user_id` and `type` filters: only the credentials the
/// caller may read are listed, as Keystone filters them.
async fn list(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let q: ListQuery = warden_http::parse_query(uri.0.query())
        .map_err(|_| DomainError::invalid("query", FieldErrorKind::Invalid))?;
    let found = warden
        .list_keystone_credentials(&caller, q.user_id.as_deref(), q.credential_type.as_deref())
        .await?;
    let public_url = &warden.settings().public_url;
    let credentials: Vec<Value> = found
        .iter()
        .map(|c| credential_json(public_url, c))
        .collect();
    Ok(Json(json!({
        "credentials": credentials,
        "links": {
            "self": format!("{public_url}{}", uri.0.path()),
            "previous": null,
            "next": null,
        },
    })))
}

/// `POST /v3/credentials` → 201; `blob`, `type` and `user_id` are required, and an `ec2`
/// credential needs `project_id` and a blob naming its `access`.
async fn create(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "credential").await?;
    // Ids are generated, or derived from an EC2 access key.
    fields.nullable_text("id", MAX_NAME);
    let new = NewKeystoneCredential {
        blob: fields.required_text("blob", MAX_TEXT),
        credential_type: fields.required_text("type", MAX_NAME),
        user_id: fields.required_text("user_id", MAX_NAME),
        project_id: fields.nullable_text("project_id", MAX_NAME).flatten(),
        extra: Default::default(),
    };
    let new = NewKeystoneCredential {
        extra: fields.finish()?,
        ..new
    };
    let credential = warden.create_keystone_credential(&caller, new).await?;
    Ok((StatusCode::CREATED, member(&warden, &credential)))
}

async fn show(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let credential = warden.get_keystone_credential(&caller, &id).await?;
    Ok(member(&warden, &credential))
}

async fn update(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "credential").await?;
    fields.require_any("credential");
    fields.matching_id(&id);
    let patch = KeystoneCredentialPatch {
        blob: fields.text("blob", MAX_TEXT),
        credential_type: fields.text("type", MAX_NAME),
        user_id: fields.text("user_id", MAX_NAME),
        project_id: fields.nullable_text("project_id", MAX_NAME),
        extra: Default::default(),
    };
    let patch = KeystoneCredentialPatch {
        extra: fields.finish()?,
        ..patch
    };
    let credential = warden
        .update_keystone_credential(&caller, &id, patch)
        .await?;
    Ok(member(&warden, &credential))
}

async fn delete(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    warden.delete_keystone_credential(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
