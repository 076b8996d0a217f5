//! The keystone face: version documents, password authentication with every scope, token
//! validation, and tokens accepted across faces.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn version_documents_are_served_without_authentication() {
    let app = TestApp::spawn().await;
    let v3: Value = app
        .http
        .get(app.at("/v3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v3["version"]["status"], "stable");
    assert_eq!(v3["version"]["links"][0]["href"], app.at("/v3/").as_str());
    let slash = app.http.get(app.at("/v3/")).send().await.unwrap();
    assert_eq!(slash.status(), StatusCode::OK);
    let root = app.http.get(app.at("/")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::MULTIPLE_CHOICES);
    let root: Value = root.json().await.unwrap();
    assert_eq!(root["versions"]["values"][0]["id"], v3["version"]["id"]);
}

#[tokio::test]
async fn password_auth_with_domain_scope_returns_201_subject_token_and_catalog() {
    let app = TestApp::spawn().await;
    let r = app
        .keystone_auth(
            ADMIN_LOGIN,
            ADMIN_PASSWORD,
            json!({"domain": {"id": "default"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().contains_key("x-subject-token"));
    let body: Value = r.json().await.unwrap();
    let token = &body["token"];
    assert_eq!(token["methods"], json!(["password"]));
    assert_eq!(token["user"]["name"], ADMIN_LOGIN);
    assert_eq!(token["user"]["id"].as_str().unwrap().len(), 32);
    assert_eq!(token["domain"]["id"], token["user"]["domain"]["id"]);
    assert!(token["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(token["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "admin"));
    let identity = token["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "identity")
        .unwrap();
    let public = identity["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["interface"] == "public")
        .unwrap();
    assert_eq!(public["url"], app.at("/v3").as_str());
}

#[tokio::test]
async fn nocatalog_unscoped_project_and_user_id_variants() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(app.at("/v3/auth/tokens?nocatalog=true"))
        .json(
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": ADMIN_LOGIN, "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"domain": {"name": "Default"}}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert!(body["token"].get("catalog").is_none());
    let domain_id = body["token"]["domain"]["id"].as_str().unwrap().to_owned();
    let user_id = body["token"]["user"]["id"].as_str().unwrap().to_owned();

    let unscoped = app
        .http
        .post(app.at("/v3/auth/tokens"))
        .json(
            &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": user_id, "password": ADMIN_PASSWORD}}}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unscoped.status(), StatusCode::CREATED);
    let body: Value = unscoped.json().await.unwrap();
    assert!(body["token"].get("domain").is_none() && body["token"].get("project").is_none());

    let project = app
        .keystone_auth(
            ADMIN_LOGIN,
            ADMIN_PASSWORD,
            json!({"project": {"id": domain_id}}),
        )
        .await;
    assert_eq!(project.status(), StatusCode::CREATED);
    let body: Value = project.json().await.unwrap();
    assert_eq!(body["token"]["project"]["id"], domain_id.as_str());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_the_same_401() {
    let app = TestApp::spawn().await;
    let wrong = app
        .keystone_auth(
            ADMIN_LOGIN,
            "wrong-password",
            json!({"domain": {"name": "Default"}}),
        )
        .await;
    let unknown = app
        .keystone_auth(
            "nobody",
            "wrong-password",
            json!({"domain": {"name": "Default"}}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
    let other_domain = app
        .keystone_auth(
            ADMIN_LOGIN,
            ADMIN_PASSWORD,
            json!({"domain": {"name": "Elsewhere"}}),
        )
        .await;
    keystone_error(other_domain, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn malformed_auth_requests_are_400_in_keystone_body() {
    let app = TestApp::spawn().await;
    for body in [
        "{".to_owned(),
        json!({"auth": {}}).to_string(),
        json!({"auth": {"identity": {"methods": ["password"]}}}).to_string(),
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "x"}}},
                "scope": {"domain": {"name": "Default"}, "project": {"id": "x"}}}})
        .to_string(),
    ] {
        let r = app
            .http
            .post(app.at("/v3/auth/tokens"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    let r = app
        .http
        .patch(app.at("/v3/auth/tokens"))
        .send()
        .await
        .unwrap();
    keystone_error(r, StatusCode::METHOD_NOT_ALLOWED).await;
    let r = app
        .http
        .get(app.at("/v3/nothing-here"))
        .send()
        .await
        .unwrap();
    keystone_error(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn validation_shows_own_tokens_refuses_others_and_404s_invalid_ones() {
    let app = TestApp::spawn().await;
    app.create_active_user("ivan").await;
    app.create_active_user("judy").await;
    let ivan = app.keystone_token("ivan", USER_PASSWORD).await;
    let judy = app.keystone_token("judy", USER_PASSWORD).await;
    let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let validate = |caller: &str, subject: &str| {
        app.http
            .get(app.at("/v3/auth/tokens"))
            .header("x-auth-token", caller)
            .header("x-subject-token", subject)
            .send()
    };
    let own = validate(&ivan, &ivan).await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(own.headers()["x-subject-token"], ivan.as_str());
    let body: Value = own.json().await.unwrap();
    assert_eq!(body["token"]["user"]["name"], "ivan");
    keystone_error(validate(&ivan, &judy).await.unwrap(), StatusCode::FORBIDDEN).await;
    assert_eq!(
        validate(&admin, &judy).await.unwrap().status(),
        StatusCode::OK
    );
    keystone_error(
        validate(&admin, "garbage").await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let head = app
        .http
        .head(app.at("/v3/auth/tokens"))
        .header("x-auth-token", &ivan)
        .header("x-subject-token", &ivan)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let anonymous = app
        .http
        .get(app.at("/v3/auth/tokens"))
        .header("x-subject-token", &ivan)
        .send()
        .await
        .unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    keystone_error(anonymous, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn tokens_of_each_face_are_accepted_by_the_other() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("kate").await;
    let keystone = app.keystone_token("kate", USER_PASSWORD).await;
    let me: Value = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(&keystone)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], id.as_str());

    let account = app.user_token("kate").await;
    let r = app
        .http
        .get(app.at("/v3/auth/tokens"))
        .header("x-auth-token", &account)
        .header("x-subject-token", &keystone)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_token_validates_as_404_and_authenticates_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("rita").await;
    let token = app.keystone_token("rita", USER_PASSWORD).await;
    let other = app.keystone_token("rita", USER_PASSWORD).await;
    let revoke = |caller: &str, subject: &str| {
        app.http
            .delete(app.at("/v3/auth/tokens"))
            .header("x-auth-token", caller)
            .header("x-subject-token", subject)
            .send()
    };
    assert_eq!(
        revoke(&other, &token).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let validate = app
        .http
        .get(app.at("/v3/auth/tokens"))
        .header("x-auth-token", &other)
        .header("x-subject-token", &token)
        .send()
        .await
        .unwrap();
    keystone_error(validate, StatusCode::NOT_FOUND).await;
    let me = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(me, StatusCode::UNAUTHORIZED).await, 401);
    // The user's other token is untouched, and revoking garbage is a 404 that changes nothing.
    let me: Value = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], id.as_str());
    keystone_error(
        revoke(&other, "garbage").await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    keystone_error(
        revoke("garbage", &other).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_user_changes_their_own_password_with_the_current_one_and_every_token_ends() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("changer").await;
    app.create_active_user("other").await;
    let keystone_id = id.replace('-', "");
    let token = app.keystone_token("changer", USER_PASSWORD).await;
    let account_token = app.user_token("changer").await;
    let change = |token: String, body: Value| {
        app.http
            .post(app.at(&format!("/v3/users/{keystone_id}/password")))
            .header("X-Auth-Token", token)
            .json(&body)
            .send()
    };
    let new = "a-Changed-passw0rd";
    let version = app.get_user(&id).await["version"].clone();

    // Refusals, each changing nothing. As in Keystone the current password is the proof,
    // whoever's token comes with it: without it, another user's token achieves nothing.
    let other = app.keystone_token("other", USER_PASSWORD).await;
    let r = change(
        other,
        json!({"user": {"original_password": "not-the-current-one", "password": new}}),
    )
    .await
    .unwrap();
    keystone_error(r, StatusCode::UNAUTHORIZED).await;
    let r = change(
        token.clone(),
        json!({"user": {"original_password": "not-the-current-one", "password": new}}),
    )
    .await
    .unwrap();
    keystone_error(r, StatusCode::UNAUTHORIZED).await;
    for body in [
        json!({"user": {"password": new}}),
        json!({"user": {"original_password": USER_PASSWORD}}),
        json!({"user": {"original_password": USER_PASSWORD, "password": "short"}}),
        json!({"user": {"original_password": USER_PASSWORD, "password": "Password123"}}),
        json!({"user": {"original_password": USER_PASSWORD, "password": USER_PASSWORD}}),
        json!({"password": new}),
    ] {
        let r = change(token.clone(), body.clone()).await.unwrap();
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.get_user(&id).await["version"], version);

    // The change, with no token at all: 204, the old password and every token the user held
    // stop working.
    let r = app
        .http
        .post(app.at(&format!("/v3/users/{keystone_id}/password")))
        .json(&json!({"user": {"original_password": USER_PASSWORD, "password": new}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .keystone_auth(
            "changer",
            USER_PASSWORD,
            json!({"domain": {"name": "Default"}}),
        )
        .await;
    keystone_error(r, StatusCode::UNAUTHORIZED).await;
    app.keystone_token("changer", new).await;
    let r = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(&account_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .http
        .get(app.at("/v3/auth/tokens"))
        .header("X-Auth-Token", &token)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn auth_domains_projects_and_catalog_list_what_the_token_may_scope_to() {
    let app = TestApp::spawn().await;
    app.create_active_user("scoper").await;
    let token = app.keystone_token("scoper", USER_PASSWORD).await;
    let get = |path: &'static str, token: Option<String>| {
        let mut request = app.http.get(app.at(path));
        if let Some(token) = token {
            request = request.header("X-Auth-Token", token);
        }
        request.send()
    };
    let r = get("/v3/auth/domains", Some(token.clone())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let domains = body["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 1, "{body}");
    // The root tenant is the Default domain (also reachable as `default` / `Default`).
    let root = app.root_tenant_id().await.replace('-', "");
    assert_eq!(domains[0]["id"], root.as_str());
    assert_eq!(domains[0]["enabled"], true);
    assert!(body["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with("/v3/auth/domains"));
    // The domain listed is the one a token can then be scoped to.
    let scoped = app
        .keystone_auth(
            "scoper",
            USER_PASSWORD,
            json!({"domain": {"id": domains[0]["id"]}}),
        )
        .await;
    assert_eq!(scoped.status(), StatusCode::CREATED);

    // A user of the root domain holds no role on a project: none to list.
    let r = get("/v3/auth/projects", Some(token.clone())).await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["projects"], json!([]), "{body}");

    let r = get("/v3/auth/catalog", Some(token.clone())).await.unwrap();
    let body: Value = r.json().await.unwrap();
    let identity = &body["catalog"][0];
    assert_eq!(identity["type"], "identity");
    assert_eq!(identity["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(identity["endpoints"][0]["url"], app.at("/v3").as_str());

    // Without a token, or with a revoked one: 401 in Keystone's body.
    for path in ["/v3/auth/domains", "/v3/auth/projects", "/v3/auth/catalog"] {
        keystone_error(get(path, None).await.unwrap(), StatusCode::UNAUTHORIZED).await;
        keystone_error(
            get(path, Some("not-a-token".to_owned())).await.unwrap(),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
}

#[tokio::test]
async fn users_are_listed_with_filters_and_shown_to_those_who_may_read_them() {
    let app = TestApp::spawn().await;
    let alice = app.create_active_user("alice").await;
    let bob = app.create_active_user("bob").await;
    let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let get = |path: String, token: Option<String>| {
        let mut request = app.http.get(app.at(&path));
        if let Some(token) = token {
            request = request.header("X-Auth-Token", token);
        }
        request.send()
    };
    let names = |body: &Value| -> Vec<String> {
        let mut names: Vec<String> = body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let root = app.root_tenant_id().await.replace('-', "");

    let r = get("/v3/users".to_owned(), Some(admin.clone()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(names(&body), ["admin", "alice", "bob"]);
    let alice_json = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice_json["id"], alice.replace('-', "").as_str());
    assert_eq!(alice_json["domain_id"], root.as_str());
    assert_eq!(alice_json["enabled"], true);
    assert_eq!(alice_json["email"], "alice@example.com");

    // Filters: by name (logins are case-insensitive), by domain (its id, or `default`), by
    // enabled; an unknown domain holds nobody.
    for (query, expected) in [
        ("?name=ALICE", vec!["alice"]),
        ("?name=nobody", vec![]),
        ("?domain_id=default", vec!["admin", "alice", "bob"]),
        (
            &format!("?domain_id={root}") as &str,
            vec!["admin", "alice", "bob"],
        ),
        ("?domain_id=0123456789abcdef0123456789abcdef", vec![]),
        ("?enabled=true&name=bob", vec!["bob"]),
        ("?enabled=false", vec![]),
    ] {
        let body: Value = get(format!("/v3/users{query}"), Some(admin.clone()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(names(&body), expected, "{query}");
    }
    let r = get("/v3/users?enabled=maybe".to_owned(), Some(admin.clone()))
        .await
        .unwrap();
    keystone_error(r, StatusCode::BAD_REQUEST).await;

    // One user: themself, or an administrator; not another plain user.
    let alice_token = app.keystone_token("alice", USER_PASSWORD).await;
    let keystone_alice = alice.replace('-', "");
    let r = get(
        format!("/v3/users/{keystone_alice}"),
        Some(alice_token.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["name"], "alice");
    assert_eq!(
        body["user"]["links"]["self"],
        app.at(&format!("/v3/users/{keystone_alice}")).as_str()
    );
    let r = get(
        format!("/v3/users/{}", bob.replace('-', "")),
        Some(alice_token.clone()),
    )
    .await
    .unwrap();
    keystone_error(r, StatusCode::FORBIDDEN).await;
    let r = get(
        format!("/v3/users/{}", bob.replace('-', "")),
        Some(admin.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(
        "/v3/users/0123456789abcdef0123456789abcdef".to_owned(),
        Some(admin.clone()),
    )
    .await
    .unwrap();
    keystone_error(r, StatusCode::NOT_FOUND).await;
    // A plain user's listing holds only themself.
    let body: Value = get("/v3/users".to_owned(), Some(alice_token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(&body), ["alice"]);
    for path in [
        "/v3/users".to_owned(),
        format!("/v3/users/{keystone_alice}"),
    ] {
        keystone_error(get(path, None).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    }
}
