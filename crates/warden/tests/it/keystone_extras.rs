//! Keystone policies (`/v3/policies`), OAuth consumers (`/v3/OS-OAUTH1/consumers`) and
//! endpoint groups (`/v3/OS-EP-FILTER/endpoint_groups`): every route, refusals of bad input
//! with nothing stored, who may read and write, and the audit events of changes.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use warden_core::secrets::sha256_hex;

use crate::helpers::*;

const POLICIES: &str = "/v3/policies";
const CONSUMERS: &str = "/v3/OS-OAUTH1/consumers";
const GROUPS: &str = "/v3/OS-EP-FILTER/endpoint_groups";

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    ok_json(
        call(app, Method::GET, path, Some(token), None).await,
        StatusCode::OK,
    )
    .await
}

async fn create(app: &TestApp, token: &str, path: &str, key: &str, body: Value) -> Value {
    let r = call(
        app,
        Method::POST,
        path,
        Some(token),
        Some(json!({ key: body })),
    )
    .await;
    ok_json(r, StatusCode::CREATED).await[key].clone()
}

async fn patch(app: &TestApp, token: &str, path: &str, key: &str, body: Value) -> Value {
    let r = call(
        app,
        Method::PATCH,
        path,
        Some(token),
        Some(json!({ key: body })),
    )
    .await;
    ok_json(r, StatusCode::OK).await[key].clone()
}

fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Deletes `path` (204); afterwards reading, changing or deleting it again is 404.
async fn delete_then_gone(app: &TestApp, token: &str, path: &str, key: &str) {
    let r = call(app, Method::DELETE, path, Some(token), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let r = call(app, method, path, Some(token), None).await;
        keystone_error(r, StatusCode::NOT_FOUND).await;
    }
    let body = json!({ key: {"description": "x"} });
    let r = call(app, Method::PATCH, path, Some(token), Some(body)).await;
    keystone_error(r, StatusCode::NOT_FOUND).await;
}

/// Every object of the three collections, as an administrator reads them.
async fn snapshot(app: &TestApp, token: &str) -> (Value, Value, Value) {
    (
        get(app, POLICIES, token).await["policies"].clone(),
        get(app, CONSUMERS, token).await["consumers"].clone(),
        get(app, GROUPS, token).await["endpoint_groups"].clone(),
    )
}

#[tokio::test]
async fn policies_are_created_filtered_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let json_policy = create(
        &app,
        &token,
        POLICIES,
        "policy",
        json!({"blob": "{\"default\": \"\"}", "type": "application/json",
               "project_id": "p-1", "note": {"kept": true}, "id": "mine"}),
    )
    .await;
    let id = json_policy["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "ids are generated");
    assert_eq!(
        json_policy,
        json!({"id": id, "blob": "{\"default\": \"\"}", "type": "application/json",
               "project_id": "p-1", "note": {"kept": true},
               "links": {"self": app.at(&format!("{POLICIES}/{id}"))}})
    );
    let empty_blob = create(
        &app,
        &token,
        POLICIES,
        "policy",
        json!({"blob": "", "type": "text/yaml"}),
    )
    .await;
    let other = empty_blob["id"].as_str().unwrap().to_owned();

    let all = get(&app, POLICIES, &token).await;
    let mut expected = vec![id.clone(), other.clone()];
    expected.sort();
    assert_eq!(ids(&all, "policies"), expected);
    assert_eq!(all["links"]["self"], app.at(POLICIES));
    let yaml = get(&app, &format!("{POLICIES}?type=text/yaml"), &token).await;
    assert_eq!(ids(&yaml, "policies"), [other.as_str()]);
    let none = get(&app, &format!("{POLICIES}?type=nothing"), &token).await;
    assert_eq!(none["policies"], json!([]));
    let path = format!("{POLICIES}/{id}");
    assert_eq!(get(&app, &path, &token).await["policy"], json_policy);

    let changed = patch(
        &app,
        &token,
        &path,
        "policy",
        json!({"type": "text/plain", "project_id": null, "user_id": "u-1", "extra2": 2,
               "id": id}),
    )
    .await;
    assert_eq!(changed["type"], "text/plain");
    assert_eq!(changed["blob"], json_policy["blob"]);
    assert_eq!(changed["user_id"], "u-1");
    assert!(changed.get("project_id").is_none());
    assert_eq!(changed["note"], json!({"kept": true}));
    assert_eq!(changed["extra2"], 2);
    assert_eq!(get(&app, &path, &token).await["policy"], changed);

    delete_then_gone(&app, &token, &path, "policy").await;
    assert_eq!(ids(&get(&app, POLICIES, &token).await, "policies"), [other]);
}

