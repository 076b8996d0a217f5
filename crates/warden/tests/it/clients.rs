//! Integration tests of the account face: API clients (`/api/2/clients`), secret rotation, and
//! the IdP grants built on clients (password with the client flag, refresh tokens with
//! rotation and reuse detection, jwt-bearer narrowing), introspection and revocation.

use base64::Engine;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn is_hex_secret(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The OAuth envelope, with `Cache-Control: no-store`; returns the OAuth error code.
async fn oauth_error(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().unwrap().to_owned()
}

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> Response {
    app.http
        .post(app.at("/api/2/idp/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn ok_json(request: RequestBuilder, status: StatusCode) -> Value {
    let r = request.send().await.unwrap();
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Registers a client through the account face with the bootstrap client's token.
async fn create_client(app: &TestApp, tenant: &str, extra: Value) -> Value {
    let mut body = json!({"type": "api_client", "tenant_id": tenant,
        "token_endpoint_auth_method": "client_secret_basic", "data": {"client_name": "Test.Client"}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    ok_json(
        app.http
            .post(app.at("/api/2/clients"))
            .bearer_auth(app.client_token().await)
            .json(&body),
        StatusCode::CREATED,
    )
    .await
}

async fn token_for(app: &TestApp, id: &str, secret: &str) -> Response {
    app.http
        .post(app.at("/api/2/idp/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn access_token_for(app: &TestApp, id: &str, secret: &str) -> String {
    let r = token_for(app, id, secret).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn get_client(app: &TestApp, id: &str) -> Value {
    ok_json(
        app.http
            .get(app.at(&format!("/api/2/clients/{id}")))
            .bearer_auth(app.client_token().await),
        StatusCode::OK,
    )
    .await
}

async fn tenant_client_ids(app: &TestApp, tenant: &str) -> Value {
    ok_json(
        app.http
            .get(app.at(&format!("/api/2/tenants/{tenant}/clients")))
            .bearer_auth(app.client_token().await),
        StatusCode::OK,
    )
    .await
}

/// Creates a tenant under `parent` through the account face; returns its id.
async fn create_tenant(app: &TestApp, parent: &str, name: &str, kind: &str) -> String {
    let body = ok_json(
        app.http
            .post(app.at("/api/2/tenants"))
            .bearer_auth(app.client_token().await)
            .json(&json!({"name": name, "parent_id": parent, "kind": kind})),
        StatusCode::CREATED,
    )
    .await;
    body["id"].as_str().unwrap().to_owned()
}

async fn narrow(app: &TestApp, assertion: &str, tenant: &str) -> Response {
    app.http
        .post(app.at("/api/2/idp/token"))
        .bearer_auth(assertion)
        .form(&[
            ("grant_type", JWT_BEARER),
            ("assertion", assertion),
            ("scope", &format!("urn:acronis.com:tenant-id:{tenant}")),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn create_answers_201_with_the_secret_shown_once_and_get_never_shows_it() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    assert!(is_hex_secret(&created["client_secret"]), "{created}");
    assert!(is_hex_secret(&created["registration_access_token"]));
    assert_ne!(
        created["client_secret"],
        created["registration_access_token"]
    );
    assert_eq!(created["type"], "api_client");
    assert_eq!(created["tenant_id"], root.as_str());
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["data"], json!({"client_name": "Test.Client"}));
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["client_secret_expires_at"], 0);
    assert_eq!(created["allow_password_grant"], false);
    assert_eq!(created["version"], 1);
    assert_eq!(created["redirect_uris"], json!([]));
    // Created by an API client, not a user.
    assert_eq!(created["created_by"], Value::Null);

    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let token = access_token_for(&app, id, secret).await;
    let own = app
        .http
        .get(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let text = own.text().await.unwrap();
    assert!(!text.contains(secret));
    assert!(!text.contains(created["registration_access_token"].as_str().unwrap()));
    let read: Value = serde_json::from_str(&text).unwrap();
    assert!(read.get("client_secret").is_none());
    assert!(read.get("registration_access_token").is_none());
    assert_eq!(read["tenant_id"], root.as_str());
    let listed = ok_json(
        app.http
            .get(app.at("/api/2/clients"))
            .bearer_auth(app.client_token().await),
        StatusCode::OK,
    )
    .await;
    assert!(!listed.to_string().contains(secret));
}

#[tokio::test]
async fn create_accepts_basic_login_and_password_as_the_published_scripts_do() {
    let app = TestApp::spawn().await;
    let me = ok_json(
        app.http
            .get(app.at("/api/2/users/me"))
            .basic_auth(ADMIN_LOGIN, Some(ADMIN_PASSWORD)),
        StatusCode::OK,
    )
    .await;
    let created = ok_json(
        app.http
            .post(app.at("/api/2/clients"))
            .basic_auth(ADMIN_LOGIN, Some(ADMIN_PASSWORD))
            .header("content-type", "application/json")
            .body(
                json!({"type": "api_client", "tenant_id": me["tenant_id"],
                    "token_endpoint_auth_method": "client_secret_basic",
                    "data": {"client_name": "Python.Client"}, "unknown_key": 1})
                .to_string(),
            ),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["created_by"], me["id"]);
    let r = token_for(
        &app,
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let wrong = app
        .http
        .post(app.at("/api/2/clients"))
        .basic_auth(ADMIN_LOGIN, Some("not-the-password"))
        .json(&json!({"type": "api_client", "tenant_id": me["tenant_id"],
            "token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(wrong, StatusCode::UNAUTHORIZED).await, 401);
    let ids = tenant_client_ids(&app, me["tenant_id"].as_str().unwrap()).await;
    assert_eq!(ids["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_plain_user_cannot_create_a_client_for_the_root_tenant_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    app.create_active_user("plainbob").await;
    let root = app.root_tenant_id().await;
    let before = tenant_client_ids(&app, &root).await;
    let body = json!({"type": "api_client", "tenant_id": root,
        "token_endpoint_auth_method": "client_secret_basic", "data": {"client_name": "Mine"}});
    let by_basic = app
        .http
        .post(app.at("/api/2/clients"))
        .basic_auth("plainbob", Some(USER_PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(by_basic, StatusCode::FORBIDDEN).await, 1002);
    let by_token = app
        .http
        .post(app.at("/api/2/clients"))
        .bearer_auth(app.user_token("plainbob").await)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(by_token, StatusCode::FORBIDDEN).await, 1002);
    assert_eq!(tenant_client_ids(&app, &root).await, before);
}

#[tokio::test]
async fn create_refusals_create_nothing() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let token = app.client_token().await;
    let before = tenant_client_ids(&app, &root).await;
    let post = || app.http.post(app.at("/api/2/clients")).bearer_auth(&token);

    let missing = post().json(&json!({"data": {}})).send().await.unwrap();
    let body: Value = missing.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    for field in ["'type'", "'tenant_id'", "'token_endpoint_auth_method'"] {
        assert!(message.contains(field), "{message}");
    }
    for bad in [
        json!({"type": "robot", "tenant_id": root, "token_endpoint_auth_method": "client_secret_basic"}),
        json!({"type": "api_client", "tenant_id": "nope", "token_endpoint_auth_method": "client_secret_basic"}),
        json!({"type": "api_client", "tenant_id": uuid::Uuid::new_v4(), "token_endpoint_auth_method": "client_secret_basic"}),
        json!({"type": "api_client", "tenant_id": root, "token_endpoint_auth_method": "none"}),
        json!({"type": "api_client", "tenant_id": root, "token_endpoint_auth_method": "client_secret_basic", "data": "x"}),
        json!({"type": "api_client", "tenant_id": root, "token_endpoint_auth_method": "client_secret_basic", "allow_password_grant": "maybe"}),
    ] {
        let r = post().json(&bad).send().await.unwrap();
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{bad}"
        );
    }
    let not_json = post()
        .body(json!({"type": "api_client"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        415
    );
    let anonymous = app
        .http
        .post(app.at("/api/2/clients"))
        .json(&json!({"type": "api_client", "tenant_id": root, "token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(anonymous, StatusCode::UNAUTHORIZED).await,
        401
    );
    assert_eq!(tenant_client_ids(&app, &root).await, before);
}

#[tokio::test]
async fn lists_show_the_clients_the_caller_can_read_and_nothing_more() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    let all = ok_json(
        app.http
            .get(app.at("/api/2/clients"))
            .bearer_auth(app.client_token().await),
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            app.client_id.as_str(),
            created["client_id"].as_str().unwrap()
        ]
    );
    assert_eq!(
        tenant_client_ids(&app, &root).await,
        json!({"items": [app.client_id, created["client_id"]]})
    );

    app.create_active_user("plaincarol").await;
    let user_token = app.user_token("plaincarol").await;
    let none = ok_json(
        app.http
            .get(app.at("/api/2/clients"))
            .bearer_auth(&user_token),
        StatusCode::OK,
    )
    .await;
    assert_eq!(none, json!({"items": []}));
    let refused = app
        .http
        .get(app.at(&format!("/api/2/tenants/{root}/clients")))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(refused, StatusCode::FORBIDDEN).await, 1002);
    let unknown = app
        .http
        .get(app.at(&format!("/api/2/tenants/{}/clients", uuid::Uuid::new_v4())))
        .bearer_auth(app.client_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(unknown, StatusCode::NOT_FOUND).await, 1005);
    let anonymous = app.http.get(app.at("/api/2/clients")).send().await.unwrap();
    assert_eq!(
        account_error(anonymous, StatusCode::UNAUTHORIZED).await,
        401
    );
}

#[tokio::test]
async fn put_replaces_data_and_disabling_a_client_stops_its_tokens() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let its_token = access_token_for(&app, id, secret).await;
    let admin = app.client_token().await;
    let put = |body: Value| {
        app.http
            .put(app.at(&format!("/api/2/clients/{id}")))
            .bearer_auth(&admin)
            .json(&body)
    };

    let updated = ok_json(
        put(json!({"data": {"client_name": "Renamed"}})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["data"], json!({"client_name": "Renamed"}));
    assert_eq!(updated["version"], 2);
    assert_eq!(get_client(&app, id).await, updated);

    let no_data = put(json!({"status": "disabled"})).send().await.unwrap();
    assert_eq!(account_error(no_data, StatusCode::BAD_REQUEST).await, 400);
    let stale = put(json!({"data": {"client_name": "Stale"}, "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(stale, StatusCode::CONFLICT).await, 1001);
    assert_eq!(get_client(&app, id).await, updated);

    let disabled = ok_json(
        put(json!({"data": {"client_name": "Renamed"}, "status": "disabled", "version": "2"})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(disabled["status"], "disabled");
    let refused = app
        .http
        .get(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&its_token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(refused, StatusCode::UNAUTHORIZED).await, 401);
    assert_eq!(
        oauth_error(token_for(&app, id, secret).await, StatusCode::UNAUTHORIZED).await,
        "invalid_client"
    );

    let enabled = ok_json(
        put(json!({"data": {"client_name": "Renamed"}, "status": "enabled"})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(enabled["status"], "enabled");
    assert_eq!(token_for(&app, id, secret).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn changes_by_a_caller_without_reach_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    let id = created["client_id"].as_str().unwrap();
    let before = get_client(&app, id).await;
    app.create_active_user("plaindave").await;
    let user_token = app.user_token("plaindave").await;

    let put = app
        .http
        .put(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&user_token)
        .json(&json!({"data": {"client_name": "Hijacked"}, "status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(put, StatusCode::FORBIDDEN).await, 1002);
    let delete = app
        .http
        .delete(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(delete, StatusCode::FORBIDDEN).await, 1002);
    let rotate = app
        .http
        .post(app.at(&format!("/api/2/clients/{id}/secret")))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(rotate, StatusCode::FORBIDDEN).await, 1002);
    let read = app
        .http
        .get(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(read, StatusCode::FORBIDDEN).await, 1002);

    assert_eq!(get_client(&app, id).await, before);
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(token_for(&app, id, secret).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn delete_answers_204_and_the_deleted_clients_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let its_token = access_token_for(&app, id, secret).await;
    let admin = app.client_token().await;
    let delete = |query: &str| {
        app.http
            .delete(app.at(&format!("/api/2/clients/{id}{query}")))
            .bearer_auth(&admin)
    };

    let stale = delete("?version=7").send().await.unwrap();
    assert_eq!(account_error(stale, StatusCode::CONFLICT).await, 1001);
    assert_eq!(get_client(&app, id).await["version"], 1);

    let r = delete("?version=1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.text().await.unwrap().is_empty());
    let with_old_token = app
        .http
        .get(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&its_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(with_old_token, StatusCode::UNAUTHORIZED).await,
        401
    );
    assert_eq!(
        oauth_error(token_for(&app, id, secret).await, StatusCode::UNAUTHORIZED).await,
        "invalid_client"
    );
    let gone = app
        .http
        .get(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(gone, StatusCode::NOT_FOUND).await, 404);
    let again = delete("").send().await.unwrap();
    assert_eq!(account_error(again, StatusCode::NOT_FOUND).await, 404);
    assert_eq!(
        tenant_client_ids(&app, &root).await,
        json!({"items": [app.client_id]})
    );
}

#[tokio::test]
async fn rotating_a_secret_keeps_the_old_one_valid_during_the_grace_period() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    let id = created["client_id"].as_str().unwrap();
    let old = created["client_secret"].as_str().unwrap();

    let rotated = ok_json(
        app.http
            .post(app.at(&format!("/api/2/clients/{id}/secret")))
            .bearer_auth(app.client_token().await),
        StatusCode::OK,
    )
    .await;
    assert!(is_hex_secret(&rotated["client_secret"]));
    assert_ne!(rotated["client_secret"], old);
    assert_eq!(rotated["client_id"], id);
    assert_eq!(rotated["version"], 2);
    let now = chrono::Utc::now().timestamp();
    let until = rotated["previous_secret_expires_at"].as_i64().unwrap();
    assert!((now + 86_390..=now + 86_410).contains(&until), "{rotated}");

    let new = rotated["client_secret"].as_str().unwrap();
    assert_eq!(token_for(&app, id, old).await.status(), StatusCode::OK);
    assert_eq!(token_for(&app, id, new).await.status(), StatusCode::OK);
    let read = get_client(&app, id).await;
    assert!(!read.to_string().contains(new));
    assert!(read.get("client_secret").is_none());
}

#[tokio::test]
async fn rotating_with_no_grace_ends_the_old_secret_at_once() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    let id = created["client_id"].as_str().unwrap();
    let old = created["client_secret"].as_str().unwrap();
    // The client rotates its own secret, as after a leak.
    let own_token = access_token_for(&app, id, old).await;
    let rotated = ok_json(
        app.http
            .post(app.at(&format!("/api/2/clients/{id}/secret")))
            .bearer_auth(&own_token)
            .json(&json!({"grace_period_seconds": "0"})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(rotated["previous_secret_expires_at"], Value::Null);
    assert_eq!(
        oauth_error(token_for(&app, id, old).await, StatusCode::UNAUTHORIZED).await,
        "invalid_client"
    );
    let new = rotated["client_secret"].as_str().unwrap();
    assert_eq!(token_for(&app, id, new).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn rotation_refusals_change_nothing() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let created = create_client(&app, &root, json!({})).await;
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let before = get_client(&app, id).await;
    let admin = app.client_token().await;
    let rotate = || {
        app.http
            .post(app.at(&format!("/api/2/clients/{id}/secret")))
            .bearer_auth(&admin)
    };
    for grace in [json!(-1), json!(2_592_001), json!("soon")] {
        let r = rotate()
            .json(&json!({"grace_period_seconds": grace}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{grace}"
        );
    }
    let not_json = rotate().body("grace=0").send().await.unwrap();
    assert_eq!(
        account_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        415
    );
    let unknown = app
        .http
        .post(app.at(&format!("/api/2/clients/{}/secret", uuid::Uuid::new_v4())))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(unknown, StatusCode::NOT_FOUND).await, 404);
    assert_eq!(get_client(&app, id).await, before);
    assert_eq!(token_for(&app, id, secret).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_password_grant_is_refused_for_a_client_without_the_flag() {
    let app = TestApp::spawn().await;
    app.create_active_user("erin").await;
    let root = app.root_tenant_id().await;
    let plain = create_client(&app, &root, json!({})).await;
    let allowed = create_client(&app, &root, json!({"allow_password_grant": "true"})).await;
    assert_eq!(allowed["allow_password_grant"], true);
    let password_grant = |id: &str, secret: &str| {
        app.http
            .post(app.at("/api/2/idp/token"))
            .basic_auth(id, Some(secret))
            .form(&[
                ("grant_type", "password"),
                ("username", "erin"),
                ("password", USER_PASSWORD),
            ])
            .send()
    };

    let refused = password_grant(
        plain["client_id"].as_str().unwrap(),
        plain["client_secret"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        oauth_error(refused, StatusCode::BAD_REQUEST).await,
        "unauthorized_client"
    );
    for (id, secret) in [
        (
            allowed["client_id"].as_str().unwrap(),
            allowed["client_secret"].as_str().unwrap(),
        ),
        (app.client_id.as_str(), CLIENT_SECRET),
    ] {
        let r = password_grant(id, secret).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let token = r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(claims_of(&token)["sub_type"], "user");
    }
    // The published scripts send no client at all; that stays allowed.
    let none = token_request(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "erin"),
            ("password", USER_PASSWORD),
        ],
    )
    .await;
    assert_eq!(none.status(), StatusCode::OK);
    // A wrong client secret is the client's failure, not the user's.
    let wrong = password_grant(allowed["client_id"].as_str().unwrap(), "wrong")
        .await
        .unwrap();
    assert_eq!(
        oauth_error(wrong, StatusCode::UNAUTHORIZED).await,
        "invalid_client"
    );

    // The flag can be turned on later by a manager.
    let id = plain["client_id"].as_str().unwrap();
    ok_json(
        app.http
            .put(app.at(&format!("/api/2/clients/{id}")))
            .bearer_auth(app.client_token().await)
            .json(&json!({"data": {}, "allow_password_grant": true})),
        StatusCode::OK,
    )
    .await;
    let now_allowed = password_grant(id, plain["client_secret"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(now_allowed.status(), StatusCode::OK);
}

async fn offline_login(app: &TestApp, login: &str) -> Value {
    let r = token_request(
        app,
        &[
            ("grant_type", "password"),
            ("username", login),
            ("password", USER_PASSWORD),
            ("scope", "offline_access"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> Response {
    token_request(
        app,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    app.create_active_user("frank").await;
    let plain = token_request(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "frank"),
            ("password", USER_PASSWORD),
        ],
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    assert!(plain.get("refresh_token").is_none());

    let first = offline_login(&app, "frank").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(r1.len() >= 22, "at least 128 bits");

    let second: Value = refresh(&app, &r1).await.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r2, r1);
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["sub_type"], "user");
    let me = ok_json(
        app.http.get(app.at("/api/2/users/me")).bearer_auth(access),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["login"], "frank");

    let third: Value = refresh(&app, &r2).await.json().await.unwrap();
    let r3 = third["refresh_token"].as_str().unwrap().to_owned();

    // r1 was spent long ago: someone copied it. The family, r3 included, is revoked.
    assert_eq!(
        oauth_error(refresh(&app, &r1).await, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    assert_eq!(
        oauth_error(refresh(&app, &r3).await, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    // Another login starts a new family that is unaffected.
    let fresh = offline_login(&app, "frank").await;
    assert_eq!(
        refresh(&app, fresh["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    for garbage in ["", "not-a-refresh-token"] {
        assert_eq!(
            oauth_error(refresh(&app, garbage).await, StatusCode::BAD_REQUEST).await,
            "invalid_grant"
        );
    }
    let missing = token_request(&app, &[("grant_type", "refresh_token")]).await;
    assert_eq!(
        oauth_error(missing, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_the_client_it_was_issued_through() {
    let app = TestApp::spawn().await;
    app.create_active_user("grace").await;
    let r = app
        .http
        .post(app.at("/api/2/idp/token"))
        .basic_auth(&app.client_id, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "password"),
            ("username", "grace"),
            ("password", USER_PASSWORD),
            ("scope", "openid offline_access"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let token = body["refresh_token"].as_str().unwrap();
    // Without the client it is refused, and the token is not spent by the attempt.
    assert_eq!(
        oauth_error(refresh(&app, token).await, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    let with_client = app
        .http
        .post(app.at("/api/2/idp/token"))
        .basic_auth(&app.client_id, Some(CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(with_client.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_token_stops_working_once_its_users_password_is_reset() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("heidi").await;
    let body = offline_login(&app, "heidi").await;
    let token = body["refresh_token"].as_str().unwrap();
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{id}/password")))
        .bearer_auth(app.client_token().await)
        .json(&json!({"password": "another-Passw0rd-for-tests"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        oauth_error(refresh(&app, token).await, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let r = app
        .http
        .post(app.at("/api/2/idp/introspect_token"))
        .basic_auth(&app.client_id, Some(CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn revoke(app: &TestApp, token: &str) -> Response {
    app.http
        .post(app.at("/api/2/idp/revoke_token"))
        .basic_auth(&app.client_id, Some(CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_tells_active_revoked_and_garbage_tokens_apart() {
    let app = TestApp::spawn().await;
    app.create_active_user("ivan").await;
    let login = offline_login(&app, "ivan").await;
    let access = login["access_token"].as_str().unwrap();
    let refresh_token = login["refresh_token"].as_str().unwrap();

    let active = introspect(&app, access).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["sub"], claims_of(access)["sub"]);
    assert_eq!(active["sub_type"], "user");
    assert_eq!(active["exp"], claims_of(access)["exp"]);
    assert!(active["scope"].is_array());

    let refreshing = introspect(&app, refresh_token).await;
    assert_eq!(refreshing["active"], true);
    assert_eq!(refreshing["token_type"], "refresh_token");
    assert_eq!(refreshing["sub"], active["sub"]);

    // A Bearer caller may introspect too.
    let by_bearer: Value = ok_json(
        app.http
            .post(app.at("/api/2/idp/introspect_token"))
            .bearer_auth(app.client_token().await)
            .form(&[("token", access)]),
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_bearer["active"], true);

    assert_eq!(revoke(&app, access).await.status(), StatusCode::OK);
    assert_eq!(introspect(&app, access).await, json!({"active": false}));
    assert_eq!(revoke(&app, refresh_token).await.status(), StatusCode::OK);
    assert_eq!(
        introspect(&app, refresh_token).await,
        json!({"active": false})
    );
    let mut tampered = access.to_owned();
    tampered.pop();
    for garbage in ["garbage", "a.b.c", tampered.as_str()] {
        assert_eq!(introspect(&app, garbage).await, json!({"active": false}));
    }
}

#[tokio::test]
async fn introspection_and_revocation_need_an_authenticated_caller_and_a_token() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    for path in ["/api/2/idp/introspect_token", "/api/2/idp/revoke_token"] {
        let anonymous = app
            .http
            .post(app.at(path))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            oauth_error(anonymous, StatusCode::UNAUTHORIZED).await,
            "invalid_client"
        );
        let wrong_secret = app
            .http
            .post(app.at(path))
            .basic_auth(&app.client_id, Some("wrong"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            oauth_error(wrong_secret, StatusCode::UNAUTHORIZED).await,
            "invalid_client"
        );
        let bad_bearer = app
            .http
            .post(app.at(path))
            .bearer_auth("not.a.token")
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            oauth_error(bad_bearer, StatusCode::UNAUTHORIZED).await,
            "invalid_token"
        );
        let no_token = app
            .http
            .post(app.at(path))
            .basic_auth(&app.client_id, Some(CLIENT_SECRET))
            .form(&[("token_type_hint", "access_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            oauth_error(no_token, StatusCode::BAD_REQUEST).await,
            "invalid_request"
        );
    }
    // Nothing above revoked the token.
    assert_eq!(introspect(&app, &token).await["active"], true);
}

#[tokio::test]
async fn a_revoked_access_token_is_refused_with_401_and_garbage_revokes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let other = app.client_token().await;
    let r = revoke(&app, "garbage").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.text().await.unwrap().is_empty());

    // A token may revoke itself.
    let r = app
        .http
        .post(app.at("/api/2/idp/revoke_token"))
        .bearer_auth(&token)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().is_empty());
    let refused = app
        .http
        .get(app.at(&format!("/api/2/clients/{}", app.client_id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(refused, StatusCode::UNAUTHORIZED).await, 401);
    // Only that token: another one of the same client still works.
    let fine = app
        .http
        .get(app.at(&format!("/api/2/clients/{}", app.client_id)))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
}

#[tokio::test]
async fn jwt_bearer_narrows_a_token_to_a_tenant_and_later_requests_honour_it() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let partner = create_tenant(&app, &root, "Narrow Partner", "partner").await;
    let customer = create_tenant(&app, &partner, "Narrow Customer", "customer").await;
    let assertion = app.client_token().await;

    let r = narrow(&app, &assertion, &partner).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let narrowed = body["access_token"].as_str().unwrap();
    let claims = claims_of(narrowed);
    assert_eq!(
        claims["narrowing"],
        json!([[format!("urn:acronis.com:tenant-id:{partner}")]])
    );
    assert_eq!(claims["sub"], app.client_id.as_str());
    assert!(claims["exp"].as_i64().unwrap() <= claims_of(&assertion)["exp"].as_i64().unwrap());
    assert!(body.get("refresh_token").is_none());

    let list = |tenant: &str| {
        app.http
            .get(app.at(&format!("/api/2/tenants/{tenant}/clients")))
            .bearer_auth(narrowed)
            .send()
    };
    assert_eq!(list(&partner).await.unwrap().status(), StatusCode::OK);
    assert_eq!(list(&customer).await.unwrap().status(), StatusCode::OK);
    let outside = list(&root).await.unwrap();
    assert_eq!(account_error(outside, StatusCode::FORBIDDEN).await, 1002);

    let before = tenant_client_ids(&app, &root).await;
    let create_in = |tenant: &str| {
        app.http
            .post(app.at("/api/2/clients"))
            .bearer_auth(narrowed)
            .json(&json!({"type": "api_client", "tenant_id": tenant,
                "token_endpoint_auth_method": "client_secret_basic"}))
            .send()
    };
    let refused = create_in(&root).await.unwrap();
    assert_eq!(account_error(refused, StatusCode::FORBIDDEN).await, 1002);
    assert_eq!(tenant_client_ids(&app, &root).await, before);
    assert_eq!(
        create_in(&customer).await.unwrap().status(),
        StatusCode::CREATED
    );
    // The narrowed token lists only what lies inside the narrowing.
    let listed = ok_json(
        app.http.get(app.at("/api/2/clients")).bearer_auth(narrowed),
        StatusCode::OK,
    )
    .await;
    let tenants: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tenant_id"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, [customer.as_str()]);

    // A narrowed token narrows further, never wider.
    let deeper = narrow(&app, narrowed, &customer).await;
    assert_eq!(deeper.status(), StatusCode::OK);
    assert_eq!(
        oauth_error(narrow(&app, narrowed, &root).await, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    // The Bearer header alone serves as the assertion, as the published script sends it.
    let header_only = app
        .http
        .post(app.at("/api/2/idp/token"))
        .bearer_auth(&assertion)
        .form(&[
            ("grant_type", JWT_BEARER),
            ("scope", &format!("urn:acronis.com:tenant-id:{customer}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(header_only.status(), StatusCode::OK);
}

#[tokio::test]
async fn jwt_bearer_refuses_tenants_out_of_reach_and_bad_requests() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let partner_a = create_tenant(&app, &root, "Partner A", "partner").await;
    let partner_b = create_tenant(&app, &root, "Partner B", "partner").await;
    let in_a = create_client(&app, &partner_a, json!({})).await;
    let a_token = access_token_for(
        &app,
        in_a["client_id"].as_str().unwrap(),
        in_a["client_secret"].as_str().unwrap(),
    )
    .await;

    assert_eq!(
        narrow(&app, &a_token, &partner_a).await.status(),
        StatusCode::OK
    );
    for tenant in [
        partner_b.clone(),
        root.clone(),
        uuid::Uuid::new_v4().to_string(),
    ] {
        assert_eq!(
            oauth_error(
                narrow(&app, &a_token, &tenant).await,
                StatusCode::BAD_REQUEST
            )
            .await,
            "invalid_grant",
            "{tenant}"
        );
    }
    app.create_active_user("plainjudy").await;
    let user_token = app.user_token("plainjudy").await;
    assert_eq!(
        oauth_error(
            narrow(&app, &user_token, &root).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_grant"
    );
    assert_eq!(
        oauth_error(
            narrow(&app, "garbage", &partner_a).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_grant"
    );
    for scope in ["", "offline_access", "urn:acronis.com:tenant-id:nope"] {
        let r = token_request(
            &app,
            &[
                ("grant_type", JWT_BEARER),
                ("assertion", a_token.as_str()),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(
            oauth_error(r, StatusCode::BAD_REQUEST).await,
            "invalid_scope",
            "{scope}"
        );
    }
    let none = token_request(&app, &[("grant_type", JWT_BEARER)]).await;
    assert_eq!(
        oauth_error(none, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
}

#[tokio::test]
async fn discovery_lists_the_idp_endpoints_and_grants_truthfully() {
    let app = TestApp::spawn().await;
    for path in [
        "/.well-known/openid-configuration",
        "/api/2/.well-known/openid-configuration",
    ] {
        let body = ok_json(app.http.get(app.at(path)), StatusCode::OK).await;
        assert_eq!(
            body["introspection_endpoint"],
            app.at("/api/2/idp/introspect_token").as_str()
        );
        assert_eq!(
            body["revocation_endpoint"],
            app.at("/api/2/idp/revoke_token").as_str()
        );
        assert_eq!(
            body["grant_types_supported"],
            json!([
                "client_credentials",
                "password",
                "refresh_token",
                JWT_BEARER
            ])
        );
    }
    // Every advertised grant type is one the token endpoint knows: none is unsupported.
    for grant in [
        "client_credentials",
        "password",
        "refresh_token",
        JWT_BEARER,
    ] {
        let r = token_request(&app, &[("grant_type", grant)]).await;
        let error = oauth_error(r, bare_grant_status(grant)).await;
        assert_ne!(error, "unsupported_grant_type", "{grant}");
    }
}

/// What a grant without any credentials or parameters answers.
fn bare_grant_status(grant: &str) -> StatusCode {
    if grant == "client_credentials" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    }
}

#[tokio::test]
async fn rotating_without_grace_also_ends_the_tokens_already_issued() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = create_client(&app, &root, json!({})).await;
    let id = client["client_id"].as_str().unwrap();
    let token = access_token_for(&app, id, client["client_secret"].as_str().unwrap()).await;
    let read = || {
        app.http
            .get(app.at(&format!("/api/2/clients/{id}")))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(read().await.unwrap().status(), StatusCode::OK);
    let rotated = ok_json(
        app.http
            .post(app.at(&format!("/api/2/clients/{id}/secret")))
            .bearer_auth(app.client_token().await)
            .json(&json!({"grace_period_seconds": 0})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        account_error(read().await.unwrap(), StatusCode::UNAUTHORIZED).await,
        401
    );
    // The new secret issues tokens that work.
    let fresh = access_token_for(&app, id, rotated["client_secret"].as_str().unwrap()).await;
    let r = app
        .http
        .get(app.at(&format!("/api/2/clients/{id}")))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_narrowed_token_falls_with_the_token_it_was_exchanged_from() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let partner = create_tenant(&app, &root, "Narrow Partner", "partner").await;
    let parent = app.client_token().await;
    let r = narrow(&app, &parent, &partner).await;
    assert_eq!(r.status(), StatusCode::OK);
    let child = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = |token: &str| {
        app.http
            .get(app.at(&format!("/api/2/tenants/{partner}")))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(read(&child).await.unwrap().status(), StatusCode::OK);
    let revoked = app
        .http
        .post(app.at("/api/2/idp/revoke_token"))
        .bearer_auth(app.client_token().await)
        .form(&[("token", parent.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        account_error(read(&parent).await.unwrap(), StatusCode::UNAUTHORIZED).await,
        401
    );
    assert_eq!(
        account_error(read(&child).await.unwrap(), StatusCode::UNAUTHORIZED).await,
        401
    );
}
