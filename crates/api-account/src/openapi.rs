//! The OpenAPI 3.1 document of the account face, assembled from the handlers' own
//! annotations (each module registers its routes with `utoipa_axum::routes!`), and served at
//! `/api/2/openapi.json`.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi, ToSchema};

/// The platform error envelope.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// A platform code (1000–1035) or the HTTP status.
    code: i64,
    message: String,
    /// `info`, and the `request_id` also sent in `X-Request-Id`.
    details: serde_json::Value,
    /// Always `PlatformAccountServer`.
    domain: String,
}

/// The OAuth 2.0 error envelope of `/idp/*`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OAuthErrorBody {
    error: String,
    error_description: String,
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Warden Account Management API", version = "2"),
    servers((url = "/api/2")),
    modifiers(&Security),
    components(schemas(ErrorBody, ErrorDetail, OAuthErrorBody))
)]
pub struct ApiDoc;