#[tokio::test]
async fn a_consumer_secret_is_shown_once_and_kept_only_as_its_hash() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let consumer = create(
        &app,
        &token,
        CONSUMERS,
        "consumer",
        json!({"description": "tempest", "secret": "chosen", "colour": "blue"}),
    )
    .await;
    let id = consumer["id"].as_str().unwrap().to_owned();
    let secret = consumer["secret"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(secret.len(), 64, "256 bits, hex");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(secret, "chosen", "the secret is generated");
    assert!(!database_holds(&app, &secret), "the secret is not stored");
    if app.settings.database_url.is_none() {
        assert!(database_holds(&app, &sha256_hex(secret.as_bytes())));
    }
    let path = format!("{CONSUMERS}/{id}");
    let shown = get(&app, &path, &token).await["consumer"].clone();
    assert_eq!(
        shown,
        json!({"id": id, "description": "tempest", "colour": "blue",
               "links": {"self": app.at(&path)}})
    );
    let second = create(&app, &token, CONSUMERS, "consumer", json!({})).await;
    assert_eq!(second["description"], Value::Null);
    assert_ne!(second["secret"], consumer["secret"]);
    let listed = get(&app, CONSUMERS, &token).await;
    let mut expected = vec![id.clone(), second["id"].as_str().unwrap().to_owned()];
    expected.sort();
    assert_eq!(ids(&listed, "consumers"), expected);
    assert!(listed["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.get("secret").is_none()));

    let changed = patch(
        &app,
        &token,
        &path,
        "consumer",
        json!({"description": "renamed"}),
    )
    .await;
    assert_eq!(changed["description"], "renamed");
    assert!(changed.get("secret").is_none());
    assert_eq!(get(&app, &path, &token).await["consumer"], changed);

    // Changing the secret is refused, and nothing else in the body is applied.
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&token),
        Some(json!({"consumer": {"secret": "new", "description": "sneaky"}})),
    )
    .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(get(&app, &path, &token).await["consumer"], changed);

    delete_then_gone(&app, &token, &path, "consumer").await;
}

