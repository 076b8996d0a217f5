//! `/v3/regions`, `/v3/services` and `/v3/endpoints`: the service catalog in Keystone's
//! shapes, and the catalog a token carries. Anyone with a valid token reads; administrators of
//! the default domain write.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::catalog::{
    CatalogEntry, EndpointPatch, EndpointRegion, NewEndpoint, NewRegion, RegionPatch, ServicePatch,
};
use warden_core::{Principal, Warden};
use warden_domain::{DomainError, FieldErrorKind};
use warden_http::Json;
use warden_store::{EndpointFilter, EndpointRecord, Interface, RegionRecord, ServiceRecord};

use crate::error::KeystoneError;
use crate::fields::{authenticated_member, with_extra, Fields, MAX_NAME, MAX_TEXT};
use crate::tokens::caller_credential;

pub fn routes() -> Router<Arc<Warden>> {
    Router::new()
        .route("/regions", get(list_regions).post(create_region))
        .route(
            "/regions/{region_id}",
            get(show_region)
                .put(put_region)
                .patch(update_region)
                .delete(delete_region),
        )
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{service_id}",
            get(show_service)
                .patch(update_service)
                .delete(delete_service),
        )
        .route("/endpoints", get(list_endpoints).post(create_endpoint))
        .route(
            "/endpoints/{endpoint_id}",
            get(show_endpoint)
                .patch(update_endpoint)
                .delete(delete_endpoint),
        )
}

/// The catalog of a token or of `/v3/auth/catalog`, in Keystone's shape.
pub fn catalog_json(catalog: &[CatalogEntry]) -> Value {
    let services: Vec<Value> = catalog
        .iter()
        .map(|entry| {
            let endpoints: Vec<Value> = entry
                .endpoints
                .iter()
                .map(|e| {
                    json!({
                        "id": e.id,
                        "interface": e.interface.as_str(),
                        "region": e.region_id,
                        "region_id": e.region_id,
                        "url": e.url,
                    })
                })
                .collect();
            json!({
                "id": entry.service.id,
                "type": entry.service.service_type,
                "name": entry.service.name.as_deref().unwrap_or(""),
                "endpoints": endpoints,
            })
        })
        .collect();
    Value::Array(services)
}

fn self_link(public_url: &str, collection: &str, id: &str) -> Value {
    json!({ "self": format!("{public_url}/v3/{collection}/{id}") })
}

fn region_json(public_url: &str, r: &RegionRecord) -> Value {
    with_extra(
        &r.extra,
        json!({
            "id": r.id,
            "description": r.description,
            "parent_region_id": r.parent_region_id,
            "links": self_link(public_url, "regions", &r.id),
        }),
    )
}

fn service_json(public_url: &str, s: &ServiceRecord) -> Value {
    let mut named = json!({
        "id": s.id,
        "type": s.service_type,
        "enabled": s.enabled,
        "links": self_link(public_url, "services", &s.id),
    });
    if let Some(name) = &s.name {
        named["name"] = json!(name);
    }
    if let Some(description) = &s.description {
        named["description"] = json!(description);
    }
    with_extra(&s.extra, named)
}

fn endpoint_json(public_url: &str, e: &EndpointRecord) -> Value {
    with_extra(
        &e.extra,
        json!({
            "id": e.id,
            "interface": e.interface.as_str(),
            "region": e.region_id,
            "region_id": e.region_id,
            "service_id": e.service_id,
            "url": e.url,
            "enabled": e.enabled,
            "links": self_link(public_url, "endpoints", &e.id),
        }),
    )
}

/// A collection in Keystone's shape: the items, and links to this page only.
fn collection(
    warden: &Warden,
    uri: &OriginalUri,
    key: &str,
    items: impl Iterator<Item = Value>,
) -> Json<Value> {
    let public_url = &warden.settings().public_url;
    let items: Vec<Value> = items.collect();
    Json(json!({
        key: items,
        "links": {
            "self": format!("{public_url}{}", uri.0.path()),
            "previous": null,
            "next": null,
        },
    }))
}

/// Reading the catalog needs any valid token.
async fn reader(warden: &Warden, headers: &HeaderMap) -> Result<Principal, KeystoneError> {
    Ok(warden.authenticate(&caller_credential(headers)?).await?)
}

fn query<T: serde::de::DeserializeOwned>(uri: &OriginalUri) -> Result<T, KeystoneError> {
    warden_http::parse_query(uri.0.query())
        .map_err(|_| DomainError::invalid("query", FieldErrorKind::Invalid).into())
}

