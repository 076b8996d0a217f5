//! The iam face: the Huawei Cloud IAM extensions under `/v3.0/OS-USER` and
//! `/v3.0/OS-CREDENTIAL`, with the IAM error body `{"error_code", "error_msg"}`.

mod credentials;
mod error;
mod users;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use warden_core::Warden;

pub use error::IamError;

/// The routes under `/v3.0`. A request signed with an access key (`SDK-HMAC-SHA256`) is
/// verified first, and its handler sees the key's user as the caller.
pub fn router(warden: Arc<Warden>) -> Router<Arc<Warden>> {
    Router::new()
        .route("/OS-USER/users", post(users::create))
        .route(
            "/OS-USER/users/{user_id}",
            get(users::show).put(users::update),
        )
        .route("/OS-USER/users/{user_id}/info", put(users::update_info))
        .route(
            "/OS-CREDENTIAL/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/OS-CREDENTIAL/credentials/{access_key}",
            get(credentials::show)
                .put(credentials::update)
                .delete(credentials::delete),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            warden,
            warden_http::signed_requests::<IamError>,
        ))
}
