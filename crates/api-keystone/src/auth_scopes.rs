//! `/v3/auth/domains`, `/v3/auth/projects` and `/v3/auth/catalog`: what a token's holder may
//! scope to, and the service catalog, as keystoneauth and openstackclient ask for them.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use serde_json::{json, Value};
use warden_core::Warden;
use warden_domain::Tenant;
use warden_http::Json;

use crate::catalog::catalog_json;
use crate::error::KeystoneError;
use crate::tokens::caller_credential;
use warden_core::keystone::keystone_name;

/// Keystone's collection links: this page, and no other.
fn links(public_url: &str, uri: &OriginalUri) -> Value {
    json!({ "self": format!("{public_url}{}", uri.0.path()), "previous": null, "next": null })
}

fn domain_json(public_url: &str, t: &Tenant) -> Value {
    let id = t.id.simple();
    json!({
        "id": id,
        "name": keystone_name(t),
        "enabled": t.enabled,
        "description": "",
        "links": { "self": format!("{public_url}/v3/domains/{id}") },
    })
}

async fn project_json(
    warden: &Warden,
    public_url: &str,
    t: &Tenant,
) -> Result<Value, KeystoneError> {
    let id = t.id.simple();
    let domain = warden.domain_of(t.id).await?;
    Ok(json!({
        "id": id,
        "name": keystone_name(t),
        "domain_id": domain.id.simple(),
        "parent_id": t.parent_id.map(|p| p.simple()),
        "enabled": t.enabled,
        "is_domain": false,
        "description": "",
        "tags": [],
        "links": { "self": format!("{public_url}/v3/projects/{id}") },
    }))
}

/// `GET /v3/auth/domains`.
pub async fn domains(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let public_url = &warden.settings().public_url;
    let found = warden.keystone_scope_targets(&caller, true).await?;
    let domains: Vec<Value> = found.iter().map(|t| domain_json(public_url, t)).collect();
    Ok(Json(
        json!({ "domains": domains, "links": links(public_url, &uri) }),
    ))
}

/// `GET /v3/auth/projects`.
pub async fn projects(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let public_url = &warden.settings().public_url;
    let mut projects = Vec::new();
    for t in warden.keystone_scope_targets(&caller, false).await? {
        projects.push(project_json(&warden, public_url, &t).await?);
    }
    Ok(Json(
        json!({ "projects": projects, "links": links(public_url, &uri) }),
    ))
}

/// `GET /v3/auth/catalog`.
pub async fn service_catalog(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    warden.authenticate(&caller_credential(&headers)?).await?;
    let public_url = &warden.settings().public_url;
    let catalog = catalog_json(&warden.service_catalog().await?);
    Ok(Json(
        json!({ "catalog": catalog, "links": links(public_url, &uri) }),
    ))
}
