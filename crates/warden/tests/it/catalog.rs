//! The Keystone service catalog (`/v3/regions`, `/v3/services`, `/v3/endpoints`), the catalog
//! tokens carry, and Keystone credentials (`/v3/credentials`): every route, its filters, its
//! refusals with nothing changed, and what first start creates.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use warden_core::secrets::sha256_hex;

use crate::helpers::*;

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    ok_json(
        call(app, Method::GET, path, Some(token), None).await,
        StatusCode::OK,
    )
    .await
}

/// The ids of a collection's items.
fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
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
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()[key].clone()
}

async fn new_service(app: &TestApp, token: &str, service_type: &str) -> String {
    let service = create(
        app,
        token,
        "/v3/services",
        "service",
        json!({"type": service_type, "name": format!("{service_type}-svc")}),
    )
    .await;
    service["id"].as_str().unwrap().to_owned()
}

async fn new_endpoint(app: &TestApp, token: &str, service: &str, interface: &str) -> Value {
    create(
        app,
        token,
        "/v3/endpoints",
        "endpoint",
        json!({"service_id": service, "interface": interface, "region_id": "RegionOne",
               "url": format!("http://{interface}.example:8774/v2.1")}),
    )
    .await
}

/// Deletes `path` (204); afterwards reading or deleting it again is 404.
async fn delete_then_gone(app: &TestApp, token: &str, path: &str) {
    let r = call(app, Method::DELETE, path, Some(token), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let r = call(app, method, path, Some(token), None).await;
        keystone_error(r, StatusCode::NOT_FOUND).await;
    }
}

/// The catalog of a fresh domain-scoped token.
async fn token_catalog(app: &TestApp) -> Value {
    let r = app
        .keystone_auth(
            ADMIN_LOGIN,
            ADMIN_PASSWORD,
            json!({"domain": {"name": "Default"}}),
        )
        .await;
    ok_json(r, StatusCode::CREATED).await["token"]["catalog"].clone()
}

fn service_of<'a>(catalog: &'a Value, service_type: &str) -> Option<&'a Value> {
    catalog
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == service_type)
}

#[tokio::test]
async fn first_start_creates_region_one_and_the_identity_endpoints_at_the_servers_url() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let regions = get(&app, "/v3/regions", &token).await;
    assert_eq!(ids(&regions, "regions"), ["RegionOne"]);
    assert_eq!(regions["regions"][0]["parent_region_id"], Value::Null);
    assert_eq!(
        regions["regions"][0]["links"]["self"],
        app.at("/v3/regions/RegionOne").as_str()
    );
    assert_eq!(regions["links"]["self"], app.at("/v3/regions").as_str());
    let services = get(&app, "/v3/services?type=identity", &token).await;
    let identity = &services["services"][0];
    assert_eq!(services["services"].as_array().unwrap().len(), 1);
    assert_eq!(identity["name"], "keystone");
    assert_eq!(identity["enabled"], true);
    let service_id = identity["id"].as_str().unwrap();
    assert_eq!(service_id.len(), 32);
    let endpoints = get(
        &app,
        &format!("/v3/endpoints?service_id={service_id}"),
        &token,
    )
    .await;
    let mut interfaces: Vec<&str> = endpoints["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["url"], app.at("/v3").as_str());
            assert_eq!(e["region_id"], "RegionOne");
            assert_eq!(e["region"], "RegionOne");
            e["interface"].as_str().unwrap()
        })
        .collect();
    interfaces.sort_unstable();
    assert_eq!(interfaces, ["admin", "internal", "public"]);

    for catalog in [
        token_catalog(&app).await,
        get(&app, "/v3/auth/catalog", &token).await["catalog"].clone(),
    ] {
        let identity = service_of(&catalog, "identity").unwrap();
        assert_eq!(identity["id"], service_id);
        assert_eq!(identity["name"], "keystone");
        let endpoints = identity["endpoints"].as_array().unwrap();
        assert_eq!(endpoints.len(), 3);
        for e in endpoints {
            assert_eq!(e["url"], app.at("/v3").as_str());
            assert_eq!(e["region_id"], "RegionOne");
            assert!(e.get("service_id").is_none() && e.get("enabled").is_none());
        }
    }
}

