//! Access policies (`/users/{id}/access_policies`) and search (`/search`): every refusal
//! changes nothing, and policies drive authorization at once.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn item(role: &str, tenant: &str) -> Value {
    json!({"id": "00000000-0000-0000-0000-000000000000", "issuer_id": "00000000-0000-0000-0000-000000000000",
           "role_id": role, "tenant_id": tenant, "trustee_type": "user", "version": 0})
}

async fn policies(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .get(app.at(&format!("/api/2/users/{id}/access_policies")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn put_policies(
    app: &TestApp,
    token: &str,
    id: &str,
    items: Vec<Value>,
) -> reqwest::Response {
    app.http
        .put(app.at(&format!("/api/2/users/{id}/access_policies")))
        .bearer_auth(token)
        .json(&json!({ "items": items }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn policies_are_replaced_as_a_set_with_server_assigned_ids_and_versions() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let id = app.create_active_user("pat").await;
    let r = put_policies(
        &app,
        &client,
        &id,
        vec![item("readonly_admin", &root), item("readonly_admin", &root)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "duplicates collapse: {body}");
    let first = &items[0];
    assert_eq!(first["role_id"], "readonly_admin");
    assert_eq!(first["trustee_id"], id.as_str());
    assert_eq!(first["issuer_id"], app.client_id.as_str());
    assert_eq!(first["version"], 1);
    assert_ne!(first["id"], "00000000-0000-0000-0000-000000000000");

    // The same set again keeps the stored policy as it was.
    let again: Value = put_policies(&app, &client, &id, vec![item("readonly_admin", &root)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["items"][0]["id"], first["id"]);
    let read: Value = policies(&app, &client, &id).await.json().await.unwrap();
    assert_eq!(read, again);

    // An empty set leaves a plain user.
    let none: Value = put_policies(&app, &client, &id, vec![])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn policies_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let alice = app.create_active_user("alice").await;
    let bob = app.create_active_user("bob").await;
    let token = app.user_token("alice").await;
    let read_bob = || {
        app.http
            .get(app.at(&format!("/api/2/users/{bob}")))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(read_bob().await.unwrap().status(), StatusCode::FORBIDDEN);

    assert_eq!(
        put_policies(&app, &client, &alice, vec![item("readonly_admin", &root)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(read_bob().await.unwrap().status(), StatusCode::OK);
    let version = app.get_user(&bob).await["version"].clone();
    let change = app
        .http
        .put(app.at(&format!("/api/2/users/{bob}")))
        .bearer_auth(&token)
        .json(&json!({"contact": {"city": "Rome"}, "version": version}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(change, StatusCode::FORBIDDEN).await, 1002);

    assert_eq!(
        put_policies(&app, &client, &alice, vec![item("user_admin", &root)])
            .await
            .status(),
        StatusCode::OK
    );
    let change = app
        .http
        .put(app.at(&format!("/api/2/users/{bob}")))
        .bearer_auth(&token)
        .json(&json!({"contact": {"city": "Rome"}, "version": version}))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), StatusCode::OK);
    // user_admin manages accounts but cannot hand out roles.
    let grant = put_policies(&app, &token, &bob, vec![item("readonly_admin", &root)]).await;
    assert_eq!(account_error(grant, StatusCode::FORBIDDEN).await, 1002);

    assert_eq!(
        put_policies(&app, &client, &alice, vec![]).await.status(),
        StatusCode::OK
    );
    assert_eq!(read_bob().await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refused_policy_changes_change_nothing() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let id = app.create_active_user("quentin").await;
    app.create_active_user("ruth").await;
    assert_eq!(
        put_policies(&app, &client, &id, vec![item("readonly_admin", &root)])
            .await
            .status(),
        StatusCode::OK
    );
    let before: Value = policies(&app, &client, &id).await.json().await.unwrap();

    let cases = vec![
        vec![item("god_mode", &root)],
        vec![item("company_admin", &root)],
        vec![item("readonly_admin", &uuid::Uuid::new_v4().to_string())],
        vec![item("readonly_admin", "not-a-uuid")],
        vec![json!({"role_id": "readonly_admin"})],
        vec![
            json!({"role_id": "readonly_admin", "tenant_id": root, "trustee_id": uuid::Uuid::new_v4()}),
        ],
        vec![json!({"role_id": "readonly_admin", "tenant_id": root, "trustee_type": "user_group"})],
    ];
    for items in cases {
        let r = put_policies(&app, &client, &id, items.clone()).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{items:?}"
        );
    }
    let missing = app
        .http
        .put(app.at(&format!("/api/2/users/{id}/access_policies")))
        .bearer_auth(&client)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(missing, StatusCode::BAD_REQUEST).await, 400);
    let not_json = app
        .http
        .put(app.at(&format!("/api/2/users/{id}/access_policies")))
        .bearer_auth(&client)
        .body(json!({"items": []}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        415
    );

    // Nobody changes their own roles; a plain user changes nobody's.
    let own = app.user_token("quentin").await;
    let r = put_policies(&app, &own, &id, vec![item("root_admin", &root)]).await;
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    let other = app.user_token("ruth").await;
    let r = put_policies(&app, &other, &id, vec![]).await;
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    let r = policies(&app, &other, &id).await;
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    let r = policies(&app, &client, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 404);
    let r = app
        .http
        .get(app.at(&format!("/api/2/users/{id}/access_policies")))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::UNAUTHORIZED).await, 401);

    let after: Value = policies(&app, &client, &id).await.json().await.unwrap();
    assert_eq!(after, before);
    // Quentin may read his own set.
    assert_eq!(policies(&app, &own, &id).await.status(), StatusCode::OK);
}

async fn search(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.http
        .get(app.at(&format!("/api/2/search?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn search_matches_prefixes_of_logins_emails_names_and_tenants() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let id = app.create_user("jdoe").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&client)
        .json(&json!({"contact": {"firstname": "John", "lastname": "Smithson", "email": "john.doe@example.org"}, "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.create_user("another").await;

    for text in ["jdo", "JOHN.D", "smith", "john"] {
        let body: Value = search(&app, &client, &format!("tenant={root}&text={text}"))
            .await
            .json()
            .await
            .unwrap();
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{text}: {body}");
        let hit = &items[0];
        assert_eq!(hit["obj_type"], "user");
        assert_eq!(hit["id"], id.as_str());
        assert_eq!(hit["parent_id"], root.as_str());
        assert_eq!(hit["login"], "jdoe");
        assert_eq!(hit["first_name"], "John");
        assert_eq!(hit["last_name"], "Smithson");
        assert_eq!(hit["path"], json!(["Root"]));
    }
    let body: Value = search(&app, &client, &format!("tenant={root}&text=roo"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["items"][0]["obj_type"], "tenant");
    assert_eq!(body["items"][0]["name"], "Root");
    let none: Value = search(&app, &client, &format!("tenant={root}&text=zzz"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], json!([]));
    let limited: Value = search(&app, &client, &format!("tenant={root}&text=a&limit=1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limited["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn search_refuses_bad_queries_and_callers_without_read_access() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    for (query, status, code) in [
        ("text=a".to_owned(), StatusCode::BAD_REQUEST, 400),
        (format!("tenant={root}"), StatusCode::BAD_REQUEST, 400),
        (
            format!("tenant={root}&text=%20"),
            StatusCode::BAD_REQUEST,
            400,
        ),
        ("tenant=xyz&text=a".to_owned(), StatusCode::BAD_REQUEST, 400),
        (
            format!("tenant={root}&text=a&limit=0"),
            StatusCode::BAD_REQUEST,
            400,
        ),
        (
            format!("tenant={root}&text=a&limit=many"),
            StatusCode::BAD_REQUEST,
            400,
        ),
        (
            format!("tenant={}&text=a", uuid::Uuid::new_v4()),
            StatusCode::NOT_FOUND,
            1005,
        ),
    ] {
        assert_eq!(
            account_error(search(&app, &client, &query).await, status).await,
            code,
            "{query}"
        );
    }
    app.create_active_user("plain").await;
    let plain = app.user_token("plain").await;
    let r = search(&app, &plain, &format!("tenant={root}&text=a")).await;
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
}

#[tokio::test]
async fn a_user_admin_cannot_take_over_an_account_holding_roles_it_could_not_grant() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let helper = app.create_active_user("helpdesk").await;
    let boss = app.create_active_user("boss").await;
    let staff = app.create_active_user("staff").await;
    assert_eq!(
        put_policies(&app, &client, &helper, vec![item("user_admin", &root)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        put_policies(&app, &client, &boss, vec![item("readonly_admin", &root)])
            .await
            .status(),
        StatusCode::OK
    );
    let token = app.user_token("helpdesk").await;
    let before = app.get_user(&boss).await;
    let reset = app
        .http
        .post(app.at(&format!("/api/2/users/{boss}/password")))
        .bearer_auth(&token)
        .json(&json!({"password": "taken-over-Passw0rd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(reset, StatusCode::FORBIDDEN).await, 1002);
    let rename = app
        .http
        .put(app.at(&format!("/api/2/users/{boss}")))
        .bearer_auth(&token)
        .json(&json!({"contact": {"email": "attacker@example.com"}, "version": before["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(rename, StatusCode::FORBIDDEN).await, 1002);
    assert_eq!(app.get_user(&boss).await, before);
    // A user without roles is still the user_admin's to manage.
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{staff}/password")))
        .bearer_auth(&token)
        .json(&json!({"password": "reset-by-helpdesk-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn search_text_with_control_characters_is_refused() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let r = search(&app, &client, &format!("tenant={root}&text=%00ab")).await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
}
