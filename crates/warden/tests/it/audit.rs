//! The audit trail (`GET /api/2/audit_events`): one event per change through any face, with
//! actor, tenant, object, action, versions and request id; none for refused changes or reads;
//! cursor paging; readable by administrators of the subtree only.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

fn request_id(r: &Response) -> String {
    r.headers()["x-request-id"].to_str().unwrap().to_owned()
}

async fn events(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app
        .http
        .get(app.at(&format!("/api/2/audit_events{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Every event, following the cursor with pages of `limit`.
async fn all_events(app: &TestApp, token: &str, limit: u32) -> Vec<Value> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(a) => format!("?limit={limit}&after={a}"),
            None => format!("?limit={limit}"),
        };
        let page = events(app, token, &query).await;
        let items = page["items"].as_array().unwrap().clone();
        assert!(items.len() <= limit as usize);
        found.extend(items);
        match page["paging"]["cursors"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return found,
        }
    }
}

fn find<'a>(all: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| e["request_id"] == request_id)
        .collect()
}

#[tokio::test]
async fn every_change_through_any_face_is_one_event_with_actor_versions_and_request_id() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let root = app.root_tenant_id().await;

    // First start: the root tenant, the administrator, their policies and the API client;
    // then Keystone's bootstrap objects: three roles, the `admin` project and the grant on it;
    // then the identity service's catalog entries.
    let boot = all_events(&app, &client, 100).await;
    let kinds: Vec<(&str, &str)> = boot
        .iter()
        .map(|e| {
            (
                e["object_type"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("tenant", "create"),
            ("user", "create"),
            ("access_policies", "replace"),
            ("client", "create"),
            ("role", "create"),
            ("role", "create"),
            ("role", "create"),
            ("tenant", "create"),
            ("access_policies", "grant"),
            ("region", "create"),
            ("service", "create"),
            ("endpoint", "create"),
            ("endpoint", "create"),
            ("endpoint", "create")
        ]
    );
    assert!(boot.iter().all(|e| e["actor_type"] == "system"));

    // Account face: create, change, set the password of a user.
    let created = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&client)
        .json(&json!({"tenant_id": root, "login": "audited",
            "contact": {"email": "a@example.com"}}))
        .send()
        .await
        .unwrap();
    let create_id = request_id(&created);
    let user: Value = created.json().await.unwrap();
    let user_id = user["id"].as_str().unwrap().to_owned();
    let changed = app
        .http
        .put(app.at(&format!("/api/2/users/{user_id}")))
        .bearer_auth(&client)
        .json(&json!({"contact": {"firstname": "Ann"}, "version": user["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let change_id = request_id(&changed);
    let password = app
        .http
        .post(app.at(&format!("/api/2/users/{user_id}/password")))
        .bearer_auth(&client)
        .json(&json!({"password": USER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(password.status(), StatusCode::NO_CONTENT);
    let password_id = request_id(&password);

    // IAM face: the user changes their own contact.
    let token = app.keystone_token("audited", USER_PASSWORD).await;
    let info = app
        .http
        .put(app.at(&format!(
            "/v3.0/OS-USER/users/{}/info",
            user_id.replace('-', "")
        )))
        .header("X-Auth-Token", &token)
        .json(&json!({"user": {"areacode": "0086", "phone": "18292010816"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::NO_CONTENT);
    let info_id = request_id(&info);

    // A tenant: created, disabled, deleted.
    let tenant = app
        .http
        .post(app.at("/api/2/tenants"))
        .bearer_auth(&client)
        .json(&json!({"parent_id": root, "kind": "partner", "name": "Audited Partner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tenant.status(), StatusCode::CREATED);
    let tenant_create_id = request_id(&tenant);
    let tenant: Value = tenant.json().await.unwrap();
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let disabled = app
        .http
        .put(app.at(&format!("/api/2/tenants/{tenant_id}")))
        .bearer_auth(&client)
        .json(&json!({"enabled": false, "version": tenant["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    let disabled_version = disabled.json::<Value>().await.unwrap()["version"].clone();
    let deleted = app
        .http
        .delete(app.at(&format!(
            "/api/2/tenants/{tenant_id}?version={disabled_version}"
        )))
        .bearer_auth(&client)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let tenant_delete_id = request_id(&deleted);

    let all = all_events(&app, &client, 3).await;
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let one = |rid: &str| -> Value {
        let found = find(&all, rid);
        assert_eq!(found.len(), 1, "one event for request {rid}: {all:#?}");
        found[0].clone()
    };
    let e = one(&create_id);
    assert_eq!(e["actor_type"], "client");
    assert_eq!(e["actor_id"], app.client_id.as_str());
    assert_eq!(e["object_type"], "user");
    assert_eq!(e["object_id"], user_id.as_str());
    assert_eq!(e["action"], "create");
    assert_eq!(e["tenant_id"], root.as_str());
    assert_eq!(e["old_version"], Value::Null);
    assert_eq!(e["new_version"], 1);
    let e = one(&change_id);
    assert_eq!(
        (
            e["action"].as_str(),
            e["old_version"].as_i64(),
            e["new_version"].as_i64()
        ),
        (Some("update"), Some(1), Some(2))
    );
    let e = one(&password_id);
    assert_eq!(
        (
            e["action"].as_str(),
            e["old_version"].as_i64(),
            e["new_version"].as_i64()
        ),
        (Some("set_password"), Some(2), Some(3))
    );
    let e = one(&info_id);
    assert_eq!(e["actor_type"], "user");
    assert_eq!(e["actor_id"], user_id.as_str());
    assert_eq!(
        (
            e["action"].as_str(),
            e["old_version"].as_i64(),
            e["new_version"].as_i64()
        ),
        (Some("update"), Some(3), Some(4))
    );
    assert_eq!(app.get_user(&user_id).await["version"], 4);
    let e = one(&tenant_create_id);
    assert_eq!(
        (e["object_type"].as_str(), e["action"].as_str()),
        (Some("tenant"), Some("create"))
    );
    assert_eq!(e["object_id"], tenant_id.as_str());
    let e = one(&tenant_delete_id);
    assert_eq!(e["action"], "delete");
    assert_eq!(e["new_version"], Value::Null);
    assert_eq!(e["old_version"], disabled_version);

    // One object's history.
    let history = events(&app, &client, &format!("?object_id={user_id}")).await;
    let actions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "update", "set_password", "update"]);
}

#[tokio::test]
async fn refused_changes_and_reads_write_no_event() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_active_user("reader").await;
    let before = all_events(&app, &client, 1000).await.len();

    // Reads, logins of every kind, and a refused (stale) change.
    app.get_user(&id).await;
    app.keystone_token("reader", USER_PASSWORD).await;
    app.user_token("reader").await;
    let wrong = app
        .keystone_auth("reader", "not-the-password", json!(null))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let root = app.root_tenant_id().await;
    for path in [
        "/api/2/users".to_owned(),
        format!("/api/2/tenants?subtree_root_id={root}"),
        format!("/api/2/users/{id}"),
        format!("/api/2/tenants/{root}"),
    ] {
        let r = app
            .http
            .get(app.at(&path))
            .bearer_auth(&client)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.json::<Value>().await.is_ok());
    }
    let stale = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&client)
        .json(&json!({"contact": {"firstname": "Stale"}, "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(stale, StatusCode::CONFLICT).await, 1001);
    let invalid = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&client)
        .json(&json!({"contact": {"email": "not an address"}, "version": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);

    assert_eq!(all_events(&app, &client, 1000).await.len(), before);
}

#[tokio::test]
async fn the_trail_is_paged_and_readable_by_administrators_of_the_subtree_only() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let root = app.root_tenant_id().await;

    // A partner tenant with an administrator of its own, and a change inside it.
    let partner: Value = app
        .http
        .post(app.at("/api/2/tenants"))
        .bearer_auth(&client)
        .json(&json!({"parent_id": root, "kind": "partner", "name": "Partner"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let partner_id = partner["id"].as_str().unwrap().to_owned();
    let admin = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&client)
        .json(&json!({"tenant_id": partner_id, "login": "partner-admin",
            "contact": {"email": "pa@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin.status(),
        StatusCode::OK,
        "{}",
        admin.text().await.unwrap()
    );
    let admin: Value = admin.json().await.unwrap();
    let admin_id = admin["id"].as_str().unwrap().to_owned();
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{admin_id}/password")))
        .bearer_auth(&client)
        .json(&json!({"password": USER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{admin_id}/access_policies")))
        .bearer_auth(&client)
        .json(
            &json!({"items": [{"id": "00000000-0000-0000-0000-000000000000",
            "issuer_id": "00000000-0000-0000-0000-000000000000", "role_id": "partner_admin",
            "tenant_id": partner_id, "trustee_type": "user", "version": 0}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.create_active_user("plain").await;

    // The root administrator pages through everything, and sees it all exactly once.
    let everything = all_events(&app, &client, 1000).await;
    let paged = all_events(&app, &client, 2).await;
    assert_eq!(everything, paged);

    // The partner administrator sees the partner's subtree: the tenant, their own account and
    // its policies, and nothing of the root's.
    let partner_token = app.user_token("partner-admin").await;
    let theirs = all_events(&app, &partner_token, 100).await;
    assert!(!theirs.is_empty());
    assert!(
        theirs.iter().all(|e| e["tenant_id"] == partner_id.as_str()),
        "{theirs:#?}"
    );
    assert!(theirs
        .iter()
        .any(|e| e["object_type"] == "access_policies" && e["object_id"] == admin_id.as_str()));
    let r = app
        .http
        .get(app.at(&format!("/api/2/audit_events?tenant_id={root}")))
        .bearer_auth(&partner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);

    // A user without an administrator role reads nothing, not even about themself.
    let plain_token = app.user_token("plain").await;
    let r = app
        .http
        .get(app.at("/api/2/audit_events"))
        .bearer_auth(&plain_token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    let r = app
        .http
        .get(app.at("/api/2/audit_events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));

    // Bad parameters are refused in the account face's body.
    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?after=-1",
        "?after=x",
        "?tenant_id=not-a-uuid",
    ] {
        let r = app
            .http
            .get(app.at(&format!("/api/2/audit_events{query}")))
            .bearer_auth(&client)
            .send()
            .await
            .unwrap();
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{query}"
        );
    }
    let r = app
        .http
        .get(app.at(&format!(
            "/api/2/audit_events?tenant_id={}",
            uuid::Uuid::new_v4()
        )))
        .bearer_auth(&client)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
