//! `/v3/domains/{domain_id}/config` and `/v3/domains/config/…/default`: a domain's
//! configuration of the `identity` and `ldap` groups, whole, by group or by option, in
//! Keystone's shapes (`{"config": …}`). See `warden_core::domain_config` for what is kept.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use warden_core::domain_config::ConfigPart;
use warden_core::Warden;
use warden_http::Json;

use crate::error::KeystoneError;
use crate::fields::authenticated_member;
use crate::tokens::caller_credential;

pub fn routes() -> Router<Arc<Warden>> {
    Router::new()
        .route("/domains/config/default", get(show_default))
        .route("/domains/config/{group}/default", get(show_default_group))
        .route(
            "/domains/config/{group}/{option}/default",
            get(show_default_option),
        )
        .route(
            "/domains/{domain_id}/config",
            get(show).put(replace).patch(update).delete(delete),
        )
        .route(
            "/domains/{domain_id}/config/{group}",
            get(show_group).patch(update_group).delete(delete_group),
        )
        .route(
            "/domains/{domain_id}/config/{group}/{option}",
            get(show_option).patch(update_option).delete(delete_option),
        )
}

fn config(value: Value) -> Json<Value> {
    Json(json!({ "config": value }))
}

async fn default_part(
    warden: &Warden,
    headers: &HeaderMap,
    part: ConfigPart<'_>,
) -> Result<Json<Value>, KeystoneError> {
    warden.authenticate(&caller_credential(headers)?).await?;
    Ok(config(warden.default_domain_config(part)?))
}

/// `GET /v3/domains/config/default`: any valid token.
async fn show_default(
    State(warden): State<Arc<Warden>>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    default_part(&warden, &headers, ConfigPart::All).await
}

async fn show_default_group(
    State(warden): State<Arc<Warden>>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    default_part(&warden, &headers, ConfigPart::Group(&group)).await
}

async fn show_default_option(
    State(warden): State<Arc<Warden>>,
    Path((group, option)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    default_part(&warden, &headers, ConfigPart::Option(&group, &option)).await
}

async fn show_part(
    warden: &Warden,
    headers: &HeaderMap,
    domain_id: &str,
    part: ConfigPart<'_>,
) -> Result<Json<Value>, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(headers)?).await?;
    Ok(config(
        warden.domain_config(&caller, domain_id, part).await?,
    ))
}

async fn show(
    State(warden): State<Arc<Warden>>,
    Path(domain_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    show_part(&warden, &headers, &domain_id, ConfigPart::All).await
}

async fn show_group(
    State(warden): State<Arc<Warden>>,
    Path((domain_id, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    show_part(&warden, &headers, &domain_id, ConfigPart::Group(&group)).await
}

async fn show_option(
    State(warden): State<Arc<Warden>>,
    Path((domain_id, group, option)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let part = ConfigPart::Option(&group, &option);
    show_part(&warden, &headers, &domain_id, part).await
}

/// `PUT /v3/domains/{domain_id}/config`: 201 when the domain had no configuration, 200 when
/// it replaced one.
async fn replace(
    State(warden): State<Arc<Warden>>,
    Path(domain_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let (caller, fields) = authenticated_member(&warden, request, "config").await?;
    let given = Value::Object(fields.finish()?);
    let (shown, created) = warden
        .replace_domain_config(&caller, &domain_id, &given)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, config(shown)))
}

async fn update_part(
    warden: &Warden,
    request: Request,
    domain_id: &str,
    part: ConfigPart<'_>,
) -> Result<Json<Value>, KeystoneError> {
    let (caller, fields) = authenticated_member(warden, request, "config").await?;
    let change = Value::Object(fields.finish()?);
    let shown = warden
        .update_domain_config(&caller, domain_id, part, &change)
        .await?;
    Ok(config(shown))
}

async fn update(
    State(warden): State<Arc<Warden>>,
    Path(domain_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    update_part(&warden, request, &domain_id, ConfigPart::All).await
}

async fn update_group(
    State(warden): State<Arc<Warden>>,
    Path((domain_id, group)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    update_part(&warden, request, &domain_id, ConfigPart::Group(&group)).await
}

async fn update_option(
    State(warden): State<Arc<Warden>>,
    Path((domain_id, group, option)): Path<(String, String, String)>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let part = ConfigPart::Option(&group, &option);
    update_part(&warden, request, &domain_id, part).await
}

async fn delete_part(
    warden: &Warden,
    headers: &HeaderMap,
    domain_id: &str,
    part: ConfigPart<'_>,
) -> Result<StatusCode, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(headers)?).await?;
    warden
        .delete_domain_config(&caller, domain_id, part)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(
    State(warden): State<Arc<Warden>>,
    Path(domain_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    delete_part(&warden, &headers, &domain_id, ConfigPart::All).await
}

async fn delete_group(
    State(warden): State<Arc<Warden>>,
    Path((domain_id, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    delete_part(&warden, &headers, &domain_id, ConfigPart::Group(&group)).await
}

async fn delete_option(
    State(warden): State<Arc<Warden>>,
    Path((domain_id, group, option)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let part = ConfigPart::Option(&group, &option);
    delete_part(&warden, &headers, &domain_id, part).await
}
