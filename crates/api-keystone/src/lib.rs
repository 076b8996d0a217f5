//! The keystone face: OpenStack Identity v3 at `/` and `/v3`, with Keystone's error body
//! `{"error": {"code", "message", "title"}}`.

mod auth_scopes;
mod catalog;
mod credentials;
mod error;
mod fields;
mod tokens;
mod users;
mod versions;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use warden_core::Warden;

pub use error::KeystoneError;

/// The routes under `/v3`. A request signed with an access key (`SDK-HMAC-SHA256`) is
/// verified first, and its handler sees the key's user as the caller.
pub fn router(warden: Arc<Warden>) -> Router<Arc<Warden>> {
    Router::new()
        .route("/", get(versions::v3))
        .route(
            "/auth/tokens",
            get(tokens::validate)
                .post(tokens::issue)
                .delete(tokens::revoke),
        )
        .route("/auth/domains", get(auth_scopes::domains))
        .route("/auth/projects", get(auth_scopes::projects))
        .route("/auth/catalog", get(auth_scopes::service_catalog))
        .route("/users", get(users::list))
        .route("/users/{user_id}", get(users::show))
        .route("/users/{user_id}/password", post(users::change_password))
        .merge(catalog::routes())
        .merge(credentials::routes())
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            warden,
            warden_http::signed_requests::<KeystoneError>,
        ))
}

/// The version list at `/`; `/v3` itself is the nested router's `/`.
pub fn root_router() -> Router<Arc<Warden>> {
    Router::new().route("/", get(versions::root))
}

/// Anything no face claims is answered in Keystone's body, the root's dialect.
pub async fn fallback() -> KeystoneError {
    KeystoneError::RouteNotFound
}