#[derive(Deserialize)]
struct RegionQuery {
    parent_region_id: Option<String>,
}

/// `GET /v3/regions` with the `parent_region_id` filter.
async fn list_regions(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let filter: RegionQuery = query(&uri)?;
    let regions = warden
        .list_regions(filter.parent_region_id.as_deref())
        .await?;
    let public_url = warden.settings().public_url.clone();
    let items = regions.iter().map(|r| region_json(&public_url, r));
    Ok(collection(&warden, &uri, "regions", items))
}

async fn show_region(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let region = warden.get_region(&id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(json!({ "region": region_json(public_url, &region) })))
}

fn new_region(mut fields: Fields, path_id: Option<&str>) -> Result<NewRegion, DomainError> {
    let id = fields.text("id", MAX_NAME).filter(|id| !id.is_empty());
    // `PUT /v3/regions/{id}`: an id in the body must be the path's.
    if let (Some(path), Some(body)) = (path_id, &id) {
        if path != body {
            fields.invalid("id");
        }
    }
    let parent_region_id = fields.nullable_text("parent_region_id", MAX_NAME).flatten();
    let description = fields.nullable_text("description", MAX_TEXT).flatten();
    Ok(NewRegion {
        id: path_id.map(str::to_owned).or(id),
        parent_region_id,
        description,
        extra: fields.finish()?,
    })
}

async fn created_region(
    warden: &Warden,
    caller: &Principal,
    new: NewRegion,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let region = warden.create_region(caller, new).await?;
    let public_url = &warden.settings().public_url;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "region": region_json(public_url, &region) })),
    ))
}

/// `POST /v3/regions` → 201; the id is generated unless the body names one.
async fn create_region(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, fields) = authenticated_member(&warden, request, "region").await?;
    created_region(&warden, &caller, new_region(fields, None)?).await
}

/// `PUT /v3/regions/{region_id}` → 201: creates the region with that id.
async fn put_region(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, fields) = authenticated_member(&warden, request, "region").await?;
    if id.chars().count() > MAX_NAME {
        return Err(DomainError::invalid("region_id", FieldErrorKind::TooLong).into());
    }
    created_region(&warden, &caller, new_region(fields, Some(&id))?).await
}

async fn update_region(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "region").await?;
    fields.require_any("region");
    fields.matching_id(&id);
    let patch = RegionPatch {
        parent_region_id: fields.nullable_text("parent_region_id", MAX_NAME),
        description: fields.nullable_text("description", MAX_TEXT),
        extra: fields.finish()?,
    };
    let region = warden.update_region(&caller, &id, patch).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(json!({ "region": region_json(public_url, &region) })))
}

/// `DELETE /v3/regions/{region_id}` → 204, with the regions below it.
async fn delete_region(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = reader(&warden, &headers).await?;
    warden.delete_region(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ServiceQuery {
    #[serde(rename = "type")]
    service_type: Option<String>,
}

/// `GET /v3/services` with the `type` filter.
async fn list_services(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let filter: ServiceQuery = query(&uri)?;
    let services = warden.list_services(filter.service_type.as_deref()).await?;
    let public_url = warden.settings().public_url.clone();
    let items = services.iter().map(|s| service_json(&public_url, s));
    Ok(collection(&warden, &uri, "services", items))
}

async fn show_service(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let service = warden.get_service(&id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "service": service_json(public_url, &service) }),
    ))
}

/// `POST /v3/services` → 201; `type` is required, `enabled` defaults to true.
async fn create_service(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "service").await?;
    fields.nullable_text("id", MAX_NAME);
    let service = ServiceRecord {
        id: String::new(),
        service_type: fields.required_text("type", MAX_NAME),
        name: fields.nullable_text("name", MAX_NAME).flatten(),
        description: fields.nullable_text("description", MAX_TEXT).flatten(),
        enabled: fields.boolean("enabled").unwrap_or(true),
        extra: Default::default(),
    };
    let service = ServiceRecord {
        extra: fields.finish()?,
        ..service
    };
    let service = warden.create_service(&caller, service).await?;
    let public_url = &warden.settings().public_url;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "service": service_json(public_url, &service) })),
    ))
}

