//! `/v3/users/{user_id}/application_credentials`: a user's application credentials, created
//! by the user with a project-scoped token (the secret shown once), read and deleted by the
//! user or whoever may manage them.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::app_credentials::{AppCredential, NewAppCredential, RoleRef};
use warden_core::Warden;
use warden_domain::{DomainError, FieldErrorKind};
use warden_http::Json;

use crate::common::collection_links;
use crate::error::KeystoneError;
use crate::fields::{authenticated_member, MAX_NAME, MAX_TEXT};
use crate::tokens::caller_credential;

pub fn routes() -> Router<Arc<Warden>> {
    Router::new()
        .route(
            "/users/{user_id}/application_credentials",
            get(list).post(create),
        )
        .route(
            "/users/{user_id}/application_credentials/{credential_id}",
            get(show).delete(delete),
        )
}

fn credential_json(public_url: &str, c: &AppCredential) -> Value {
    let roles: Vec<Value> = c
        .roles
        .iter()
        .map(
            |r| json!({ "id": r.id, "name": r.name, "domain_id": r.domain_id.map(|d| d.simple()) }),
        )
        .collect();
    json!({
        "id": c.id.simple().to_string(),
        "name": c.name,
        "description": c.description,
        "project_id": c.project_id.simple(),
        // Keystone's style: UTC without a zone, microseconds always shown.
        "expires_at": c.expires_at.map(|t| t.iam_naive()),
        "unrestricted": c.unrestricted,
        "roles": roles,
        "access_rules": [],
        "links": { "self": format!(
            "{public_url}/v3/users/{}/application_credentials/{}",
            c.user_id.simple(),
            c.id.simple()
        ) },
    })
}

/// The roles of a creation: a list of `{"id"}` or `{"name"}` objects.
fn roles_of(value: Option<Value>) -> Result<Vec<RoleRef>, DomainError> {
    let bad = || DomainError::invalid("roles", FieldErrorKind::Invalid);
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad()),
    };
    items
        .iter()
        .map(|item| match (item.get("id"), item.get("name")) {
            (Some(Value::String(id)), _) if id.len() <= MAX_NAME => Ok(RoleRef::Id(id.clone())),
            (None, Some(Value::String(name))) if name.len() <= MAX_NAME => {
                Ok(RoleRef::Name(name.clone()))
            }
            _ => Err(bad()),
        })
        .collect()
}

/// `POST` → 201 with the secret, shown this once.
async fn create(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, mut fields) =
        authenticated_member(&warden, request, "application_credential").await?;
    let name = fields.required_text("name", MAX_NAME);
    let description = fields.nullable_text("description", MAX_TEXT).flatten();
    let secret = fields.nullable_text("secret", warden_domain::Password::MAX_BYTES);
    let expires_at = fields.nullable_text("expires_at", MAX_NAME).flatten();
    let unrestricted = fields.boolean("unrestricted").unwrap_or(false);
    let extra = fields.finish()?;
    // Access rules are not served: a credential limited by them must not come out unlimited.
    if extra
        .get("access_rules")
        .is_some_and(|rules| !matches!(rules, Value::Null) && rules != &json!([]))
    {
        return Err(DomainError::invalid("access_rules", FieldErrorKind::Invalid).into());
    }
    let secret = match secret {
        Some(Some(secret)) if secret.is_empty() => None,
        Some(secret) => secret,
        None => None,
    };
    let new = NewAppCredential {
        name,
        description,
        secret,
        expires_at,
        unrestricted,
        roles: roles_of(extra.get("roles").cloned())?,
    };
    let created = warden.create_app_credential(&caller, &user_id, new).await?;
    let mut body = credential_json(&warden.settings().public_url, &created.credential);
    body["secret"] = json!(created.secret);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "application_credential": body })),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    name: Option<String>,
}

async fn list(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let q: ListQuery = warden_http::parse_query(uri.0.query())
        .map_err(|_| DomainError::invalid("query", FieldErrorKind::Invalid))?;
    let found = warden
        .list_app_credentials(&caller, &user_id, q.name.as_deref())
        .await?;
    let public_url = &warden.settings().public_url;
    let credentials: Vec<Value> = found
        .iter()
        .map(|c| credential_json(public_url, c))
        .collect();
    Ok(Json(json!({
        "application_credentials": credentials,
        "links": collection_links(&warden, uri.0.path()),
    })))
}

async fn show(
    State(warden): State<Arc<Warden>>,
    Path((user_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let credential = warden.get_app_credential(&caller, &user_id, &id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "application_credential": credential_json(public_url, &credential) }),
    ))
}

async fn delete(
    State(warden): State<Arc<Warden>>,
    Path((user_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    warden.delete_app_credential(&caller, &user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
