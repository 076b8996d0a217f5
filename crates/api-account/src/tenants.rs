//! `/tenants`: the tenant tree.

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use warden_core::Warden;

pub fn routes() -> OpenApiRouter<Arc<Warden>> {
    OpenApiRouter::new()
}
