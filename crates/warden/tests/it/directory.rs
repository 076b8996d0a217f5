//! Users as a directory (`GET /api/2/users`), the activation e-mail and its one-time link, the
//! e-mail change rule, and the validation of `PUT /users/{id}`. Mail is read from the outbox
//! folder in the application's data directory.

use reqwest::StatusCode;
use serde_json::{json, Value};
use warden_core::ManualClock;
use warden_domain::Timestamp;

use crate::helpers::*;

/// An application whose services read time from `clock`.
async fn spawn_with_clock(clock: &ManualClock) -> TestApp {
    TestApp::spawn_with_clock(clock).await
}

fn clock_now() -> ManualClock {
    ManualClock::at(Timestamp::from_datetime(chrono::Utc::now()))
}

/// Every message in the outbox, oldest first.
fn outbox(app: &TestApp) -> Vec<String> {
    let dir = app.data_dir.path().join("outbox");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The messages addressed to `to`, oldest first.
fn mails_to(app: &TestApp, to: &str) -> Vec<String> {
    outbox(app)
        .into_iter()
        .filter(|m| m.contains(&format!("\r\nTo: {to}\r\n")))
        .collect()
}

/// The one-time token in a message's link.
fn token_in(mail: &str) -> String {
    let start = mail.find("?token=").expect("a link with a token") + "?token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn list(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.http
        .get(app.at(&format!("/api/2/users?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn list_ok(app: &TestApp, token: &str, query: &str) -> Value {
    let r = list(app, token, query).await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    r.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Walks every page from `query`, following only `after`; returns the ids and page count.
async fn walk(app: &TestApp, token: &str, query: &str) -> (Vec<String>, usize) {
    let mut page = list_ok(app, token, query).await;
    let mut all = ids(&page);
    let mut pages = 1;
    while let Some(after) = page["paging"]["cursors"]["after"].as_str() {
        page = list_ok(app, token, &format!("after={}", urlencode(after))).await;
        all.extend(ids(&page));
        pages += 1;
        assert!(pages < 50, "the walk does not end");
    }
    (all, pages)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn create_tenant(app: &TestApp, parent: &str, kind: &str, name: &str) -> String {
    let r = app
        .http
        .post(app.at("/api/2/tenants"))
        .bearer_auth(app.client_token().await)
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

async fn create_user_in(app: &TestApp, tenant: &str, login: &str) -> String {
    let r = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(app.client_token().await)
        .json(&json!({"tenant_id": tenant, "login": login, "contact": {"email": format!("{login}@example.com")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn grant(app: &TestApp, user: &str, role: &str, tenant: &str) {
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{user}/access_policies")))
        .bearer_auth(app.client_token().await)
        .json(
            &json!({"items": [{"id": "00000000-0000-0000-0000-000000000000",
            "issuer_id": "00000000-0000-0000-0000-000000000000", "role_id": role,
            "tenant_id": tenant, "trustee_id": user, "trustee_type": "user", "version": 0}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

async fn put_user(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn send_activation(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .post(app.at(&format!("/api/2/users/{id}/send-activation-email")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn activate(app: &TestApp, body: Value) -> reqwest::Response {
    app.http
        .post(app.at("/api/2/users/activate"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn confirm_email(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.at("/api/2/users/email/confirm"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
}

async fn password_grant(app: &TestApp, login: &str, password: &str) -> StatusCode {
    app.http
        .post(app.at("/api/2/idp/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", login),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

// ---------------------------------------------------------------------------------------------
// GET /users

#[tokio::test]
async fn listing_pages_through_every_user_in_id_order_following_only_the_cursor() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let mut expected = vec![list_ok(&app, &token, "").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()];
    for login in ["ann", "ben", "cid", "dora", "emil"] {
        expected.push(
            app.create_user(login).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let first = list_ok(&app, &token, "limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first["items"][0]["contact"]["email"].is_string(), "{first}");
    let stamp = first["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );

    let (walked, pages) = walk(&app, &token, "limit=2").await;
    assert_eq!(pages, 3);
    assert_eq!(
        walked,
        sorted(expected.clone()),
        "every user once, in id order"
    );

    // The last page says so by carrying no cursor; a big limit is cut, not refused.
    let all = list_ok(&app, &token, "limit=5000").await;
    assert_eq!(ids(&all), sorted(expected));
    assert_eq!(all["paging"]["cursors"], json!({}));
}

#[tokio::test]
async fn tenant_and_subtree_filters_select_users_by_where_they_live_across_pages() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let root = app.root_tenant_id().await;
    let partner = create_tenant(&app, &root, "partner", "Partner P").await;
    let customer = create_tenant(&app, &partner, "customer", "Customer C").await;
    let other = create_tenant(&app, &root, "partner", "Partner Q").await;
    let in_root = create_user_in(&app, &root, "rooted").await;
    let in_partner = create_user_in(&app, &partner, "partnered").await;
    let in_customer = create_user_in(&app, &customer, "customered").await;
    let in_customer_2 = create_user_in(&app, &customer, "customered2").await;
    let in_other = create_user_in(&app, &other, "othered").await;

    let page = list_ok(&app, &token, &format!("tenant_id={partner}")).await;
    assert_eq!(ids(&page), vec![in_partner.clone()]);
    let page = list_ok(&app, &token, &format!("tenant_id={customer}")).await;
    assert_eq!(
        ids(&page),
        sorted(vec![in_customer.clone(), in_customer_2.clone()])
    );

    // One user per page: the cursor keeps the subtree, so the other partner never shows up.
    let (walked, pages) = walk(
        &app,
        &token,
        &format!("subtree_root_tenant_id={partner}&limit=1"),
    )
    .await;
    assert_eq!(pages, 3);
    assert_eq!(
        walked,
        sorted(vec![in_partner, in_customer.clone(), in_customer_2.clone()])
    );
    let (walked, _) = walk(
        &app,
        &token,
        &format!("subtree_root_tenant_id={customer}&limit=1"),
    )
    .await;
    assert_eq!(walked, sorted(vec![in_customer, in_customer_2]));

    let everyone = ids(&list_ok(&app, &token, &format!("subtree_root_tenant_id={root}")).await);
    assert!(everyone.contains(&in_root) && everyone.contains(&in_other));
    assert_eq!(everyone.len(), 6, "the administrator and five users");
}

#[tokio::test]
async fn updated_since_returns_only_users_changed_at_or_after_the_instant() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let quiet = app.create_user("quiet").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let busy = app.create_user("busy").await;
    let busy_id = busy["id"].as_str().unwrap().to_owned();
    let since = list_ok(&app, &token, "").await["timestamp"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = put_user(
        &app,
        &token,
        &busy_id,
        json!({"contact": {"city": "Oslo"}, "version": 1}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let page = list_ok(
        &app,
        &token,
        &format!("updated_since={}", urlencode(&since)),
    )
    .await;
    assert_eq!(ids(&page), vec![busy_id.clone()]);
    // A `+` sent unencoded arrives as a space and is still understood.
    let page = list_ok(&app, &token, &format!("updated_since={since}")).await;
    assert_eq!(ids(&page), vec![busy_id]);
    let page = list_ok(&app, &token, "updated_since=2000-01-01T00:00:00Z").await;
    assert!(ids(&page).contains(&quiet));
}

#[tokio::test]
async fn uuids_select_the_named_users_and_exclude_every_other_filter() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let a = app.create_user("alpha").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_user("bravo").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_user("charlie").await;
    let unknown = uuid::Uuid::new_v4();
    let page = list_ok(&app, &token, &format!("uuids={a},{unknown},{b},{a}")).await;
    assert_eq!(ids(&page), sorted(vec![a.clone(), b.clone()]));
    let (walked, pages) = walk(&app, &token, &format!("uuids={b},{a}&limit=1")).await;
    assert_eq!((walked, pages), (sorted(vec![a.clone(), b]), 2));

    let root = app.root_tenant_id().await;
    let both = list(&app, &token, &format!("uuids={a}&tenant_id={root}")).await;
    assert_eq!(account_error(both, StatusCode::BAD_REQUEST).await, 400);
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let too_many = list(&app, &token, &format!("uuids={}", many.join(","))).await;
    assert_eq!(account_error(too_many, StatusCode::BAD_REQUEST).await, 400);
    let hundred = list(&app, &token, &format!("uuids={}", many[..100].join(","))).await;
    assert_eq!(hundred.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_listing_parameters_are_refused_with_400() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    app.create_user("paged").await;
    let cursor = list_ok(&app, &token, "limit=1").await["paging"]["cursors"]["after"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = app.root_tenant_id().await;
    for query in [
        "limit=0".to_owned(),
        "limit=-1".to_owned(),
        "limit=many".to_owned(),
        "updated_since=yesterday".to_owned(),
        "tenant_id=nope".to_owned(),
        "subtree_root_tenant_id=42".to_owned(),
        "uuids=a,b".to_owned(),
        "after=not-a-cursor".to_owned(),
        // Filters sent with a cursor must be the ones it carries.
        format!("after={}&tenant_id={root}", urlencode(&cursor)),
    ] {
        let r = list(&app, &token, &query).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{query}"
        );
    }
    let unauthenticated = app.http.get(app.at("/api/2/users")).send().await.unwrap();
    assert_eq!(
        account_error(unauthenticated, StatusCode::UNAUTHORIZED).await,
        401
    );
}

#[tokio::test]
async fn listing_shows_only_users_the_caller_can_read_and_refuses_foreign_tenants() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let partner = create_tenant(&app, &root, "partner", "Visible").await;
    let hidden = create_tenant(&app, &root, "partner", "Hidden").await;
    let inside = create_user_in(&app, &partner, "insider").await;
    create_user_in(&app, &hidden, "outsider").await;
    let viewer = app.create_active_user("viewer").await;
    let token = app.user_token("viewer").await;

    // Without a role, a user sees themself only.
    assert_eq!(ids(&list_ok(&app, &token, "").await), vec![viewer.clone()]);

    grant(&app, &viewer, "readonly_admin", &partner).await;
    let token = app.user_token("viewer").await;
    let (walked, _) = walk(&app, &token, "limit=1").await;
    assert_eq!(walked, sorted(vec![inside.clone(), viewer.clone()]));
    let page = list_ok(&app, &token, &format!("subtree_root_tenant_id={partner}")).await;
    assert_eq!(ids(&page), vec![inside]);

    for query in [
        format!("tenant_id={hidden}"),
        format!("subtree_root_tenant_id={hidden}"),
        format!("subtree_root_tenant_id={root}"),
    ] {
        let r = list(&app, &token, &query).await;
        assert_eq!(
            account_error(r, StatusCode::FORBIDDEN).await,
            1002,
            "{query}"
        );
    }
    let nowhere = list(&app, &token, &format!("tenant_id={}", uuid::Uuid::new_v4())).await;
    assert_eq!(account_error(nowhere, StatusCode::NOT_FOUND).await, 1005);
}

// ---------------------------------------------------------------------------------------------
// PUT /users/{id}

#[tokio::test]
async fn put_sets_login_language_notifications_business_types_enabled_and_external_id() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let id = app.create_user("morgan").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = put_user(
        &app,
        &token,
        &id,
        json!({"login": "morgan.k", "language": "pt-BR", "notifications": ["quota", "backup_error", "quota"],
               "business_types": ["buyer"], "enabled": "false", "external_id": "S-1-5-21", "version": "1"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["login"], "morgan.k");
    assert_eq!(after["language"], "pt-BR");
    assert_eq!(after["notifications"], json!(["quota", "backup_error"]));
    assert_eq!(after["business_types"], json!(["buyer"]));
    assert_eq!(after["enabled"], false);
    assert_eq!(after["external_id"], "S-1-5-21");
    assert_eq!(after["version"], 2);
    assert_eq!(app.get_user(&id).await, after);

    // An empty external id clears it; empty lists are allowed.
    let r = put_user(
        &app,
        &token,
        &id,
        json!({"external_id": "", "notifications": [], "business_types": [], "version": 2}),
    )
    .await;
    let after: Value = r.json().await.unwrap();
    assert_eq!(
        (
            &after["external_id"],
            &after["notifications"],
            &after["version"]
        ),
        (&Value::Null, &json!([]), &json!(3))
    );
}

#[tokio::test]
async fn put_refuses_unknown_values_with_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let id = app.create_user("quinn").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.get_user(&id).await;
    for body in [
        json!({"language": "english", "version": 1}),
        json!({"language": "e", "version": 1}),
        json!({"notifications": ["quota", "spam"], "version": 1}),
        json!({"business_types": ["seller"], "version": 1}),
        json!({"notifications": "quota", "version": 1}),
        json!({"login": "x", "version": 1}),
        json!({"enabled": "maybe", "version": 1}),
        json!({"external_id": "bad\u{0007}id", "version": 1}),
        json!({"external_id": "x".repeat(256), "version": 1}),
        // One bad field refuses the whole change.
        json!({"contact": {"city": "Lima"}, "language": "???", "version": 1}),
    ] {
        let r = put_user(&app, &token, &id, body.clone()).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{body}"
        );
    }
    assert_eq!(app.get_user(&id).await, before);
}

#[tokio::test]
async fn login_change_to_a_taken_login_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    app.create_user("taken").await;
    let id = app.create_user("renamer").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.get_user(&id).await;
    let r = put_user(
        &app,
        &token,
        &id,
        json!({"login": "TAKEN", "contact": {"city": "Rome"}, "version": 1}),
    )
    .await;
    assert_eq!(account_error(r, StatusCode::CONFLICT).await, 409);
    assert_eq!(app.get_user(&id).await, before);
    // Its own login in another case is not a conflict.
    let r = put_user(&app, &token, &id, json!({"login": "Renamer", "version": 1})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Activation by e-mail

#[tokio::test]
async fn activation_email_carries_a_one_time_link_that_sets_the_password() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_user("newbie").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send_activation(&app, &client, &id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.text().await.unwrap().is_empty());

    let mails = mails_to(&app, "newbie@example.com");
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(
        mail.contains("Subject: Activate your account\r\n"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("{}/activate?token=", app.url)),
        "{mail}"
    );
    assert!(mail.contains("newbie"), "{mail}");
    let token = token_in(mail);
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    assert!(
        mail.contains(&format!("Activation token: {token}")),
        "{mail}"
    );
    assert_eq!(app.get_user(&id).await["activated"], false);

    let r = activate(&app, json!({"token": token, "password": USER_PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let user = app.get_user(&id).await;
    assert_eq!(
        (user["activated"].clone(), user["version"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(
        password_grant(&app, "newbie", USER_PASSWORD).await,
        StatusCode::OK
    );

    // The token is spent.
    let again = activate(
        &app,
        json!({"token": token, "password": "another-Passw0rd"}),
    )
    .await;
    assert_eq!(account_error(again, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(app.get_user(&id).await, user);
    assert_eq!(
        password_grant(&app, "newbie", USER_PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sending_the_activation_email_again_replaces_the_earlier_link() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_user("twice").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send_activation(&app, &client, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    // Scripts send `{}` as well as nothing.
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{id}/send-activation-email")))
        .bearer_auth(&client)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mails = mails_to(&app, "twice@example.com");
    assert_eq!(mails.len(), 2);
    let (first, second) = (token_in(&mails[0]), token_in(&mails[1]));
    assert_ne!(first, second);
    let old = activate(&app, json!({"token": first, "password": USER_PASSWORD})).await;
    assert_eq!(account_error(old, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(app.get_user(&id).await["activated"], false);
    let new = activate(&app, json!({"token": second, "password": USER_PASSWORD})).await;
    assert_eq!(new.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn activation_email_is_refused_for_activated_users_and_outsiders_and_sends_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let active = app.create_active_user("active").await;
    let pending = app.create_user("pending").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_active_user("stranger").await;
    let stranger = app.user_token("stranger").await;
    let before = app.get_user(&pending).await;

    let r = send_activation(&app, &client, &active).await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
    let r = send_activation(&app, &stranger, &pending).await;
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    let r = send_activation(&app, &client, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 404);
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{pending}/send-activation-email")))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::UNAUTHORIZED).await, 401);

    assert!(outbox(&app).is_empty(), "no message was sent");
    assert_eq!(app.get_user(&pending).await, before);
}

#[tokio::test]
async fn activation_refuses_bad_input_without_spending_the_token() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_user("careful").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send_activation(&app, &client, &id).await;
    let token = token_in(&mails_to(&app, "careful@example.com")[0]);
    let before = app.get_user(&id).await;

    for body in [
        json!({"token": token, "password": "short"}),
        json!({"token": token}),
        json!({"password": USER_PASSWORD}),
        json!({"token": "x".repeat(43), "password": USER_PASSWORD}),
        json!({"token": "not a token", "password": USER_PASSWORD}),
    ] {
        let r = activate(&app, body.clone()).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{body}"
        );
    }
    let not_json = app
        .http
        .post(app.at("/api/2/users/activate"))
        .body(format!("token={token}&password={USER_PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        415
    );
    assert_eq!(app.get_user(&id).await, before);

    let r = activate(&app, json!({"token": token, "password": USER_PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_expired_activation_link_is_refused_and_changes_nothing() {
    let clock = clock_now();
    let app = spawn_with_clock(&clock).await;
    let client = app.client_token().await;
    let id = app.create_user("late").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send_activation(&app, &client, &id).await;
    let token = token_in(&mails_to(&app, "late@example.com")[0]);
    let before = app.get_user(&id).await;

    // Links work for 72 hours.
    clock.advance_seconds(72 * 3600 + 1);
    let r = activate(&app, json!({"token": token, "password": USER_PASSWORD})).await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(app.get_user(&id).await, before);
}

#[tokio::test]
async fn an_activation_link_still_works_just_before_it_expires() {
    let clock = clock_now();
    let app = spawn_with_clock(&clock).await;
    let client = app.client_token().await;
    let id = app.create_user("punctual").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send_activation(&app, &client, &id).await;
    let token = token_in(&mails_to(&app, "punctual@example.com")[0]);
    clock.advance_seconds(72 * 3600 - 1);
    let r = activate(&app, json!({"token": token, "password": USER_PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_user(&id).await["activated"], true);
}

// ---------------------------------------------------------------------------------------------
// E-mail change

#[tokio::test]
async fn changing_the_email_of_an_activated_user_waits_for_confirmation_from_the_old_address() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_active_user("mover").await;
    let before = app.get_user(&id).await;
    assert_eq!(before["version"], 2);

    let r = put_user(
        &app,
        &client,
        &id,
        json!({"contact": {"email": "mover@new.example.com"}, "version": 2}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(
        shown, before,
        "neither the address nor the version changes yet"
    );
    assert_eq!(app.get_user(&id).await, before);

    assert!(mails_to(&app, "mover@new.example.com").is_empty());
    let mails = mails_to(&app, "mover@example.com");
    assert_eq!(mails.len(), 1, "the confirmation goes to the old address");
    assert!(mails[0].contains("mover@new.example.com"), "{}", mails[0]);
    assert!(
        mails[0].contains(&format!("{}/confirm-email?token=", app.url)),
        "{}",
        mails[0]
    );
    let token = token_in(&mails[0]);

    let r = confirm_email(&app, &token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = app.get_user(&id).await;
    assert_eq!(after["contact"]["email"], "mover@new.example.com");
    assert_eq!(after["version"], 3);

    let again = confirm_email(&app, &token).await;
    assert_eq!(account_error(again, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(app.get_user(&id).await, after);
}

#[tokio::test]
async fn other_fields_of_an_email_change_apply_at_once_and_the_address_on_confirmation() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_active_user("combo").await;
    let r = put_user(
        &app,
        &client,
        &id,
        json!({"contact": {"email": "combo@new.example.com", "city": "Bonn"}, "language": "de", "version": 2}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["contact"]["city"], "Bonn");
    assert_eq!(shown["language"], "de");
    assert_eq!(shown["contact"]["email"], "combo@example.com");
    assert_eq!(shown["version"], 3);

    let token = token_in(&mails_to(&app, "combo@example.com")[0]);
    assert_eq!(
        confirm_email(&app, &token).await.status(),
        StatusCode::NO_CONTENT
    );
    let after = app.get_user(&id).await;
    assert_eq!(after["contact"]["email"], "combo@new.example.com");
    assert_eq!(after["contact"]["city"], "Bonn");
    assert_eq!(after["version"], 4);
}

#[tokio::test]
async fn a_new_email_change_replaces_the_pending_one() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_active_user("fickle").await;
    for address in ["fickle@one.example.com", "fickle@two.example.com"] {
        let r = put_user(
            &app,
            &client,
            &id,
            json!({"contact": {"email": address}, "version": 2}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let mails = mails_to(&app, "fickle@example.com");
    assert_eq!(mails.len(), 2);
    let stale = confirm_email(&app, &token_in(&mails[0])).await;
    assert_eq!(account_error(stale, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(
        confirm_email(&app, &token_in(&mails[1])).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_user(&id).await["contact"]["email"],
        "fickle@two.example.com"
    );
}

#[tokio::test]
async fn the_email_of_a_user_not_yet_activated_changes_at_once_and_voids_the_activation_link() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_user("typo").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send_activation(&app, &client, &id).await;
    let link = token_in(&mails_to(&app, "typo@example.com")[0]);

    let r = put_user(
        &app,
        &client,
        &id,
        json!({"contact": {"email": "typo@fixed.example.com"}, "version": 1}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["contact"]["email"], "typo@fixed.example.com");
    assert_eq!(shown["version"], 2);
    assert_eq!(
        outbox(&app).len(),
        1,
        "no confirmation for a user not yet activated"
    );

    let r = activate(&app, json!({"token": link, "password": USER_PASSWORD})).await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(app.get_user(&id).await, shown);
}

#[tokio::test]
async fn refused_email_changes_send_nothing_and_change_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client_token().await;
    let id = app.create_active_user("guarded").await;
    app.create_active_user("nosy").await;
    let nosy = app.user_token("nosy").await;
    let before = app.get_user(&id).await;
    let change = json!({"contact": {"email": "guarded@evil.example.com"}, "version": 2});

    let r = put_user(&app, &nosy, &id, change.clone()).await;
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    let stale = json!({"contact": {"email": "guarded@new.example.com"}, "version": 1});
    let r = put_user(&app, &client, &id, stale).await;
    assert_eq!(account_error(r, StatusCode::CONFLICT).await, 1001);
    let invalid = json!({"contact": {"email": "guarded@"}, "version": 2});
    let r = put_user(&app, &client, &id, invalid).await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);

    assert!(outbox(&app).is_empty(), "no message was sent");
    assert_eq!(app.get_user(&id).await, before);
    for token in ["", "short", &"A".repeat(43)] {
        let r = confirm_email(&app, token).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{token}"
        );
    }
    let missing = app
        .http
        .post(app.at("/api/2/users/email/confirm"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(missing, StatusCode::BAD_REQUEST).await, 400);
}

#[tokio::test]
async fn an_expired_email_confirmation_is_refused_and_the_address_stays() {
    let clock = clock_now();
    let app = spawn_with_clock(&clock).await;
    let client = app.client_token().await;
    let id = app.create_active_user("slow").await;
    let r = put_user(
        &app,
        &client,
        &id,
        json!({"contact": {"email": "slow@new.example.com"}, "version": 2}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = token_in(&mails_to(&app, "slow@example.com")[0]);
    let before = app.get_user(&id).await;

    // Confirmation links work for 24 hours.
    clock.advance_seconds(24 * 3600 + 1);
    let r = confirm_email(&app, &token).await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(app.get_user(&id).await, before);
    assert_eq!(before["contact"]["email"], "slow@example.com");
}

#[tokio::test]
async fn iam_self_service_still_changes_the_email_directly() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("selfie").await;
    let token = app.keystone_token("selfie", USER_PASSWORD).await;
    let r = app
        .http
        .put(app.at(&format!("/v3.0/OS-USER/users/{id}/info")))
        .header("x-auth-token", &token)
        .json(&json!({"user": {"email": "selfie@new.example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let user = app.get_user(&id).await;
    assert_eq!(user["contact"]["email"], "selfie@new.example.com");
    assert_eq!(user["version"], 3);
    assert!(outbox(&app).is_empty());
}
