//! `/v3/auth/tokens`: issue (password and application credential methods) and validate.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::app_credentials::AppCredentialRef;
use warden_core::catalog::CatalogEntry;
use warden_core::keystone::{NameOrId, ScopeRequest, ScopeView, TokenView, UserRef};
use warden_core::{Credential, Warden};
use warden_domain::{AuthFailure, DomainError, FieldErrorKind, Password, Tenant};
use warden_http::Json;

use crate::catalog::catalog_json;
use crate::error::KeystoneError;
use warden_core::keystone::keystone_name;

#[derive(Deserialize)]
struct AuthRequest {
    auth: Auth,
}

#[derive(Deserialize)]
struct Auth {
    identity: Identity,
    #[serde(default)]
    scope: Option<Value>,
}

#[derive(Deserialize)]
struct Identity {
    methods: Vec<String>,
    password: Option<PasswordMethod>,
    token: Option<TokenMethod>,
    application_credential: Option<AppCredentialMethod>,
}

#[derive(Deserialize)]
struct TokenMethod {
    id: String,
}

/// `{"id", "secret"}`, or `{"name", "user": {...}, "secret"}`.
#[derive(Deserialize)]
struct AppCredentialMethod {
    id: Option<String>,
    name: Option<String>,
    user: Option<AppCredentialUser>,
    secret: String,
}

#[derive(Deserialize)]
struct AppCredentialUser {
    id: Option<String>,
    name: Option<String>,
    domain: Option<Reference>,
}

#[derive(Deserialize)]
struct PasswordMethod {
    user: PasswordUser,
}

#[derive(Deserialize)]
struct PasswordUser {
    id: Option<String>,
    name: Option<String>,
    domain: Option<Reference>,
    password: String,
}

#[derive(Deserialize)]
struct Reference {
    id: Option<String>,
    name: Option<String>,
    domain: Option<Box<Reference>>,
}

fn bad(field: &str) -> DomainError {
    DomainError::invalid(field, FieldErrorKind::Invalid)
}

/// The longest name or id an auth request may carry, Keystone's column width. Threat: a
/// megabyte "name" would still be looked up in the store; it is refused before that.
const MAX_NAME_CHARS: usize = 255;

fn bounded(value: &Option<String>, field: &str) -> Result<(), DomainError> {
    match value {
        Some(text) if text.chars().count() > MAX_NAME_CHARS => {
            Err(DomainError::invalid(field, FieldErrorKind::TooLong))
        }
        _ => Ok(()),
    }
}

fn name_or_id(reference: &Reference, field: &str) -> Result<NameOrId, DomainError> {
    bounded(&reference.id, &format!("{field}.id"))?;
    bounded(&reference.name, &format!("{field}.name"))?;
    match (&reference.id, &reference.name) {
        (Some(id), _) => Ok(NameOrId::Id(id.clone())),
        (None, Some(name)) => Ok(NameOrId::Name(name.clone())),
        (None, None) => Err(bad(field)),
    }
}

fn scope_request(scope: Option<&Value>) -> Result<ScopeRequest, DomainError> {
    let Some(scope) = scope else {
        return Ok(ScopeRequest::Unscoped);
    };
    if scope.as_str() == Some("unscoped") {
        return Ok(ScopeRequest::Unscoped);
    }
    let parse =
        |v: &Value| serde_json::from_value::<Reference>(v.clone()).map_err(|_| bad("auth.scope"));
    if let Some(system) = scope.get("system") {
        return match (system.get("all"), scope.get("domain"), scope.get("project")) {
            (Some(Value::Bool(true)), None, None) => Ok(ScopeRequest::System),
            _ => Err(bad("auth.scope.system")),
        };
    }
    match (scope.get("domain"), scope.get("project")) {
        (Some(_), Some(_)) => Err(bad("auth.scope")),
        (Some(domain), None) => Ok(ScopeRequest::Domain(name_or_id(
            &parse(domain)?,
            "auth.scope.domain",
        )?)),
        (None, Some(project)) => {
            let project = parse(project)?;
            let domain = project
                .domain
                .as_deref()
                .map(|d| name_or_id(d, "auth.scope.project.domain"))
                .transpose()?;
            Ok(ScopeRequest::Project {
                project: name_or_id(&project, "auth.scope.project")?,
                domain,
            })
        }
        (None, None) => Err(bad("auth.scope")),
    }
}

