//! Keystone application credentials: creation by the user with a project-scoped token, the
//! secret shown once, list/show/delete by the user or an administrator, authentication by id
//! or by name and user, the delegated roles in the token, and revocation.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use warden_core::ManualClock;
use warden_domain::Timestamp;

use crate::helpers::*;

/// A server with a domain, a project in it, and a user holding `member` and `reader` on the
/// project, signed in with a token scoped to it.
struct Setup {
    app: TestApp,
    admin: String,
    domain: String,
    project: String,
    user: String,
    user_token: String,
    member: String,
    reader: String,
}

impl Setup {
    async fn new() -> Self {
        Self::on(TestApp::spawn().await).await
    }

    async fn on(app: TestApp) -> Self {
        let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
        let mut s = Self {
            app,
            admin,
            domain: String::new(),
            project: String::new(),
            user: String::new(),
            user_token: String::new(),
            member: String::new(),
            reader: String::new(),
        };
        s.domain = s.id_of(
            s.admin_create("/v3/domains", json!({"domain": {"name": "apps"}}))
                .await,
            "domain",
        );
        s.project = s.id_of(
            s.admin_create(
                "/v3/projects",
                json!({"project": {"name": "web", "domain_id": s.domain}}),
            )
            .await,
            "project",
        );
        s.user = s.new_user("alice").await;
        s.member = s.role_id("member").await;
        s.reader = s.role_id("reader").await;
        for role in [s.member.clone(), s.reader.clone()] {
            s.grant(&s.user, &role).await;
        }
        s.user_token = s.project_token("alice").await;
        s
    }

    fn id_of(&self, body: Value, key: &str) -> String {
        body[key]["id"].as_str().unwrap().to_owned()
    }

