//! `/v3/policies`, `/v3/OS-OAUTH1/consumers` and `/v3/OS-EP-FILTER/endpoint_groups`: Keystone
//! objects kept as clients store them, in Keystone's shapes. Anyone with a valid token reads;
//! administrators of the default domain write. A consumer's secret is shown once, on creation.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warden_core::keystone_extras::{ConsumerPatch, EndpointGroupPatch, PolicyPatch};
use warden_core::{Principal, Warden};
use warden_domain::{DomainError, FieldErrorKind};
use warden_http::Json;
use warden_store::{EndpointGroupRecord, KeystonePolicyRecord, OauthConsumerRecord};

use crate::error::KeystoneError;
use crate::fields::{authenticated_member, with_extra, Fields, MAX_NAME, MAX_TEXT};
use crate::tokens::caller_credential;

const POLICIES: &str = "policies";
const CONSUMERS: &str = "OS-OAUTH1/consumers";
const ENDPOINT_GROUPS: &str = "OS-EP-FILTER/endpoint_groups";

/// The attributes an endpoint group may filter on (Keystone's `valid_filter_keys`).
const FILTER_KEYS: [&str; 3] = ["interface", "service_id", "region_id"];

pub fn routes() -> Router<Arc<Warden>> {
    Router::new()
        .route("/policies", get(list_policies).post(create_policy))
        .route(
            "/policies/{policy_id}",
            get(show_policy).patch(update_policy).delete(delete_policy),
        )
        .route(
            "/OS-OAUTH1/consumers",
            get(list_consumers).post(create_consumer),
        )
        .route(
            "/OS-OAUTH1/consumers/{consumer_id}",
            get(show_consumer)
                .patch(update_consumer)
                .delete(delete_consumer),
        )
        .route(
            "/OS-EP-FILTER/endpoint_groups",
            get(list_endpoint_groups).post(create_endpoint_group),
        )
        // `get` answers `HEAD` too, without the body (Keystone's check).
        .route(
            "/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}",
            get(show_endpoint_group)
                .patch(update_endpoint_group)
                .delete(delete_endpoint_group),
        )
}

fn self_link(public_url: &str, collection: &str, id: &str) -> Value {
    json!({ "self": format!("{public_url}/v3/{collection}/{id}") })
}

fn policy_json(public_url: &str, p: &KeystonePolicyRecord) -> Value {
    let mut named = json!({
        "id": p.id,
        "type": p.policy_type,
        "blob": p.blob,
        "links": self_link(public_url, POLICIES, &p.id),
    });
    if let Some(project_id) = &p.project_id {
        named["project_id"] = json!(project_id);
    }
    if let Some(user_id) = &p.user_id {
        named["user_id"] = json!(user_id);
    }
    with_extra(&p.extra, named)
}

fn consumer_json(public_url: &str, c: &OauthConsumerRecord) -> Value {
    with_extra(
        &c.extra,
        json!({
            "id": c.id,
            "description": c.description,
            "links": self_link(public_url, CONSUMERS, &c.id),
        }),
    )
}

fn endpoint_group_json(public_url: &str, g: &EndpointGroupRecord) -> Value {
    with_extra(
        &g.extra,
        json!({
            "id": g.id,
            "name": g.name,
            "description": g.description,
            "filters": g.filters,
            "links": self_link(public_url, ENDPOINT_GROUPS, &g.id),
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

/// One object in Keystone's member shape, with the given status.
fn member(status: StatusCode, key: &str, object: Value) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ key: object })))
}

/// Reading needs any valid token.
async fn reader(warden: &Warden, headers: &HeaderMap) -> Result<Principal, KeystoneError> {
    Ok(warden.authenticate(&caller_credential(headers)?).await?)
}

#[derive(Deserialize)]
struct PolicyQuery {
    #[serde(rename = "type")]
    policy_type: Option<String>,
}

/// `GET /v3/policies` with the `type` filter.
async fn list_policies(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let filter: PolicyQuery = warden_http::parse_query(uri.0.query())
        .map_err(|_| DomainError::invalid("query", FieldErrorKind::Invalid))?;
    let policies = warden
        .list_keystone_policies(filter.policy_type.as_deref())
        .await?;
    let public_url = warden.settings().public_url.clone();
    let items = policies.iter().map(|p| policy_json(&public_url, p));
    Ok(collection(&warden, &uri, "policies", items))
}

async fn show_policy(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let policy = warden.get_keystone_policy(&id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(json!({ "policy": policy_json(public_url, &policy) })))
}

/// `blob` may be any text, empty too (Keystone's schema); it must be text.
fn blob(fields: &mut Fields) -> Option<String> {
    fields.text("blob", MAX_TEXT)
}

/// `POST /v3/policies` → 201; `blob` and `type` are required.
async fn create_policy(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "policy").await?;
    // Ids are generated, whatever the body says.
    fields.take("id");
    fields.require("blob");
    let policy = KeystonePolicyRecord {
        id: String::new(),
        blob: blob(&mut fields).unwrap_or_default(),
        policy_type: fields.required_text("type", MAX_NAME),
        project_id: fields.nullable_text("project_id", MAX_NAME).flatten(),
        user_id: fields.nullable_text("user_id", MAX_NAME).flatten(),
        extra: Default::default(),
    };
    let policy = KeystonePolicyRecord {
        extra: fields.finish()?,
        ..policy
    };
    let policy = warden.create_keystone_policy(&caller, policy).await?;
    let public_url = &warden.settings().public_url;
    Ok(member(
        StatusCode::CREATED,
        "policy",
        policy_json(public_url, &policy),
    ))
}