#[tokio::test]
async fn endpoint_groups_are_created_checked_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let group = create(
        &app,
        &token,
        GROUPS,
        "endpoint_group",
        json!({"name": "computes", "description": "all compute",
               "filters": {"service_id": "abc", "interface": "public"}}),
    )
    .await;
    let id = group["id"].as_str().unwrap().to_owned();
    let path = format!("{GROUPS}/{id}");
    assert_eq!(
        group,
        json!({"id": id, "name": "computes", "description": "all compute",
               "filters": {"service_id": "abc", "interface": "public"},
               "links": {"self": app.at(&path)}})
    );
    // Tempest compares the created object with the listed one as a whole.
    let listed = get(&app, GROUPS, &token).await;
    assert_eq!(listed["endpoint_groups"], json!([group.clone()]));
    assert_eq!(listed["links"]["self"], app.at(GROUPS));
    assert_eq!(get(&app, &path, &token).await["endpoint_group"], group);

    let r = call(&app, Method::HEAD, &path, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = call(&app, Method::HEAD, &path, None, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let no_filters = create(
        &app,
        &token,
        GROUPS,
        "endpoint_group",
        json!({"name": "everything", "filters": {}}),
    )
    .await;
    assert_eq!(no_filters["description"], Value::Null);

    let changed = patch(
        &app,
        &token,
        &path,
        "endpoint_group",
        json!({"name": "renamed", "description": null, "filters": {"region_id": "RegionOne"}}),
    )
    .await;
    assert_eq!(changed["name"], "renamed");
    assert_eq!(changed["description"], Value::Null);
    assert_eq!(changed["filters"], json!({"region_id": "RegionOne"}));
    assert_eq!(get(&app, &path, &token).await["endpoint_group"], changed);
    let changed = patch(
        &app,
        &token,
        &path,
        "endpoint_group",
        json!({"description": "back"}),
    )
    .await;
    assert_eq!(changed["name"], "renamed");
    assert_eq!(changed["filters"], json!({"region_id": "RegionOne"}));

    delete_then_gone(&app, &token, &path, "endpoint_group").await;
    let r = call(&app, Method::HEAD, &path, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        ids(&get(&app, GROUPS, &token).await, "endpoint_groups"),
        [no_filters["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn bad_input_is_refused_in_keystones_body_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let policy = create(
        &app,
        &token,
        POLICIES,
        "policy",
        json!({"blob": "b", "type": "t"}),
    )
    .await;
    let consumer = create(&app, &token, CONSUMERS, "consumer", json!({})).await;
    let group = create(
        &app,
        &token,
        GROUPS,
        "endpoint_group",
        json!({"name": "g", "filters": {}}),
    )
    .await;
    let policy = format!("{POLICIES}/{}", policy["id"].as_str().unwrap());
    let consumer = format!("{CONSUMERS}/{}", consumer["id"].as_str().unwrap());
    let group = format!("{GROUPS}/{}", group["id"].as_str().unwrap());
    let before = snapshot(&app, &token).await;

    let long = "x".repeat(256);
    let refused: Vec<(Method, &str, Value)> = vec![
        (Method::POST, POLICIES, json!({"policy": {"type": "t"}})),
        (Method::POST, POLICIES, json!({"policy": {"blob": "b"}})),
        (
            Method::POST,
            POLICIES,
            json!({"policy": {"blob": "b", "type": ""}}),
        ),
        (
            Method::POST,
            POLICIES,
            json!({"policy": {"blob": 1, "type": "t"}}),
        ),
        (
            Method::POST,
            POLICIES,
            json!({"policy": {"blob": "b", "type": 5}}),
        ),
        (
            Method::POST,
            POLICIES,
            json!({"policy": {"blob": "b", "type": long}}),
        ),
        (
            Method::POST,
            POLICIES,
            json!({"policy": {"blob": "b", "type": "t", "project_id": 1}}),
        ),
        (Method::POST, POLICIES, json!({"policy": "b"})),
        (Method::POST, POLICIES, json!({"blob": "b", "type": "t"})),
        (Method::PATCH, &policy, json!({"policy": {}})),
        (Method::PATCH, &policy, json!({"policy": {"type": null}})),
        (Method::PATCH, &policy, json!({"policy": {"blob": null}})),
        (Method::PATCH, &policy, json!({"policy": {"type": ""}})),
        (
            Method::PATCH,
            &policy,
            json!({"policy": {"type": "n", "id": "other"}}),
        ),
        (
            Method::POST,
            CONSUMERS,
            json!({"consumer": {"description": 7}}),
        ),
        (Method::POST, CONSUMERS, json!({"consumer": []})),
        (
            Method::PATCH,
            &consumer,
            json!({"consumer": {"secret": "s"}}),
        ),
        (
            Method::PATCH,
            &consumer,
            json!({"consumer": {"description": false}}),
        ),
        (Method::PATCH, &consumer, json!({"consumer": {}})),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"name": "g"}}),
        ),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"filters": {}}}),
        ),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"name": "", "filters": {}}}),
        ),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"name": "g", "filters": []}}),
        ),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"name": "g", "filters": "x"}}),
        ),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"name": "g", "filters": {"url": "http://x"}}}),
        ),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"name": "g", "filters": {"service_id": 3}}}),
        ),
        (
            Method::POST,
            GROUPS,
            json!({"endpoint_group": {"name": 1, "filters": {}}}),
        ),
        (
            Method::PATCH,
            &group,
            json!({"endpoint_group": {"filters": {"enabled": "true"}}}),
        ),
        (
            Method::PATCH,
            &group,
            json!({"endpoint_group": {"name": null}}),
        ),
        (
            Method::PATCH,
            &group,
            json!({"endpoint_group": {"filters": null}}),
        ),
        (Method::PATCH, &group, json!({"endpoint_group": {}})),
    ];
    for (method, path, body) in refused {
        let r = call(&app, method.clone(), path, Some(&token), Some(body.clone())).await;
        assert_eq!(
            r.status(),
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}"
        );
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    for path in [POLICIES, CONSUMERS, GROUPS] {
        let r = app
            .http
            .post(app.at(path))
            .header("x-auth-token", &token)
            .header("content-type", "application/json")
            .body("{\"policy\": ")
            .send()
            .await
            .unwrap();
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(snapshot(&app, &token).await, before);
}

