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

/// The routes under `/api/2`, with the OpenAPI document built from the same handlers.
pub fn router() -> Router<Arc<Warden>> {
    let (router, document) = api().split_for_parts();
    let document = Arc::new(document);
    router
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { warden_http::Json((*document).clone()) }
            }),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
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

/// The OpenAPI 3.1 document of the account face.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The OpenID discovery document is also served at the host root.
pub fn root_router() -> Router<Arc<Warden>> {
    Router::new().route(
        "/.well-known/openid-configuration",
        get(idp::openid_configuration),
    )
}
