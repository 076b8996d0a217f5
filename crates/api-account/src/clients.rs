//! `/api/2/clients`: API clients as their owners and administrators see them. The secret and
//! the registration access token appear only in the response that creates them, and a new
//! secret only in the response of `POST /clients/{client_id}/secret`.

use std::sync::Arc;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::clients::{RegisteredClient, RotatedSecret};
use warden_core::Warden;
use warden_domain::client::{AuthMethod, ClientData, ClientKind, ClientPatch, NewApiClient};
use warden_domain::{ApiClient, DomainError, FieldError, FieldErrorKind, TenantId};
use warden_http::Json;

use crate::error::AccountError;
use crate::extract::{AccountJson, AccountQuery, Caller, CallerOrBasic};
use crate::fields::Errors;
use crate::lenient;
use crate::openapi::ErrorBody;

/// The routes of `/clients`, and the client list of a tenant.
pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, update, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(tenant_clients))
}

#[derive(Serialize, ToSchema)]
pub struct ClientResponse {
    client_id: String,
    tenant_id: String,
    #[serde(rename = "type")]
    kind: String,
    token_endpoint_auth_method: String,
    data: serde_json::Value,
    /// Always 0: secrets do not expire on their own; they are rotated.
    client_secret_expires_at: i64,
    /// `enabled` or `disabled`.
    #[schema(value_type = String)]
    status: &'static str,
    /// Whether the client may use the `password` grant.
    allow_password_grant: bool,
    created_by: Option<String>,
    created_at: String,
    redirect_uris: Vec<String>,
    /// Revision number; incremented by every change, including a secret rotation.
    version: i64,
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
            allow_password_grant: c.allow_password_grant,
            created_by: c.created_by.map(|u| u.to_string()),
            created_at: c.created_at.rfc3339_micros_offset(),
            redirect_uris: Vec::new(),
            version: c.version,
        }
    }
}

/// A client just created: the client, its secret and its registration access token, each
/// shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedClientResponse {
    #[serde(flatten)]
    client: ClientResponse,
    /// 128 random bits as 32 hex characters.
    client_secret: String,
    registration_access_token: String,
}

impl From<RegisteredClient> for CreatedClientResponse {
    fn from(r: RegisteredClient) -> Self {
        CreatedClientResponse {
            client: r.client.into(),
            client_secret: r.client_secret,
            registration_access_token: r.registration_access_token,
        }
    }
}

/// A client whose secret was just replaced, with the new secret shown this once.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecretResponse {
    #[serde(flatten)]
    client: ClientResponse,
    client_secret: String,
    /// Unix time (seconds) until which the replaced secret is still accepted; `null` when it
    /// stopped working at once.
    previous_secret_expires_at: Option<i64>,
}