    async fn send(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Response {
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

    async fn admin_create(&self, path: &str, body: Value) -> Value {
        let r = self.send(&self.admin, Method::POST, path, Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    async fn new_user(&self, name: &str) -> String {
        let body =
            json!({"user": {"name": name, "domain_id": self.domain, "password": USER_PASSWORD}});
        self.id_of(self.admin_create("/v3/users", body).await, "user")
    }

    async fn role_id(&self, name: &str) -> String {
        let r = self
            .send(
                &self.admin,
                Method::GET,
                &format!("/v3/roles?name={name}"),
                None,
            )
            .await;
        r.json::<Value>().await.unwrap()["roles"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn grant(&self, user: &str, role: &str) {
        let path = format!("/v3/projects/{}/users/{user}/roles/{role}", self.project);
        let r = self.send(&self.admin, Method::PUT, &path, None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    async fn project_token(&self, login: &str) -> String {
        let r = self
            .auth(
                json!({"methods": ["password"], "password": {"user": {
                "name": login, "domain": {"id": self.domain}, "password": USER_PASSWORD}}}),
                json!({"project": {"id": self.project}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.headers()["x-subject-token"].to_str().unwrap().to_owned()
    }

    fn creds_path(&self) -> String {
        format!("/v3/users/{}/application_credentials", self.user)
    }

    /// A creation by the user; the response.
    async fn create_as(&self, token: &str, body: Value) -> Response {
        self.send(
            token,
            Method::POST,
            &self.creds_path(),
            Some(json!({"application_credential": body})),
        )
        .await
    }

    /// A creation that must succeed; the credential with its secret.
    async fn create(&self, body: Value) -> Value {
        let r = self.create_as(&self.user_token, body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["application_credential"].clone()
    }

    async fn list(&self) -> Vec<Value> {
        let r = self
            .send(&self.user_token, Method::GET, &self.creds_path(), None)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["application_credentials"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn auth(&self, identity: Value, scope: Value) -> Response {
        let mut body = json!({"auth": {"identity": identity}});
        if !scope.is_null() {
            body["auth"]["scope"] = scope;
        }
        self.app
            .http
            .post(self.app.at("/v3/auth/tokens"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn auth_by_id(&self, id: &Value, secret: &Value) -> Response {
        self.auth(
            json!({"methods": ["application_credential"],
                   "application_credential": {"id": id, "secret": secret}}),
            Value::Null,
        )
        .await
    }

    /// A token from a credential; the token and its body.
    async fn app_token(&self, credential: &Value) -> (String, Value) {
        let r = self
            .auth_by_id(&credential["id"], &credential["secret"])
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let token = r.headers()["x-subject-token"].to_str().unwrap().to_owned();
        (token, r.json::<Value>().await.unwrap())
    }

    /// Whether `token` still authenticates (it reads its own user).
    async fn works(&self, token: &str) -> bool {
        let path = format!("/v3/users/{}", self.user);
        let r = self.send(token, Method::GET, &path, None).await;
        match r.status() {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("unexpected {other}"),
        }
    }
}

fn role_ids(token: &Value) -> Vec<String> {
    let mut ids: Vec<String> = token["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn credentials_are_created_listed_shown_and_deleted_with_the_secret_shown_once() {
    let s = Setup::new().await;
    let created = s
        .create(json!({"name": "monitoring", "description": "for the probes"}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(created["name"], "monitoring");
    assert_eq!(created["description"], "for the probes");
    assert_eq!(created["project_id"], json!(s.project));
    assert_eq!(created["unrestricted"], false);
    assert_eq!(created["expires_at"], Value::Null);
    // A generated secret: 512 random bits, base64url.
    assert_eq!(created["secret"].as_str().unwrap().len(), 86);
    // Every role the user holds on the project, by default.
    let mut roles: Vec<&str> = created["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    roles.sort();
    let mut expected = vec![s.member.as_str(), s.reader.as_str()];
    expected.sort();
    assert_eq!(roles, expected);
    assert!(created["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!(
            "/v3/users/{}/application_credentials/{id}",
            s.user
        )));

    s.create(json!({"name": "backup"})).await;
    let all = s.list().await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|c| c.get("secret").is_none()));
    let path = format!("{}?name=backup", s.creds_path());
    let r = s.send(&s.user_token, Method::GET, &path, None).await;
    let named: Value = r.json().await.unwrap();
    assert_eq!(
        named["application_credentials"].as_array().unwrap().len(),
        1
    );
    assert_eq!(named["application_credentials"][0]["name"], "backup");

    let one = format!("{}/{id}", s.creds_path());
    let r = s.send(&s.user_token, Method::GET, &one, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["application_credential"]["name"], "monitoring");
    assert!(shown["application_credential"].get("secret").is_none());

    // An administrator who manages the user reads and deletes them too.
    let r = s.send(&s.admin, Method::GET, &one, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.send(&s.user_token, Method::DELETE, &one, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    keystone_error(
        s.send(&s.user_token, Method::GET, &one, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    keystone_error(
        s.send(&s.user_token, Method::DELETE, &one, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(s.list().await.len(), 1);
}

#[tokio::test]
async fn a_credential_authenticates_by_id_or_by_name_with_exactly_its_roles() {
    let s = Setup::new().await;
    let credential = s
        .create(json!({"name": "ci", "roles": [{"id": s.member}]}))
        .await;
    assert_eq!(credential["roles"].as_array().unwrap().len(), 1);
    assert_eq!(credential["roles"][0]["name"], "member");

    let (token, body) = s.app_token(&credential).await;
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["application_credential"]));
    assert_eq!(t["project"]["id"], json!(s.project));
    assert_eq!(t["user"]["id"], json!(s.user));
    assert_eq!(role_ids(&body), vec![s.member.clone()]);
    assert_eq!(
        t["application_credential"],
        json!({"id": credential["id"], "name": "ci", "restricted": true})
    );
    // Validation shows the same.
    let r = s
        .app
        .http
        .get(s.app.at("/v3/auth/tokens"))
        .header("X-Auth-Token", &token)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let validated: Value = r.json().await.unwrap();
    assert_eq!(role_ids(&validated), vec![s.member.clone()]);
    assert_eq!(validated["token"]["application_credential"]["name"], "ci");

    // By name, with the user by id or by name and domain; and scoped to its own project.
    for user in [
        json!({"id": s.user}),
        json!({"name": "alice", "domain": {"id": s.domain}}),
        json!({"name": "alice", "domain": {"name": "apps"}}),
    ] {
        let r = s
            .auth(
                json!({"methods": ["application_credential"], "application_credential": {
                    "name": "ci", "user": user, "secret": credential["secret"]}}),
                json!({"project": {"id": s.project}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{user}");
    }

    // A chosen secret is accepted, and works.
    let chosen = s
        .create(json!({"name": "chosen", "secret": "my own secret"}))
        .await;
    assert_eq!(chosen["secret"], "my own secret");
    let (_, body) = s.app_token(&chosen).await;
    assert_eq!(role_ids(&body).len(), 2);
}

#[tokio::test]
async fn wrong_secrets_other_scopes_and_expired_credentials_are_refused_with_401() {
    let clock = ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()));
    let s = Setup::on(TestApp::spawn_with_clock(&clock).await).await;
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let credential = s
        .create(json!({"name": "short", "expires_at": in_an_hour}))
        .await;
    assert_eq!(credential["expires_at"], json!(in_an_hour));
    let (_, body) = s.app_token(&credential).await;
    // A token from it does not outlive it.
    let expires = body["token"]["expires_at"].as_str().unwrap();
    assert!(
        expires[..19] <= in_an_hour[..19],
        "{expires} after {in_an_hour}"
    );

    keystone_error(
        s.auth_by_id(&credential["id"], &json!("not the secret"))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    keystone_error(
        s.auth_by_id(
            &json!("0123456789abcdef0123456789abcdef"),
            &credential["secret"],
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let other = s.id_of(
        s.admin_create(
            "/v3/projects",
            json!({"project": {"name": "other", "domain_id": s.domain}}),
        )
        .await,
        "project",
    );
    for scope in [
        json!({"project": {"id": other}}),
        json!({"domain": {"id": s.domain}}),
    ] {
        let r = s
            .auth(
                json!({"methods": ["application_credential"], "application_credential": {
                    "id": credential["id"], "secret": credential["secret"]}}),
                scope,
            )
            .await;
        keystone_error(r, StatusCode::UNAUTHORIZED).await;
    }

    clock.advance_seconds(2 * 3600);
    keystone_error(
        s.auth_by_id(&credential["id"], &credential["secret"]).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn bad_creations_are_refused_in_keystones_body_and_store_nothing() {
    let s = Setup::new().await;
    s.create(json!({"name": "taken"})).await;
    let observer = s.id_of(
        s.admin_create("/v3/roles", json!({"role": {"name": "observer"}}))
            .await,
        "role",
    );
    let cases = [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({"name": ""}), StatusCode::BAD_REQUEST),
        (json!({"name": 7}), StatusCode::BAD_REQUEST),
        (json!({"name": "x".repeat(256)}), StatusCode::BAD_REQUEST),
        (
            json!({"name": "a", "unrestricted": "yes"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "a", "roles": "member"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "a", "expires_at": "2001-01-01T00:00:00"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "a", "expires_at": "someday"}),
            StatusCode::BAD_REQUEST,
        ),
        // A role the user does not hold on the project: 400; one that does not exist: 404.
        (
            json!({"name": "a", "roles": [{"id": observer}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "a", "roles": [{"name": "observer"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "a", "roles": [{"id": "0123456789abcdef0123456789abcdef"}]}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"name": "taken"}), StatusCode::CONFLICT),
    ];
    for (body, status) in cases {
        let r = s.create_as(&s.user_token, body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        keystone_error(r, status).await;
    }
    let r = s
        .send(
            &s.user_token,
            Method::POST,
            &s.creds_path(),
            Some(json!({"name": "a"})),
        )
        .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;

    // Only the user themself creates, and only with a project-scoped token.
    let r = s.create_as(&s.admin, json!({"name": "by admin"})).await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    let domain_scoped = s
        .auth(
            json!({"methods": ["password"], "password": {"user": {
                "id": s.user, "password": USER_PASSWORD}}}),
            json!({"domain": {"id": s.domain}}),
        )
        .await;
    if domain_scoped.status() == StatusCode::CREATED {
        let token = domain_scoped.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_owned();
        let r = s.create_as(&token, json!({"name": "unscoped"})).await;
        keystone_error(r, StatusCode::FORBIDDEN).await;
    }
    let r = s
        .send(
            &s.user_token,
            Method::POST,
            "/v3/users/nobody/application_credentials",
            Some(json!({"application_credential": {"name": "x"}})),
        )
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;

    // Another plain user reads none of them.
    let bob = s.new_user("bob").await;
    s.grant(&bob, &s.member).await;
    let bob_token = s.project_token("bob").await;
    let r = s.send(&bob_token, Method::GET, &s.creds_path(), None).await;
    keystone_error(r, StatusCode::FORBIDDEN).await;

    let all = s.list().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["name"], "taken");
}

#[tokio::test]
async fn only_an_unrestricted_credential_manages_credentials() {
    let s = Setup::new().await;
    let restricted = s.create(json!({"name": "restricted"})).await;
    let unrestricted = s
        .create(json!({"name": "unrestricted", "unrestricted": true}))
        .await;
    let (restricted_token, _) = s.app_token(&restricted).await;
    let (unrestricted_token, body) = s.app_token(&unrestricted).await;
    assert_eq!(body["token"]["application_credential"]["restricted"], false);

    let r = s
        .create_as(&restricted_token, json!({"name": "child"}))
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    let one = format!(
        "{}/{}",
        s.creds_path(),
        unrestricted["id"].as_str().unwrap()
    );
    let r = s.send(&restricted_token, Method::DELETE, &one, None).await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    // Reading is allowed.
    let r = s
        .send(&restricted_token, Method::GET, &s.creds_path(), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = s
        .create_as(&unrestricted_token, json!({"name": "child"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(s.list().await.len(), 3);
}

#[tokio::test]
async fn deleting_the_credential_or_its_user_revokes_its_tokens() {
    let s = Setup::new().await;
    let first = s.create(json!({"name": "first"})).await;
    let second = s.create(json!({"name": "second"})).await;
    let (first_token, _) = s.app_token(&first).await;
    let (second_token, _) = s.app_token(&second).await;
    assert!(s.works(&first_token).await);

    let one = format!("{}/{}", s.creds_path(), first["id"].as_str().unwrap());
    let r = s.send(&s.admin, Method::DELETE, &one, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!s.works(&first_token).await);
    assert!(s.works(&second_token).await);
    keystone_error(
        s.auth_by_id(&first["id"], &first["secret"]).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let r = s
        .send(
            &s.admin,
            Method::DELETE,
            &format!("/v3/users/{}", s.user),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!s.works(&second_token).await);
    keystone_error(
        s.auth_by_id(&second["id"], &second["secret"]).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_role_the_user_lost_is_not_in_new_tokens() {
    let s = Setup::new().await;
    let credential = s.create(json!({"name": "both"})).await;
    let (_, body) = s.app_token(&credential).await;
    assert_eq!(role_ids(&body).len(), 2);
    let path = format!(
        "/v3/projects/{}/users/{}/roles/{}",
        s.project, s.user, s.reader
    );
    let r = s.send(&s.admin, Method::DELETE, &path, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, body) = s.app_token(&credential).await;
    assert_eq!(role_ids(&body), vec![s.member.clone()]);
    // With no delegated role left, it authenticates no more.
    let path = format!(
        "/v3/projects/{}/users/{}/roles/{}",
        s.project, s.user, s.member
    );
    let r = s.send(&s.admin, Method::DELETE, &path, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    keystone_error(
        s.auth_by_id(&credential["id"], &credential["secret"]).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
