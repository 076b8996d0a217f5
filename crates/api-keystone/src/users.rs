//! `/v3/users`: reading users, and what a user does to their own account.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::keystone::{KeystoneUserPatch, NewKeystoneUser};
use warden_core::Warden;
use warden_domain::{DomainError, FieldErrorKind, Tenant, User};
use warden_http::Json;

use crate::common::{caller, collection_links, Body};
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
    let (_, bytes) = warden_http::read_body(request).await?;
    let body: PasswordChange = warden_http::parse_json(&bytes)?;
    let missing = |field: &str| DomainError::invalid(field, FieldErrorKind::Missing);
    let new = body.user.password.ok_or_else(|| missing("user.password"))?;
    let original = body
        .user
        .original_password
        .ok_or_else(|| missing("user.original_password"))?;
    warden
        .change_own_password(&user_id, &original, &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user attributes Warden stores in fields of its own; any other is kept as given.
const USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "domain_id",
    "password",
    "enabled",
    "email",
    "description",
    "default_project_id",
    "options",
    "federated",
    "links",
    "password_expires_at",
];

/// A user in Keystone's shape.
fn user_json(public_url: &str, user: &User, domain: &Tenant) -> Value {
    let id = user.id.simple();
    let mut body = json!({
        "id": id,
        "name": user.login.as_str(),
        "domain_id": domain.id.simple(),
        "enabled": user.enabled,
        "password_expires_at": null,
        "options": {},
        "links": { "self": format!("{public_url}/v3/users/{id}") },
    });
    if let Some(email) = &user.contact.email {
        body["email"] = json!(email.as_str());
    }
    if !user.description.is_empty() {
        body["description"] = json!(user.description);
    }
    if let Some(project) = user.default_project_id {
        body["default_project_id"] = json!(project.simple());
    }
    if let Value::Object(fields) = &mut body {
        for (key, value) in &user.extra {
            fields.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    body
}

/// A list of users in Keystone's shape, each with their domain.
pub(crate) async fn users_json(
    warden: &Warden,
    users: &[User],
    path: &str,
) -> Result<Value, KeystoneError> {
    let public_url = &warden.settings().public_url;
    let mut items = Vec::with_capacity(users.len());
    for user in users {
        let domain = warden.domain_of(user.tenant_id).await?;
        items.push(user_json(public_url, user, &domain));
    }
    Ok(json!({ "users": items, "links": collection_links(warden, path) }))
}

/// `POST /v3/users` → 201.
pub async fn create(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = Body::read(request, "user").await?;
    let new = NewKeystoneUser {
        name: body.required("name")?,
        domain_id: body.string("domain_id")?,
        password: body.string("password")?,
        enabled: body.boolean("enabled")?.unwrap_or(true),
        email: body.string("email")?,
        description: body.string("description")?.unwrap_or_default(),
        default_project_id: body.string("default_project_id")?,
        extra: body.extra(USER_FIELDS),
        ..NewKeystoneUser::default()
    };
    let (user, domain) = warden.keystone_create_user(&principal, new).await?;
    let public_url = &warden.settings().public_url;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": user_json(public_url, &user, &domain) })),
    ))
}

/// `PATCH /v3/users/{user_id}`.
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = Body::read(request, "user").await?;
    let patch = KeystoneUserPatch {
        name: body.string("name")?,
        password: body.string("password")?,
        enabled: body.boolean("enabled")?,
        email: body.nullable("email")?,
        description: body.string("description")?,
        default_project_id: body.nullable("default_project_id")?,
        domain_id: body.string("domain_id")?,
        extra: body.extra(USER_FIELDS),
        ..KeystoneUserPatch::default()
    };
    let (user, domain) = warden
        .keystone_update_user(&principal, &user_id, patch)
        .await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "user": user_json(public_url, &user, &domain) }),
    ))
}

/// `DELETE /v3/users/{user_id}` → 204.
pub async fn delete(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.keystone_delete_user(&principal, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ListQuery {
    domain_id: Option<String>,
    name: Option<String>,
    enabled: Option<String>,
}

/// `GET /v3/users` with the `domain_id`, `name` and `enabled` filters.
pub async fn list(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let query: ListQuery = warden_http::parse_query(uri.0.query())
        .map_err(|_| DomainError::invalid("query", FieldErrorKind::Invalid))?;
    let enabled = match query
        .enabled
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("true" | "1" | "yes") => Some(true),
        Some("false" | "0" | "no") => Some(false),
        Some(_) => return Err(DomainError::invalid("enabled", FieldErrorKind::Invalid).into()),
    };
    let (users, truncated) = warden
        .keystone_list_users(
            &caller,
            query.domain_id.as_deref(),
            query.name.as_deref(),
            enabled,
        )
        .await?;
    let public_url = &warden.settings().public_url;
    let users: Vec<Value> = users
        .iter()
        .map(|(user, domain)| user_json(public_url, user, domain))
        .collect();
    let mut body = json!({
        "users": users,
        "links": { "self": format!("{public_url}/v3/users"), "previous": null, "next": null },
    });
    if truncated {
        body["truncated"] = json!(true);
    }
    Ok(Json(body))
}

/// `GET /v3/users/{user_id}`.
pub async fn show(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let (user, domain) = warden.keystone_show_user(&caller, &user_id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "user": user_json(public_url, &user, &domain) }),
    ))
}
