//! The account face, `/api/2`: the Account Management API v2 dialect, its OAuth2 token
//! service and its error envelopes.

mod audit;
mod clients;
mod error;
mod extract;
mod fields;
mod idp;
mod lenient;
mod openapi;
mod policies;
mod search;
mod tenants;
mod users;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use warden_core::Warden;

pub use error::AccountError;

/// Where the account face lives.
pub const BASE: &str = "/api/2";

/// The routes of the account face, each under its full path (`/api/2/...`), with the OpenAPI
/// document built from the same handlers. The routes are registered whole rather than nested:
/// a nested router rebuilds every request's URI to strip its prefix. A request under
/// [`BASE`] that no route matches is for [`owns`] and [`not_found`] to answer.
pub fn router() -> Router<Arc<Warden>> {
    let (router, document) = api().split_for_parts();
    let document = Arc::new(relative_to_base(document));
    router
        .route(
            "/api/2/openapi.json",
            get(move || {
                let document = document.clone();
                async move { warden_http::Json((*document).clone()) }
            }),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
}

/// Whether `path` is the account face's, so that a miss there is answered in its body.
pub fn owns(path: &str) -> bool {
    path.strip_prefix(BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The answer to a request under [`BASE`] that no route matches.
pub async fn not_found() -> AccountError {
    AccountError::RouteNotFound
}

fn api() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(users::routes())
        .merge(clients::routes())
        .merge(idp::routes())
        .merge(tenants::routes())
        .merge(policies::routes())
        .merge(search::routes())
        .merge(audit::routes())
}

/// The document names its paths relative to its server, `/api/2`.
fn relative_to_base(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    document.paths.paths = std::mem::take(&mut document.paths.paths)
        .into_iter()
        .map(|(path, item)| match path.strip_prefix(BASE) {
            Some(relative) => (relative.to_owned(), item),
            None => (path, item),
        })
        .collect();
    document
}

/// The OpenAPI 3.1 document of the account face.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    relative_to_base(api().split_for_parts().1)
}

/// The OpenID discovery document is also served at the host root.
pub fn root_router() -> Router<Arc<Warden>> {
    Router::new().route(
        "/.well-known/openid-configuration",
        get(idp::openid_configuration),
    )
}
