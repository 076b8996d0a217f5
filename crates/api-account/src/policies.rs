//! `/users/{user_id}/access_policies`: a user's roles, read and replaced as a whole set.

use std::sync::Arc;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::policies::PolicyRequest;
use warden_core::Warden;
use warden_domain::{AccessPolicy, DomainError, FieldError, FieldErrorKind, Role, TenantId};
use warden_http::Json;

use crate::error::AccountError;
use crate::extract::{AccountJson, Caller};
use crate::openapi::ErrorBody;

pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new().routes(routes!(get, replace))
}

/// One access policy: a role held by a trustee on a tenant.
#[derive(Serialize, ToSchema)]
pub struct PolicyResponse {
    id: String,
    issuer_id: String,
    role_id: String,
    tenant_id: String,
    trustee_id: String,
    trustee_type: String,
    version: i64,
    created_at: String,
}

impl From<AccessPolicy> for PolicyResponse {
    fn from(p: AccessPolicy) -> Self {
        PolicyResponse {
            id: p.id.to_string(),
            issuer_id: p.issuer_id.to_string(),
            role_id: p.role.as_str().to_owned(),
            tenant_id: p.tenant_id.to_string(),
            trustee_id: p.trustee_id.to_string(),
            trustee_type: p.trustee_type.as_str().to_owned(),
            version: p.version,
            created_at: p.created_at.rfc3339_micros_offset(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PoliciesResponse {
    items: Vec<PolicyResponse>,
}

/// A policy as sent. `id`, `issuer_id` and `version` are assigned by the server and ignored
/// here; `trustee_id`, when given, must name the user of the path.
#[derive(Deserialize, ToSchema)]
pub struct PolicyItemRequest {
    role_id: Option<String>,
    tenant_id: Option<String>,
    trustee_id: Option<String>,
    trustee_type: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ReplacePoliciesRequest {
    items: Option<Vec<PolicyItemRequest>>,
}

impl ReplacePoliciesRequest {
    fn into_requests(self, user_id: &str) -> Result<Vec<PolicyRequest>, DomainError> {
        let items = self
            .items
            .ok_or_else(|| DomainError::invalid("items", FieldErrorKind::Missing))?;
        let path_user = warden_domain::ids::parse_uuid(user_id);
        let mut errors = Vec::new();
        let mut requests = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let field = |name: &str| format!("items[{i}].{name}");
            let role = match item.role_id.as_deref() {
                Some(raw) => Role::parse_assignable(raw)
                    .ok_or_else(|| FieldError::new(field("role_id"), FieldErrorKind::Invalid)),
                None => Err(FieldError::new(field("role_id"), FieldErrorKind::Missing)),
            };
            let tenant = match item.tenant_id.as_deref() {
                Some(raw) => TenantId::parse(raw)
                    .ok_or_else(|| FieldError::new(field("tenant_id"), FieldErrorKind::Invalid)),
                None => Err(FieldError::new(field("tenant_id"), FieldErrorKind::Missing)),
            };
            if let Some(trustee) = item.trustee_id.as_deref() {
                if path_user.is_none() || warden_domain::ids::parse_uuid(trustee) != path_user {
                    errors.push(FieldError::new(
                        field("trustee_id"),
                        FieldErrorKind::Invalid,
                    ));
                }
            }
            if item.trustee_type.as_deref().is_some_and(|t| t != "user") {
                errors.push(FieldError::new(
                    field("trustee_type"),
                    FieldErrorKind::Invalid,
                ));
            }
            match (role, tenant) {
                (Ok(role), Ok(tenant_id)) => requests.push(PolicyRequest { tenant_id, role }),
                (role, tenant) => errors.extend(role.err().into_iter().chain(tenant.err())),
            }
        }
        if errors.is_empty() {
            Ok(requests)
        } else {
            Err(DomainError::Invalid(errors))
        }
    }
}

#[utoipa::path(get, path = "/api/2/users/{user_id}/access_policies", tag = "users", params(("user_id" = String, Path)),
    responses((status = 200, body = PoliciesResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<PoliciesResponse>, AccountError> {
    let policies = warden.access_policies(&caller, &user_id).await?;
    Ok(Json(PoliciesResponse {
        items: policies.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(put, path = "/api/2/users/{user_id}/access_policies", tag = "users", params(("user_id" = String, Path)),
    request_body = ReplacePoliciesRequest,
    responses((status = 200, body = PoliciesResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn replace(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    Path(user_id): Path<String>,
    AccountJson(body): AccountJson<ReplacePoliciesRequest>,
) -> Result<Json<PoliciesResponse>, AccountError> {
    let requests = body.into_requests(&user_id)?;
    let policies = warden
        .replace_access_policies(&caller, &user_id, requests)
        .await?;
    Ok(Json(PoliciesResponse {
        items: policies.into_iter().map(Into::into).collect(),
    }))
}