async fn update_policy(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "policy").await?;
    fields.require_any("policy");
    fields.matching_id(&id);
    let mut patch = PolicyPatch {
        policy_type: fields.text("type", MAX_NAME),
        blob: blob(&mut fields),
        project_id: fields.nullable_text("project_id", MAX_NAME),
        user_id: fields.nullable_text("user_id", MAX_NAME),
        extra: Default::default(),
    };
    if patch.policy_type.as_deref() == Some("") {
        fields.invalid("type");
    }
    patch.extra = fields.finish()?;
    let policy = warden.update_keystone_policy(&caller, &id, patch).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(json!({ "policy": policy_json(public_url, &policy) })))
}

async fn delete_policy(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = reader(&warden, &headers).await?;
    warden.delete_keystone_policy(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_consumers(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let consumers = warden.list_oauth_consumers().await?;
    let public_url = warden.settings().public_url.clone();
    let items = consumers.iter().map(|c| consumer_json(&public_url, c));
    Ok(collection(&warden, &uri, "consumers", items))
}

async fn show_consumer(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let consumer = warden.get_oauth_consumer(&id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "consumer": consumer_json(public_url, &consumer) }),
    ))
}

/// `POST /v3/OS-OAUTH1/consumers` → 201 with the generated `secret`, shown this once. An id
/// or secret in the body is ignored: both are generated, as Keystone generates them.
async fn create_consumer(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "consumer").await?;
    fields.take("id");
    fields.take("secret");
    let description = fields.nullable_text("description", MAX_TEXT).flatten();
    let extra = fields.finish()?;
    let (consumer, secret) = warden
        .create_oauth_consumer(&caller, description, extra)
        .await?;
    let public_url = &warden.settings().public_url;
    let mut shown = consumer_json(public_url, &consumer);
    shown["secret"] = json!(secret);
    Ok(member(StatusCode::CREATED, "consumer", shown))
}

/// `PATCH /v3/OS-OAUTH1/consumers/{id}`: the description and extra attributes; a `secret`
/// is refused (400), as Keystone refuses it.
async fn update_consumer(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "consumer").await?;
    fields.require_any("consumer");
    fields.matching_id(&id);
    if fields.take("secret").is_some() {
        fields.invalid("secret");
    }
    let description = fields.nullable_text("description", MAX_TEXT);
    let patch = ConsumerPatch {
        description,
        extra: fields.finish()?,
    };
    let consumer = warden.update_oauth_consumer(&caller, &id, patch).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "consumer": consumer_json(public_url, &consumer) }),
    ))
}

async fn delete_consumer(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = reader(&warden, &headers).await?;
    warden.delete_oauth_consumer(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_endpoint_groups(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let groups = warden.list_endpoint_groups().await?;
    let public_url = warden.settings().public_url.clone();
    let items = groups.iter().map(|g| endpoint_group_json(&public_url, g));
    Ok(collection(&warden, &uri, "endpoint_groups", items))
}

/// `GET` and `HEAD /v3/OS-EP-FILTER/endpoint_groups/{id}`.
async fn show_endpoint_group(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    reader(&warden, &headers).await?;
    let group = warden.get_endpoint_group(&id).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "endpoint_group": endpoint_group_json(public_url, &group) }),
    ))
}

/// `filters`: an object whose keys are among [`FILTER_KEYS`], each naming text.
fn filters(fields: &mut Fields) -> Option<Map<String, Value>> {
    match fields.take("filters")? {
        Value::Object(filters)
            if filters.iter().all(|(key, value)| {
                FILTER_KEYS.contains(&key.as_str())
                    && value
                        .as_str()
                        .is_some_and(|v| v.chars().count() <= MAX_NAME)
            }) =>
        {
            Some(filters)
        }
        _ => {
            fields.invalid("filters");
            None
        }
    }
}

/// `POST /v3/OS-EP-FILTER/endpoint_groups` → 201; `name` and `filters` are required.
async fn create_endpoint_group(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "endpoint_group").await?;
    fields.take("id");
    fields.require("filters");
    let group = EndpointGroupRecord {
        id: String::new(),
        name: fields.required_text("name", MAX_NAME),
        description: fields.nullable_text("description", MAX_TEXT).flatten(),
        filters: filters(&mut fields).unwrap_or_default(),
        extra: Default::default(),
    };
    let group = EndpointGroupRecord {
        extra: fields.finish()?,
        ..group
    };
    let group = warden.create_endpoint_group(&caller, group).await?;
    let public_url = &warden.settings().public_url;
    Ok(member(
        StatusCode::CREATED,
        "endpoint_group",
        endpoint_group_json(public_url, &group),
    ))
}

async fn update_endpoint_group(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, mut fields) = authenticated_member(&warden, request, "endpoint_group").await?;
    fields.require_any("endpoint_group");
    fields.matching_id(&id);
    let mut patch = EndpointGroupPatch {
        name: fields.text("name", MAX_NAME),
        description: fields.nullable_text("description", MAX_TEXT),
        filters: filters(&mut fields),
        extra: Default::default(),
    };
    if patch.name.as_deref() == Some("") {
        fields.invalid("name");
    }
    patch.extra = fields.finish()?;
    let group = warden.update_endpoint_group(&caller, &id, patch).await?;
    let public_url = &warden.settings().public_url;
    Ok(Json(
        json!({ "endpoint_group": endpoint_group_json(public_url, &group) }),
    ))
}

async fn delete_endpoint_group(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = reader(&warden, &headers).await?;
    warden.delete_endpoint_group(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
