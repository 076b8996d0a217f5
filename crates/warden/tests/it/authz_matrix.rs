//! The authorization matrix: every endpoint of the account and iam faces that touches a user or
//! a tenant × {root admin, partner admin, customer admin, readonly admin, plain user, API client,
//! another tenant's admin} × {own subtree, other subtree}. A refused request answers 403 and
//! changes nothing. Then the field-level rules: no self-service path of any face changes the
//! caller's own roles, tenant, enabled flag or login.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    Read,
    Manage,
    /// Only the user themself (the IAM self-service `/info`).
    OnlySelf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    Everything,
    /// Reads and manages its own subtree.
    Admin,
    /// Reads its own subtree.
    Reader,
    Nothing,
}

struct World {
    app: TestApp,
    /// (tenant, user) of the subtree the P1 actors own, and of the other one.
    p1: (String, String),
    p2: (String, String),
}

async fn post_tenant(app: &TestApp, token: &str, parent: &str, name: &str, kind: &str) -> String {
    let r = app
        .http
        .post(app.at("/api/2/tenants"))
        .bearer_auth(token)
        .json(&json!({"name": name, "kind": kind, "parent_id": parent}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn user_in(
    app: &TestApp,
    token: &str,
    tenant: &str,
    login: &str,
    role: Option<(&str, &str)>,
) -> String {
    let r = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(token)
        .json(&json!({"tenant_id": tenant, "login": login, "contact": {"email": format!("{login}@example.com")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{id}/password")))
        .bearer_auth(token)
        .json(&json!({"password": USER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    if let Some((role, on)) = role {
        let r = app
            .http
            .put(app.at(&format!("/api/2/users/{id}/access_policies")))
            .bearer_auth(token)
            .json(&json!({"items": [{"role_id": role, "tenant_id": on}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }
    id
}

async fn token_for(app: &TestApp, login: &str, password: &str) -> String {
    let r = app
        .http
        .post(app.at("/api/2/idp/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", login),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn client_of(app: &TestApp, token: &str, tenant: &str) -> String {
    let r = app
        .http
        .post(app.at("/api/2/clients"))
        .bearer_auth(token)
        .json(&json!({"type": "api_client", "tenant_id": tenant, "token_endpoint_auth_method": "client_secret_basic",
                      "data": {"client_name": "matrix"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let body: Value = r.json().await.unwrap();
    let (id, secret) = (
        body["client_id"].as_str().unwrap(),
        body["client_secret"].as_str().unwrap(),
    );
    let r = app
        .http
        .post(app.at("/api/2/idp/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The tenant and its children, as the root client sees them.
async fn tenant_state(app: &TestApp, tenant: &str) -> (Value, Value, Value) {
    let token = app.client_token().await;
    let get = |path: String| app.http.get(app.at(&path)).bearer_auth(&token).send();
    let client = target_client(app, tenant).await;
    let client_json: Value = get(format!("/api/2/clients/{client}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant_json: Value = get(format!("/api/2/tenants/{tenant}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let children: Value = get(format!("/api/2/tenants/{tenant}/children"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (tenant_json, children, client_json)
}

/// The API client created in the target tenant when the world was built.
async fn target_client(app: &TestApp, tenant: &str) -> String {
    let r = app
        .http
        .get(app.at(&format!("/api/2/tenants/{tenant}/clients")))
        .bearer_auth(app.client_token().await)
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["items"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One operation on the target subtree (tenant, user); returns its status.
async fn run(app: &TestApp, token: &str, op: &str, tenant: &str, user: &str) -> StatusCode {
    let h = &app.http;
    let version = app.get_user(user).await["version"].clone();
    let request = match op {
        "get user" => h.get(app.at(&format!("/api/2/users/{user}"))),
        "put user" => h.put(app.at(&format!("/api/2/users/{user}"))).json(&json!({"contact": {"city": "X"}, "version": version})),
        "get policies" => h.get(app.at(&format!("/api/2/users/{user}/access_policies"))),
        "put policies" => h.put(app.at(&format!("/api/2/users/{user}/access_policies"))).json(&json!({"items": []})),
        "set password" => h.post(app.at(&format!("/api/2/users/{user}/password"))).json(&json!({"password": "matrix-Passw0rd"})),
        "delete user" => h.delete(app.at(&format!("/api/2/users/{user}?version={version}"))),
        "create user" => h.post(app.at("/api/2/users")).json(&json!({
            "tenant_id": tenant, "login": format!("new{}", uuid::Uuid::new_v4().simple()), "contact": {"email": "n@example.com"}})),
        "get tenant" => h.get(app.at(&format!("/api/2/tenants/{tenant}"))),
        "tenant users" => h.get(app.at(&format!("/api/2/tenants/{tenant}/users"))),
        "tenant children" => h.get(app.at(&format!("/api/2/tenants/{tenant}/children"))),
        "search" => h.get(app.at(&format!("/api/2/search?tenant={tenant}&text=m"))),
        "tenant clients" => h.get(app.at(&format!("/api/2/tenants/{tenant}/clients"))),
        "list users" => h.get(app.at(&format!("/api/2/users?tenant_id={tenant}"))),
        "list tenants" => h.get(app.at(&format!("/api/2/tenants?subtree_root_id={tenant}"))),
        "send activation" => h.post(app.at(&format!("/api/2/users/{user}/send-activation-email"))).json(&json!({})),
        "create client" => h.post(app.at("/api/2/clients")).json(&json!({
            "type": "api_client", "tenant_id": tenant, "token_endpoint_auth_method": "client_secret_basic",
            "data": {"client_name": "matrix"}})),
        "get client" => h.get(app.at(&format!("/api/2/clients/{}", target_client(app, tenant).await))),
        "put client" => h
            .put(app.at(&format!("/api/2/clients/{}", target_client(app, tenant).await)))
            .json(&json!({"data": {"client_name": format!("renamed-{}", uuid::Uuid::new_v4().simple())}})),
        "rotate secret" => h
            .post(app.at(&format!("/api/2/clients/{}/secret", target_client(app, tenant).await)))
            .json(&json!({})),
        "put tenant" => {
            let current: Value = h.get(app.at(&format!("/api/2/tenants/{tenant}"))).bearer_auth(&app.client_token().await)
                .send().await.unwrap().json().await.unwrap();
            h.put(app.at(&format!("/api/2/tenants/{tenant}")))
                .json(&json!({"internal_tag": format!("tag-{}", uuid::Uuid::new_v4().simple()), "version": current["version"]}))
        }
        "create tenant" => h.post(app.at("/api/2/tenants")).json(&json!({
            "name": format!("unit-{}", uuid::Uuid::new_v4().simple()), "kind": "unit", "parent_id": tenant})),
        // The iam face names users by their id without hyphens and takes the token in
        // `X-Auth-Token`.
        "iam get user" => {
            return h
                .get(app.at(&format!("/v3.0/OS-USER/users/{}", user.replace('-', ""))))
                .header("X-Auth-Token", token)
                .send()
                .await
                .unwrap()
                .status()
        }
        "iam put info" => {
            return h
                .put(app.at(&format!("/v3.0/OS-USER/users/{}/info", user.replace('-', ""))))
                .header("X-Auth-Token", token)
                .json(&json!({"user": {"email": "changed@example.com"}}))
                .send()
                .await
                .unwrap()
                .status()
        }
        _ => panic!("unknown operation {op}"),
    };
    request.bearer_auth(token).send().await.unwrap().status()
}

const OPERATIONS: [(&str, Need); 23] = [
    ("iam get user", Need::Read),
    ("iam put info", Need::OnlySelf),
    ("get user", Need::Read),
    ("get policies", Need::Read),
    ("get tenant", Need::Read),
    ("tenant users", Need::Read),
    ("tenant children", Need::Read),
    ("search", Need::Read),
    ("tenant clients", Need::Read),
    ("list users", Need::Read),
    ("list tenants", Need::Read),
    ("get client", Need::Read),
    ("send activation", Need::Manage),
    ("create client", Need::Manage),
    ("put client", Need::Manage),
    ("rotate secret", Need::Manage),
    ("put tenant", Need::Manage),
    ("create tenant", Need::Manage),
    ("put user", Need::Manage),
    ("put policies", Need::Manage),
    ("set password", Need::Manage),
    ("delete user", Need::Manage),
    ("create user", Need::Manage),
];

fn expected(reach: Reach, own: bool, need: Need) -> bool {
    // The targets are never the actors themselves.
    if need == Need::OnlySelf {
        return false;
    }
    match reach {
        Reach::Everything => true,
        Reach::Admin => own,
        Reach::Reader => own && need == Need::Read,
        Reach::Nothing => false,
    }
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let token = app.client_token().await;
    let p1 = post_tenant(&app, &token, &root, "P1", "partner").await;
    let c1 = post_tenant(&app, &token, &p1, "C1", "customer").await;
    let p2 = post_tenant(&app, &token, &root, "P2", "partner").await;
    let c2 = post_tenant(&app, &token, &p2, "C2", "customer").await;
    let t1 = user_in(&app, &token, &c1, "mtarget1", None).await;
    let t2 = user_in(&app, &token, &c2, "mtarget2", None).await;
    client_of(&app, &token, &c1).await;
    client_of(&app, &token, &c2).await;
    World {
        app,
        p1: (c1, t1),
        p2: (c2, t2),
    }
}

#[tokio::test]
async fn every_role_reaches_exactly_its_subtree_and_refusals_change_nothing() {
    let w = world().await;
    let app = &w.app;
    let root_token = app.client_token().await;
    let p1 = app.get_user(&w.p1.1).await["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p1_partner = app
        .http
        .get(app.at(&format!("/api/2/tenants/{p1}")))
        .bearer_auth(&root_token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["parent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p2_partner = {
        let c2 = app.get_user(&w.p2.1).await["tenant_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.http
            .get(app.at(&format!("/api/2/tenants/{c2}")))
            .bearer_auth(&root_token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["parent_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    user_in(
        app,
        &root_token,
        &p1_partner,
        "mpartner",
        Some(("partner_admin", &p1_partner)),
    )
    .await;
    user_in(
        app,
        &root_token,
        &w.p1.0,
        "mcustomer",
        Some(("company_admin", &w.p1.0)),
    )
    .await;
    user_in(
        app,
        &root_token,
        &p1_partner,
        "mreader",
        Some(("readonly_admin", &p1_partner)),
    )
    .await;
    user_in(app, &root_token, &w.p1.0, "mplain", None).await;
    user_in(
        app,
        &root_token,
        &p2_partner,
        "mother",
        Some(("partner_admin", &p2_partner)),
    )
    .await;
    let actors = vec![
        (
            "root admin",
            token_for(app, ADMIN_LOGIN, ADMIN_PASSWORD).await,
            Reach::Everything,
            true,
        ),
        (
            "partner admin",
            app.user_token("mpartner").await,
            Reach::Admin,
            true,
        ),
        (
            "customer admin",
            app.user_token("mcustomer").await,
            Reach::Admin,
            true,
        ),
        (
            "readonly admin",
            app.user_token("mreader").await,
            Reach::Reader,
            true,
        ),
        (
            "plain user",
            app.user_token("mplain").await,
            Reach::Nothing,
            true,
        ),
        (
            "API client",
            client_of(app, &root_token, &p1_partner).await,
            Reach::Admin,
            true,
        ),
        (
            "another tenant's admin",
            app.user_token("mother").await,
            Reach::Admin,
            false,
        ),
    ];
    for (actor, token, reach, p1_is_own) in &actors {
        for (subtree, (tenant, user)) in [("P1 subtree", &w.p1), ("P2 subtree", &w.p2)] {
            let own = (subtree == "P1 subtree") == *p1_is_own;
            for (op, need) in OPERATIONS {
                let allowed = expected(*reach, own, need);
                let user_before = app.get_user(user).await;
                let tenant_before = tenant_state(app, tenant).await;
                let status = run(app, token, op, tenant, user).await;
                if allowed {
                    assert_ne!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{actor} / {subtree} / {op} was refused"
                    );
                    // Deleting an enabled user and mailing an activated one are refused on their
                    // merits (400) once authorization has let them through.
                    let refused_on_merits = matches!(op, "delete user" | "send activation")
                        && status == StatusCode::BAD_REQUEST;
                    assert!(
                        status.is_success() || refused_on_merits,
                        "{actor} / {subtree} / {op}: {status}"
                    );
                } else {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{actor} / {subtree} / {op} was not refused"
                    );
                    assert_eq!(
                        app.get_user(user).await,
                        user_before,
                        "{actor} / {subtree} / {op} changed the user"
                    );
                    assert_eq!(
                        tenant_state(app, tenant).await,
                        tenant_before,
                        "{actor} / {subtree} / {op} changed the tenant"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn no_self_service_path_changes_the_callers_roles_tenant_enabled_flag_or_login() {
    let w = world().await;
    let app = &w.app;
    let root_token = app.client_token().await;
    let (home, _) = &w.p1;
    let (elsewhere, _) = &w.p2;
    let id = user_in(app, &root_token, home, "mself", None).await;
    let policies = |token: String| {
        app.http
            .get(app.at(&format!("/api/2/users/{id}/access_policies")))
            .bearer_auth(token)
            .send()
    };
    let policies_before: Value = policies(root_token.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account_token = app.user_token("mself").await;
    let keystone_token = app.keystone_token("mself", USER_PASSWORD).await;

    // Account face: the fields outside self-service are refused (or, for the tenant, which
    // `PUT` never moves, left alone), each on its own.
    for (field, value) in [
        ("enabled", json!(false)),
        ("login", json!("mself-renamed")),
        ("tenant_id", json!(elsewhere)),
    ] {
        let before = app.get_user(&id).await;
        let r = app
            .http
            .put(app.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&account_token)
            .json(&json!({ field: value, "version": before["version"] }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            [
                StatusCode::FORBIDDEN,
                StatusCode::BAD_REQUEST,
                StatusCode::OK
            ]
            .contains(&status),
            "{field}: {status}"
        );
        assert_eq!(
            app.get_user(&id).await[field],
            before[field],
            "{field} changed ({status})"
        );
    }
    // Nor may a user grant themself a role, by either face's token.
    for token in [&account_token, &keystone_token] {
        let r = app
            .http
            .put(app.at(&format!("/api/2/users/{id}/access_policies")))
            .bearer_auth(token)
            .json(&json!({"items": [{"role_id": "company_admin", "tenant_id": home}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let before = app.get_user(&id).await;

    // IAM self-service: only the contact applies; whatever else is sent is not looked at.
    let r = app
        .http
        .put(app.at(&format!("/v3.0/OS-USER/users/{}/info", id.replace('-', ""))))
        .header("X-Auth-Token", &keystone_token)
        .json(
            &json!({"user": {"email": "self@example.com", "enabled": false, "name": "hijacked",
            "domain_id": elsewhere, "default_project_id": elsewhere, "roles": ["admin"],
            "login": "hijacked", "tenant_id": elsewhere}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = app.get_user(&id).await;
    assert_eq!(after["contact"]["email"], "self@example.com");
    for field in ["login", "tenant_id", "enabled", "activated"] {
        assert_eq!(after[field], before[field], "{field} changed");
    }
    assert_eq!(
        policies(root_token.clone())
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        policies_before
    );
    // And the Keystone token still names the user's own domain and nothing more.
    let r = app
        .http
        .get(app.at("/v3/auth/tokens"))
        .header("X-Auth-Token", &keystone_token)
        .header("X-Subject-Token", &keystone_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token"]["user"]["name"], "mself");
}
