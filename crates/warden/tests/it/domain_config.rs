//! Keystone domain configurations (`/v3/domains/{id}/config`, `/v3/domains/config/default`):
//! every route in Keystone's shapes, sensitive options kept and never shown, refusals with
//! nothing changed, who may read and write, concurrent changes, and the configuration going
//! with its domain.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// A new domain's `/v3/domains/{id}/config` path.
async fn new_domain_config(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let r = call(
        app,
        Method::POST,
        "/v3/domains",
        Some(token),
        Some(json!({"domain": {"name": name}})),
    )
    .await;
    let id = ok_json(r, StatusCode::CREATED).await["domain"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v3/domains/{id}/config");
    (id, path)
}

async fn get_config(app: &TestApp, token: &str, path: &str) -> Value {
    let r = call(app, Method::GET, path, Some(token), None).await;
    ok_json(r, StatusCode::OK).await["config"].clone()
}

async fn write(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    config: Value,
    status: StatusCode,
) -> Value {
    let r = call(
        app,
        method,
        path,
        Some(token),
        Some(json!({ "config": config })),
    )
    .await;
    ok_json(r, status).await["config"].clone()
}

fn ldap_config() -> Value {
    json!({
        "identity": {"driver": "ldap"},
        "ldap": {"url": "ldap://myldap.com:389/", "user_tree_dn": "ou=Users,dc=root,dc=org"},
    })
}

#[tokio::test]
async fn a_configuration_is_created_shown_changed_and_deleted_whole_by_group_and_by_option() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let (_, path) = new_domain_config(&app, &token, "configured").await;
    refused(
        &app,
        Method::GET,
        &path,
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    // PUT creates (201), then replaces (200).
    let created = write(
        &app,
        &token,
        Method::PUT,
        &path,
        ldap_config(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created, ldap_config());
    assert_eq!(get_config(&app, &token, &path).await, ldap_config());
    assert_eq!(
        get_config(&app, &token, &format!("{path}/ldap")).await,
        json!({"ldap": ldap_config()["ldap"]})
    );
    assert_eq!(
        get_config(&app, &token, &format!("{path}/ldap/url")).await,
        json!({"url": "ldap://myldap.com:389/"})
    );
    let replaced = json!({"identity": {"driver": "sql", "list_limit": 10}});
    let shown = write(
        &app,
        &token,
        Method::PUT,
        &path,
        replaced.clone(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown, replaced);
    write(
        &app,
        &token,
        Method::PUT,
        &path,
        ldap_config(),
        StatusCode::OK,
    )
    .await;

    // PATCH merges: the whole configuration may add options and groups …
    let merged = write(
        &app,
        &token,
        Method::PATCH,
        &path,
        json!({"ldap": {"url": "ldap://other:389/", "page_size": 50}}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(merged["ldap"]["url"], "ldap://other:389/");
    assert_eq!(merged["ldap"]["page_size"], 50);
    assert_eq!(merged["ldap"]["user_tree_dn"], "ou=Users,dc=root,dc=org");
    assert_eq!(merged["identity"], json!({"driver": "ldap"}));
    // … a group only within itself, an option only itself.
    let shown = write(
        &app,
        &token,
        Method::PATCH,
        &format!("{path}/identity"),
        json!({"identity": {"driver": "custom", "list_limit": 42}}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        shown["identity"],
        json!({"driver": "custom", "list_limit": 42})
    );
    let shown = write(
        &app,
        &token,
        Method::PATCH,
        &format!("{path}/identity/driver"),
        json!({"driver": "again"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown["identity"]["driver"], "again");
    assert_eq!(get_config(&app, &token, &path).await, shown);

    // Deleting an option, then a group; a group left empty disappears.
    let r = call(
        &app,
        Method::DELETE,
        &format!("{path}/identity/driver"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused(
        &app,
        Method::GET,
        &format!("{path}/identity/driver"),
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let r = call(
        &app,
        Method::DELETE,
        &format!("{path}/identity/list_limit"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused(
        &app,
        Method::GET,
        &format!("{path}/identity"),
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let r = call(
        &app,
        Method::DELETE,
        &format!("{path}/ldap"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Nothing left: no configuration at all.
    refused(
        &app,
        Method::GET,
        &path,
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    write(
        &app,
        &token,
        Method::PUT,
        &path,
        ldap_config(),
        StatusCode::CREATED,
    )
    .await;
    let r = call(&app, Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        refused(
            &app,
            method,
            &path,
            Some(&token),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
}

#[tokio::test]
async fn the_defaults_are_shown_whole_by_group_and_by_option() {
    let app = TestApp::spawn().await;
    app.create_active_user("reader").await;
    let token = app.keystone_token("reader", USER_PASSWORD).await;
    let all = get_config(&app, &token, "/v3/domains/config/default").await;
    assert_eq!(
        all["identity"],
        json!({"driver": "sql", "list_limit": null})
    );
    let ldap = all["ldap"].as_object().unwrap();
    assert!(ldap.contains_key("url") && ldap.contains_key("user_tree_dn"));
    assert!(
        !ldap.contains_key("password"),
        "sensitive options have no shown default"
    );
    assert_eq!(
        get_config(&app, &token, "/v3/domains/config/ldap/default").await,
        json!({"ldap": all["ldap"]})
    );
    for option in ldap.keys() {
        let path = format!("/v3/domains/config/ldap/{option}/default");
        assert_eq!(
            get_config(&app, &token, &path).await,
            json!({ option.as_str(): all["ldap"][option] })
        );
    }
    refused(
        &app,
        Method::GET,
        "/v3/domains/config/assignment/default",
        Some(&token),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    refused(
        &app,
        Method::GET,
        "/v3/domains/config/ldap/password/default",
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    refused(
        &app,
        Method::GET,
        "/v3/domains/config/default",
        None,
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_sensitive_option_is_kept_sealed_and_never_shown() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let (domain_id, path) = new_domain_config(&app, &token, "sealed").await;
    let config = json!({"ldap": {"url": "ldap://x", "password": "bind-secret-4711"}});
    let shown = write(
        &app,
        &token,
        Method::PUT,
        &path,
        config,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(shown, json!({"ldap": {"url": "ldap://x"}}));
    assert_eq!(get_config(&app, &token, &path).await, shown);
    refused(
        &app,
        Method::GET,
        &format!("{path}/ldap/password"),
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Kept through changes of other options, and may itself be changed and removed.
    write(
        &app,
        &token,
        Method::PATCH,
        &format!("{path}/ldap/url"),
        json!({"url": "ldap://y"}),
        StatusCode::OK,
    )
    .await;
    write(
        &app,
        &token,
        Method::PATCH,
        &format!("{path}/ldap/password"),
        json!({"password": "rotated-0815"}),
        StatusCode::OK,
    )
    .await;
    let r = call(
        &app,
        Method::DELETE,
        &format!("{path}/ldap/url"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Only the sealed option is left: the configuration still exists, showing nothing.
    assert_eq!(get_config(&app, &token, &path).await, json!({}));
    let r = call(
        &app,
        Method::DELETE,
        &format!("{path}/ldap/password"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused(
        &app,
        Method::GET,
        &path,
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    // The stored secret is not in the database in the clear.
    write(
        &app,
        &token,
        Method::PUT,
        &path,
        json!({"ldap": {"url": "ldap://clear.example", "password": "bind-secret-4711"}}),
        StatusCode::CREATED,
    )
    .await;
    assert!(!database_holds(&app, "bind-secret-4711"), "{domain_id}");
    if app.settings.database_url.is_none() {
        assert!(
            database_holds(&app, "ldap://clear.example"),
            "the check sees clear text"
        );
    }
}

#[tokio::test]
async fn bad_configurations_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let (_, path) = new_domain_config(&app, &token, "strict").await;
    write(
        &app,
        &token,
        Method::PUT,
        &path,
        ldap_config(),
        StatusCode::CREATED,
    )
    .await;
    // Keystone's `InvalidDomainConfig` is a 403.
    let forbidden = [
        (Method::PUT, path.clone(), json!({"config": {}})),
        (
            Method::PUT,
            path.clone(),
            json!({"config": {"assignment": {"driver": "sql"}}}),
        ),
        (
            Method::PUT,
            path.clone(),
            json!({"config": {"identity": {"connection": "x"}}}),
        ),
        (
            Method::PUT,
            path.clone(),
            json!({"config": {"identity": "ldap"}}),
        ),
        (
            Method::PUT,
            path.clone(),
            json!({"config": {"identity": {}}}),
        ),
        (
            Method::PUT,
            path.clone(),
            json!({"config": {"ldap": {"url": {"a": 1}}}}),
        ),
        (
            Method::PATCH,
            path.clone(),
            json!({"config": {"ldap": {"nope": 1}}}),
        ),
        (
            Method::PATCH,
            format!("{path}/ldap"),
            json!({"config": {"identity": {"driver": "x"}}}),
        ),
        (
            Method::PATCH,
            format!("{path}/ldap"),
            json!({"config": {"ldap": {"url": "x"}, "identity": {"driver": "x"}}}),
        ),
        (
            Method::PATCH,
            format!("{path}/ldap/url"),
            json!({"config": {"suffix": "x"}}),
        ),
        (
            Method::PATCH,
            format!("{path}/ldap/url"),
            json!({"config": {"url": "x", "suffix": "y"}}),
        ),
        (
            Method::PATCH,
            format!("{path}/assignment"),
            json!({"config": {"assignment": {"driver": "x"}}}),
        ),
    ];
    for (method, target, body) in forbidden {
        refused(
            &app,
            method.clone(),
            &target,
            Some(&token),
            Some(body.clone()),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let bad_request = [
        (Method::PUT, path.clone(), json!({})),
        (Method::PUT, path.clone(), json!({"config": "x"})),
        (Method::PATCH, path.clone(), json!({"settings": {}})),
    ];
    for (method, target, body) in bad_request {
        refused(
            &app,
            method.clone(),
            &target,
            Some(&token),
            Some(body.clone()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let r = app
        .http
        .put(app.at(&path))
        .header("x-auth-token", &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    // A group or option not set yet cannot be changed by name, only through the whole.
    refused(
        &app,
        Method::PATCH,
        &format!("{path}/ldap/page_size"),
        Some(&token),
        Some(json!({"config": {"page_size": 5}})),
        StatusCode::NOT_FOUND,
    )
    .await;
    for target in [
        format!("{path}/ldap/page_size"),
        format!("{path}/identity/list_limit"),
    ] {
        refused(
            &app,
            Method::DELETE,
            &target,
            Some(&token),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert_eq!(get_config(&app, &token, &path).await, ldap_config());
    // Domains that are not there, or projects.
    for missing in [
        "/v3/domains/nope/config",
        "/v3/domains/00000000000000000000000000000000/config",
    ] {
        refused(
            &app,
            Method::PUT,
            missing,
            Some(&token),
            Some(json!({"config": ldap_config()})),
            StatusCode::NOT_FOUND,
        )
        .await;
        refused(
            &app,
            Method::GET,
            missing,
            Some(&token),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    refused(
        &app,
        Method::POST,
        &path,
        Some(&token),
        Some(json!({"config": ldap_config()})),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[tokio::test]
async fn only_administrators_of_the_deployment_read_or_write_a_domains_configuration() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let (_, path) = new_domain_config(&app, &token, "guarded").await;
    write(
        &app,
        &token,
        Method::PUT,
        &path,
        ldap_config(),
        StatusCode::CREATED,
    )
    .await;
    app.create_active_user("mallory").await;
    let user = app.keystone_token("mallory", USER_PASSWORD).await;
    let attempts = [
        (Method::GET, path.clone(), None),
        (Method::GET, format!("{path}/ldap"), None),
        (Method::GET, format!("{path}/ldap/url"), None),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"config": {"identity": {"driver": "x"}}})),
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"config": {"identity": {"driver": "x"}}})),
        ),
        (
            Method::PATCH,
            format!("{path}/ldap/url"),
            Some(json!({"config": {"url": "x"}})),
        ),
        (Method::DELETE, format!("{path}/ldap/url"), None),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, target, body) in attempts {
        refused(
            &app,
            method.clone(),
            &target,
            Some(&user),
            body.clone(),
            StatusCode::FORBIDDEN,
        )
        .await;
        refused(
            &app,
            method.clone(),
            &target,
            None,
            body,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    assert_eq!(get_config(&app, &token, &path).await, ldap_config());
}

#[tokio::test]
async fn concurrent_changes_of_different_options_all_land() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let (_, path) = new_domain_config(&app, &token, "busy").await;
    write(
        &app,
        &token,
        Method::PUT,
        &path,
        ldap_config(),
        StatusCode::CREATED,
    )
    .await;
    let options = [
        "suffix",
        "user_filter",
        "group_tree_dn",
        "group_filter",
        "tls_cacertdir",
        "user_objectclass",
    ];
    let changes = options.iter().map(|option| {
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"config": {"ldap": { *option: format!("value-{option}") }}})),
        )
    });
    for r in futures::future::join_all(changes).await {
        assert_eq!(r.status(), StatusCode::OK);
    }
    let shown = get_config(&app, &token, &path).await;
    for option in options {
        assert_eq!(shown["ldap"][option], format!("value-{option}"));
    }
    assert_eq!(shown["ldap"]["url"], "ldap://myldap.com:389/");
}

#[tokio::test]
async fn the_configuration_goes_with_its_domain_and_changes_are_audited() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    let (domain_id, path) = new_domain_config(&app, &token, "ephemeral").await;
    write(
        &app,
        &token,
        Method::PUT,
        &path,
        ldap_config(),
        StatusCode::CREATED,
    )
    .await;
    write(
        &app,
        &token,
        Method::PATCH,
        &path,
        json!({"ldap": {"suffix": "x"}}),
        StatusCode::OK,
    )
    .await;
    let domain = format!("/v3/domains/{domain_id}");
    let r = call(
        &app,
        Method::PATCH,
        &domain,
        Some(&token),
        Some(json!({"domain": {"enabled": false}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(&app, Method::DELETE, &domain, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused(
        &app,
        Method::GET,
        &path,
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    // A new domain of the same name starts with none.
    let (_, path) = new_domain_config(&app, &token, "ephemeral").await;
    refused(
        &app,
        Method::GET,
        &path,
        Some(&token),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;

    let client = app.client_token().await;
    let r = app
        .http
        .get(app.at("/api/2/audit_events?limit=1000"))
        .bearer_auth(&client)
        .send()
        .await
        .unwrap();
    let events = ok_json(r, StatusCode::OK).await;
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_type"] == "domain_config")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "update"]);
}