#[tokio::test]
async fn reading_needs_a_token_and_changing_a_root_administrator() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    app.create_active_user("petra").await;
    let user = app.keystone_token("petra", USER_PASSWORD).await;
    let policy = create(
        &app,
        &token,
        POLICIES,
        "policy",
        json!({"blob": "b", "type": "t"}),
    )
    .await;
    let consumer = create(&app, &token, CONSUMERS, "consumer", json!({})).await;
    let group = create(
        &app,
        &token,
        GROUPS,
        "endpoint_group",
        json!({"name": "g", "filters": {}}),
    )
    .await;
    let policy = format!("{POLICIES}/{}", policy["id"].as_str().unwrap());
    let consumer = format!("{CONSUMERS}/{}", consumer["id"].as_str().unwrap());
    let group = format!("{GROUPS}/{}", group["id"].as_str().unwrap());

    for path in [POLICIES, &policy, CONSUMERS, &consumer, GROUPS, &group] {
        let r = call(&app, Method::GET, path, Some(&user), None).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let r = call(&app, Method::GET, path, None, None).await;
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            "Keystone uri=\"/v3\""
        );
        keystone_error(r, StatusCode::UNAUTHORIZED).await;
        let r = call(&app, Method::GET, path, Some("not-a-token"), None).await;
        keystone_error(r, StatusCode::UNAUTHORIZED).await;
    }
    let before = snapshot(&app, &token).await;
    let writes = [
        (
            Method::POST,
            POLICIES,
            Some(json!({"policy": {"blob": "b", "type": "t"}})),
        ),
        (
            Method::PATCH,
            &policy,
            Some(json!({"policy": {"type": "x"}})),
        ),
        (Method::DELETE, &policy, None),
        (Method::POST, CONSUMERS, Some(json!({"consumer": {}}))),
        (
            Method::PATCH,
            &consumer,
            Some(json!({"consumer": {"description": "x"}})),
        ),
        (Method::DELETE, &consumer, None),
        (
            Method::POST,
            GROUPS,
            Some(json!({"endpoint_group": {"name": "x", "filters": {}}})),
        ),
        (
            Method::PATCH,
            &group,
            Some(json!({"endpoint_group": {"name": "x"}})),
        ),
        (Method::DELETE, &group, None),
    ];
    for (method, path, body) in writes {
        let r = call(&app, method.clone(), path, Some(&user), body.clone()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        keystone_error(r, StatusCode::FORBIDDEN).await;
        let r = call(&app, method.clone(), path, None, body).await;
        keystone_error(r, StatusCode::UNAUTHORIZED).await;
    }
    assert_eq!(snapshot(&app, &token).await, before);

    // Unknown ids are 404 to every method; an unknown method is 405.
    for path in [
        format!("{POLICIES}/nope"),
        format!("{CONSUMERS}/nope"),
        format!("{GROUPS}/nope"),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let r = call(&app, method, &path, Some(&token), None).await;
            keystone_error(r, StatusCode::NOT_FOUND).await;
        }
        let r = call(&app, Method::PUT, &path, Some(&token), Some(json!({}))).await;
        keystone_error(r, StatusCode::METHOD_NOT_ALLOWED).await;
    }
    for (key, body) in [
        ("policy", json!({"type": "x"})),
        ("consumer", json!({"description": "x"})),
        ("endpoint_group", json!({"name": "x"})),
    ] {
        let collection = match key {
            "policy" => POLICIES,
            "consumer" => CONSUMERS,
            _ => GROUPS,
        };
        let r = call(
            &app,
            Method::PATCH,
            &format!("{collection}/nope"),
            Some(&token),
            Some(json!({ key: body })),
        )
        .await;
        keystone_error(r, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn changes_are_audit_events_of_the_root_tenant() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let policy = create(
        &app,
        &token,
        POLICIES,
        "policy",
        json!({"blob": "b", "type": "t"}),
    )
    .await;
    let policy = policy["id"].as_str().unwrap().to_owned();
    let consumer = create(&app, &token, CONSUMERS, "consumer", json!({})).await;
    let consumer = consumer["id"].as_str().unwrap().to_owned();
    let group = create(
        &app,
        &token,
        GROUPS,
        "endpoint_group",
        json!({"name": "g", "filters": {}}),
    )
    .await;
    let group = group["id"].as_str().unwrap().to_owned();
    patch(
        &app,
        &token,
        &format!("{POLICIES}/{policy}"),
        "policy",
        json!({"type": "u"}),
    )
    .await;
    patch(
        &app,
        &token,
        &format!("{CONSUMERS}/{consumer}"),
        "consumer",
        json!({"description": "d"}),
    )
    .await;
    patch(
        &app,
        &token,
        &format!("{GROUPS}/{group}"),
        "endpoint_group",
        json!({"name": "h"}),
    )
    .await;
    for path in [
        format!("{POLICIES}/{policy}"),
        format!("{CONSUMERS}/{consumer}"),
        format!("{GROUPS}/{group}"),
    ] {
        let r = call(&app, Method::DELETE, &path, Some(&token), None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let client = app.client_token().await;
    let r = app
        .http
        .get(app.at("/api/2/audit_events?limit=1000"))
        .bearer_auth(&client)
        .send()
        .await
        .unwrap();
    let events = ok_json(r, StatusCode::OK).await;
    let root = app.root_tenant_id().await;
    let kinds = ["keystone_policy", "oauth_consumer", "endpoint_group"];
    let seen: Vec<(String, String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| kinds.contains(&e["object_type"].as_str().unwrap()))
        .map(|e| {
            assert_eq!(e["tenant_id"], root.as_str());
            assert!(e["actor_id"].is_string());
            (
                e["object_type"].as_str().unwrap().to_owned(),
                e["object_id"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("keystone_policy", &policy, "create"),
        ("oauth_consumer", &consumer, "create"),
        ("endpoint_group", &group, "create"),
        ("keystone_policy", &policy, "update"),
        ("oauth_consumer", &consumer, "update"),
        ("endpoint_group", &group, "update"),
        ("keystone_policy", &policy, "delete"),
        ("oauth_consumer", &consumer, "delete"),
        ("endpoint_group", &group, "delete"),
    ]
    .iter()
    .map(|(t, o, a)| ((*t).to_owned(), (*o).to_owned(), (*a).to_owned()))
    .collect();
    assert_eq!(seen, expected);
}
