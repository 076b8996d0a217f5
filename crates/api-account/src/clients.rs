//! `/api/2/clients`: API clients as their owners and administrators see them — never the secret.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::Warden;
use warden_domain::ApiClient;

use crate::error::AccountError;
use crate::extract::Caller;
use crate::openapi::ErrorBody;

/// The routes of `/clients`.
pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new().routes(routes!(get))
}

#[derive(Serialize, ToSchema)]
pub struct ClientResponse {
    client_id: String,
    tenant_id: String,
    #[serde(rename = "type")]
    kind: String,
    token_endpoint_auth_method: String,
    data: serde_json::Value,
    client_secret_expires_at: i64,
    #[schema(value_type = String)]
    status: &'static str,
    created_by: Option<String>,
    created_at: String,
    redirect_uris: Vec<String>,
}

impl From<ApiClient> for ClientResponse {
    fn from(c: ApiClient) -> Self {
        ClientResponse {
            client_id: c.id.to_string(),
            tenant_id: c.tenant_id.to_string(),
            kind: c.kind,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            data: c.data,
            client_secret_expires_at: 0,
            status: if c.enabled { "enabled" } else { "disabled" },
            created_by: c.created_by.map(|u| u.to_string()),
            created_at: c.created_at.rfc3339_micros_offset(),
            redirect_uris: Vec::new(),
        }
    }
}

#[utoipa::path(get, path = "/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 200, body = ClientResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such client", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(client_id): Path<String>,
) -> Result<Json<ClientResponse>, AccountError> {
    Ok(Json(warden.get_client(&caller, &client_id).await?.into()))
}
