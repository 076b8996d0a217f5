//! `/users/{user_id}/access_policies`: a user's roles.

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use warden_core::Warden;

pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
}
