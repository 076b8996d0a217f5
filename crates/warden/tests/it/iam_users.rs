//! The iam face's user administration: `POST /v3.0/OS-USER/users`, `GET` and the
//! administrator's `PUT /v3.0/OS-USER/users/{id}` with every documented field, every refusal
//! with its numeric IAM code and nothing changed, and the same user through the other faces.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const USERS: &str = "/v3.0/OS-USER/users";

fn hex(id: &str) -> String {
    uuid::Uuid::parse_str(id).unwrap().simple().to_string()
}

fn uuid_of(hex: &str) -> String {
    uuid::Uuid::parse_str(hex).unwrap().to_string()
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut request = app.http.request(method, app.at(path));
    if let Some(token) = token {
        request = request.header("x-auth-token", token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json;charset=utf-8")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

/// The administrator's token and the id of the Default domain (the root tenant), in hex.
async fn admin(app: &TestApp) -> (String, String) {
    let token = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    (token, hex(&app.root_tenant_id().await))
}

async fn create(app: &TestApp, token: &str, user: Value) -> Response {
    send(
        app,
        Method::POST,
        USERS,
        Some(token),
        Some(json!({ "user": user })),
    )
    .await
}

async fn show(app: &TestApp, token: &str, id: &str) -> Value {
    let r = send(
        app,
        Method::GET,
        &format!("{USERS}/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["user"].clone()
}

/// The id of the user a `201` answer created.
async fn created_id(r: Response) -> String {
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new access key of the user: `(access, secret)`.
async fn access_key(app: &TestApp, token: &str, user_id: &str) -> (String, String) {
    let r = send(
        app,
        Method::POST,
        "/v3.0/OS-CREDENTIAL/credentials",
        Some(token),
        Some(json!({"credential": {"user_id": user_id}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let key: Value = r.json().await.unwrap();
    let field = |name: &str| key["credential"][name].as_str().unwrap().to_owned();
    (field("access"), field("secret"))
}

/// Creates a user and returns its id.
async fn create_ok(app: &TestApp, token: &str, user: Value) -> String {
    created_id(create(app, token, user).await).await
}

/// The users named so, through `/v3/users?name=`.
async fn users_named(app: &TestApp, token: &str, name: &str) -> Vec<Value> {
    let path = format!("/v3/users?name={name}");
    let r = send(app, Method::GET, &path, Some(token), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["users"]
        .as_array()
        .unwrap()
        .clone()
}

/// The hex id of the user with this name.
async fn hex_id_of(app: &TestApp, token: &str, name: &str) -> String {
    users_named(app, token, name).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn create_show_and_update_round_trip_every_documented_field() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let r = create(
        &app,
        &token,
        json!({
            "name": "iam_quinn", "domain_id": domain, "password": USER_PASSWORD,
            "email": "quinn@example.com", "areacode": "0086", "phone": "13800000000",
            "enabled": true, "access_mode": "programmatic", "description": "first",
            "xuser_type": "TenantIdp", "xuser_id": "ext-quinn",
        }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = r.json::<Value>().await.unwrap()["user"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let expected = json!({
        "id": id, "name": "iam_quinn", "domain_id": domain, "enabled": true,
        "email": "quinn@example.com", "areacode": "0086", "phone": "13800000000",
        "description": "first", "access_mode": "programmatic",
        // A password given at creation must be changed at first login unless told otherwise.
        "pwd_status": true, "is_domain_owner": false,
        "xuser_type": "TenantIdp", "xuser_id": "ext-quinn",
        "status": null, "xdomain_id": "", "xdomain_type": "", "password_expires_at": null,
        "default_project_id": null, "create_time": created["create_time"],
    });
    assert_eq!(created, expected);
    let time = created["create_time"].as_str().unwrap();
    assert!(
        time.len() == 26 && time.as_bytes()[10] == b'T' && !time.ends_with('Z'),
        "{time}"
    );

    let shown = show(&app, &token, &id).await;
    for key in [
        "id",
        "name",
        "domain_id",
        "enabled",
        "email",
        "areacode",
        "phone",
        "description",
        "access_mode",
        "pwd_status",
        "xuser_type",
        "xuser_id",
        "create_time",
    ] {
        assert_eq!(shown[key], created[key], "{key}");
    }
    assert_eq!(
        shown["links"]["self"],
        app.at(&format!("{USERS}/{id}")).as_str()
    );
    // The user signs in with the password given.
    app.keystone_token("iam_quinn", USER_PASSWORD).await;

    let before = app.get_user(&uuid_of(&id)).await;
    let r = send(
        &app,
        Method::PUT,
        &format!("{USERS}/{id}"),
        Some(&token),
        Some(json!({"user": {
            "name": "iam_quinn2", "email": "q2@example.com", "areacode": "0049",
            "phone": "301234567", "enabled": true, "pwd_status": false, "access_mode": "console",
            "description": "second", "xuser_type": "other", "xuser_id": "ext-2",
        }})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated = r.json::<Value>().await.unwrap()["user"].clone();
    assert_eq!(
        updated,
        json!({
            "id": id, "name": "iam_quinn2", "domain_id": domain, "enabled": true,
            "email": "q2@example.com", "areacode": "0049", "phone": "301234567",
            "description": "second", "access_mode": "console", "pwd_status": false,
            "is_domain_owner": false, "xuser_type": "other", "xuser_id": "ext-2",
            "xdomain_id": "", "xdomain_type": "", "password_expires_at": null,
            "create_time": created["create_time"],
            "links": {"self": app.at(&format!("{USERS}/{id}"))},
        })
    );
    let shown = show(&app, &token, &id).await;
    assert_eq!(shown["access_mode"], "console");
    assert_eq!(shown["xuser_id"], "ext-2");

    // The same user through the other faces, changed once.
    let account = app.get_user(&uuid_of(&id)).await;
    assert_eq!(
        account["version"].as_i64().unwrap(),
        before["version"].as_i64().unwrap() + 1
    );
    assert_eq!(account["login"], "iam_quinn2");
    assert_eq!(account["contact"]["email"], "q2@example.com");
    assert_eq!(account["contact"]["phone"], "0049-301234567");
    let r = send(
        &app,
        Method::GET,
        &format!("/v3/users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let keystone: Value = r.json().await.unwrap();
    assert_eq!(keystone["user"]["name"], "iam_quinn2");
    assert_eq!(keystone["user"]["description"], "second");

    // Empty pairs remove the phone and the external identity; an empty address the e-mail.
    let r = send(
        &app,
        Method::PUT,
        &format!("{USERS}/{id}"),
        Some(&token),
        Some(
            json!({"user": {"areacode": "", "phone": "", "xuser_type": "", "xuser_id": "",
                             "email": ""}}),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cleared = r.json::<Value>().await.unwrap()["user"].clone();
    for key in ["areacode", "phone", "xuser_type", "xuser_id", "email"] {
        assert_eq!(cleared[key], "", "{key}");
    }

    // Without a password, pwd_status defaults to false; the mode to `default`.
    let r = create(
        &app,
        &token,
        json!({"name": "iam_rose", "domain_id": domain}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let rose = r.json::<Value>().await.unwrap()["user"].clone();
    assert_eq!(rose["pwd_status"], false);
    assert_eq!(rose["access_mode"], "default");
    assert_eq!(rose["email"], "");
    assert_eq!(rose["xuser_id"], "");
}

#[tokio::test]
async fn create_refusals_use_the_numeric_codes_and_create_nothing() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let r = create(
        &app,
        &token,
        json!({"name": "iam_taken", "domain_id": domain, "xuser_type": "t", "xuser_id": "x"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let with = |extra: Value| {
        let mut user = json!({"name": "iam_new", "domain_id": domain});
        for (k, v) in extra.as_object().unwrap() {
            user[k] = v.clone();
        }
        json!({ "user": user })
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "1100"),
        (json!({"user": {"domain_id": domain}}), "1100"),
        (json!({"user": {"name": "iam_new"}}), "1100"),
        (with(json!({"name": "x"})), "1101"),
        (with(json!({"name": 7})), "1101"),
        // IAM names stop at 64 characters, though Keystone's may be longer.
        (with(json!({"name": "n".repeat(65)})), "1101"),
        (with(json!({"name": "IAM_TAKEN"})), "1109"),
        (with(json!({"email": "no-at-sign"})), "1102"),
        // A NUL character is refused in any JSON string, before the body is read as a user.
        (with(json!({"password": "a\u{0}bcdefghijk"})), "IAM.0011"),
        (with(json!({"password": 12345678})), "1103"),
        (with(json!({"password": "short"})), "1118"),
        (with(json!({"password": "password"})), "1118"),
        (with(json!({"areacode": "0086", "phone": "12a"})), "1104"),
        (
            with(json!({"areacode": "0086", "phone": "1".repeat(33)})),
            "1104",
        ),
        (with(json!({"phone": "123"})), "1106"),
        (with(json!({"areacode": "0086"})), "1106"),
        (with(json!({"xuser_id": "x"})), "1105"),
        (with(json!({"xuser_type": "t"})), "1105"),
        (with(json!({"xuser_type": "a b", "xuser_id": "x"})), "1105"),
        (
            with(json!({"xuser_type": "t".repeat(65), "xuser_id": "x"})),
            "1105",
        ),
        (
            with(json!({"xuser_type": "t", "xuser_id": "x".repeat(129)})),
            "1105",
        ),
        (with(json!({"xuser_type": "t", "xuser_id": "x"})), "1113"),
        (with(json!({"description": "d".repeat(256)})), "1117"),
        (with(json!({"description": "a\u{7}b"})), "1117"),
        (with(json!({"access_mode": "web"})), "IAM.0007"),
        (with(json!({"enabled": "yes"})), "IAM.0007"),
        (with(json!({"domain_id": "0".repeat(32)})), "IAM.0007"),
    ];
    for (body, code) in cases {
        let r = send(&app, Method::POST, USERS, Some(&token), Some(body.clone())).await;
        assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, code, "{body}");
    }
    let r = app
        .http
        .post(app.at(USERS))
        .header("x-auth-token", &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, "IAM.0011");
    assert_eq!(users_named(&app, &token, "iam_new").await.len(), 0);
    // Boundaries are accepted.
    let r = create(
        &app,
        &token,
        json!({"name": "iam_new", "domain_id": domain, "description": "d".repeat(255),
               "xuser_type": "t".repeat(64), "xuser_id": "x".repeat(128)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn admin_update_refusals_use_the_numeric_codes_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    for (name, x) in [("iam_sam", "x-sam"), ("iam_tia", "x-tia")] {
        let r = create(
            &app,
            &token,
            json!({"name": name, "domain_id": domain, "password": USER_PASSWORD,
                   "xuser_type": "t", "xuser_id": x}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let id = hex_id_of(&app, &token, "iam_sam").await;
    let path = format!("{USERS}/{id}");
    let before_iam = show(&app, &token, &id).await;
    let before = app.get_user(&uuid_of(&id)).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "1100"),
        (json!({"user": {"name": "1"}}), "1101"),
        (json!({"user": {"name": "iam_tia"}}), "1109"),
        (json!({"user": {"email": "bad"}}), "1102"),
        (json!({"user": {"password": USER_PASSWORD}}), "1108"),
        (json!({"user": {"password": "short"}}), "1118"),
        (json!({"user": {"password": false}}), "1103"),
        (json!({"user": {"areacode": "0086", "phone": "x"}}), "1104"),
        (json!({"user": {"phone": "123"}}), "1106"),
        (json!({"user": {"xuser_type": "t"}}), "1105"),
        (
            json!({"user": {"xuser_type": "t", "xuser_id": "x-tia"}}),
            "1113",
        ),
        (json!({"user": {"description": "d".repeat(256)}}), "1117"),
        (json!({"user": {"access_mode": "all"}}), "IAM.0007"),
        (json!({"user": {"pwd_status": "true"}}), "IAM.0007"),
    ];
    for (body, code) in cases {
        let r = send(&app, Method::PUT, &path, Some(&token), Some(body.clone())).await;
        assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, code, "{body}");
    }
    assert_eq!(show(&app, &token, &id).await, before_iam);
    assert_eq!(app.get_user(&uuid_of(&id)).await, before);
    // The password still works: the refused change set nothing.
    app.keystone_token("iam_sam", USER_PASSWORD).await;

    // A new password is taken, and ends the user's sessions as Keystone's PATCH does.
    let r = send(
        &app,
        Method::PUT,
        &path,
        Some(&token),
        Some(json!({"user": {"password": "another-Passw0rd-1"}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .keystone_auth(
            "iam_sam",
            USER_PASSWORD,
            json!({"domain": {"name": "Default"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.keystone_token("iam_sam", "another-Passw0rd-1").await;
}

#[tokio::test]
async fn only_a_manager_of_the_domain_creates_or_changes_users() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let plain_id = app.create_active_user("iam_plain").await;
    let other_id = app.create_active_user("iam_other").await;
    let plain = app.keystone_token("iam_plain", USER_PASSWORD).await;
    let body = json!({"user": {"name": "iam_new", "domain_id": domain}});
    let change = json!({"user": {"description": "mine", "access_mode": "console"}});

    let r = send(&app, Method::POST, USERS, None, Some(body.clone())).await;
    assert_eq!(iam_error(r, StatusCode::UNAUTHORIZED).await, "IAM.0001");
    let r = send(
        &app,
        Method::POST,
        USERS,
        Some("not-a-token"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(iam_error(r, StatusCode::UNAUTHORIZED).await, "IAM.0001");
    let r = send(&app, Method::POST, USERS, Some(&plain), Some(body.clone())).await;
    assert_eq!(iam_error(r, StatusCode::FORBIDDEN).await, "IAM.0002");
    assert_eq!(users_named(&app, &token, "iam_new").await.len(), 0);

    let before_self = app.get_user(&plain_id).await;
    let before_other = app.get_user(&other_id).await;
    for (id, token) in [
        (&plain_id, None),
        (&plain_id, Some(&plain)),
        (&other_id, Some(&plain)),
    ] {
        let r = send(
            &app,
            Method::PUT,
            &format!("{USERS}/{}", hex(id)),
            token.map(String::as_str),
            Some(change.clone()),
        )
        .await;
        let (status, code) = match token {
            None => (StatusCode::UNAUTHORIZED, "IAM.0001"),
            Some(_) => (StatusCode::FORBIDDEN, "IAM.0002"),
        };
        assert_eq!(iam_error(r, status).await, code);
    }
    assert_eq!(app.get_user(&plain_id).await, before_self);
    assert_eq!(app.get_user(&other_id).await, before_other);

    let unknown = format!("{USERS}/{}", "ab".repeat(16));
    let r = send(
        &app,
        Method::PUT,
        &unknown,
        Some(&token),
        Some(change.clone()),
    )
    .await;
    assert_eq!(iam_error(r, StatusCode::NOT_FOUND).await, "IAM.0004");
    let r = send(&app, Method::GET, &unknown, Some(&token), None).await;
    assert_eq!(iam_error(r, StatusCode::NOT_FOUND).await, "IAM.0004");
    let r = send(&app, Method::DELETE, USERS, Some(&token), None).await;
    assert_eq!(
        iam_error(r, StatusCode::METHOD_NOT_ALLOWED).await,
        "IAM.0007"
    );

    // The administrator may change their own account, since they manage its domain.
    let admin_id = hex_id_of(&app, &token, ADMIN_LOGIN).await;
    let r = send(
        &app,
        Method::PUT,
        &format!("{USERS}/{admin_id}"),
        Some(&token),
        Some(change),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn requests_signed_with_an_access_key_create_and_change_users() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let admin_id = hex_id_of(&app, &token, ADMIN_LOGIN).await;
    let (ak, sk) = &access_key(&app, &token, &admin_id).await;
    let body = json!({"user": {"name": "iam_signed", "domain_id": domain,
                               "xuser_type": "t", "xuser_id": "signed"}})
    .to_string();
    let id = created_id(
        app.send_signed(
            ak,
            sk,
            "POST",
            USERS,
            &app.sdk_headers(true),
            body.as_bytes(),
        )
        .await,
    )
    .await;
    let body = json!({"user": {"description": "signed change"}}).to_string();
    let path = format!("{USERS}/{id}");
    let r = app
        .send_signed(
            ak,
            sk,
            "PUT",
            &path,
            &app.sdk_headers(true),
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        show(&app, &token, &id).await["description"],
        "signed change"
    );
    // A refused signed request answers in the IAM body too.
    let body = json!({"user": {"name": "iam_signed2", "domain_id": domain,
                               "xuser_type": "t", "xuser_id": "signed"}})
    .to_string();
    let r = app
        .send_signed(
            ak,
            sk,
            "POST",
            USERS,
            &app.sdk_headers(true),
            body.as_bytes(),
        )
        .await;
    assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, "1113");
}

#[tokio::test]
async fn the_keystone_face_answers_the_same_refusals_in_its_own_body() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let id = create_ok(
        &app,
        &token,
        json!({"name": "iam_uma", "domain_id": domain, "password": USER_PASSWORD}),
    )
    .await;
    let r = send(
        &app,
        Method::PATCH,
        &format!("/v3/users/{id}"),
        Some(&token),
        Some(json!({"user": {"description": "d".repeat(256)}})),
    )
    .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    // Keystone's administrator reset may set the current password again (IAM refuses it).
    let r = send(
        &app,
        Method::PATCH,
        &format!("/v3/users/{id}"),
        Some(&token),
        Some(json!({"user": {"password": USER_PASSWORD}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(
        &app,
        Method::POST,
        "/v3/users",
        Some(&token),
        Some(json!({"user": {"name": "iam_vera", "description": "d".repeat(256)}})),
    )
    .await;
    keystone_error(r, StatusCode::BAD_REQUEST).await;
    // A Keystone-created user shows the IAM defaults.
    let vera = created_id(
        send(
            &app,
            Method::POST,
            "/v3/users",
            Some(&token),
            Some(json!({"user": {"name": "iam_vera", "password": USER_PASSWORD}})),
        )
        .await,
    )
    .await;
    let shown = show(&app, &token, &vera).await;
    assert_eq!(shown["access_mode"], "default");
    assert_eq!(shown["pwd_status"], true);
}

/// IAM keeps an e-mail address and a phone to one user of an account: setting another user's
/// through any IAM route is `1110`/`1111` and changes nothing; keeping one's own is fine, and
/// Keystone's `PATCH`, which has no such rule, still may.
#[tokio::test]
async fn an_address_or_phone_of_another_user_is_refused_with_1110_and_1111() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let first = create_ok(
        &app,
        &token,
        json!({"name": "iam_first", "domain_id": domain, "email": "Taken@Example.com",
                   "areacode": "0086", "phone": "123456789"}),
    )
    .await;
    let cases = [
        (json!({"email": "taken@example.COM"}), "1110"),
        (json!({"areacode": "0086", "phone": "123456789"}), "1111"),
    ];
    for (fields, code) in &cases {
        let mut user = json!({"name": "iam_second", "domain_id": domain});
        for (k, v) in fields.as_object().unwrap() {
            user[k] = v.clone();
        }
        let r = create(&app, &token, user).await;
        assert_eq!(
            iam_error(r, StatusCode::BAD_REQUEST).await,
            *code,
            "{fields}"
        );
    }
    assert!(users_named(&app, &token, "iam_second").await.is_empty());
    // The same number under another area code is another phone.
    let second = create_ok(
        &app,
        &token,
        json!({"name": "iam_second", "domain_id": domain, "email": "second@example.com",
                   "areacode": "0049", "phone": "123456789"}),
    )
    .await;
    let before = show(&app, &token, &second).await;
    for (fields, code) in &cases {
        let r = send(
            &app,
            Method::PUT,
            &format!("{USERS}/{second}"),
            Some(&token),
            Some(json!({ "user": fields })),
        )
        .await;
        assert_eq!(
            iam_error(r, StatusCode::BAD_REQUEST).await,
            *code,
            "{fields}"
        );
    }
    let mut after = show(&app, &token, &second).await;
    after["update_time"] = before["update_time"].clone();
    assert_eq!(after, before);
    // A user keeps their own address and phone through a change of something else.
    let r = send(
        &app,
        Method::PUT,
        &format!("{USERS}/{first}"),
        Some(&token),
        Some(
            json!({"user": {"email": "TAKEN@example.com", "areacode": "0086",
                    "phone": "123456789", "description": "kept"}}),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The self-service route keeps the rule too.
    let r = send(
        &app,
        Method::PUT,
        &format!("{USERS}/{second}"),
        Some(&token),
        Some(json!({"user": {"password": "Second-Pa55word!"}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let own = app.keystone_token("iam_second", "Second-Pa55word!").await;
    let info = format!("{USERS}/{second}/info");
    for (body, code) in [
        (json!({"user": {"email": "taken@example.com"}}), "1110"),
        (json!({"user": {"mobile": "0086-123456789"}}), "1111"),
    ] {
        let r = send(&app, Method::PUT, &info, Some(&own), Some(body.clone())).await;
        assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, code, "{body}");
    }
    let r = send(
        &app,
        Method::PUT,
        &info,
        Some(&own),
        Some(json!({"user": {"email": "second@example.com", "mobile": "0049-123456789"}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        show(&app, &token, &second).await["email"],
        "second@example.com"
    );
    // Keystone keeps no such rule.
    let r = send(
        &app,
        Method::PATCH,
        &format!("/v3/users/{second}"),
        Some(&token),
        Some(json!({"user": {"email": "taken@example.com"}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Two users claiming one address at once: the check and the write are one step, so exactly
/// one of them gets it.
#[tokio::test]
async fn concurrent_claims_of_one_address_leave_it_with_one_user() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let r = create(
            &app,
            &token,
            json!({"name": format!("iam_racer{i}"), "domain_id": domain}),
        )
        .await;
        ids.push(created_id(r).await);
    }
    let paths: Vec<String> = ids.iter().map(|id| format!("{USERS}/{id}")).collect();
    let claims = paths.iter().map(|path| {
        send(
            &app,
            Method::PUT,
            path,
            Some(&token),
            Some(json!({"user": {"email": "contested@example.com"}})),
        )
    });
    let answers = futures::future::join_all(claims).await;
    let mut won = 0;
    for r in answers {
        if r.status() == StatusCode::OK {
            won += 1;
        } else {
            assert_eq!(iam_error(r, StatusCode::BAD_REQUEST).await, "1110");
        }
    }
    assert_eq!(won, 1);
    let mut holders = 0;
    for id in &ids {
        if show(&app, &token, id).await["email"] == "contested@example.com" {
            holders += 1;
        }
    }
    assert_eq!(holders, 1);
}

/// `access_mode: console` keeps a user from using access keys: a rightly signed request is
/// 403 `IAM.0081` (Keystone's 403 on `/v3`) and does nothing; back to `default`, the same key
/// works.
#[tokio::test]
async fn a_console_only_user_cannot_use_an_access_key() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let id = create_ok(
        &app,
        &token,
        json!({"name": "iam_console", "domain_id": domain, "access_mode": "console"}),
    )
    .await;
    let (ak, sk) = &access_key(&app, &token, &id).await;
    let path = format!("{USERS}/{id}/info");
    let body = json!({"user": {"email": "console@example.com"}}).to_string();
    let headers = app.sdk_headers(true);
    let put_info = || app.send_signed(ak, sk, "PUT", &path, &headers, body.as_bytes());
    assert_eq!(
        iam_error(put_info().await, StatusCode::FORBIDDEN).await,
        "IAM.0081"
    );
    let r = app
        .send_signed(
            ak,
            sk,
            "GET",
            &format!("/v3/users/{id}"),
            &app.sdk_headers(false),
            b"",
        )
        .await;
    keystone_error(r, StatusCode::FORBIDDEN).await;
    assert_eq!(show(&app, &token, &id).await["email"], "");
    let r = send(
        &app,
        Method::PUT,
        &format!("{USERS}/{id}"),
        Some(&token),
        Some(json!({"user": {"access_mode": "default"}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(put_info().await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        show(&app, &token, &id).await["email"],
        "console@example.com"
    );
}

/// `pwd_status` (the password must be changed) holds for a password an administrator set and
/// clears when the user changes it themself.
#[tokio::test]
async fn pwd_status_clears_when_the_user_changes_their_password() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let id = create_ok(
        &app,
        &token,
        json!({"name": "iam_fresh", "domain_id": domain, "password": "Initial-Pa55word!"}),
    )
    .await;
    assert_eq!(show(&app, &token, &id).await["pwd_status"], true);
    let r = send(
        &app,
        Method::POST,
        &format!("/v3/users/{id}/password"),
        None,
        Some(json!({"user": {"original_password": "Initial-Pa55word!",
                             "password": "Chosen-Pa55word!"}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(show(&app, &token, &id).await["pwd_status"], false);
    app.keystone_token("iam_fresh", "Chosen-Pa55word!").await;
}

#[tokio::test]
async fn concurrent_keystone_changes_of_one_user_all_succeed_and_the_last_one_stands() {
    let app = TestApp::spawn().await;
    let (token, domain) = admin(&app).await;
    let id = create_ok(
        &app,
        &token,
        json!({"name": "iam_race", "domain_id": domain, "password": USER_PASSWORD}),
    )
    .await;
    // Keystone has no version to send: racing changes are applied one after the other,
    // none refused.
    let path = format!("/v3/users/{id}");
    let changes = (0..16).map(|i| {
        let (app, token, path) = (&app, &token, &path);
        async move {
            let body = json!({"user": {"description": format!("race {i}")}});
            let r = send(app, Method::PATCH, path, Some(token), Some(body)).await;
            (r.status(), i)
        }
    });
    let answers = futures::future::join_all(changes).await;
    for (status, i) in &answers {
        assert_eq!(*status, StatusCode::OK, "change {i}");
    }
    let r = send(&app, Method::GET, &path, Some(&token), None).await;
    let shown: Value = r.json().await.unwrap();
    let description = shown["user"]["description"].as_str().unwrap();
    assert!(
        (0..16).any(|i| description == format!("race {i}")),
        "{description}"
    );
    // Every change made a version of its own.
    assert_eq!(app.get_user(&uuid_of(&id)).await["version"], 17);
}
