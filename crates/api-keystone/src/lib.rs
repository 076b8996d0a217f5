//! The keystone face: OpenStack Identity v3 at `/` and `/v3`, with Keystone's error body
//! `{"error": {"code", "message", "title"}}`.

mod app_credentials;
mod auth_scopes;
mod catalog;
mod common;
mod credentials;
mod domain_config;
mod error;
mod fields;
mod groups;
mod keystone_extras;
mod projects;
mod roles;
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
    let router = Router::new()
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
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{user_id}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route("/users/{user_id}/password", post(users::change_password))
        .route("/users/{user_id}/groups", get(groups::user_groups))
        .route("/users/{user_id}/projects", get(projects::user_projects))
        .route("/groups", get(groups::list).post(groups::create))
        .route(
            "/groups/{group_id}",
            get(groups::show)
                .patch(groups::update)
                .delete(groups::delete),
        )
        .route("/groups/{group_id}/users", get(groups::members))
        .route(
            "/groups/{group_id}/users/{user_id}",
            get(groups::check_member)
                .put(groups::add_member)
                .delete(groups::remove_member),
        )
        .route(
            "/domains",
            get(projects::list_domains).post(projects::create_domain),
        )
        .route(
            "/domains/{domain_id}",
            get(projects::show_domain)
                .patch(projects::update_domain)
                .delete(projects::delete_domain),
        )
        .route(
            "/projects",
            get(projects::list_projects).post(projects::create_project),
        )
        .route(
            "/projects/{project_id}",
            get(projects::show_project)
                .patch(projects::update_project)
                .delete(projects::delete_project),
        )
        .route(
            "/projects/{project_id}/tags",
            get(projects::list_tags)
                .put(projects::replace_tags)
                .delete(projects::clear_tags),
        )
        .route(
            "/projects/{project_id}/tags/{tag}",
            get(projects::check_tag)
                .put(projects::add_tag)
                .delete(projects::remove_tag),
        )
        .route("/roles", get(roles::list).post(roles::create))
        .route(
            "/roles/{role_id}",
            get(roles::show).patch(roles::update).delete(roles::delete),
        )
        .route("/roles/{role_id}/implies", get(roles::list_implied))
        .route(
            "/roles/{role_id}/implies/{implied_id}",
            get(roles::show_inference)
                .head(roles::check_inference)
                .put(roles::add_inference)
                .delete(roles::delete_inference),
        )
        .route("/role_inferences", get(roles::list_inferences))
        .route("/role_assignments", get(roles::assignments))
        .merge(catalog::routes())
        .merge(credentials::routes())
        .merge(domain_config::routes())
        .merge(app_credentials::routes())
        .merge(keystone_extras::routes());
    roles::grant_routes(router)
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
