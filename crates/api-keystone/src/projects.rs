//! `/v3/domains` and `/v3/projects` (with project tags): the tenant tree as Keystone shows it.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use warden_core::projects::{NewProject, ProjectPatch, ProjectQuery, TagChange};
use warden_core::Warden;
use warden_domain::Tenant;
use warden_http::Json;

use crate::common::{
    caller, collection_links, domain_json, flag, query_pairs, query_value, self_link, Body,
};
use crate::error::KeystoneError;

/// A project in Keystone's shape; its domain is the nearest one above it.
async fn project_json(warden: &Warden, t: &Tenant) -> Result<Value, KeystoneError> {
    let id = t.id.simple();
    let (domain_id, parent_id) = if t.is_domain {
        (Value::Null, Value::Null)
    } else {
        (
            json!(warden.domain_id_of(t).await?.simple()),
            json!(t.parent_id.map(|p| p.simple())),
        )
    };
    Ok(json!({
        "id": id,
        "name": t.name,
        "domain_id": domain_id,
        "parent_id": parent_id,
        "is_domain": t.is_domain,
        "enabled": t.enabled,
        "description": t.description,
        "tags": t.tags,
        "options": {},
        "links": self_link(warden, &format!("projects/{id}")),
    }))
}

async fn render(warden: &Warden, t: &Tenant, domain: bool) -> Result<Value, KeystoneError> {
    if domain {
        Ok(domain_json(warden, t))
    } else {
        project_json(warden, t).await
    }
}