#[tokio::test]
async fn every_start_restores_the_identity_catalog_and_points_it_at_the_new_port() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    // As a database bootstrapped before the catalog existed: no identity service.
    let services = get(&app, "/v3/services?type=identity", &token).await;
    let id = services["services"][0]["id"].as_str().unwrap().to_owned();
    let r = call(
        &app,
        Method::DELETE,
        &format!("/v3/services/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(token_catalog(&app).await, json!([]));

    let client_id = app.client_id.clone();
    let old_url = app.url.clone();
    let (dir, settings) = app.stop().await;
    let app = TestApp::start(dir, client_id.clone(), settings).await;
    assert_ne!(app.url, old_url, "a restart binds a new port");
    let catalog = token_catalog(&app).await;
    let identity = service_of(&catalog, "identity").unwrap();
    assert_eq!(identity["endpoints"].as_array().unwrap().len(), 3);
    for e in identity["endpoints"].as_array().unwrap() {
        assert_eq!(e["url"], app.at("/v3").as_str());
    }

    // A start over a complete catalog changes nothing but the URL.
    let (dir, settings) = app.stop().await;
    let app = TestApp::start(dir, client_id, settings).await;
    let token = admin_token(&app).await;
    assert_eq!(
        get(&app, "/v3/services?type=identity", &token).await["services"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let endpoints = get(&app, "/v3/endpoints", &token).await;
    assert_eq!(endpoints["endpoints"].as_array().unwrap().len(), 3);
    assert!(endpoints["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["url"] == app.at("/v3").as_str()));
    assert_eq!(
        ids(&get(&app, "/v3/regions", &token).await, "regions"),
        ["RegionOne"]
    );
}

#[tokio::test]
async fn regions_are_created_read_filtered_changed_and_deleted_with_their_children() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let east = create(
        &app,
        &token,
        "/v3/regions",
        "region",
        json!({"id": "East", "description": "east coast", "email": "ops@example.com"}),
    )
    .await;
    assert_eq!(
        east,
        json!({"id": "East", "description": "east coast", "parent_region_id": null,
               "email": "ops@example.com", "links": {"self": app.at("/v3/regions/East")}})
    );
    let generated = create(&app, &token, "/v3/regions", "region", json!({})).await;
    let generated_id = generated["id"].as_str().unwrap();
    assert_eq!(generated_id.len(), 32);
    assert_eq!(generated["description"], "");
    let r = call(
        &app,
        Method::PUT,
        "/v3/regions/East-1",
        Some(&token),
        Some(json!({"region": {"parent_region_id": "East"}})),
    )
    .await;
    let child = ok_json(r, StatusCode::CREATED).await;
    assert_eq!(child["region"]["id"], "East-1");
    assert_eq!(child["region"]["parent_region_id"], "East");
    create(
        &app,
        &token,
        "/v3/regions",
        "region",
        json!({"id": "East-1a", "parent_region_id": "East-1"}),
    )
    .await;

    let children = get(&app, "/v3/regions?parent_region_id=East", &token).await;
    assert_eq!(ids(&children, "regions"), ["East-1"]);
    assert_eq!(
        get(&app, "/v3/regions/East-1a", &token).await["region"]["parent_region_id"],
        "East-1"
    );

    let r = call(
        &app,
        Method::PATCH,
        "/v3/regions/East",
        Some(&token),
        Some(json!({"region": {"description": null, "email": "noc@example.com"}})),
    )
    .await;
    let patched = ok_json(r, StatusCode::OK).await;
    assert_eq!(patched["region"]["description"], "");
    assert_eq!(patched["region"]["email"], "noc@example.com");
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v3/regions/{generated_id}"),
        Some(&token),
        Some(json!({"region": {"parent_region_id": "East-1a"}})),
    )
    .await;
    assert_eq!(
        ok_json(r, StatusCode::OK).await["region"]["parent_region_id"],
        "East-1a"
    );

    // Deleting East takes East-1, East-1a and the region below that.
    let r = call(&app, Method::DELETE, "/v3/regions/East", Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        ids(&get(&app, "/v3/regions", &token).await, "regions"),
        ["RegionOne"]
    );
    let r = call(&app, Method::GET, "/v3/regions/East-1", Some(&token), None).await;
    keystone_error(r, StatusCode::NOT_FOUND).await;
    let r = call(&app, Method::DELETE, "/v3/regions/East", Some(&token), None).await;
    keystone_error(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn region_rules_are_keystones_and_a_refusal_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    create(&app, &token, "/v3/regions", "region", json!({"id": "A"})).await;
    create(
        &app,
        &token,
        "/v3/regions",
        "region",
        json!({"id": "B", "parent_region_id": "A"}),
    )
    .await;
    let before = get(&app, "/v3/regions", &token).await;
    let refusals = [
        // A taken id.
        (
            Method::POST,
            "/v3/regions",
            json!({"region": {"id": "A"}}),
            StatusCode::CONFLICT,
        ),
        (
            Method::PUT,
            "/v3/regions/B",
            json!({"region": {}}),
            StatusCode::CONFLICT,
        ),
        // A parent that does not exist: Keystone's RegionNotFound.
        (
            Method::POST,
            "/v3/regions",
            json!({"region": {"id": "C", "parent_region_id": "nowhere"}}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            "/v3/regions/B",
            json!({"region": {"parent_region_id": "nowhere"}}),
            StatusCode::NOT_FOUND,
        ),
        // A cycle, direct or through a child.
        (
            Method::PATCH,
            "/v3/regions/A",
            json!({"region": {"parent_region_id": "B"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/v3/regions/A",
            json!({"region": {"parent_region_id": "A"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/v3/regions/nowhere",
            json!({"region": {"description": "x"}}),
            StatusCode::NOT_FOUND,
        ),
        // Bad input.
        (
            Method::POST,
            "/v3/regions",
            json!({"regions": {}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v3/regions",
            json!({"region": "A"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v3/regions",
            json!({"region": {"id": 7}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v3/regions",
            json!({"region": {"id": "x".repeat(256)}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v3/regions",
            json!({"region": {"description": ["x"]}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/v3/regions/D",
            json!({"region": {"id": "E"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/v3/regions/A",
            json!({"region": {}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/v3/regions/A",
            json!({"region": {"id": "Z"}}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, body, status) in refusals {
        let r = call(&app, method.clone(), path, Some(&token), Some(body.clone())).await;
        assert_eq!(r.status(), status, "{method} {path} {body}");
        keystone_error(r, status).await;
    }
    let r = app
        .http
        .post(app.at("/v3/regions"))
        .header("x-auth-token", &token)
        .header("content-type", "application/json")
        .body("{\"region\": ")
        .send()
        .await
        .unwrap();
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(get(&app, "/v3/regions", &token).await, before);

    // A region with an endpoint below it is not deleted (Keystone's RegionDeletionError).
    let service = new_service(&app, &token, "compute").await;
    create(
        &app,
        &token,
        "/v3/endpoints",
        "endpoint",
        json!({"service_id": service, "interface": "public", "region_id": "B", "url": "http://b"}),
    )
    .await;
    let before = get(&app, "/v3/regions", &token).await;
    let r = call(&app, Method::DELETE, "/v3/regions/A", Some(&token), None).await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    assert_eq!(get(&app, "/v3/regions", &token).await, before);
}

#[tokio::test]
async fn services_are_created_filtered_changed_and_deleted_with_their_endpoints() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let created = create(
        &app,
        &token,
        "/v3/services",
        "service",
        json!({"type": "compute", "name": "nova", "description": "Compute", "id": "ignored",
               "owner": "ops"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(
        created,
        json!({"id": id, "type": "compute", "name": "nova", "description": "Compute",
               "enabled": true, "owner": "ops",
               "links": {"self": app.at(&format!("/v3/services/{id}"))}})
    );
    let other = new_service(&app, &token, "image").await;
    let compute = get(&app, "/v3/services?type=compute", &token).await;
    assert_eq!(ids(&compute, "services"), [id.as_str()]);
    assert_eq!(
        get(&app, "/v3/services", &token).await["services"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        get(&app, &format!("/v3/services/{id}"), &token).await["service"],
        created
    );

    let r = call(
        &app,
        Method::PATCH,
        &format!("/v3/services/{id}"),
        Some(&token),
        Some(json!({"service": {"enabled": false, "description": null, "owner": "noc"}})),
    )
    .await;
    let patched = ok_json(r, StatusCode::OK).await["service"].clone();
    assert_eq!(patched["enabled"], false);
    assert!(patched.get("description").is_none());
    assert_eq!(patched["owner"], "noc");
    assert_eq!(patched["name"], "nova");

    let endpoint = new_endpoint(&app, &token, &id, "public").await;
    new_endpoint(&app, &token, &other, "public").await;
    delete_then_gone(&app, &token, &format!("/v3/services/{id}")).await;
    let r = call(
        &app,
        Method::GET,
        &format!("/v3/endpoints/{}", endpoint["id"].as_str().unwrap()),
        Some(&token),
        None,
    )
    .await;
    keystone_error(r, StatusCode::NOT_FOUND).await;
    let left = get(&app, &format!("/v3/endpoints?service_id={other}"), &token).await;
    assert_eq!(left["endpoints"].as_array().unwrap().len(), 1);

    let before = get(&app, "/v3/services", &token).await;
    for body in [
        json!({"service": {}}),
        json!({"service": {"type": ""}}),
        json!({"service": {"type": 1}}),
        json!({"service": {"type": "x", "enabled": "yes"}}),
        json!({"service": {"type": "x".repeat(256)}}),
        json!({"services": {"type": "x"}}),
    ] {
        let r = call(&app, Method::POST, "/v3/services", Some(&token), Some(body)).await;
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    for body in [
        json!({"service": {}}),
        json!({"service": {"enabled": 0}}),
        json!({"service": {"id": "other"}}),
    ] {
        let path = format!("/v3/services/{other}");
        let r = call(&app, Method::PATCH, &path, Some(&token), Some(body)).await;
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(get(&app, "/v3/services", &token).await, before);
}

#[tokio::test]
async fn endpoints_are_created_filtered_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let compute = new_service(&app, &token, "compute").await;
    let public = new_endpoint(&app, &token, &compute, "public").await;
    let id = public["id"].as_str().unwrap().to_owned();
    assert_eq!(
        public,
        json!({"id": id, "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
               "service_id": compute, "url": "http://public.example:8774/v2.1", "enabled": true,
               "links": {"self": app.at(&format!("/v3/endpoints/{id}"))}})
    );
    let internal = new_endpoint(&app, &token, &compute, "internal").await;
    // The legacy `region` creates the region it names, as Keystone does for v2 clients.
    let legacy = create(
        &app,
        &token,
        "/v3/endpoints",
        "endpoint",
        json!({"service_id": compute, "interface": "admin", "region": "West",
               "url": "http://admin.west:8774", "enabled": false}),
    )
    .await;
    assert_eq!(legacy["region_id"], "West");
    assert_eq!(legacy["region"], "West");
    assert_eq!(legacy["enabled"], false);
    assert_eq!(
        get(&app, "/v3/regions/West", &token).await["region"]["id"],
        "West"
    );
    let no_region = create(
        &app,
        &token,
        "/v3/endpoints",
        "endpoint",
        json!({"service_id": compute, "interface": "public", "url": "http://anywhere"}),
    )
    .await;
    assert_eq!(no_region["region_id"], Value::Null);

    let of = |query: &str| {
        let app = &app;
        let token = &token;
        let query = query.to_owned();
        async move {
            let mut found = ids(
                &get(app, &format!("/v3/endpoints?{query}"), token).await,
                "endpoints",
            );
            found.sort();
            found
        }
    };
    let mut expected = vec![id.clone(), no_region["id"].as_str().unwrap().to_owned()];
    expected.sort();
    assert_eq!(
        of(&format!("interface=public&service_id={compute}")).await,
        expected
    );
    assert_eq!(
        of(&format!("interface=internal&service_id={compute}")).await,
        [internal["id"].as_str().unwrap()]
    );
    assert_eq!(of("region_id=West").await, [legacy["id"].as_str().unwrap()]);
    assert_eq!(of(&format!("service_id={compute}")).await.len(), 4);
    assert!(of("interface=sideways").await.is_empty());

    let r = call(
        &app,
        Method::PATCH,
        &format!("/v3/endpoints/{id}"),
        Some(&token),
        Some(json!({"endpoint": {"url": "https://nova.example/v2.1", "region_id": null}})),
    )
    .await;
    let patched = ok_json(r, StatusCode::OK).await["endpoint"].clone();
    assert_eq!(patched["url"], "https://nova.example/v2.1");
    assert_eq!(patched["region_id"], Value::Null);
    assert_eq!(patched["interface"], "public");
    assert_eq!(
        get(&app, &format!("/v3/endpoints/{id}"), &token).await["endpoint"],
        patched
    );

    let before = get(&app, "/v3/endpoints", &token).await;
    let regions_before = get(&app, "/v3/regions", &token).await;
    for body in [
        json!({"endpoint": {"service_id": compute, "interface": "sideways", "url": "http://x"}}),
        json!({"endpoint": {"service_id": compute, "url": "http://x"}}),
        json!({"endpoint": {"service_id": compute, "interface": "public"}}),
        json!({"endpoint": {"interface": "public", "url": "http://x"}}),
        json!({"endpoint": {"service_id": compute, "interface": "public", "url": "no scheme"}}),
        json!({"endpoint": {"service_id": compute, "interface": "public", "url": "http://x", "enabled": "no"}}),
        // A service or region that does not exist: Keystone's ValidationError.
        json!({"endpoint": {"service_id": "nope", "interface": "public", "url": "http://x"}}),
        json!({"endpoint": {"service_id": compute, "interface": "public", "url": "http://x", "region_id": "Nowhere"}}),
        json!({"endpoint": []}),
    ] {
        let r = call(
            &app,
            Method::POST,
            "/v3/endpoints",
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    for body in [
        json!({"endpoint": {}}),
        json!({"endpoint": {"interface": "sideways"}}),
        json!({"endpoint": {"service_id": "nope"}}),
        json!({"endpoint": {"region_id": "Nowhere"}}),
    ] {
        let path = format!("/v3/endpoints/{id}");
        let r = call(&app, Method::PATCH, &path, Some(&token), Some(body)).await;
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(get(&app, "/v3/endpoints", &token).await, before);
    assert_eq!(get(&app, "/v3/regions", &token).await, regions_before);

    delete_then_gone(&app, &token, &format!("/v3/endpoints/{id}")).await;
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v3/endpoints/{id}"),
        Some(&token),
        Some(json!({"endpoint": {"url": "http://x"}})),
    )
    .await;
    keystone_error(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_token_catalog_follows_the_stored_catalog() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let compute = new_service(&app, &token, "compute").await;
    let endpoint = new_endpoint(&app, &token, &compute, "public").await;
    let catalog = token_catalog(&app).await;
    let listed = service_of(&catalog, "compute").unwrap();
    assert_eq!(listed["id"], compute.as_str());
    assert_eq!(listed["name"], "compute-svc");
    assert_eq!(
        listed["endpoints"],
        json!([{"id": endpoint["id"], "interface": "public", "region": "RegionOne",
                "region_id": "RegionOne", "url": "http://public.example:8774/v2.1"}])
    );

    // A disabled endpoint leaves the catalog; a disabled service takes its entry with it.
    let path = format!("/v3/endpoints/{}", endpoint["id"].as_str().unwrap());
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&token),
        Some(json!({"endpoint": {"enabled": false}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let catalog = token_catalog(&app).await;
    assert_eq!(
        service_of(&catalog, "compute").unwrap()["endpoints"],
        json!([])
    );
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v3/services/{compute}"),
        Some(&token),
        Some(json!({"service": {"enabled": false}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let catalog = token_catalog(&app).await;
    assert!(service_of(&catalog, "compute").is_none());
    assert!(service_of(&catalog, "identity").is_some());
    let validated = app
        .http
        .get(app.at("/v3/auth/tokens"))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .send()
        .await
        .unwrap();
    let body = ok_json(validated, StatusCode::OK).await;
    assert_eq!(body["token"]["catalog"], catalog);
}

/// Every region, service and endpoint.
async fn snapshot(app: &TestApp, token: &str) -> (Value, Value, Value) {
    (
        get(app, "/v3/regions", token).await,
        get(app, "/v3/services", token).await,
        get(app, "/v3/endpoints", token).await,
    )
}

#[tokio::test]
async fn reading_the_catalog_needs_a_token_and_changing_it_a_root_administrator() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    app.create_active_user("petra").await;
    let user = app.keystone_token("petra", USER_PASSWORD).await;
    let compute = new_service(&app, &token, "compute").await;
    let endpoint = new_endpoint(&app, &token, &compute, "public").await;
    let endpoint = endpoint["id"].as_str().unwrap();

    for path in [
        "/v3/regions".to_owned(),
        "/v3/regions/RegionOne".to_owned(),
        "/v3/services".to_owned(),
        format!("/v3/services/{compute}"),
        "/v3/endpoints".to_owned(),
        format!("/v3/endpoints/{endpoint}"),
        "/v3/credentials".to_owned(),
    ] {
        let r = call(&app, Method::GET, &path, Some(&user), None).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let r = call(&app, Method::GET, &path, None, None).await;
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            "Keystone uri=\"/v3\""
        );
        keystone_error(r, StatusCode::UNAUTHORIZED).await;
    }
    let before = snapshot(&app, &token).await;
    let writes = [
        (
            Method::POST,
            "/v3/regions".to_owned(),
            Some(json!({"region": {"id": "X"}})),
        ),
        (
            Method::PUT,
            "/v3/regions/X".to_owned(),
            Some(json!({"region": {}})),
        ),
        (
            Method::PATCH,
            "/v3/regions/RegionOne".to_owned(),
            Some(json!({"region": {"description": "mine"}})),
        ),
        (Method::DELETE, "/v3/regions/RegionOne".to_owned(), None),
        (
            Method::POST,
            "/v3/services".to_owned(),
            Some(json!({"service": {"type": "x"}})),
        ),
        (
            Method::PATCH,
            format!("/v3/services/{compute}"),
            Some(json!({"service": {"enabled": false}})),
        ),
        (Method::DELETE, format!("/v3/services/{compute}"), None),
        (
            Method::POST,
            "/v3/endpoints".to_owned(),
            Some(
                json!({"endpoint": {"service_id": compute, "interface": "public", "url": "http://evil"}}),
            ),
        ),
        (
            Method::PATCH,
            format!("/v3/endpoints/{endpoint}"),
            Some(json!({"endpoint": {"url": "http://evil"}})),
        ),
        (Method::DELETE, format!("/v3/endpoints/{endpoint}"), None),
    ];
    for (method, path, body) in writes {
        let r = call(&app, method.clone(), &path, Some(&user), body.clone()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        keystone_error(r, StatusCode::FORBIDDEN).await;
        let r = call(&app, method.clone(), &path, None, body).await;
        keystone_error(r, StatusCode::UNAUTHORIZED).await;
    }
    assert_eq!(snapshot(&app, &token).await, before);
}

#[tokio::test]
async fn catalog_changes_are_audit_events_of_the_root_tenant() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    create(
        &app,
        &token,
        "/v3/regions",
        "region",
        json!({"id": "North"}),
    )
    .await;
    let service = new_service(&app, &token, "compute").await;
    let endpoint = new_endpoint(&app, &token, &service, "public").await;
    let r = call(
        &app,
        Method::DELETE,
        &format!("/v3/services/{service}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
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
    let seen: Vec<(String, String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| ["region", "service", "endpoint"].contains(&e["object_type"].as_str().unwrap()))
        .filter(|e| e["actor_id"].is_string())
        .map(|e| {
            assert_eq!(e["tenant_id"], root.as_str());
            (
                e["object_type"].as_str().unwrap().to_owned(),
                e["object_id"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let endpoint = endpoint["id"].as_str().unwrap().to_owned();
    let expected: Vec<(String, String, String)> = [
        ("region", "North", "create"),
        ("service", service.as_str(), "create"),
        ("endpoint", endpoint.as_str(), "create"),
        ("service", service.as_str(), "delete"),
    ]
    .iter()
    .map(|(t, o, a)| ((*t).to_owned(), (*o).to_owned(), (*a).to_owned()))
    .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_user_keeps_credentials_of_their_own() {
    let app = TestApp::spawn().await;
    let user_id = uuid::Uuid::parse_str(&app.create_active_user("quentin").await)
        .unwrap()
        .simple()
        .to_string();
    let token = app.keystone_token("quentin", USER_PASSWORD).await;
    let blob = json!({"access": "AKIA-quentin", "secret": "s3cr3t-never-at-rest"}).to_string();
    let ec2 = create(
        &app,
        &token,
        "/v3/credentials",
        "credential",
        json!({"type": "ec2", "user_id": user_id, "project_id": "p-1", "blob": blob}),
    )
    .await;
    let ec2_id = sha256_hex(b"AKIA-quentin");
    assert!(
        !database_holds(&app, "s3cr3t-never-at-rest"),
        "blobs are sealed at rest"
    );
    if app.settings.database_url.is_none() {
        assert!(
            database_holds(&app, "quentin@example.com"),
            "the check sees clear text"
        );
    }
    assert_eq!(
        ec2,
        json!({"id": ec2_id, "user_id": user_id, "project_id": "p-1", "type": "ec2",
               "blob": blob, "links": {"self": app.at(&format!("/v3/credentials/{ec2_id}"))}})
    );
    let totp = create(
        &app,
        &token,
        "/v3/credentials",
        "credential",
        json!({"type": "totp", "user_id": user_id, "blob": "GEZDGNBVGY3TQOJQ", "label": "phone"}),
    )
    .await;
    let totp_id = totp["id"].as_str().unwrap().to_owned();
    assert_eq!(totp_id.len(), 32);
    assert_eq!(totp["project_id"], Value::Null);
    assert_eq!(totp["label"], "phone");

    let all = get(&app, "/v3/credentials", &token).await;
    assert_eq!(ids(&all, "credentials"), [ec2_id.clone(), totp_id.clone()]);
    let ec2_only = get(&app, "/v3/credentials?type=ec2", &token).await;
    assert_eq!(ids(&ec2_only, "credentials"), [ec2_id.as_str()]);
    let by_user = get(&app, &format!("/v3/credentials?user_id={user_id}"), &token).await;
    assert_eq!(by_user["credentials"].as_array().unwrap().len(), 2);
    assert_eq!(
        get(&app, &format!("/v3/credentials/{ec2_id}"), &token).await["credential"],
        ec2
    );

    let new_blob = json!({"access": "AKIA-quentin", "secret": "rotated"}).to_string();
    let r = call(
        &app,
        Method::PATCH,
        &format!("/v3/credentials/{ec2_id}"),
        Some(&token),
        Some(json!({"credential": {"blob": new_blob}})),
    )
    .await;
    let patched = ok_json(r, StatusCode::OK).await["credential"].clone();
    assert_eq!(patched["blob"], new_blob.as_str());
    assert_eq!(patched["id"], ec2_id.as_str());

    delete_then_gone(&app, &token, &format!("/v3/credentials/{totp_id}")).await;
    assert_eq!(
        ids(&get(&app, "/v3/credentials", &token).await, "credentials"),
        [ec2_id]
    );
}

#[tokio::test]
async fn credentials_are_refused_to_others_and_to_bad_input_changing_nothing() {
    let app = TestApp::spawn().await;
    let hex = |id: String| uuid::Uuid::parse_str(&id).unwrap().simple().to_string();
    let rita = hex(app.create_active_user("rita").await);
    let sam = hex(app.create_active_user("sam").await);
    let rita_token = app.keystone_token("rita", USER_PASSWORD).await;
    let sam_token = app.keystone_token("sam", USER_PASSWORD).await;
    let admin_token = admin_token(&app).await;
    let blob = json!({"access": "AK-rita", "secret": "x"}).to_string();
    let credential = create(
        &app,
        &rita_token,
        "/v3/credentials",
        "credential",
        json!({"type": "ec2", "user_id": rita, "project_id": "p", "blob": blob}),
    )
    .await;
    let id = credential["id"].as_str().unwrap().to_owned();
    let path = format!("/v3/credentials/{id}");

    // Someone else: 403 on the credential, nothing of it in their list.
    keystone_error(
        call(&app, Method::GET, &path, Some(&sam_token), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let patch = json!({"credential": {"blob": "stolen"}});
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&sam_token),
        Some(patch.clone()),
    )
    .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    keystone_error(
        call(&app, Method::DELETE, &path, Some(&sam_token), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let theirs = json!({"credential": {"type": "totp", "user_id": rita, "blob": "x"}});
    let r = call(
        &app,
        Method::POST,
        "/v3/credentials",
        Some(&sam_token),
        Some(theirs),
    )
    .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    let listed = get(&app, &format!("/v3/credentials?user_id={rita}"), &sam_token).await;
    assert_eq!(listed["credentials"], json!([]));
    // Handing one's credential to someone one does not manage is refused too.
    let give = json!({"credential": {"user_id": sam}});
    let r = call(&app, Method::PATCH, &path, Some(&rita_token), Some(give)).await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    // No token: 401.
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(patch)),
        (Method::DELETE, None),
    ] {
        let r = call(&app, method, &path, None, body).await;
        keystone_error(r, StatusCode::UNAUTHORIZED).await;
    }
    // The owner's manager reads it.
    assert_eq!(
        get(&app, &path, &admin_token).await["credential"],
        credential
    );
    assert_eq!(
        ids(
            &get(&app, "/v3/credentials", &admin_token).await,
            "credentials"
        ),
        [id.as_str()]
    );

    let bad = [
        json!({"credential": {"type": "ec2", "user_id": rita, "project_id": "p", "blob": blob}}),
        json!({"credential": {"type": "ec2", "user_id": rita, "blob": json!({"access": "new"}).to_string()}}),
        json!({"credential": {"type": "ec2", "user_id": rita, "project_id": "p", "blob": json!({"secret": "x"}).to_string()}}),
        json!({"credential": {"type": "ec2", "user_id": rita, "project_id": "p", "blob": "not json"}}),
        json!({"credential": {"type": "totp", "user_id": rita, "blob": {"a": 1}}}),
        json!({"credential": {"type": "totp", "user_id": rita}}),
        json!({"credential": {"user_id": rita, "blob": "x"}}),
        json!({"credential": {"type": "totp", "blob": "x"}}),
        json!({"credential": {"type": "totp", "user_id": rita, "blob": "x", "project_id": 3}}),
        json!({"credentials": {}}),
    ];
    let statuses = [StatusCode::CONFLICT];
    for (n, body) in bad.into_iter().enumerate() {
        let r = call(
            &app,
            Method::POST,
            "/v3/credentials",
            Some(&rita_token),
            Some(body.clone()),
        )
        .await;
        let expected = statuses.get(n).copied().unwrap_or(StatusCode::BAD_REQUEST);
        assert_eq!(r.status(), expected, "{body}");
        keystone_error(r, expected).await;
    }
    let unknown_user = json!({"credential": {"type": "totp", "user_id": uuid::Uuid::new_v4().simple().to_string(), "blob": "x"}});
    let r = call(
        &app,
        Method::POST,
        "/v3/credentials",
        Some(&admin_token),
        Some(unknown_user),
    )
    .await;
    keystone_error(r, StatusCode::NOT_FOUND).await;
    for body in [
        json!({"credential": {}}),
        json!({"credential": {"blob": json!({"secret": "no access"}).to_string()}}),
        json!({"credential": {"project_id": null}}),
        json!({"credential": {"id": "other"}}),
        json!({"credential": {"blob": 5}}),
    ] {
        let r = call(
            &app,
            Method::PATCH,
            &path,
            Some(&rita_token),
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        keystone_error(r, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        get(&app, &path, &rita_token).await["credential"],
        credential
    );
    assert_eq!(
        ids(
            &get(&app, "/v3/credentials", &admin_token).await,
            "credentials"
        ),
        [id]
    );
    let r = call(
        &app,
        Method::GET,
        "/v3/credentials/nothing",
        Some(&rita_token),
        None,
    )
    .await;
    keystone_error(r, StatusCode::NOT_FOUND).await;
}
