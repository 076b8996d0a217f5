//! `/search`: users and tenants of a subtree whose login, e-mail, names or tenant name start
//! with the text.

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use warden_core::policies::SearchResult;
use warden_core::Warden;
use warden_domain::{DomainError, FieldErrorKind};
use warden_http::Json;
use warden_store::SearchObject;

use crate::error::AccountError;
use crate::extract::{AccountQuery, Caller};
use crate::lenient;
use crate::openapi::ErrorBody;

pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new().routes(routes!(search))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Search this tenant and everything below it.
    tenant: Option<String>,
    /// Matched, as a case-insensitive prefix, against logins, e-mail addresses, first and last
    /// names, and tenant names.
    text: Option<String>,
    /// At most this many items (default 10, at most 100).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    #[param(value_type = Option<i64>)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchItem {
    /// `user` or `tenant`.
    obj_type: &'static str,
    id: String,
    /// A user's tenant, or a tenant's parent.
    parent_id: Option<String>,
    /// Tenant names from the search root down to the object.
    path: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<String>,
    first_name: String,
    last_name: String,
}

impl From<SearchResult> for SearchItem {
    fn from(r: SearchResult) -> Self {
        let is_user = r.object == SearchObject::User;
        SearchItem {
            obj_type: if is_user { "user" } else { "tenant" },
            id: r.id.hyphenated().to_string(),
            parent_id: r.parent_id.map(|p| p.to_string()),
            path: r.path,
            name: (!is_user).then(|| r.name.clone()),
            kind: r.kind.map(|k| k.as_str()),
            login: is_user.then_some(r.name),
            first_name: r.first_name,
            last_name: r.last_name,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SearchResponse {
    items: Vec<SearchItem>,
}

#[utoipa::path(get, path = "/api/2/search", tag = "search", params(SearchQuery),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn search(
    State(warden): State<Arc<Warden>>,
    Caller(caller): Caller,
    AccountQuery(query): AccountQuery<SearchQuery>,
) -> Result<Json<SearchResponse>, AccountError> {
    let tenant = query
        .tenant
        .ok_or_else(|| DomainError::invalid("tenant", FieldErrorKind::Missing))?;
    let text = query
        .text
        .ok_or_else(|| DomainError::invalid("text", FieldErrorKind::Missing))?;
    let limit = match query.limit {
        None => 10,
        Some(n) if (1..=i64::from(warden_core::policies::MAX_SEARCH_LIMIT)).contains(&n) => {
            n as u32
        }
        Some(_) => return Err(DomainError::invalid("limit", FieldErrorKind::Invalid).into()),
    };
    let results = warden.search(&caller, &tenant, &text, limit).await?;
    Ok(Json(SearchResponse {
        items: results.into_iter().map(Into::into).collect(),
    }))
}
