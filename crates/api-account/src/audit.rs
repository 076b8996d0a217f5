//! `/audit_events`: the audit trail of a tenant's subtree, oldest first, with cursor paging.
//! Every change made through any face is there, written in the transaction of the change.

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::audit::{AuditListing, AuditPage};
use warden_core::Warden;
use warden_http::Json;
use warden_store::AuditEvent;

use crate::error::AccountError;
use crate::extract::{AccountQuery, Caller};
use crate::openapi::ErrorBody;

pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events about objects in this tenant and below it; defaults to the caller's tenant.
    tenant_id: Option<String>,
    /// Only events about this object (a tenant, user or API client id).
    object_id: Option<String>,
    /// `paging.cursors.after` of the previous page.
    after: Option<String>,
    /// At most this many events (default 100, at most 1000).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventResponse {
    /// Position in the trail; events are listed in this order.
    seq: i64,
    /// When the change was made (RFC 3339).
    at: String,
    /// `user`, `client`, `link` (the holder of a mailed one-time link) or `system`.
    actor_type: String,
    /// The acting user or API client; for `link`, the user the link was mailed to.
    actor_id: Option<String>,
    /// The tenant the object belonged to when it changed.
    tenant_id: String,
    /// `tenant`, `user`, `client` or `access_policies` (the policy set of the user or client
    /// `object_id`).
    object_type: String,
    object_id: String,
    /// `create`, `update`, `move`, `delete`, `set_password`, `activate`, `confirm_email`,
    /// `rotate_secret` or `replace`.
    action: String,
    old_version: Option<i64>,
    new_version: Option<i64>,
    /// The `X-Request-Id` of the request that made the change.
    request_id: String,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(e: AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: e.at.rfc3339_micros_offset(),
            actor_type: e.actor_kind,
            actor_id: e.actor_id,
            tenant_id: e.tenant_id.to_string(),
            object_type: e.object_type,
            object_id: e.object_id,
            action: e.action,
            old_version: e.old_version,
            new_version: e.new_version,
            request_id: e.request_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditCursors {
    /// The cursor of the next page; absent when this page is the last one so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPaging {
    cursors: AuditCursors,
}

#[derive(Serialize, ToSchema)]
pub struct AuditListResponse {
    items: Vec<AuditEventResponse>,
    paging: AuditPaging,
}

impl From<AuditPage> for AuditListResponse {
    fn from(page: AuditPage) -> Self {
        Self {
            items: page.events.into_iter().map(Into::into).collect(),
            paging: AuditPaging {
                cursors: AuditCursors { after: page.next },
            },
        }
    }
}

#[utoipa::path(get, path = "/api/2/audit_events", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "One page of the trail, oldest first", body = AuditListResponse),
        (status = 400, description = "Invalid tenant id, cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "The caller holds no administrator role on the tenant", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountQuery(query): AccountQuery<AuditQuery>,
) -> Result<Json<AuditListResponse>, AccountError> {
    let listing = AuditListing {
        tenant_id: query.tenant_id.as_deref(),
        object_id: query.object_id.as_deref(),
        after: query.after.as_deref(),
        limit: query.limit.as_deref(),
    };
    Ok(Json(warden.audit_events(&caller, &listing).await?.into()))
}
