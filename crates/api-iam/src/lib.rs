//! The iam face: the Huawei Cloud IAM extensions under `/v3.0/OS-USER`, with the IAM error
//! body `{"error_code", "error_msg"}`.

mod error;
mod users;

use std::sync::Arc;

use axum::routing::{get, put};
use axum::Router;
use warden_core::Warden;

pub use error::IamError;

/// The routes under `/v3.0`.
pub fn router() -> Router<Arc<Warden>> {
    Router::new()
        .route("/OS-USER/users/{user_id}", get(users::show))
        .route("/OS-USER/users/{user_id}/info", put(users::update_info))
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
}
