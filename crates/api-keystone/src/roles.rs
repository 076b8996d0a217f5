//! `/v3/roles`, role grants on domains and projects (with `OS-INHERIT`), and
//! `/v3/role_assignments`.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use warden_core::roles::{
    new_role, ActorId, ActorRef, Assignment, AssignmentQuery, GrantRef, RoleInference, RoleView,
};
use warden_core::Warden;
use warden_domain::keystone::RolePatch;
use warden_domain::{DomainError, FieldErrorKind, KeystoneRole};
use warden_http::Json;

use crate::common::{caller, collection_links, flag, query_pairs, query_value, self_link, Body};
use crate::error::KeystoneError;

fn role_json(warden: &Warden, role: &KeystoneRole) -> Value {
    let id = role.id.simple();
    let mut options = json!({});
    if role.immutable {
        options["immutable"] = json!(true);
    }
    json!({
        "id": id,
        "name": role.name,
        "domain_id": role.domain_id.map(|d| d.simple()),
        "description": role.description,
        "options": options,
        "links": self_link(warden, &format!("roles/{id}")),
    })
}

fn view_json(warden: &Warden, role: &RoleView) -> Value {
    json!({
        "id": role.id,
        "name": role.name,
        "domain_id": role.domain_id.map(|d| d.simple()),
        "links": self_link(warden, &format!("roles/{}", role.id)),
    })
}

/// `GET /v3/roles` with `name` and `domain_id`.
pub async fn list(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let pairs = query_pairs(uri.0.query())?;
    let roles = warden
        .list_roles(
            &principal,
            query_value(&pairs, "name"),
            query_value(&pairs, "domain_id"),
        )
        .await?;
    let roles: Vec<Value> = roles.iter().map(|r| role_json(&warden, r)).collect();
    Ok(Json(
        json!({ "roles": roles, "links": collection_links(&warden, uri.0.path()) }),
    ))
}

/// `POST /v3/roles` → 201.
pub async fn create(
    State(warden): State<Arc<Warden>>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = Body::read(request, "role").await?;
    let domain_id = match body.string("domain_id")? {
        Some(raw) => Some(
            warden
                .get_project(&principal, &raw, true)
                .await
                .map_err(|_| DomainError::invalid("role.domain_id", FieldErrorKind::Invalid))?
                .id,
        ),
        None => None,
    };
    let new = new_role(
        body.string("name")?.as_deref(),
        domain_id,
        body.string("description")?,
    )?;
    let role = warden.create_role(&principal, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "role": role_json(&warden, &role) })),
    ))
}

/// `GET /v3/roles/{id}`.
pub async fn show(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let role = warden.get_role(&principal, &id).await?;
    Ok(Json(json!({ "role": role_json(&warden, &role) })))
}

/// `PATCH /v3/roles/{id}`: name and description; a role stays in its domain.
pub async fn update(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, request.headers()).await?;
    let body = Body::read(request, "role").await?;
    body.forbid("domain_id")?;
    let patch = RolePatch {
        name: body.string("name")?,
        description: body.string("description")?,
    };
    let role = warden.update_role(&principal, &id, patch).await?;
    Ok(Json(json!({ "role": role_json(&warden, &role) })))
}