fn split_tags(raw: Option<&str>) -> Vec<String> {
    raw.map(|r| {
        r.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn project_query(query: Option<&str>) -> Result<ProjectQuery, KeystoneError> {
    let pairs = query_pairs(query)?;
    let get = |name: &str| query_value(&pairs, name).map(str::to_owned);
    Ok(ProjectQuery {
        domain_id: get("domain_id"),
        parent_id: get("parent_id"),
        name: get("name"),
        enabled: flag(query_value(&pairs, "enabled"), "enabled")?,
        is_domain: flag(query_value(&pairs, "is_domain"), "is_domain")?,
        tags: split_tags(query_value(&pairs, "tags")),
        tags_any: split_tags(query_value(&pairs, "tags-any")),
        not_tags: split_tags(query_value(&pairs, "not-tags")),
        not_tags_any: split_tags(query_value(&pairs, "not-tags-any")),
    })
}

async fn list(
    warden: &Warden,
    uri: &OriginalUri,
    headers: &HeaderMap,
    domains: bool,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(warden, headers).await?;
    let query = project_query(uri.0.query())?;
    let (found, truncated) = warden.list_projects(&principal, &query, domains).await?;
    let mut items = Vec::with_capacity(found.len());
    for tenant in &found {
        match render(warden, tenant, domains).await {
            Ok(item) => items.push(item),
            // Deleted, with the tenant above it, since it was listed.
            Err(KeystoneError::Domain(warden_domain::DomainError::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
    }
    let key = if domains { "domains" } else { "projects" };
    let mut body = json!({ key: items, "links": collection_links(warden, uri.0.path()) });
    if truncated {
        body["truncated"] = json!(true);
    }
    Ok(Json(body))
}

/// `GET /v3/projects` with `domain_id`, `parent_id`, `name`, `enabled`, `is_domain` and the
/// tag filters.
pub async fn list_projects(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    list(&warden, &uri, &headers, false).await
}

/// `GET /v3/domains` with `name` and `enabled`.
pub async fn list_domains(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    list(&warden, &uri, &headers, true).await
}

async fn create(
    warden: &Warden,
    request: Request,
    domain: bool,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let principal = caller(warden, request.headers()).await?;
    let key = if domain { "domain" } else { "project" };
    let body = Body::read(request, key).await?;
    let new = NewProject {
        name: body.required("name")?,
        domain_id: body.string("domain_id")?,
        parent_id: body.string("parent_id")?,
        is_domain: domain || body.boolean("is_domain")?.unwrap_or(false),
        enabled: body.boolean("enabled")?.unwrap_or(true),
        description: body.string("description")?.unwrap_or_default(),
        tags: body.strings("tags")?.unwrap_or_default(),
    };
    let created = warden.create_project(&principal, new).await?;
    let shown = render(warden, &created, domain).await?;
    Ok((StatusCode::CREATED, Json(json!({ key: shown }))))
}

/// `POST /v3/projects` → 201.
pub async fn create_project(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    create(&warden, request, false).await
}

/// `POST /v3/domains` → 201.
pub async fn create_domain(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    create(&warden, request, true).await
}

async fn show(
    warden: &Warden,
    id: &str,
    headers: &HeaderMap,
    domain: bool,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(warden, headers).await?;
    let tenant = warden.get_project(&principal, id, domain).await?;
    let key = if domain { "domain" } else { "project" };
    Ok(Json(json!({ key: render(warden, &tenant, domain).await? })))
}

/// `GET /v3/projects/{id}`.
pub async fn show_project(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    show(&warden, &id, &headers, false).await
}

/// `GET /v3/domains/{id}`.
pub async fn show_domain(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    show(&warden, &id, &headers, true).await
}

async fn update(
    warden: &Warden,
    id: &str,
    request: Request,
    domain: bool,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(warden, request.headers()).await?;
    let key = if domain { "domain" } else { "project" };
    let body = Body::read(request, key).await?;
    // A project stays in its domain and under its parent; Keystone refuses to move it.
    body.forbid("domain_id")?;
    body.forbid("parent_id")?;
    body.forbid("is_domain")?;
    let patch = ProjectPatch {
        name: body.string("name")?,
        enabled: body.boolean("enabled")?,
        description: body.string("description")?,
        tags: body.strings("tags")?,
    };
    let updated = warden.update_project(&principal, id, domain, patch).await?;
    Ok(Json(
        json!({ key: render(warden, &updated, domain).await? }),
    ))
}

/// `PATCH /v3/projects/{id}`.
pub async fn update_project(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    update(&warden, &id, request, false).await
}

/// `PATCH /v3/domains/{id}`.
pub async fn update_domain(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    update(&warden, &id, request, true).await
}

/// `DELETE /v3/projects/{id}` → 204: a project without projects below it.
pub async fn delete_project(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.delete_project(&principal, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v3/domains/{id}` → 204: a disabled domain, with everything in it.
pub async fn delete_domain(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.delete_project(&principal, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/projects/{id}/tags`.
pub async fn list_tags(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let tags = warden.project_tags(&principal, &id).await?;
    Ok(Json(json!({ "tags": tags })))
}

/// `PUT /v3/projects/{id}/tags`: replaces every tag.
pub async fn replace_tags(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, request.headers()).await?;
    let (_, bytes) = warden_http::read_body(request).await?;
    #[derive(serde::Deserialize)]
    struct Tags {
        tags: Vec<String>,
    }
    let body: Tags = warden_http::parse_json(&bytes)?;
    let tags = warden
        .set_project_tags(&principal, &id, TagChange::Replace(&body.tags))
        .await?;
    Ok(Json(json!({ "tags": tags })))
}

/// `DELETE /v3/projects/{id}/tags` → 204: removes every tag.
pub async fn clear_tags(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .set_project_tags(&principal, &id, TagChange::Clear)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET`/`HEAD /v3/projects/{id}/tags/{tag}` → 204, or 404 when the project lacks it.
pub async fn check_tag(
    State(warden): State<Arc<Warden>>,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    if warden.project_tags(&principal, &id).await?.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(warden_domain::DomainError::NotFound(warden_domain::Resource::Project).into())
    }
}

/// `PUT /v3/projects/{id}/tags/{tag}` → 201.
pub async fn add_tag(
    State(warden): State<Arc<Warden>>,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .set_project_tags(&principal, &id, TagChange::Add(&tag))
        .await?;
    Ok(StatusCode::CREATED)
}

/// `DELETE /v3/projects/{id}/tags/{tag}` → 204.
pub async fn remove_tag(
    State(warden): State<Arc<Warden>>,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .set_project_tags(&principal, &id, TagChange::Remove(&tag))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/users/{id}/projects`.
pub async fn user_projects(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let found = warden.user_projects(&principal, &id).await?;
    let mut items = Vec::with_capacity(found.len());
    for tenant in &found {
        items.push(project_json(&warden, tenant).await?);
    }
    Ok(Json(
        json!({ "projects": items, "links": collection_links(&warden, uri.0.path()) }),
    ))
}