impl From<RotatedSecret> for RotatedSecretResponse {
    fn from(r: RotatedSecret) -> Self {
        RotatedSecretResponse {
            client: r.client.into(),
            client_secret: r.client_secret,
            previous_secret_expires_at: r.previous_secret_expires_at.map(|t| t.seconds()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClientListResponse {
    items: Vec<ClientResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientIdListResponse {
    /// Client ids.
    items: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateClientRequest {
    /// `api_client` or `agent`.
    #[serde(rename = "type")]
    kind: Option<String>,
    tenant_id: Option<String>,
    /// `client_secret_basic` or `client_secret_post`.
    token_endpoint_auth_method: Option<String>,
    /// A JSON object, e.g. `{"client_name": "MyApp"}`; `{}` when absent.
    #[schema(value_type = Option<Object>)]
    data: Option<serde_json::Value>,
    /// Allows the `password` grant through this client; false when absent.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    allow_password_grant: Option<bool>,
}

impl TryFrom<CreateClientRequest> for NewApiClient {
    type Error = DomainError;

    fn try_from(r: CreateClientRequest) -> Result<Self, DomainError> {
        let mut errors = Errors::default();
        let kind = errors
            .required("type", r.kind.as_deref())
            .and_then(|k| errors.take(ClientKind::parse("type", k)));
        let tenant_id = errors
            .required("tenant_id", r.tenant_id.as_deref())
            .and_then(|t| {
                errors.take(
                    TenantId::parse(t)
                        .ok_or_else(|| FieldError::new("tenant_id", FieldErrorKind::Invalid)),
                )
            });
        let method = errors
            .required(
                "token_endpoint_auth_method",
                r.token_endpoint_auth_method.as_deref(),
            )
            .and_then(|m| errors.take(AuthMethod::parse("token_endpoint_auth_method", m)));
        let data = match r.data {
            None | Some(serde_json::Value::Null) => Some(ClientData::empty()),
            Some(value) => errors.take(ClientData::parse("data", value)),
        };
        let new = match (kind, tenant_id, method, data) {
            (Some(kind), Some(tenant_id), Some(token_endpoint_auth_method), Some(data)) => {
                Some(NewApiClient {
                    tenant_id,
                    kind,
                    token_endpoint_auth_method,
                    data,
                    allow_password_grant: r.allow_password_grant.unwrap_or(false),
                })
            }
            _ => None,
        };
        errors.finish_some(new)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateClientRequest {
    /// The client's new data, a JSON object; required.
    #[schema(value_type = Object)]
    data: Option<serde_json::Value>,
    /// `enabled` or `disabled`; a disabled client cannot get tokens and its tokens stop working.
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    #[schema(value_type = Option<bool>)]
    allow_password_grant: Option<bool>,
    /// When given, must be the current revision number (409, code 1001, otherwise).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[schema(value_type = Option<i64>)]
    version: Option<i64>,
}

impl UpdateClientRequest {
    fn into_command(self) -> Result<(ClientPatch, Option<i64>), DomainError> {
        let mut errors = Errors::default();
        let data = match self.data {
            None | Some(serde_json::Value::Null) => {
                errors
                    .0
                    .push(FieldError::new("data", FieldErrorKind::Missing));
                None
            }
            Some(value) => errors.take(ClientData::parse("data", value)),
        };
        let enabled = match self.status.as_deref() {
            None => None,
            Some("enabled") => Some(true),
            Some("disabled") => Some(false),
            Some(_) => errors.take(Err(FieldError::new("status", FieldErrorKind::Invalid))),
        };
        let patch = ClientPatch {
            data,
            enabled,
            allow_password_grant: self.allow_password_grant,
        };
        errors.finish_some(Some((patch, self.version)))
    }
}

#[derive(Deserialize, Default, ToSchema)]
pub struct RotateSecretRequest {
    /// How long the replaced secret stays valid, 0 to 2592000 seconds; 86400 when absent.
    /// 0 ends it at once, as after a leak.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[schema(value_type = Option<i64>)]
    grace_period_seconds: Option<i64>,
}

/// An optional JSON body: an empty one is fine; one that is present must be declared JSON.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = AccountError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = warden_http::read_body(request).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let AccountJson(value) = AccountJson::<T>::from_request(request, state).await?;
        Ok(OptionalJson(Some(value)))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteClientQuery {
    /// When given, must be the client's current revision number.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[param(value_type = Option<i64>)]
    version: Option<i64>,
}

#[utoipa::path(post, path = "/api/2/clients", tag = "clients", request_body = CreateClientRequest,
    responses((status = 201, description = "Created; the secret and registration access token are shown only here", body = CreatedClientResponse), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "The caller cannot manage the tenant", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create(
    State(warden): State<Arc<Warden>>,
    CallerOrBasic(caller): CallerOrBasic,
    AccountJson(body): AccountJson<CreateClientRequest>,
) -> Result<Response, AccountError> {
    let new = NewApiClient::try_from(body)?;
    let registered = warden.create_client(&caller, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedClientResponse::from(registered)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/2/clients", tag = "clients",
    responses((status = 200, description = "Every client the caller can read", body = ClientListResponse), (status = 401, description = "No valid credentials", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
) -> Result<Json<ClientListResponse>, AccountError> {
    let items = warden
        .list_clients(&caller)
        .await?
        .into_iter()
        .map(ClientResponse::from)
        .collect();
    Ok(Json(ClientListResponse { items }))
}

#[utoipa::path(get, path = "/api/2/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)),
    responses((status = 200, body = ClientResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such client", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(client_id): Path<String>,
) -> Result<Json<ClientResponse>, AccountError> {
    Ok(Json(warden.get_client(&caller, &client_id).await?.into()))
}

#[utoipa::path(put, path = "/api/2/clients/{client_id}", tag = "clients", params(("client_id" = String, Path)), request_body = UpdateClientRequest,
    responses((status = 200, body = ClientResponse), (status = 400, description = "Invalid input, or no `data`", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "The caller cannot manage the client", body = ErrorBody), (status = 404, description = "No such client", body = ErrorBody), (status = 409, description = "Stale version (code 1001)", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(client_id): Path<String>,
    AccountJson(body): AccountJson<UpdateClientRequest>,
) -> Result<Json<ClientResponse>, AccountError> {
    let (patch, version) = body.into_command()?;
    Ok(Json(
        warden
            .update_client(&caller, &client_id, patch, version)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api/2/clients/{client_id}", tag = "clients", params(("client_id" = String, Path), DeleteClientQuery),
    responses((status = 204, description = "Deleted; its tokens stop working"), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "The caller cannot manage the client", body = ErrorBody), (status = 404, description = "No such client", body = ErrorBody), (status = 409, description = "Stale version (code 1001)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(client_id): Path<String>,
    AccountQuery(query): AccountQuery<DeleteClientQuery>,
) -> Result<StatusCode, AccountError> {
    warden
        .delete_client(&caller, &client_id, query.version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the client's secret. The replaced secret keeps working for the grace period, so
/// deployments can switch over without downtime; a grace of 0 ends it at once.
#[utoipa::path(post, path = "/api/2/clients/{client_id}/secret", tag = "clients", params(("client_id" = String, Path)), request_body(content = Option<RotateSecretRequest>, description = "Optional"),
    responses((status = 200, description = "The new secret, shown only here", body = RotatedSecretResponse), (status = 400, description = "Grace period out of bounds", body = ErrorBody), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "The caller cannot manage the client", body = ErrorBody), (status = 404, description = "No such client", body = ErrorBody), (status = 415, description = "A body that is not JSON", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(client_id): Path<String>,
    OptionalJson(body): OptionalJson<RotateSecretRequest>,
) -> Result<Json<RotatedSecretResponse>, AccountError> {
    let body = body.unwrap_or_default();
    let rotated = warden
        .rotate_client_secret(&caller, &client_id, body.grace_period_seconds)
        .await?;
    Ok(Json(rotated.into()))
}

#[utoipa::path(get, path = "/api/2/tenants/{tenant_id}/clients", tag = "clients", params(("tenant_id" = String, Path)),
    responses((status = 200, description = "Ids of the clients registered in the tenant", body = ClientIdListResponse), (status = 401, description = "No valid credentials", body = ErrorBody), (status = 403, description = "Outside the caller's reach", body = ErrorBody), (status = 404, description = "No such tenant (code 1005)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn tenant_clients(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(tenant_id): Path<String>,
) -> Result<Json<ClientIdListResponse>, AccountError> {
    let items = warden
        .tenant_client_ids(&caller, &tenant_id)
        .await?
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    Ok(Json(ClientIdListResponse { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_body_reports_every_bad_field_at_once() {
        let body: CreateClientRequest = serde_json::from_str(
            r#"{"type": "robot", "token_endpoint_auth_method": "none", "data": [1]}"#,
        )
        .unwrap();
        let Err(DomainError::Invalid(errors)) = NewApiClient::try_from(body) else {
            panic!("expected invalid")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["type", "tenant_id", "token_endpoint_auth_method", "data"]
        );
    }

    #[test]
    fn a_put_needs_data_and_a_known_status() {
        let body: UpdateClientRequest =
            serde_json::from_str(r#"{"status": "paused", "version": "2"}"#).unwrap();
        let Err(DomainError::Invalid(errors)) = body.into_command() else {
            panic!("expected invalid")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["data", "status"]);
    }
}
