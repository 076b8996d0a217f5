//! `/v3/groups` and group membership.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use warden_core::Warden;
use warden_domain::keystone::GroupPatch;
use warden_domain::Group;
use warden_http::Json;

use crate::common::{caller, collection_links, query_pairs, query_value, self_link, Body};
use crate::error::KeystoneError;
use crate::users::users_json;

fn group_json(warden: &Warden, group: &Group) -> Value {
    let id = group.id.simple();
    json!({
        "id": id,
        "name": group.name,
        "domain_id": group.domain_id.simple(),
        "description": group.description,
        "links": self_link(warden, &format!("groups/{id}")),
    })
}

fn groups_json(warden: &Warden, groups: &[Group], path: &str) -> Json<Value> {
    let groups: Vec<Value> = groups.iter().map(|g| group_json(warden, g)).collect();
    Json(json!({ "groups": groups, "links": collection_links(warden, path) }))
}

/// `GET /v3/groups` with `domain_id` and `name`.
pub async fn list(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let pairs = query_pairs(uri.0.query())?;
    let groups = warden
        .list_groups(
            &principal,
            query_value(&pairs, "domain_id"),
            query_value(&pairs, "name"),
        )
        .await?;
    Ok(groups_json(&warden, &groups, uri.0.path()))
}

/// `POST /v3/groups` → 201.
pub async fn create(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = Body::read(request, "group").await?;
    let group = warden
        .create_group(
            &principal,
            body.string("domain_id")?.as_deref(),
            &body.required("name")?,
            body.string("description")?.unwrap_or_default(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "group": group_json(&warden, &group) })),
    ))
}

/// `GET /v3/groups/{id}`.
pub async fn show(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let group = warden.get_group(&principal, &id).await?;
    Ok(Json(json!({ "group": group_json(&warden, &group) })))
}

/// `PATCH /v3/groups/{id}`: name and description; a group stays in its domain.
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = Body::read(request, "group").await?;
    body.forbid("domain_id")?;
    let patch = GroupPatch {
        name: body.string("name")?,
        description: body.string("description")?,
    };
    let group = warden.update_group(&principal, &id, patch).await?;
    Ok(Json(json!({ "group": group_json(&warden, &group) })))
}

/// `DELETE /v3/groups/{id}` → 204.
pub async fn delete(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.delete_group(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/groups/{id}/users`.
pub async fn members(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let users = warden.group_members(&principal, &id).await?;
    Ok(Json(users_json(&warden, &users, uri.0.path()).await?))
}

/// `PUT /v3/groups/{id}/users/{user}` → 204.
pub async fn add_member(
    State(warden): State<Arc<Warden>>,
    Path((id, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.add_group_member(&principal, &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `HEAD`/`GET /v3/groups/{id}/users/{user}` → 204, or 404 when not a member.
pub async fn check_member(
    State(warden): State<Arc<Warden>>,
    Path((id, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.check_group_member(&principal, &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v3/groups/{id}/users/{user}` → 204.
pub async fn remove_member(
    State(warden): State<Arc<Warden>>,
    Path((id, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.remove_group_member(&principal, &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/users/{id}/groups`.
pub async fn user_groups(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let groups = warden.user_groups(&principal, &id).await?;
    Ok(groups_json(&warden, &groups, uri.0.path()))
}
