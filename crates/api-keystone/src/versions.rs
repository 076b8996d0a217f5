//! Version discovery: `GET /` and `GET /v3`, unauthenticated.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use warden_core::Warden;
use warden_http::Json;

fn version(warden: &Warden) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
        "links": [{"rel": "self", "href": format!("{}/v3/", warden.settings().public_url)}],
    })
}

pub async fn v3(State(warden): State<Arc<Warden>>) -> Json<Value> {
    Json(json!({ "version": version(&warden) }))
}

/// Keystone answers `/` with 300 Multiple Choices and the list of versions.
pub async fn root(State(warden): State<Arc<Warden>>) -> impl IntoResponse {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({ "versions": { "values": [version(&warden)] } })),
    )
}
