//! The account face, `/api/2`: the Account Management API v2 dialect, its OAuth2 token
//! service and its error envelopes.

mod clients;
mod error;
mod extract;
mod idp;
mod lenient;
mod users;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use warden_core::Warden;

pub use error::AccountError;

/// The routes under `/api/2`.
pub fn router() -> Router<Arc<Warden>> {
    Router::new()
        .route("/users", post(users::create))
        .route("/users/check_login", get(users::check_login))
        .route("/users/me", get(users::me))
        .route(
            "/users/{user_id}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route("/users/{user_id}/password", post(users::set_password))
        .route("/clients/{client_id}", get(clients::get))
        .route("/idp/token", post(idp::token))
        .route("/idp/keys", get(idp::keys))
        .route(
            "/.well-known/openid-configuration",
            get(idp::openid_configuration),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
}

/// The OpenID discovery document is also served at the host root.
pub fn root_router() -> Router<Arc<Warden>> {
    Router::new().route(
        "/.well-known/openid-configuration",
        get(idp::openid_configuration),
    )
}
