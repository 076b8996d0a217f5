//! The keystone face's resources: domains, projects and their tags, users, groups, roles,
//! grants (with `OS-INHERIT`) and `/v3/role_assignments`; the bootstrap objects; who may do
//! what; and the same grants seen through the account face.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// A test server with an administrator's project-scoped Keystone token.
struct Ks {
    app: TestApp,
    token: String,
}

impl Ks {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let token = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
        Self { app, token }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.send_as(&self.token, method, path, body).await
    }

    async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .app
            .http
            .request(method, self.app.at(path))
            .header("X-Auth-Token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// A call that must answer `status`; its JSON body (or `null`).
    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let r = self.send(method.clone(), path, body).await;
        let got = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.expect(Method::GET, path, None, StatusCode::OK).await
    }

    async fn create(&self, path: &str, body: Value) -> Value {
        self.expect(Method::POST, path, Some(body), StatusCode::CREATED)
            .await
    }

    async fn status(&self, method: Method, path: &str) -> StatusCode {
        self.send(method, path, None).await.status()
    }

    async fn domain(&self, name: &str) -> String {
        self.create("/v3/domains", json!({"domain": {"name": name}}))
            .await["domain"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn project(&self, name: &str, domain: &str, parent: Option<&str>) -> String {
        let mut body = json!({"project": {"name": name, "domain_id": domain}});
        if let Some(parent) = parent {
            body["project"]["parent_id"] = json!(parent);
        }
        self.create("/v3/projects", body).await["project"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn user(&self, name: &str, domain: &str) -> String {
        self.create(
            "/v3/users",
            json!({"user": {"name": name, "domain_id": domain, "password": USER_PASSWORD}}),
        )
        .await["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn role_id(&self, name: &str) -> String {
        let roles = self.get(&format!("/v3/roles?name={name}")).await;
        roles["roles"][0]["id"].as_str().unwrap().to_owned()
    }

    /// A password authentication of `user` (by id) scoped as given.
    async fn auth(&self, user: &str, scope: Value) -> Response {
        let mut auth = json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"id": user, "password": USER_PASSWORD}}}}});
        if !scope.is_null() {
            auth["auth"]["scope"] = scope;
        }
        self.app
            .http
            .post(self.app.at("/v3/auth/tokens"))
            .json(&auth)
            .send()
            .await
            .unwrap()
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn first_start_creates_what_keystone_bootstrap_creates() {
    let ks = Ks::new().await;
    let roles = ks.get("/v3/roles").await;
    let mut found = names(&roles, "roles");
    found.sort();
    assert_eq!(found, ["admin", "member", "reader"]);
    for role in roles["roles"].as_array().unwrap() {
        assert_eq!(role["options"]["immutable"], true, "{role}");
        let path = format!("/v3/roles/{}", role["id"].as_str().unwrap());
        let r = ks
            .send(Method::PATCH, &path, Some(json!({"role": {"name": "x"}})))
            .await;
        keystone_error(r, StatusCode::FORBIDDEN).await;
        keystone_error(
            ks.send(Method::DELETE, &path, None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let projects = ks.get("/v3/projects?name=admin&domain_id=default").await;
    assert_eq!(names(&projects, "projects"), ["admin"]);
    let admin_project = projects["projects"][0]["id"].as_str().unwrap().to_owned();
    let admin_role = ks.role_id("admin").await;
    let held = ks
        .get(&format!(
            "/v3/role_assignments?scope.project.id={admin_project}&role.id={admin_role}&include_names"
        ))
        .await;
    assert_eq!(held["role_assignments"][0]["user"]["name"], ADMIN_LOGIN);
    // The administrator's password authentication scoped to it carries `admin`.
    let r = ks
        .app
        .keystone_auth(
            ADMIN_LOGIN,
            ADMIN_PASSWORD,
            json!({"project": {"name": "admin", "domain": {"name": "Default"}}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["token"]["project"]["name"], "admin");
    assert!(token["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == admin_role.as_str() && r["name"] == "admin"));
}

#[tokio::test]
async fn domains_and_projects_form_the_tenant_tree() {
    let ks = Ks::new().await;
    let domain = ks.domain("acme").await;
    let r = ks
        .send(
            Method::POST,
            "/v3/domains",
            Some(json!({"domain": {"name": "acme"}})),
        )
        .await;
    keystone_error(r, StatusCode::CONFLICT).await;
    let listed = ks.get("/v3/domains?name=Default").await;
    assert_eq!(listed["domains"].as_array().unwrap().len(), 1);
    assert!(names(&ks.get("/v3/domains").await, "domains").contains(&"acme".to_owned()));

    let top = ks.project("web", &domain, None).await;
    let child = ks.project("frontend", &domain, Some(&top)).await;
    let shown = ks.get(&format!("/v3/projects/{child}")).await;
    assert_eq!(shown["project"]["parent_id"], top.as_str());
    assert_eq!(shown["project"]["domain_id"], domain.as_str());
    assert_eq!(shown["project"]["is_domain"], false);
    let top_shown = ks.get(&format!("/v3/projects/{top}")).await;
    assert_eq!(top_shown["project"]["parent_id"], domain.as_str());
    let in_domain = ks.get(&format!("/v3/projects?domain_id={domain}")).await;
    let mut in_domain = names(&in_domain, "projects");
    in_domain.sort();
    assert_eq!(in_domain, ["frontend", "web"]);
    let children = ks.get(&format!("/v3/projects?parent_id={top}")).await;
    assert_eq!(names(&children, "projects"), ["frontend"]);
    // Projects of another domain are not listed in this one.
    assert!(
        !names(&ks.get("/v3/projects?domain_id=default").await, "projects")
            .contains(&"web".to_owned())
    );

    // A project is changed in place; its domain and parent stay.
    let patched = ks
        .expect(
            Method::PATCH,
            &format!("/v3/projects/{top}"),
            Some(json!({"project": {"description": "shop", "enabled": false}})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["project"]["description"], "shop");
    assert_eq!(patched["project"]["enabled"], false);
    for body in [
        json!({"project": {"domain_id": "default"}}),
        json!({"project": {"name": ""}}),
        json!({"project": {"enabled": "yes"}}),
        json!({"projects": {}}),
    ] {
        let r = ks
            .send(Method::PATCH, &format!("/v3/projects/{top}"), Some(body))
            .await;
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        ks.get(&format!("/v3/projects/{top}")).await["project"]["description"],
        "shop"
    );

    // A project with projects below it stays; a leaf goes, enabled or not.
    let r = ks
        .send(Method::DELETE, &format!("/v3/projects/{top}"), None)
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    assert_eq!(
        ks.status(Method::DELETE, &format!("/v3/projects/{child}"))
            .await,
        StatusCode::NO_CONTENT
    );
    keystone_error(
        ks.send(Method::GET, &format!("/v3/projects/{child}"), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // An enabled domain stays; a disabled one goes with everything in it.
    let r = ks
        .send(Method::DELETE, &format!("/v3/domains/{domain}"), None)
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    ks.expect(
        Method::PATCH,
        &format!("/v3/domains/{domain}"),
        Some(json!({"domain": {"enabled": false}})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        ks.status(Method::DELETE, &format!("/v3/domains/{domain}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::GET, &format!("/v3/projects/{top}")).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn project_tags_are_set_checked_and_removed() {
    let ks = Ks::new().await;
    let project = ks.project("tagged", "default", None).await;
    let tags = format!("/v3/projects/{project}/tags");
    assert_eq!(
        ks.status(Method::PUT, &format!("{tags}/blue")).await,
        StatusCode::CREATED
    );
    assert_eq!(
        ks.status(Method::HEAD, &format!("{tags}/blue")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::GET, &format!("{tags}/green")).await,
        StatusCode::NOT_FOUND
    );
    let replaced = ks
        .expect(
            Method::PUT,
            &tags,
            Some(json!({"tags": ["a", "b", "a"]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(replaced["tags"], json!(["a", "b"]));
    // A tag with a slash or comma is refused and nothing changes.
    let r = ks
        .send(Method::PUT, &tags, Some(json!({"tags": ["x/y"]})))
        .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(ks.get(&tags).await["tags"], json!(["a", "b"]));
    let filtered = ks.get("/v3/projects?tags=a,b").await;
    assert_eq!(names(&filtered, "projects"), ["tagged"]);
    assert!(ks.get("/v3/projects?tags=a,zzz").await["projects"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        ks.status(Method::DELETE, &format!("{tags}/a")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::DELETE, &format!("{tags}/a")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ks.status(Method::DELETE, &tags).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(ks.get(&tags).await["tags"], json!([]));
}

#[tokio::test]
async fn users_are_created_changed_and_deleted_with_keystone_semantics() {
    let ks = Ks::new().await;
    let domain = ks.domain("people").await;
    let project = ks.project("home", &domain, None).await;
    let created = ks
        .create(
            "/v3/users",
            json!({"user": {"name": "carol", "domain_id": domain, "password": USER_PASSWORD,
                "email": "carol@example.com", "description": "ops",
                "default_project_id": project, "team": {"floor": 3}}}),
        )
        .await;
    // An attribute Warden has no field for is kept and shown as given, as Keystone does.
    assert_eq!(created["user"]["team"], json!({"floor": 3}));
    let user = created["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["user"]["domain_id"], domain.as_str());
    assert_eq!(created["user"]["default_project_id"], project.as_str());
    assert_eq!(created["user"]["email"], "carol@example.com");

    // Bad input is refused and creates nothing.
    for body in [
        json!({"user": {"domain_id": domain}}),
        json!({"user": {"name": "x!", "domain_id": domain}}),
        json!({"user": {"name": "dave", "email": "not-an-address", "domain_id": domain}}),
        json!({"user": {"name": "dave", "domain_id": domain, "default_project_id": "nope"}}),
        json!({"user": "dave"}),
    ] {
        let r = ks.send(Method::POST, "/v3/users", Some(body)).await;
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    assert!(ks.get("/v3/users?name=dave").await["users"]
        .as_array()
        .unwrap()
        .is_empty());
    let r = ks
        .send(
            Method::POST,
            "/v3/users",
            Some(json!({"user": {"name": "carol", "domain_id": domain}})),
        )
        .await;
    keystone_error(r, StatusCode::CONFLICT).await;

    // With a role on the default project, an unscoped authentication is scoped to it.
    let member = ks.role_id("member").await;
    assert_eq!(
        ks.status(
            Method::PUT,
            &format!("/v3/projects/{project}/users/{user}/roles/{member}")
        )
        .await,
        StatusCode::NO_CONTENT
    );
    let r = ks.auth(&user, Value::Null).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["token"]["project"]["id"], project.as_str());
    assert_eq!(token["token"]["roles"][0]["id"], member.as_str());

    // An administrator's change applies at once; the address included.
    let patched = ks
        .expect(
            Method::PATCH,
            &format!("/v3/users/{user}"),
            Some(json!({"user": {"email": "c@example.org", "enabled": false}})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["user"]["email"], "c@example.org");
    assert_eq!(patched["user"]["enabled"], false);
    assert_eq!(patched["user"]["team"], json!({"floor": 3}));
    let shown = ks
        .expect(
            Method::PATCH,
            &format!("/v3/users/{user}"),
            Some(json!({"user": {"team": null, "badge": "b-7"}})),
            StatusCode::OK,
        )
        .await;
    assert!(shown["user"].get("team").is_none());
    assert_eq!(
        ks.get(&format!("/v3/users/{user}")).await["user"]["badge"],
        "b-7"
    );
    let r = ks
        .send(
            Method::PATCH,
            &format!("/v3/users/{user}"),
            Some(json!({"user": {"domain_id": "default"}})),
        )
        .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    // A disabled user cannot authenticate.
    keystone_error(ks.auth(&user, Value::Null).await, StatusCode::UNAUTHORIZED).await;

    // Keystone deletes a user enabled or not; the same user through the account face is gone.
    ks.expect(
        Method::PATCH,
        &format!("/v3/users/{user}"),
        Some(json!({"user": {"enabled": true}})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        ks.status(Method::DELETE, &format!("/v3/users/{user}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::GET, &format!("/v3/users/{user}")).await,
        StatusCode::NOT_FOUND
    );
    let account = ks
        .app
        .http
        .get(ks.app.at(&format!("/api/2/users/{user}")))
        .bearer_auth(&ks.token)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn groups_hold_members_and_pass_their_roles_on() {
    let ks = Ks::new().await;
    let domain = ks.domain("teams").await;
    let project = ks.project("shared", &domain, None).await;
    let user = ks.user("erin", &domain).await;
    let group = ks
        .create(
            "/v3/groups",
            json!({"group": {"name": "devs", "domain_id": domain, "description": "d"}}),
        )
        .await["group"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = ks
        .send(
            Method::POST,
            "/v3/groups",
            Some(json!({"group": {"name": "devs", "domain_id": domain}})),
        )
        .await;
    keystone_error(r, StatusCode::CONFLICT).await;
    let r = ks
        .send(
            Method::POST,
            "/v3/groups",
            Some(json!({"group": {"domain_id": domain}})),
        )
        .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;

    let membership = format!("/v3/groups/{group}/users/{user}");
    assert_eq!(
        ks.status(Method::HEAD, &membership).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ks.status(Method::PUT, &membership).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::HEAD, &membership).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        names(&ks.get(&format!("/v3/groups/{group}/users")).await, "users"),
        ["erin"]
    );
    assert_eq!(
        names(&ks.get(&format!("/v3/users/{user}/groups")).await, "groups"),
        ["devs"]
    );

    // The group's role reaches its member: in tokens and in effective assignments.
    let reader = ks.role_id("reader").await;
    let grant = format!("/v3/projects/{project}/groups/{group}/roles/{reader}");
    assert_eq!(ks.status(Method::PUT, &grant).await, StatusCode::NO_CONTENT);
    assert_eq!(
        ks.status(Method::HEAD, &grant).await,
        StatusCode::NO_CONTENT
    );
    let r = ks.auth(&user, json!({"project": {"id": project}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["token"]["roles"][0]["name"], "reader");
    let effective = ks
        .get(&format!("/v3/role_assignments?user.id={user}&effective"))
        .await;
    let list = effective["role_assignments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{effective}");
    assert_eq!(list[0]["scope"]["project"]["id"], project.as_str());
    assert_eq!(list[0]["user"]["id"], user.as_str());
    assert!(names(
        &ks.get(&format!("/v3/users/{user}/projects")).await,
        "projects"
    )
    .contains(&"shared".to_owned()));

    // Leaving the group ends it.
    assert_eq!(
        ks.status(Method::DELETE, &membership).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::DELETE, &membership).await,
        StatusCode::NOT_FOUND
    );
    keystone_error(
        ks.auth(&user, json!({"project": {"id": project}})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let patched = ks
        .expect(
            Method::PATCH,
            &format!("/v3/groups/{group}"),
            Some(json!({"group": {"name": "developers"}})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["group"]["name"], "developers");
    assert_eq!(
        ks.status(Method::DELETE, &format!("/v3/groups/{group}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(ks.status(Method::HEAD, &grant).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_grants_inheritance_and_assignment_listing() {
    let ks = Ks::new().await;
    let domain = ks.domain("corp").await;
    let project = ks.project("payroll", &domain, None).await;
    let user = ks.user("frank", &domain).await;
    let role = ks
        .create("/v3/roles", json!({"role": {"name": "auditor"}}))
        .await["role"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, status) in [
        (json!({"role": {"name": "auditor"}}), StatusCode::CONFLICT),
        (
            json!({"role": {"name": "root_admin"}}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"role": {}}), StatusCode::BAD_REQUEST),
    ] {
        keystone_error(ks.send(Method::POST, "/v3/roles", Some(body)).await, status).await;
    }

    // Inherited on the domain: not on the domain itself, on every project in it.
    let inherited =
        format!("/v3/OS-INHERIT/domains/{domain}/users/{user}/roles/{role}/inherited_to_projects");
    assert_eq!(
        ks.status(Method::PUT, &inherited).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::HEAD, &inherited).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(
            Method::HEAD,
            &format!("/v3/domains/{domain}/users/{user}/roles/{role}")
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let listed = ks
        .get(&format!(
            "/v3/OS-INHERIT/domains/{domain}/users/{user}/roles/inherited_to_projects"
        ))
        .await;
    assert_eq!(names(&listed, "roles"), ["auditor"]);
    let direct = ks
        .get(&format!("/v3/role_assignments?user.id={user}"))
        .await;
    let direct = &direct["role_assignments"][0];
    assert_eq!(direct["scope"]["domain"]["id"], domain.as_str());
    assert_eq!(direct["scope"]["OS-INHERIT:inherited_to"], "projects");
    let effective = ks
        .get(&format!(
            "/v3/role_assignments?user.id={user}&effective&include_names"
        ))
        .await;
    let effective = effective["role_assignments"].as_array().unwrap();
    assert_eq!(effective.len(), 1, "{effective:?}");
    assert_eq!(effective[0]["scope"]["project"]["id"], project.as_str());
    assert_eq!(effective[0]["scope"]["project"]["name"], "payroll");
    assert_eq!(effective[0]["scope"]["project"]["domain"]["name"], "corp");
    assert_eq!(effective[0]["role"]["name"], "auditor");
    assert_eq!(effective[0]["user"]["name"], "frank");
    let r = ks.auth(&user, json!({"project": {"id": project}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // A rename carries the grant along; deleting the role ends it.
    ks.expect(
        Method::PATCH,
        &format!("/v3/roles/{role}"),
        Some(json!({"role": {"name": "inspector"}})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        ks.status(Method::HEAD, &inherited).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::DELETE, &format!("/v3/roles/{role}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert!(ks
        .get(&format!("/v3/role_assignments?user.id={user}"))
        .await["role_assignments"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        ks.status(Method::DELETE, &inherited).await,
        StatusCode::NOT_FOUND
    );

    // Unknown targets, actors and roles are 404.
    let member = ks.role_id("member").await;
    for path in [
        format!(
            "/v3/projects/{}/users/{user}/roles/{member}",
            "0".repeat(32)
        ),
        format!(
            "/v3/projects/{project}/users/{}/roles/{member}",
            "0".repeat(32)
        ),
        format!(
            "/v3/projects/{project}/users/{user}/roles/{}",
            "0".repeat(32)
        ),
    ] {
        keystone_error(
            ks.send(Method::PUT, &path, None).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    let r = ks
        .send(
            Method::GET,
            &format!("/v3/role_assignments?scope.project.id={project}&scope.domain.id={domain}"),
            None,
        )
        .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_member_may_read_but_not_administer_and_admin_grants_reach_the_account_face() {
    let ks = Ks::new().await;
    let domain = ks.domain("shop").await;
    let project = ks.project("store", &domain, None).await;
    let user = ks.user("grace", &domain).await;
    let member = ks.role_id("member").await;
    let admin = ks.role_id("admin").await;
    let grant = |role: &str| format!("/v3/projects/{project}/users/{user}/roles/{role}");
    assert_eq!(
        ks.status(Method::PUT, &grant(&member)).await,
        StatusCode::NO_CONTENT
    );
    let r = ks.auth(&user, json!({"project": {"id": project}})).await;
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_owned();

    // Without a token: 401 with Keystone's challenge.
    let r = ks
        .app
        .http
        .post(ks.app.at("/v3/projects"))
        .json(&json!({"project": {"name": "x", "domain_id": domain}}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Keystone"));
    keystone_error(r, StatusCode::UNAUTHORIZED).await;
    // A member reads their project and the roles, and administers nothing.
    let r = ks
        .send_as(
            &token,
            Method::GET,
            &format!("/v3/projects/{project}"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = ks.send_as(&token, Method::GET, "/v3/roles", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    for (method, path, body) in [
        (
            Method::POST,
            "/v3/projects".to_owned(),
            Some(json!({"project": {"name": "x", "domain_id": domain}})),
        ),
        (Method::PUT, grant(&admin), None),
        (
            Method::POST,
            "/v3/users".to_owned(),
            Some(json!({"user": {"name": "mallory", "domain_id": domain}})),
        ),
        (Method::DELETE, format!("/v3/projects/{project}"), None),
        (
            Method::POST,
            "/v3/roles".to_owned(),
            Some(json!({"role": {"name": "mine"}})),
        ),
    ] {
        let r = ks.send_as(&token, method, &path, body).await;
        keystone_error(r, StatusCode::FORBIDDEN).await;
    }

    // `admin` on the project is its administrator through the account face too.
    assert_eq!(
        ks.status(Method::PUT, &grant(&admin)).await,
        StatusCode::NO_CONTENT
    );
    let r = ks.auth(&user, json!({"project": {"id": project}})).await;
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_owned();
    let tenant = ks
        .app
        .http
        .get(ks.app.at(&format!("/api/2/tenants/{project}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(tenant.status(), StatusCode::OK);
    let policies: Value = ks
        .app
        .http
        .get(ks.app.at(&format!("/api/2/users/{user}/access_policies")))
        .bearer_auth(&ks.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let roles: Vec<&str> = policies["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["role_id"].as_str().unwrap_or_default())
        .collect();
    assert!(roles.contains(&"company_admin"), "{policies}");
    // The administrator of the project cannot reach the domain above it.
    let r = ks
        .send_as(
            &token,
            Method::PATCH,
            &format!("/v3/domains/{domain}"),
            Some(json!({"domain": {"description": "x"}})),
        )
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn implied_roles_reach_tokens_and_effective_listings() {
    let ks = Ks::new().await;
    let project = ks.project("lab", "default", None).await;
    let user = ks.user("heidi", "default").await;
    let role = |name: &'static str| {
        let ks = &ks;
        async move {
            ks.create("/v3/roles", json!({"role": {"name": name}}))
                .await["role"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (operator, viewer) = (role("operator").await, role("viewer").await);
    let rule = format!("/v3/roles/{operator}/implies/{viewer}");
    let created = ks
        .expect(Method::PUT, &rule, None, StatusCode::CREATED)
        .await;
    assert_eq!(
        created["role_inference"]["prior_role"]["id"],
        operator.as_str()
    );
    assert_eq!(created["role_inference"]["implies"]["name"], "viewer");
    assert_eq!(ks.status(Method::HEAD, &rule).await, StatusCode::NO_CONTENT);
    let listed = ks.get(&format!("/v3/roles/{operator}/implies")).await;
    assert_eq!(
        listed["role_inference"]["implies"][0]["id"],
        viewer.as_str()
    );
    // Nothing may imply `admin`.
    let admin = ks.role_id("admin").await;
    let r = ks
        .send(
            Method::PUT,
            &format!("/v3/roles/{operator}/implies/{admin}"),
            None,
        )
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;

    let grant = format!("/v3/projects/{project}/users/{user}/roles/{operator}");
    assert_eq!(ks.status(Method::PUT, &grant).await, StatusCode::NO_CONTENT);
    let effective = ks
        .get(&format!(
            "/v3/role_assignments?user.id={user}&scope.project.id={project}&effective"
        ))
        .await;
    let mut held: Vec<&str> = effective["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"]["id"].as_str().unwrap())
        .collect();
    held.sort_unstable();
    let mut want = vec![operator.as_str(), viewer.as_str()];
    want.sort_unstable();
    assert_eq!(held, want);
    let token: Value = ks
        .auth(&user, json!({"project": {"id": project}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&token["token"], "roles").len(), 2);

    assert_eq!(
        ks.status(Method::DELETE, &rule).await,
        StatusCode::NO_CONTENT
    );
    keystone_error(
        ks.send(Method::GET, &rule, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn system_grants_system_scope_and_rescoping_with_the_token_method() {
    let ks = Ks::new().await;
    let user = ks.user("ivan", "default").await;
    let project = ks.project("ivans", "default", None).await;
    let reader = ks.role_id("reader").await;
    let member = ks.role_id("member").await;
    // Without a system role, a system scope is refused.
    keystone_error(
        ks.auth(&user, json!({"system": {"all": true}})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let system = format!("/v3/system/users/{user}/roles/{reader}");
    assert_eq!(
        ks.status(Method::PUT, &system).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ks.status(Method::HEAD, &system).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        names(
            &ks.get(&format!("/v3/system/users/{user}/roles")).await,
            "roles"
        ),
        ["reader"]
    );
    let listed = ks
        .get(&format!(
            "/v3/role_assignments?user.id={user}&scope.system=all"
        ))
        .await;
    assert_eq!(
        listed["role_assignments"][0]["scope"]["system"]["all"],
        true
    );
    let r = ks.auth(&user, json!({"system": {"all": true}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token"]["system"]["all"], true);
    assert_eq!(names(&body["token"], "roles"), ["reader"]);
    // A system reader reads everything and changes nothing.
    let token = ks.auth(&user, Value::Null).await.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let r = ks.send_as(&token, Method::GET, "/v3/projects", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = ks
        .send_as(
            &token,
            Method::POST,
            "/v3/domains",
            Some(json!({"domain": {"name": "x"}})),
        )
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;

    // The token method rescopes an unscoped token: same user, same expiry, both methods.
    assert_eq!(
        ks.status(
            Method::PUT,
            &format!("/v3/projects/{project}/users/{user}/roles/{member}")
        )
        .await,
        StatusCode::NO_CONTENT
    );
    let unscoped = ks.auth(&user, Value::Null).await;
    let unscoped_token = unscoped.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let unscoped: Value = unscoped.json().await.unwrap();
    let rescope = |token: String, scope: Value| {
        let ks = &ks;
        async move {
            ks.app
                .http
                .post(ks.app.at("/v3/auth/tokens"))
                .json(
                    &json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                    "scope": scope}}),
                )
                .send()
                .await
                .unwrap()
        }
    };
    let r = rescope(
        unscoped_token.clone(),
        json!({"project": {"name": "ivans", "domain": {"id": "default"}}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let scoped: Value = r.json().await.unwrap();
    assert_eq!(scoped["token"]["project"]["id"], project.as_str());
    assert_eq!(
        scoped["token"]["expires_at"],
        unscoped["token"]["expires_at"]
    );
    assert_eq!(scoped["token"]["methods"], json!(["password", "token"]));
    assert_eq!(scoped["token"]["user"], unscoped["token"]["user"]);
    assert_eq!(unscoped["token"]["user"]["domain"]["name"], "Default");
    // A revoked token cannot be exchanged: Keystone answers 404.
    let r = ks
        .app
        .http
        .delete(ks.app.at("/v3/auth/tokens"))
        .header("X-Auth-Token", &ks.token)
        .header("X-Subject-Token", &unscoped_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    keystone_error(
        rescope(unscoped_token, Value::Null).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_password_is_changed_with_the_current_one_and_no_token() {
    let ks = Ks::new().await;
    let user = ks.user("judy", "default").await;
    let change = |original: &str, new: &str| {
        let ks = &ks;
        let body = json!({"user": {"original_password": original, "password": new}});
        let user = user.clone();
        async move {
            ks.app
                .http
                .post(ks.app.at(&format!("/v3/users/{user}/password")))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    keystone_error(
        change("wrong-Passw0rd-x", "n3w-Passw0rd-judy").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let r = change(USER_PASSWORD, "n3w-Passw0rd-judy").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    keystone_error(ks.auth(&user, Value::Null).await, StatusCode::UNAUTHORIZED).await;
}