/// `DELETE /v3/roles/{id}` → 204, with every assignment of the role.
pub async fn delete(
    State(warden): State<Arc<Warden>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden.delete_role(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn brief_json(warden: &Warden, role: &KeystoneRole) -> Value {
    let id = role.id.simple();
    json!({
        "id": id,
        "name": role.name,
        "links": self_link(warden, &format!("roles/{id}")),
    })
}

fn inference_json(warden: &Warden, prior: &KeystoneRole, implied: &KeystoneRole) -> Value {
    json!({
        "role_inference": {
            "prior_role": brief_json(warden, prior),
            "implies": brief_json(warden, implied),
        },
        "links": self_link(warden, &format!("roles/{}/implies/{}", prior.id.simple(), implied.id.simple())),
    })
}

/// `PUT /v3/roles/{prior}/implies/{implied}` → 201.
pub async fn add_inference(
    State(warden): State<Arc<Warden>>,
    Path((prior, implied)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let (prior, implied) = warden
        .add_role_inference(&principal, &prior, &implied)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(inference_json(&warden, &prior, &implied)),
    ))
}

/// `GET /v3/roles/{prior}/implies/{implied}`.
pub async fn show_inference(
    State(warden): State<Arc<Warden>>,
    Path((prior, implied)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let (prior, implied) = warden
        .get_role_inference(&principal, &prior, &implied)
        .await?;
    Ok(Json(inference_json(&warden, &prior, &implied)))
}

/// `HEAD /v3/roles/{prior}/implies/{implied}` → 204.
pub async fn check_inference(
    State(warden): State<Arc<Warden>>,
    Path((prior, implied)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .get_role_inference(&principal, &prior, &implied)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v3/roles/{prior}/implies/{implied}` → 204.
pub async fn delete_inference(
    State(warden): State<Arc<Warden>>,
    Path((prior, implied)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .remove_role_inference(&principal, &prior, &implied)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn rule_json(warden: &Warden, rule: &RoleInference) -> Value {
    json!({
        "prior_role": brief_json(warden, &rule.prior),
        "implies": rule.implies.iter().map(|r| brief_json(warden, r)).collect::<Vec<_>>(),
    })
}

/// `GET /v3/roles/{prior}/implies`: what one role implies directly.
pub async fn list_implied(
    State(warden): State<Arc<Warden>>,
    Path(prior): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let rules = warden.role_inferences(&principal, Some(&prior)).await?;
    let rule = rules
        .first()
        .ok_or(DomainError::NotFound(warden_domain::Resource::Role))?;
    Ok(Json(json!({
        "role_inference": rule_json(&warden, rule),
        "links": self_link(&warden, &format!("roles/{prior}/implies")),
    })))
}

/// `GET /v3/role_inferences`: every rule.
pub async fn list_inferences(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let rules = warden.role_inferences(&principal, None).await?;
    let rules: Vec<Value> = rules.iter().map(|r| rule_json(&warden, r)).collect();
    Ok(Json(json!({
        "role_inferences": rules,
        "links": collection_links(&warden, uri.0.path()),
    })))
}

/// Which grant routes: on domains or projects, of users or groups, inherited or not.
#[derive(Clone, Copy)]
struct GrantKind {
    on_domain: bool,
    system: bool,
    group: bool,
    inherited: bool,
}

impl GrantKind {
    fn grant<'a>(&self, target: &'a str, actor: &'a str, role: &'a str) -> GrantRef<'a> {
        GrantRef {
            target,
            on_domain: self.on_domain,
            system: self.system,
            actor: self.actor(actor),
            role,
            inherited: self.inherited,
        }
    }

    fn actor<'a>(&self, actor: &'a str) -> ActorRef<'a> {
        if self.group {
            ActorRef::Group(actor)
        } else {
            ActorRef::User(actor)
        }
    }
}

async fn put_grant(
    warden: Arc<Warden>,
    kind: GrantKind,
    (target, actor, role): (String, String, String),
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .grant_role(&principal, kind.grant(&target, &actor, &role))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check_grant(
    warden: Arc<Warden>,
    kind: GrantKind,
    (target, actor, role): (String, String, String),
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .check_grant(&principal, kind.grant(&target, &actor, &role))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_grant(
    warden: Arc<Warden>,
    kind: GrantKind,
    (target, actor, role): (String, String, String),
    headers: HeaderMap,
) -> Result<StatusCode, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    warden
        .revoke_role(&principal, kind.grant(&target, &actor, &role))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_grants(
    warden: Arc<Warden>,
    kind: GrantKind,
    (target, actor): (String, String),
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let roles = warden
        .list_grants(&principal, kind.grant(&target, &actor, ""))
        .await?;
    let roles: Vec<Value> = roles.iter().map(|r| view_json(&warden, r)).collect();
    Ok(Json(
        json!({ "roles": roles, "links": collection_links(&warden, uri.0.path()) }),
    ))
}

/// Adds the grant routes of every kind: `/{domains|projects}/{id}/{users|groups}/{id}/roles`
/// and their `OS-INHERIT` forms ending in `inherited_to_projects`.
pub fn grant_routes(router: Router<Arc<Warden>>) -> Router<Arc<Warden>> {
    let mut router = router;
    for on_domain in [false, true] {
        for group in [false, true] {
            for inherited in [false, true] {
                let kind = GrantKind {
                    on_domain,
                    system: false,
                    group,
                    inherited,
                };
                let targets = if on_domain { "domains" } else { "projects" };
                let actors = if group { "groups" } else { "users" };
                let (prefix, suffix) = if inherited {
                    ("/OS-INHERIT", "/inherited_to_projects")
                } else {
                    ("", "")
                };
                let base = format!("{prefix}/{targets}/{{target}}/{actors}/{{actor}}/roles");
                let (one, all) = if inherited {
                    (
                        format!("{base}/{{role}}{suffix}"),
                        format!("{base}{suffix}"),
                    )
                } else {
                    (format!("{base}/{{role}}"), base.clone())
                };
                router = router
                    .route(
                        &one,
                        get(move |State(w): State<Arc<Warden>>, Path(p), h: HeaderMap| {
                            check_grant(w, kind, p, h)
                        })
                        .put(move |State(w): State<Arc<Warden>>, Path(p), h: HeaderMap| {
                            put_grant(w, kind, p, h)
                        })
                        .delete(
                            move |State(w): State<Arc<Warden>>, Path(p), h: HeaderMap| {
                                delete_grant(w, kind, p, h)
                            },
                        ),
                    )
                    .route(
                        &all,
                        get(
                            move |State(w): State<Arc<Warden>>,
                                  Path(p),
                                  uri: OriginalUri,
                                  h: HeaderMap| {
                                list_grants(w, kind, p, uri, h)
                            },
                        ),
                    );
            }
        }
    }
    for group in [false, true] {
        let kind = GrantKind {
            on_domain: false,
            system: true,
            group,
            inherited: false,
        };
        let actors = if group { "groups" } else { "users" };
        let base = format!("/system/{actors}/{{actor}}/roles");
        let system = |(actor, role): (String, String)| ("system".to_owned(), actor, role);
        router = router
            .route(
                &format!("{base}/{{role}}"),
                get(move |State(w): State<Arc<Warden>>, Path(p), h: HeaderMap| {
                    check_grant(w, kind, system(p), h)
                })
                .put(move |State(w): State<Arc<Warden>>, Path(p), h: HeaderMap| {
                    put_grant(w, kind, system(p), h)
                })
                .delete(
                    move |State(w): State<Arc<Warden>>, Path(p), h: HeaderMap| {
                        delete_grant(w, kind, system(p), h)
                    },
                ),
            )
            .route(
                &base,
                get(
                    move |State(w): State<Arc<Warden>>,
                          Path(actor): Path<String>,
                          uri: OriginalUri,
                          h: HeaderMap| {
                        list_grants(w, kind, ("system".to_owned(), actor), uri, h)
                    },
                ),
            );
    }
    router
}

/// One assignment in Keystone's shape, with names when asked.
async fn assignment_json(
    warden: &Warden,
    a: &Assignment,
    names: bool,
) -> Result<Value, KeystoneError> {
    let (actor_key, actor_id) = match a.actor {
        ActorId::User(id) => ("user", id.simple()),
        ActorId::Group(id) => ("group", id.simple()),
    };
    let target_id = a.tenant.simple();
    let scope_key = if a.on_domain { "domain" } else { "project" };
    let mut role = json!({ "id": a.role.id });
    let mut actor = json!({ "id": actor_id });
    let mut target = json!({ "id": target_id });
    if names {
        let n = warden.assignment_names(a).await?;
        role["name"] = json!(a.role.name);
        if let Some(domain) = a.role.domain_id {
            role["domain_id"] = json!(domain.simple());
        }
        actor["name"] = json!(n.actor_name);
        if let Some((id, name)) = n.actor_domain {
            actor["domain"] = json!({ "id": id.simple(), "name": name });
        }
        target["name"] = json!(n.target_name);
        if let Some((id, name)) = n.target_domain {
            target["domain"] = json!({ "id": id.simple(), "name": name });
        }
    }
    let mut scope = if a.system {
        json!({ "system": { "all": true } })
    } else {
        json!({ scope_key: target })
    };
    if a.inherited {
        scope["OS-INHERIT:inherited_to"] = json!("projects");
    }
    let route = if a.system {
        format!("system/{actor_key}s/{actor_id}/roles/{}", a.role.id)
    } else {
        format!(
            "{}s/{target_id}/{actor_key}s/{actor_id}/roles/{}",
            scope_key, a.role.id
        )
    };
    let link = if a.inherited {
        format!("OS-INHERIT/{route}/inherited_to_projects")
    } else {
        route
    };
    Ok(json!({
        "role": role,
        actor_key: actor,
        "scope": scope,
        "links": { "assignment": self_link(warden, &link)["self"] },
    }))
}

/// `GET /v3/role_assignments` with `user.id`, `group.id`, `role.id`, `scope.project.id`,
/// `scope.domain.id`, `scope.OS-INHERIT:inherited_to`, `effective`, `include_names` and
/// `include_subtree`.
pub async fn assignments(
    State(warden): State<Arc<Warden>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let principal = caller(&warden, &headers).await?;
    let pairs = query_pairs(uri.0.query())?;
    let get = |name: &str| query_value(&pairs, name).map(str::to_owned);
    let query = AssignmentQuery {
        user: get("user.id"),
        group: get("group.id"),
        role: get("role.id"),
        project: get("scope.project.id"),
        domain: get("scope.domain.id"),
        inherited_only: get("scope.OS-INHERIT:inherited_to").is_some(),
        effective: flag(query_value(&pairs, "effective"), "effective")?.unwrap_or(false),
        system: get("scope.system").is_some(),
        include_subtree: flag(query_value(&pairs, "include_subtree"), "include_subtree")?
            .unwrap_or(false),
    };
    if query.project.is_some() && query.domain.is_some() {
        return Err(DomainError::invalid("scope", FieldErrorKind::Invalid).into());
    }
    if query.include_subtree && query.project.is_none() {
        return Err(DomainError::invalid("include_subtree", FieldErrorKind::Invalid).into());
    }
    let names = flag(query_value(&pairs, "include_names"), "include_names")?.unwrap_or(false);
    let found = warden.role_assignments(&principal, &query).await?;
    let mut items = Vec::with_capacity(found.len());
    for a in &found {
        items.push(assignment_json(&warden, a, names).await?);
    }
    let self_url = match uri.0.query() {
        Some(q) => format!("{}?{q}", uri.0.path()),
        None => uri.0.path().to_owned(),
    };
    Ok(Json(
        json!({ "role_assignments": items, "links": collection_links(&warden, &self_url) }),
    ))
}