fn user_ref(user: &PasswordUser) -> Result<UserRef, DomainError> {
    bounded(&user.id, "auth.identity.password.user.id")?;
    bounded(&user.name, "auth.identity.password.user.name")?;
    // Longer passwords are never stored, so they cannot match; refusing them early also
    // keeps them away from the hasher.
    if user.password.len() > Password::MAX_BYTES {
        return Err(DomainError::invalid(
            "auth.identity.password.user.password",
            FieldErrorKind::TooLong,
        ));
    }
    match (&user.id, &user.name, &user.domain) {
        (Some(id), _, _) => Ok(UserRef::Id(id.clone())),
        (None, Some(name), Some(domain)) => Ok(UserRef::Name {
            name: name.clone(),
            domain: name_or_id(domain, "auth.identity.password.user.domain")?,
        }),
        // A user named without a domain cannot be resolved: Keystone answers 401.
        (None, Some(_), None) => Err(DomainError::Unauthenticated(AuthFailure::Invalid)),
        (None, None, _) => Err(bad("auth.identity.password.user")),
    }
}

fn app_credential_ref(method: &AppCredentialMethod) -> Result<AppCredentialRef, DomainError> {
    const FIELD: &str = "auth.identity.application_credential";
    bounded(&method.id, &format!("{FIELD}.id"))?;
    bounded(&method.name, &format!("{FIELD}.name"))?;
    if method.secret.len() > Password::MAX_BYTES {
        return Err(DomainError::invalid(
            format!("{FIELD}.secret"),
            FieldErrorKind::TooLong,
        ));
    }
    match (&method.id, &method.name, &method.user) {
        (Some(id), _, _) => Ok(AppCredentialRef::Id(id.clone())),
        (None, Some(name), Some(user)) => {
            bounded(&user.id, &format!("{FIELD}.user.id"))?;
            bounded(&user.name, &format!("{FIELD}.user.name"))?;
            let user = match (&user.id, &user.name, &user.domain) {
                (Some(id), _, _) => UserRef::Id(id.clone()),
                (None, Some(name), Some(domain)) => UserRef::Name {
                    name: name.clone(),
                    domain: name_or_id(domain, &format!("{FIELD}.user.domain"))?,
                },
                // A user named without a domain cannot be resolved: Keystone answers 401.
                (None, Some(_), None) => {
                    return Err(DomainError::Unauthenticated(AuthFailure::Invalid))
                }
                (None, None, _) => return Err(bad(&format!("{FIELD}.user"))),
            };
            Ok(AppCredentialRef::Named {
                name: name.clone(),
                user,
            })
        }
        (None, Some(_), None) => Err(bad(&format!("{FIELD}.user"))),
        (None, None, _) => Err(bad(FIELD)),
    }
}

fn no_catalog(query: Option<&str>) -> bool {
    #[derive(Deserialize)]
    struct Q {
        nocatalog: Option<String>,
    }
    warden_http::parse_query::<Q>(query).is_ok_and(|q| q.nocatalog.is_some())
}

fn domain_json(t: &Tenant) -> Value {
    json!({ "id": t.id.simple(), "name": keystone_name(t) })
}

fn token_body(view: &TokenView, catalog: Option<&[CatalogEntry]>) -> Value {
    let claims = &view.claims;
    let ks = claims.ks.clone().unwrap_or_default();
    let methods = if ks.methods.is_empty() {
        vec!["token".to_owned()]
    } else {
        ks.methods
    };
    let mut token = json!({
        "methods": methods,
        "user": {
            "id": view.user.id.simple(),
            "name": view.user.login.as_str(),
            "domain": domain_json(&view.user_domain),
            "password_expires_at": null,
        },
        "audit_ids": [&claims.jti[..22.min(claims.jti.len())]],
        "expires_at": claims.expires_at().rfc3339_micros_z(),
        "issued_at": claims.issued_at().rfc3339_micros_z(),
    });
    if let Some(credential) = claims
        .ks
        .as_ref()
        .and_then(|ks| ks.application_credential.as_ref())
    {
        token["application_credential"] = json!({
            "id": credential.id,
            "name": credential.name,
            "restricted": !credential.unrestricted,
        });
    }
    let scoped = !matches!(view.scope, ScopeView::Unscoped);
    match &view.scope {
        ScopeView::Unscoped => {}
        ScopeView::System(_) => {
            token["system"] = json!({ "all": true });
        }
        ScopeView::Domain(d) => {
            token["domain"] = domain_json(d);
        }
        ScopeView::Project { project, domain } => {
            token["project"] = json!({ "id": project.id.simple(), "name": project.name, "domain": domain_json(domain) });
            token["is_domain"] = json!(false);
        }
    }
    if scoped {
        let roles: Vec<Value> = view
            .roles
            .iter()
            .map(|role| json!({ "id": role.id, "name": role.name }))
            .collect();
        token["roles"] = json!(roles);
        if let Some(catalog) = catalog {
            token["catalog"] = catalog_json(catalog);
        }
    }
    json!({ "token": token })
}