async fn update_service(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "service").await?;
    fields.require_any("service");
    fields.matching_id(&id);
    let mut patch = ServicePatch {
        service_type: fields.text("type", MAX_NAME),
        name: fields.nullable_text("name", MAX_NAME),
        description: fields.nullable_text("description", MAX_TEXT),
        enabled: fields.boolean("enabled"),
        extra: Default::default(),
    };
    if patch.service_type.as_deref() == Some("") {
        fields.invalid("type");
    }
    patch.extra = fields.finish()?;
    let service = warden.update_service(&caller, &id, patch).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "service": service_json(public_url, &service) }),
    ))
}

/// `DELETE /v3/services/{service_id}` → 204, with its endpoints.
async fn delete_service(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = reader(&warden, &headers).await?;
    warden.delete_service(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct EndpointQuery {
    interface: Option<String>,
    service_id: Option<String>,
    region_id: Option<String>,
}

/// `GET /v3/endpoints` with the `interface`, `service_id` and `region_id` filters. An
/// interface that does not exist matches nothing.
async fn list_endpoints(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let q: EndpointQuery = query(&uri)?;
    let interface = q.interface.as_deref().map(Interface::parse);
    let endpoints = match interface {
        Some(None) => Vec::new(),
        _ => {
            let filter = EndpointFilter {
                interface: interface.flatten(),
                service_id: q.service_id.as_deref(),
                region_id: q.region_id.as_deref(),
            };
            warden.list_endpoints(&filter).await?
        }
    };
    let public_url = warden.settings().public_url.clone();
    let items = endpoints.iter().map(|e| endpoint_json(&public_url, e));
    Ok(collection(&warden, &uri, "endpoints", items))
}

async fn show_endpoint(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let endpoint = warden.get_endpoint(&id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "endpoint": endpoint_json(public_url, &endpoint) }),
    ))
}

fn interface(fields: &mut Fields) -> Option<Interface> {
    let raw = fields.text("interface", MAX_NAME)?;
    let parsed = Interface::parse(&raw);
    if parsed.is_none() {
        fields.invalid("interface");
    }
    parsed
}

/// `region_id`, or else the legacy `region`; `Some(None)` when the body clears it.
fn endpoint_region(fields: &mut Fields) -> Option<EndpointRegion> {
    let region_id = fields.nullable_text("region_id", MAX_NAME);
    let legacy = fields.nullable_text("region", MAX_NAME);
    match (region_id, legacy) {
        (Some(Some(id)), _) => Some(EndpointRegion::Id(id)),
        (_, Some(Some(id))) => Some(EndpointRegion::Legacy(id)),
        (Some(None), _) | (None, Some(None)) => Some(EndpointRegion::None),
        (None, None) => None,
    }
}

/// `POST /v3/endpoints` → 201; `interface`, `service_id` and `url` are required.
async fn create_endpoint(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "endpoint").await?;
    // Ids are generated, whatever the body says (Keystone's `_assign_unique_id`).
    fields.nullable_text("id", MAX_NAME);
    fields.require("interface");
    fields.require("url");
    let interface = interface(&mut fields);
    let service_id = fields.required_text("service_id", MAX_NAME);
    let url = fields.url("url");
    let region = endpoint_region(&mut fields).unwrap_or_default();
    let enabled = fields.boolean("enabled").unwrap_or(true);
    let extra = fields.finish()?;
    // Both were required and valid, or `finish` refused the body.
    let (Some(interface), Some(url)) = (interface, url) else {
        return Err(DomainError::invalid("interface", FieldErrorKind::Missing).into());
    };
    let new = NewEndpoint {
        service_id,
        region,
        interface,
        url,
        enabled,
        extra,
    };
    let endpoint = warden.create_endpoint(&caller, new).await?;
    let public_url = &warden.settings().public_url;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "endpoint": endpoint_json(public_url, &endpoint) })),
    ))
}

async fn update_endpoint(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "endpoint").await?;
    fields.require_any("endpoint");
    fields.matching_id(&id);
    let patch = EndpointPatch {
        service_id: fields.text("service_id", MAX_NAME),
        region: endpoint_region(&mut fields),
        interface: interface(&mut fields),
        url: fields.url("url"),
        enabled: fields.boolean("enabled"),
        extra: Default::default(),
    };
    let patch = EndpointPatch {
        extra: fields.finish()?,
        ..patch
    };
    let endpoint = warden.update_endpoint(&caller, &id, patch).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "endpoint": endpoint_json(public_url, &endpoint) }),
    ))
}

async fn delete_endpoint(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = reader(&warden, &headers).await?;
    warden.delete_endpoint(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
