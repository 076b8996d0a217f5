//! Permanent access keys (`/v3.0/OS-CREDENTIAL/credentials`) and requests signed with them
//! (`SDK-HMAC-SHA256`) on the iam and keystone faces: every operation, every refusal with
//! nothing changed, and every way a signature can be wrong answered 401 `APIGW.0301`.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const CREDENTIALS: &str = "/v3.0/OS-CREDENTIAL/credentials";

fn hex(id: &str) -> String {
    uuid::Uuid::parse_str(id).unwrap().simple().to_string()
}

async fn with_token(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Response {
    let mut request = app.http.request(method, app.at(path));
    if let Some(token) = token {
        request = request.header("x-auth-token", token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    request.send().await.unwrap()
}

/// Creates a key for `user_hex` with `token`; returns `(access, secret)`.
async fn create_key(app: &TestApp, token: &str, user_hex: &str) -> (String, String) {
    let r = with_token(
        app,
        reqwest::Method::POST,
        CREDENTIALS,
        Some(token),
        Some(json!({"credential": {"user_id": user_hex, "description": "ci"}}).to_string()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let c = &body["credential"];
    (
        c["access"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    )
}

async fn list_keys(app: &TestApp, token: &str, user_hex: &str) -> Value {
    let r = with_token(
        app,
        reqwest::Method::GET,
        &format!("{CREDENTIALS}?user_id={user_hex}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Every credential event of the trail, as `(action, object_id, actor_id)`.
async fn credential_events(app: &TestApp) -> Vec<(String, String, String)> {
    let token = app.client_token().await;
    let r = app
        .http
        .get(app.at("/api/2/audit_events?limit=1000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_type"] == "credential")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["object_id"].as_str().unwrap().to_owned(),
                e["actor_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn access_keys_are_created_listed_shown_changed_and_deleted_by_their_user() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("olga").await;
    let user = hex(&id);
    let token = app.keystone_token("olga", USER_PASSWORD).await;

    let r = with_token(
        &app,
        reqwest::Method::POST,
        CREDENTIALS,
        Some(&token),
        Some(json!({"credential": {"user_id": user, "description": "deploy"}}).to_string()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let c = &created["credential"];
    let access = c["access"].as_str().unwrap().to_owned();
    let secret = c["secret"].as_str().unwrap();
    assert_eq!(access.len(), 20);
    assert!(access
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert_eq!(secret.len(), 40);
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(c["status"], "active");
    assert_eq!(c["user_id"], user.as_str());
    assert_eq!(c["description"], "deploy");
    assert!(c["create_time"].as_str().unwrap().ends_with('Z'));

    // The list and the read never show the secret; the caller's token still works.
    let listed = list_keys(&app, &token, &user).await;
    let items = listed["credentials"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["access"], access.as_str());
    assert_eq!(items[0]["status"], "active");
    assert_eq!(items[0]["create_time"], c["create_time"]);
    assert!(items[0].get("secret").is_none());
    // Without user_id, the caller's own keys.
    let r = with_token(&app, reqwest::Method::GET, CREDENTIALS, Some(&token), None).await;
    assert_eq!(r.json::<Value>().await.unwrap(), listed);
    let path = format!("{CREDENTIALS}/{access}");
    let r = with_token(&app, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["credential"]["access"], access.as_str());
    assert_eq!(shown["credential"]["user_id"], user.as_str());
    assert!(shown["credential"]["last_use_time"].is_null());
    assert!(shown["credential"].get("secret").is_none());

    let r = with_token(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(&token),
        Some(json!({"credential": {"status": "inactive", "description": "paused"}}).to_string()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["credential"]["status"], "inactive");
    assert_eq!(changed["credential"]["description"], "paused");
    let r = with_token(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(&token),
        Some(json!({"credential": {"status": "active"}}).to_string()),
    )
    .await;
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["credential"]["status"], "active");
    assert_eq!(changed["credential"]["description"], "paused");

    let r = with_token(&app, reqwest::Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = with_token(&app, reqwest::Method::GET, &path, Some(&token), None).await;
    assert_eq!(iam_error(r, StatusCode::NOT_FOUND).await, "IAM.0004");
    assert!(list_keys(&app, &token, &user).await["credentials"]
        .as_array()
        .unwrap()
        .is_empty());

    // One event per change, by the user, in the user's tenant (readable by the administrator).
    let events = credential_events(&app).await;
    let expected: Vec<(String, String, String)> = ["create", "update", "update", "delete"]
        .iter()
        .map(|a| ((*a).to_owned(), access.clone(), id.clone()))
        .collect();
    assert_eq!(events, expected);

    // An administrator managing the user's tenant may create a key for the user.
    let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let (other, _) = create_key(&app, &admin, &user).await;
    assert_eq!(
        list_keys(&app, &token, &user).await["credentials"][0]["access"],
        other.as_str()
    );
}

/// A request (method, path, token, body) and the status and IAM code expected of it.
type Case<'a> = (
    reqwest::Method,
    String,
    Option<&'a str>,
    Option<String>,
    StatusCode,
    &'static str,
);

#[tokio::test]
async fn refused_key_operations_answer_in_iam_codes_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("pavel").await;
    let user = hex(&id);
    let other_id = app.create_active_user("quinn").await;
    let other_user = hex(&other_id);
    let token = app.keystone_token("pavel", USER_PASSWORD).await;
    let other = app.keystone_token("quinn", USER_PASSWORD).await;
    let (access, _) = create_key(&app, &token, &user).await;
    let (other_access, _) = create_key(&app, &other, &other_user).await;
    let mine_before = list_keys(&app, &token, &user).await;
    let theirs_before = list_keys(&app, &other, &other_user).await;
    let events_before = credential_events(&app).await;
    let own = format!("{CREDENTIALS}/{access}");
    let theirs = format!("{CREDENTIALS}/{other_access}");
    let unknown = format!("{CREDENTIALS}/AAAAAAAAAAAAAAAAAAAA");
    let create = |user: &str| json!({"credential": {"user_id": user}}).to_string();
    let status = |s: &str| json!({"credential": {"status": s}}).to_string();
    use reqwest::Method as M;

    let cases: Vec<Case> = vec![
        // No credentials at all.
        (
            M::POST,
            CREDENTIALS.into(),
            None,
            Some(create(&user)),
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        (
            M::GET,
            format!("{CREDENTIALS}?user_id={user}"),
            None,
            None,
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        (
            M::GET,
            own.clone(),
            None,
            None,
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        (
            M::PUT,
            own.clone(),
            None,
            Some(status("inactive")),
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        (
            M::DELETE,
            own.clone(),
            None,
            None,
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        (
            M::DELETE,
            own.clone(),
            Some("not-a-token"),
            None,
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        // Another user's keys.
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(create(&other_user)),
            StatusCode::FORBIDDEN,
            "IAM.0002",
        ),
        (
            M::GET,
            format!("{CREDENTIALS}?user_id={other_user}"),
            Some(&token),
            None,
            StatusCode::FORBIDDEN,
            "IAM.0002",
        ),
        (
            M::GET,
            theirs.clone(),
            Some(&token),
            None,
            StatusCode::FORBIDDEN,
            "IAM.0002",
        ),
        (
            M::PUT,
            theirs.clone(),
            Some(&token),
            Some(status("inactive")),
            StatusCode::FORBIDDEN,
            "IAM.0002",
        ),
        (
            M::DELETE,
            theirs.clone(),
            Some(&token),
            None,
            StatusCode::FORBIDDEN,
            "IAM.0002",
        ),
        // Unknown keys and users.
        (
            M::GET,
            unknown.clone(),
            Some(&token),
            None,
            StatusCode::NOT_FOUND,
            "IAM.0004",
        ),
        (
            M::PUT,
            unknown.clone(),
            Some(&token),
            Some(status("inactive")),
            StatusCode::NOT_FOUND,
            "IAM.0004",
        ),
        (
            M::DELETE,
            unknown.clone(),
            Some(&token),
            None,
            StatusCode::NOT_FOUND,
            "IAM.0004",
        ),
        (
            M::DELETE,
            format!("{CREDENTIALS}/short"),
            Some(&token),
            None,
            StatusCode::NOT_FOUND,
            "IAM.0004",
        ),
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(create(&"0".repeat(32))),
            StatusCode::NOT_FOUND,
            "IAM.0004",
        ),
        // Bad bodies and fields.
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some("{not json".into()),
            StatusCode::BAD_REQUEST,
            "IAM.0011",
        ),
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some("{}".into()),
            StatusCode::BAD_REQUEST,
            "IAM.0072",
        ),
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(json!({"credential": {}}).to_string()),
            StatusCode::BAD_REQUEST,
            "IAM.0072",
        ),
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(json!({"credential": []}).to_string()),
            StatusCode::BAD_REQUEST,
            "IAM.0073",
        ),
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(json!({"credential": {"user_id": 7}}).to_string()),
            StatusCode::BAD_REQUEST,
            "IAM.0073",
        ),
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(
                json!({"credential": {"user_id": user, "description": "x".repeat(256)}})
                    .to_string(),
            ),
            StatusCode::BAD_REQUEST,
            "IAM.0073",
        ),
        (
            M::PUT,
            own.clone(),
            Some(&token),
            Some(status("paused")),
            StatusCode::BAD_REQUEST,
            "IAM.0073",
        ),
        (
            M::PUT,
            own.clone(),
            Some(&token),
            Some(json!({"credential": {}}).to_string()),
            StatusCode::BAD_REQUEST,
            "IAM.0072",
        ),
        (
            M::PUT,
            own.clone(),
            Some(&token),
            Some(json!({"credential": {"description": "x".repeat(256)}}).to_string()),
            StatusCode::BAD_REQUEST,
            "IAM.0073",
        ),
        // The quota: a user holds at most two keys.
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(create(&user)),
            StatusCode::OK,
            "",
        ),
        (
            M::POST,
            CREDENTIALS.into(),
            Some(&token),
            Some(create(&user)),
            StatusCode::BAD_REQUEST,
            "1115",
        ),
    ];
    let mut mine_after_quota = None;
    for (method, path, token_used, body, status, code) in cases {
        let r = with_token(&app, method.clone(), &path, token_used, body.clone()).await;
        if status == StatusCode::OK {
            // The second key, allowed; the refusals after it are checked against it.
            assert_eq!(r.status(), StatusCode::CREATED);
            mine_after_quota = Some(list_keys(&app, &token, &user).await);
            continue;
        }
        assert_eq!(iam_error(r, status).await, code, "{method} {path} {body:?}");
        let mine_now = list_keys(&app, &token, &user).await;
        assert_eq!(&mine_now, mine_after_quota.as_ref().unwrap_or(&mine_before));
        assert_eq!(list_keys(&app, &other, &other_user).await, theirs_before);
    }
    let events = credential_events(&app).await;
    assert_eq!(events.len(), events_before.len() + 1);
    assert_eq!(events[..events_before.len()], events_before[..]);
}

/// Signed requests on the iam and keystone faces: the key's user is the caller.
#[tokio::test]
async fn requests_signed_with_a_key_act_as_its_user_on_iam_and_keystone() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("rosa").await;
    let user = hex(&id);
    let token = app.keystone_token("rosa", USER_PASSWORD).await;
    let (ak, sk) = create_key(&app, &token, &user).await;

    // GET /v3.0/OS-USER/users/{id}, with the SDK's X-Domain-Id (a hint only).
    let mut headers = app.sdk_headers(false);
    headers.push(("x-domain-id".to_owned(), "not-even-a-domain".to_owned()));
    let path = format!("/v3.0/OS-USER/users/{user}");
    let r = app.send_signed(&ak, &sk, "GET", &path, &headers, b"").await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["user"]["name"], "rosa");

    // A body travels through verification to the handler intact.
    let body = json!({"user": {"email": "signed@example.com"}}).to_string();
    let r = app
        .send_signed(
            &ak,
            &sk,
            "PUT",
            &format!("/v3.0/OS-USER/users/{user}/info"),
            &app.sdk_headers(true),
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_user(&id).await["contact"]["email"],
        "signed@example.com"
    );

    // A query is covered, and a signed request may manage the user's own keys.
    let r = app
        .send_signed(
            &ak,
            &sk,
            "GET",
            &format!("{CREDENTIALS}?user_id={user}"),
            &app.sdk_headers(false),
            b"",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["credentials"][0]["access"],
        ak.as_str()
    );

    // Keystone: GET /v3/auth/tokens validates the user's token with a signature as caller.
    let mut headers = app.sdk_headers(false);
    headers.push(("x-subject-token".to_owned(), token.clone()));
    let r = app
        .send_signed(&ak, &sk, "GET", "/v3/auth/tokens?nocatalog", &headers, b"")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let validated: Value = r.json().await.unwrap();
    assert_eq!(validated["token"]["user"]["name"], "rosa");

    // The signature wins over a token of somebody else sent alongside.
    let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let other_id = app.create_active_user("sven").await;
    let mut headers = app.sdk_headers(false);
    headers.push(("x-auth-token".to_owned(), admin));
    let r = app
        .send_signed(
            &ak,
            &sk,
            "GET",
            &format!("/v3.0/OS-USER/users/{}", hex(&other_id)),
            &headers,
            b"",
        )
        .await;
    assert_eq!(iam_error(r, StatusCode::FORBIDDEN).await, "IAM.0002");
}

#[tokio::test]
async fn wrong_signatures_are_refused_with_apigw_0301_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("tara").await;
    let user = hex(&id);
    let token = app.keystone_token("tara", USER_PASSWORD).await;
    let (ak, sk) = create_key(&app, &token, &user).await;
    let info = format!("/v3.0/OS-USER/users/{user}/info");
    let show = format!("/v3.0/OS-USER/users/{user}");
    let body = json!({"user": {"email": "tampered@example.com"}}).to_string();
    let before = app.get_user(&id).await;
    let fail = "Incorrect IAM authentication information: verify aksk signature fail";

    let sign =
        |method: &str,
         path: &str,
         query: Option<&str>,
         headers: &[(String, String)],
         body: &[u8],
         sk: &str,
         ak: &str| { sdk_authorization(ak, sk, method, path, query, headers, body) };
    let headers = app.sdk_headers(true);

    // The body, the path, the query or a signed header changed after signing.
    let auth = sign("PUT", &info, None, &headers, body.as_bytes(), &sk, &ak);
    let r = app
        .send_with_authorization(
            "PUT",
            &info,
            &headers,
            br#"{"user": {"email": "x@example.com"}}"#,
            &auth,
        )
        .await;
    assert_eq!(signature_refused(r).await, fail);
    let other_id = app.create_active_user("ugo").await;
    let auth = sign("PUT", &info, None, &headers, body.as_bytes(), &sk, &ak);
    let r = app
        .send_with_authorization(
            "PUT",
            &format!("/v3.0/OS-USER/users/{}/info", hex(&other_id)),
            &headers,
            body.as_bytes(),
            &auth,
        )
        .await;
    assert_eq!(signature_refused(r).await, fail);
    let plain = app.sdk_headers(false);
    let auth = sign(
        "GET",
        CREDENTIALS,
        Some(&format!("user_id={user}")),
        &plain,
        b"",
        &sk,
        &ak,
    );
    let r = app
        .send_with_authorization(
            "GET",
            &format!("{CREDENTIALS}?user_id={}", hex(&other_id)),
            &plain,
            b"",
            &auth,
        )
        .await;
    assert_eq!(signature_refused(r).await, fail);
    let mut domain = app.sdk_headers(true);
    domain.push(("x-domain-id".to_owned(), "signed".to_owned()));
    let auth = sign("PUT", &info, None, &domain, body.as_bytes(), &sk, &ak);
    domain.last_mut().unwrap().1 = "sent".to_owned();
    let r = app
        .send_with_authorization("PUT", &info, &domain, body.as_bytes(), &auth)
        .await;
    assert_eq!(signature_refused(r).await, fail);

    // Wrong secret, unknown access key, a header that is not even the algorithm's shape.
    let r = app
        .send_signed(&ak, "wrong-secret", "PUT", &info, &headers, body.as_bytes())
        .await;
    assert_eq!(signature_refused(r).await, fail);
    let r = app
        .send_signed(
            "ZZZZZZZZZZZZZZZZZZZZ",
            &sk,
            "PUT",
            &info,
            &headers,
            body.as_bytes(),
        )
        .await;
    assert_eq!(signature_refused(r).await, fail);
    let r = app
        .send_with_authorization(
            "PUT",
            &info,
            &headers,
            body.as_bytes(),
            "SDK-HMAC-SHA256 nonsense",
        )
        .await;
    assert_eq!(signature_refused(r).await, fail);
    // Keystone answers the same.
    let r = app
        .send_signed(&ak, "wrong-secret", "GET", "/v3/auth/tokens", &plain, b"")
        .await;
    assert_eq!(signature_refused(r).await, fail);

    // A date 16 minutes off either way is expired; 14 minutes off still works.
    for offset in [-16 * 60, 16 * 60] {
        let mut stale = app.sdk_headers(true);
        stale[1].1 = sdk_date(offset);
        let r = app
            .send_signed(&ak, &sk, "PUT", &info, &stale, body.as_bytes())
            .await;
        assert_eq!(
            signature_refused(r).await,
            "Incorrect IAM authentication information: signature expired"
        );
    }
    let mut recent = app.sdk_headers(false);
    recent[1].1 = sdk_date(-14 * 60);
    let r = app.send_signed(&ak, &sk, "GET", &show, &recent, b"").await;
    assert_eq!(r.status(), StatusCode::OK);

    // An inactive key signs nothing; active again, it does.
    let key = format!("{CREDENTIALS}/{ak}");
    let set = |status: &'static str| {
        with_token(
            &app,
            reqwest::Method::PUT,
            &key,
            Some(&token),
            Some(json!({"credential": {"status": status}}).to_string()),
        )
    };
    assert_eq!(set("inactive").await.status(), StatusCode::OK);
    let r = app.send_signed(&ak, &sk, "GET", &show, &plain, b"").await;
    assert_eq!(signature_refused(r).await, fail);
    assert_eq!(set("active").await.status(), StatusCode::OK);
    let r = app
        .send_signed(&ak, &sk, "GET", &show, &app.sdk_headers(false), b"")
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // A signed body over the limit is refused before verification, in the face's body.
    let big = vec![b' '; app.settings.max_body_bytes + 1];
    let r = app
        .send_signed(&ak, &sk, "PUT", &info, &headers, &big)
        .await;
    assert_eq!(
        iam_error(r, StatusCode::PAYLOAD_TOO_LARGE).await,
        "IAM.1101"
    );

    // Nothing any refused request carried was applied.
    let after = app.get_user(&id).await;
    assert_eq!(after["version"], before["version"]);
    assert_eq!(after["contact"], before["contact"]);

    // A disabled user's key signs nothing.
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(app.client_token().await)
        .json(&json!({"enabled": false, "version": after["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .send_signed(&ak, &sk, "GET", &show, &app.sdk_headers(false), b"")
        .await;
    assert_eq!(signature_refused(r).await, fail);

    // A deleted key signs nothing either.
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(app.client_token().await)
        .json(&json!({"enabled": true, "version": app.get_user(&id).await["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .send_signed(&ak, &sk, "GET", &show, &app.sdk_headers(false), b"")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let r = with_token(&app, reqwest::Method::DELETE, &key, Some(&admin), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .send_signed(&ak, &sk, "GET", &show, &app.sdk_headers(false), b"")
        .await;
    assert_eq!(signature_refused(r).await, fail);
}