/// The catalog a token body shows, unless `?nocatalog` asked for none; from the node's cache.
async fn token_catalog(
    warden: &Warden,
    with_catalog: bool,
) -> Result<Option<Arc<Vec<CatalogEntry>>>, KeystoneError> {
    if with_catalog {
        Ok(Some(warden.service_catalog().await?))
    } else {
        Ok(None)
    }
}

fn with_subject_token(
    status: StatusCode,
    token: &str,
    body: Value,
) -> Result<Response, KeystoneError> {
    let value = HeaderValue::from_str(token).map_err(|_| DomainError::Internal)?;
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert("x-subject-token", value);
    Ok(response)
}

pub async fn issue(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<Response, KeystoneError> {
    let with_catalog = !no_catalog(request.uri().query());
    let (_, bytes) = warden_http::read_body(request).await?;
    let body: AuthRequest = warden_http::parse_json(&bytes)?;
    let identity = &body.auth.identity;
    let scope = scope_request(body.auth.scope.as_ref())?;
    let uses = |method: &str| identity.methods.iter().any(|m| m == method);
    let (token, view) = if uses(warden_core::app_credentials::METHOD) {
        let method = identity
            .application_credential
            .as_ref()
            .ok_or_else(|| bad("auth.identity.application_credential"))?;
        let credential = app_credential_ref(method)?;
        warden
            .keystone_app_credential_auth(&credential, &method.secret, &scope)
            .await?
    } else if uses("password") {
        let password = identity
            .password
            .as_ref()
            .ok_or_else(|| bad("auth.identity.password"))?;
        let user = user_ref(&password.user)?;
        warden
            .keystone_password_auth(&user, &password.user.password, &scope)
            .await?
    } else if uses("token") {
        let token = identity
            .token
            .as_ref()
            .ok_or_else(|| bad("auth.identity.token"))?;
        warden.keystone_token_auth(&token.id, &scope).await?
    } else {
        // Keystone answers a method it does not serve with 401.
        return Err(DomainError::Unauthenticated(AuthFailure::Invalid).into());
    };
    let catalog = token_catalog(&warden, with_catalog).await?;
    let body = token_body(&view, catalog.as_deref().map(Vec::as_slice));
    with_subject_token(StatusCode::CREATED, &token, body)
}

pub(crate) fn caller_credential(headers: &HeaderMap) -> Result<Credential, KeystoneError> {
    warden_http::keystone_credential(headers)
        .map_err(|_| DomainError::Unauthenticated(AuthFailure::Invalid))?
        .ok_or_else(|| DomainError::Unauthenticated(AuthFailure::Missing).into())
}

/// `GET` (and `HEAD`) `/v3/auth/tokens`.
pub async fn validate(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<Response, KeystoneError> {
    let headers = request.headers();
    let caller = warden.authenticate(&caller_credential(headers)?).await?;
    let subject = warden_http::token_header(headers, "x-subject-token")
        .map_err(|_| bad("X-Subject-Token"))?
        .ok_or_else(|| bad("X-Subject-Token"))?;
    let view = warden.keystone_validate(&caller, &subject).await?;
    let catalog = token_catalog(&warden, !no_catalog(request.uri().query())).await?;
    let body = token_body(&view, catalog.as_deref().map(Vec::as_slice));
    with_subject_token(StatusCode::OK, &subject, body)
}

/// `DELETE /v3/auth/tokens` → 204; the revoked token then validates as 404.
pub async fn revoke(
    State(warden): State<Arc<Warden>>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let caller = warden.authenticate(&caller_credential(&headers)?).await?;
    let subject = warden_http::token_header(&headers, "x-subject-token")
        .map_err(|_| bad("X-Subject-Token"))?
        .ok_or_else(|| bad("X-Subject-Token"))?;
    warden.keystone_revoke(&caller, &subject).await?;
    Ok(StatusCode::NO_CONTENT)
}
