//! The account face, `/api/2`: every endpoint on its success and error paths, and that a
//! refused request changed nothing.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn client_credentials_grant_returns_a_bearer_jwt_with_kid_and_both_expiries() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(app.at("/api/2/idp/token"))
        .basic_auth(&app.client_id, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7200);
    let now = chrono::Utc::now().timestamp();
    let expires_on = body["expires_on"].as_i64().unwrap();
    assert!((now + 7190..=now + 7210).contains(&expires_on));
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert!(header.kid.is_some());
}

#[tokio::test]
async fn issued_tokens_verify_against_the_published_key_set() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let jwks: Value = app
        .http
        .get(app.at("/api/2/idp/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    assert_eq!(key["kty"], "RSA");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["warden"]);
    validation.set_issuer(&[app.url.as_str()]);
    let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
    assert_eq!(data.claims["sub"], app.client_id.as_str());
    assert_eq!(data.claims["client_id"], app.client_id.as_str());
    assert!(data.claims["jti"].is_string());
}

#[tokio::test]
async fn token_endpoint_refuses_bad_requests_with_the_oauth_envelope() {
    let app = TestApp::spawn().await;
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            app.http
                .post(app.at("/api/2/idp/token"))
                .basic_auth(&app.client_id, Some("wrong"))
                .form(&[("grant_type", "client_credentials")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            app.http
                .post(app.at("/api/2/idp/token"))
                .form(&[("grant_type", "client_credentials")]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            app.http
                .post(app.at("/api/2/idp/token"))
                .basic_auth(&app.client_id, Some(CLIENT_SECRET))
                .form(&[("grant_type", "magic")]),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            app.http
                .post(app.at("/api/2/idp/token"))
                .form(&[("scope", "x")]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            app.http
                .post(app.at("/api/2/idp/token"))
                .json(&json!({"grant_type": "client_credentials"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            app.http.post(app.at("/api/2/idp/token")).form(&[
                ("grant_type", "password"),
                ("username", ADMIN_LOGIN),
                ("password", "wrong"),
            ]),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (request, status, error) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        assert!(body["error_description"].is_string());
    }
}

#[tokio::test]
async fn password_grant_issues_a_user_token_and_hides_whether_the_user_exists() {
    let app = TestApp::spawn().await;
    app.create_active_user("alice").await;
    let token = app.user_token("alice").await;
    let me: Value = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["login"], "alice");

    let wrong = app
        .http
        .post(app.at("/api/2/idp/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "not-her-password"),
        ])
        .send()
        .await
        .unwrap();
    let unknown = app
        .http
        .post(app.at("/api/2/idp/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "nobody"),
            ("password", "not-her-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), unknown.status());
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
}

#[tokio::test]
async fn openid_discovery_is_served_at_the_root_and_under_api_2() {
    let app = TestApp::spawn().await;
    for path in [
        "/.well-known/openid-configuration",
        "/api/2/.well-known/openid-configuration",
    ] {
        let body: Value = app
            .http
            .get(app.at(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["issuer"], app.url.as_str());
        assert_eq!(body["jwks_uri"], app.at("/api/2/idp/keys").as_str());
        assert_eq!(body["token_endpoint"], app.at("/api/2/idp/token").as_str());
    }
}

#[tokio::test]
async fn a_client_reads_itself_with_its_tenant_and_never_its_secret() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let r = app
        .http
        .get(app.at(&format!("/api/2/clients/{}", app.client_id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains(CLIENT_SECRET));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["client_id"], app.client_id.as_str());
    assert!(body["tenant_id"].as_str().unwrap().len() == 36);
    assert!(body.get("client_secret").is_none());

    let missing = app
        .http
        .get(app.at(&format!("/api/2/clients/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(missing, StatusCode::NOT_FOUND).await, 404);
    let anonymous = app
        .http
        .get(app.at(&format!("/api/2/clients/{}", app.client_id)))
        .send()
        .await
        .unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_eq!(
        account_error(anonymous, StatusCode::UNAUTHORIZED).await,
        401
    );
}

#[tokio::test]
async fn check_login_answers_204_when_free_409_when_taken() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let check = |name: &str| {
        app.http
            .get(app.at(&format!("/api/2/users/check_login?username={name}")))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(
        check("JohnDoe").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    app.create_user("JohnDoe").await;
    assert_eq!(
        account_error(check("johndoe").await.unwrap(), StatusCode::CONFLICT).await,
        409
    );
    assert_eq!(
        account_error(check("a").await.unwrap(), StatusCode::BAD_REQUEST).await,
        400
    );
    let missing = app
        .http
        .get(app.at("/api/2/users/check_login"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(missing, StatusCode::BAD_REQUEST).await, 400);
    let anonymous = app
        .http
        .get(app.at("/api/2/users/check_login?username=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(anonymous, StatusCode::UNAUTHORIZED).await,
        401
    );
}

#[tokio::test]
async fn create_user_answers_200_with_version_1_and_the_seed_defaults() {
    let app = TestApp::spawn().await;
    let user = app.create_user("JohnDoe").await;
    assert_eq!(user["version"], 1);
    assert_eq!(user["activated"], false);
    assert_eq!(user["enabled"], true);
    assert_eq!(user["terms_accepted"], false);
    assert_eq!(user["business_types"], json!([]));
    assert_eq!(
        user["notifications"],
        json!(["quota", "reports", "backup_daily_report"])
    );
    assert_eq!(user["idp_id"], "11111111-1111-1111-1111-111111111111");
    assert_eq!(user["language"], "en");
    assert_eq!(user["mfa_status"], "disabled");
    assert_eq!(user["personal_tenant_id"], Value::Null);
    assert_eq!(user["contact"]["email"], "JohnDoe@example.com");
    assert_eq!(user["contact"]["address1"], "");
    let fetched = app.get_user(user["id"].as_str().unwrap()).await;
    assert_eq!(fetched, user);
}

#[tokio::test]
async fn create_user_refusals_create_nothing() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let tenant = app.root_tenant_id().await;
    let post = |body: Value| {
        app.http
            .post(app.at("/api/2/users"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let no_email = post(json!({"tenant_id": tenant, "login": "bob", "contact": {}}))
        .await
        .unwrap();
    assert_eq!(account_error(no_email, StatusCode::BAD_REQUEST).await, 400);
    let bad_email =
        post(json!({"tenant_id": tenant, "login": "bob", "contact": {"email": "nope"}}))
            .await
            .unwrap();
    assert_eq!(account_error(bad_email, StatusCode::BAD_REQUEST).await, 400);
    let bad_tenant =
        post(json!({"tenant_id": "x", "login": "bob", "contact": {"email": "b@example.com"}}))
            .await
            .unwrap();
    assert_eq!(
        account_error(bad_tenant, StatusCode::BAD_REQUEST).await,
        400
    );
    let unknown_tenant =
        post(json!({"tenant_id": uuid::Uuid::new_v4(), "login": "bob", "contact": {"email": "b@example.com"}})).await.unwrap();
    assert_eq!(
        account_error(unknown_tenant, StatusCode::BAD_REQUEST).await,
        400
    );
    let not_json = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(
            json!({"tenant_id": tenant, "login": "bob", "contact": {"email": "b@example.com"}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        415
    );
    let broken = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"tenant_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(broken, StatusCode::BAD_REQUEST).await, 400);
    // None of the above created "bob".
    let free = app
        .http
        .get(app.at("/api/2/users/check_login?username=bob"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(free.status(), StatusCode::NO_CONTENT);

    app.create_user("bob").await;
    let duplicate =
        post(json!({"tenant_id": tenant, "login": "BOB", "contact": {"email": "b2@example.com"}}))
            .await
            .unwrap();
    assert_eq!(account_error(duplicate, StatusCode::CONFLICT).await, 409);
}

#[tokio::test]
async fn get_user_answers_404_for_unknown_and_malformed_ids() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let r = app
            .http
            .get(app.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 404);
    }
    // The 32-hex form of an id is accepted too.
    let user = app.create_user("hexform").await;
    let simple = uuid::Uuid::parse_str(user["id"].as_str().unwrap())
        .unwrap()
        .simple()
        .to_string();
    let r = app
        .http
        .get(app.at(&format!("/api/2/users/{simple}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn users_me_accepts_a_user_token_and_basic_login_password() {
    let app = TestApp::spawn().await;
    let basic: Value = app
        .http
        .get(app.at("/api/2/users/me"))
        .basic_auth(ADMIN_LOGIN, Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(basic["login"], ADMIN_LOGIN);
    let wrong = app
        .http
        .get(app.at("/api/2/users/me"))
        .basic_auth(ADMIN_LOGIN, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(wrong, StatusCode::UNAUTHORIZED).await, 401);
    let garbage = app
        .http
        .get(app.at("/api/2/users/me"))
        .header("authorization", "Basic %%%")
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(garbage, StatusCode::UNAUTHORIZED).await, 401);
    // An API client has no user account of its own.
    let client = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(app.client_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(client, StatusCode::NOT_FOUND).await, 404);
    // The token may come as a query parameter, but not twice.
    let token = app.client_token().await;
    let both = app
        .http
        .get(app.at(&format!("/api/2/users/me?access_token={token}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(both, StatusCode::UNAUTHORIZED).await, 401);
}

#[tokio::test]
async fn put_merges_contact_and_increments_version_as_the_seed_shows() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("JohnDoe").await;
    let before = app.get_user(&id).await;
    let version = before["version"].as_i64().unwrap();
    let body = serde_json::to_string_pretty(&json!({
        "contact": {"address1": "John Doe Str.", "firstname": "Foo", "lastname": "Bar"},
        "version": version,
    }))
    .unwrap();
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(app.client_token().await)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["version"], version + 1);
    assert_eq!(after["activated"], true);
    assert_eq!(
        after["contact"],
        json!({"address1": "John Doe Str.", "address2": "", "city": "", "country": "", "email": "JohnDoe@example.com",
               "firstname": "Foo", "lastname": "Bar", "phone": "", "state": "", "zipcode": ""})
    );
    assert_eq!(app.get_user(&id).await, after);
}

#[tokio::test]
async fn put_without_version_is_400_and_stale_version_is_409_with_code_1001_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let id = app.create_user("carol").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.client_token().await;
    let put = |body: Value| {
        app.http
            .put(app.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let before = app.get_user(&id).await;
    let missing = put(json!({"contact": {"city": "Bonn"}})).await.unwrap();
    assert_eq!(account_error(missing, StatusCode::BAD_REQUEST).await, 400);
    let stale = put(json!({"contact": {"city": "Bonn"}, "version": 7}))
        .await
        .unwrap();
    assert_eq!(account_error(stale, StatusCode::CONFLICT).await, 1001);
    let invalid = put(json!({"contact": {"email": "broken"}, "version": 1}))
        .await
        .unwrap();
    assert_eq!(account_error(invalid, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(app.get_user(&id).await, before);
    // Published scripts send numbers and booleans as strings, and keys the API does not know.
    let lenient = put(
        json!({"contact": {"city": "Bonn", "customer-id": 5}, "version": "1", "enabled": "true"}),
    )
    .await
    .unwrap();
    assert_eq!(lenient.status(), StatusCode::OK);
    let after: Value = lenient.json().await.unwrap();
    assert_eq!(
        (after["contact"]["city"].as_str(), after["version"].as_i64()),
        (Some("Bonn"), Some(2))
    );
}

#[tokio::test]
async fn delete_is_refused_while_enabled_and_succeeds_once_disabled() {
    let app = TestApp::spawn().await;
    let id = app.create_user("dave").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.client_token().await;
    let delete = |query: &str| {
        app.http
            .delete(app.at(&format!("/api/2/users/{id}{query}")))
            .bearer_auth(&token)
            .send()
    };
    let enabled = delete("?version=1").await.unwrap();
    assert_eq!(account_error(enabled, StatusCode::BAD_REQUEST).await, 1027);
    let no_version = delete("").await.unwrap();
    assert_eq!(
        account_error(no_version, StatusCode::BAD_REQUEST).await,
        400
    );
    let bad_version = delete("?version=abc").await.unwrap();
    assert_eq!(
        account_error(bad_version, StatusCode::BAD_REQUEST).await,
        400
    );
    assert_eq!(app.get_user(&id).await["version"], 1);

    let disabled = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&token)
        .json(&json!({"enabled": false, "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    let stale = delete("?version=1").await.unwrap();
    assert_eq!(account_error(stale, StatusCode::CONFLICT).await, 1001);
    assert_eq!(
        delete("?version=2").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let gone = app
        .http
        .get(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(gone, StatusCode::NOT_FOUND).await, 404);
}

#[tokio::test]
async fn set_password_activates_and_enforces_the_policy() {
    let app = TestApp::spawn().await;
    let id = app.create_user("erin").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.client_token().await;
    let set = |body: Value| {
        app.http
            .post(app.at(&format!("/api/2/users/{id}/password")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let short = set(json!({"password": "short"})).await.unwrap();
    assert_eq!(account_error(short, StatusCode::BAD_REQUEST).await, 400);
    let missing = set(json!({})).await.unwrap();
    assert_eq!(account_error(missing, StatusCode::BAD_REQUEST).await, 400);
    // Long enough, but on the shipped list of common passwords, in any case.
    for common in ["password123", "Qwertyuiop"] {
        let r = set(json!({ "password": common })).await.unwrap();
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{common}"
        );
    }
    let user = app.get_user(&id).await;
    assert_eq!(user["activated"], false);
    assert_eq!(user["version"], 1, "a refused password changed the user");
    let long = "é".repeat(64);
    assert_eq!(
        set(json!({"password": long})).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get_user(&id).await["activated"], true);
    let ok = app
        .http
        .post(app.at("/api/2/idp/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "erin"),
            ("password", long.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_plain_user_changes_only_their_own_self_service_fields() {
    let app = TestApp::spawn().await;
    let alice = app.create_active_user("alice").await;
    let bob = app.create_active_user("bob").await;
    let token = app.user_token("alice").await;
    let put = |id: &str, body: Value| {
        app.http
            .put(app.at(&format!("/api/2/users/{id}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let version = app.get_user(&alice).await["version"].as_i64().unwrap();
    let own = put(
        &alice,
        json!({"contact": {"firstname": "Alice"}, "language": "de", "version": version}),
    )
    .await
    .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let before = app.get_user(&alice).await;
    let enable = put(&alice, json!({"enabled": false, "version": version + 1}))
        .await
        .unwrap();
    assert_eq!(account_error(enable, StatusCode::FORBIDDEN).await, 1002);
    let rename = put(&alice, json!({"login": "mallory", "version": version + 1}))
        .await
        .unwrap();
    assert_eq!(account_error(rename, StatusCode::FORBIDDEN).await, 1002);
    assert_eq!(app.get_user(&alice).await, before);

    let bob_before = app.get_user(&bob).await;
    let other = put(
        &bob,
        json!({"contact": {"firstname": "Eve"}, "version": bob_before["version"]}),
    )
    .await
    .unwrap();
    assert_eq!(account_error(other, StatusCode::FORBIDDEN).await, 1002);
    let read_other = app
        .http
        .get(app.at(&format!("/api/2/users/{bob}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(read_other, StatusCode::FORBIDDEN).await, 1002);
    let create = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&token)
        .json(&json!({"tenant_id": app.root_tenant_id().await, "login": "sneaky", "contact": {"email": "s@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(create, StatusCode::FORBIDDEN).await, 1002);
    let password = app
        .http
        .post(app.at(&format!("/api/2/users/{bob}/password")))
        .bearer_auth(&token)
        .json(&json!({"password": "a-new-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(password, StatusCode::FORBIDDEN).await, 1002);
    assert_eq!(app.get_user(&bob).await, bob_before);
}

#[tokio::test]
async fn disabling_a_user_or_setting_a_password_revokes_their_tokens() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("frank").await;
    let token = app.user_token("frank").await;
    let me = || {
        app.http
            .get(app.at("/api/2/users/me"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);
    let r = app
        .http
        .post(app.at(&format!("/api/2/users/{id}/password")))
        .bearer_auth(app.client_token().await)
        .json(&json!({"password": "another-Passw0rd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        account_error(me().await.unwrap(), StatusCode::UNAUTHORIZED).await,
        401
    );

    let id2 = app.create_active_user("grace").await;
    let token2 = app.user_token("grace").await;
    let version = app.get_user(&id2).await["version"].clone();
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{id2}")))
        .bearer_auth(app.client_token().await)
        .json(&json!({"enabled": false, "version": version}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after = app
        .http
        .get(app.at("/api/2/users/me"))
        .bearer_auth(&token2)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(after, StatusCode::UNAUTHORIZED).await, 401);
}

#[tokio::test]
async fn forged_and_tampered_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 100_000);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let oversized = "a".repeat(10_000);
    for bad in [tampered, alg_none, oversized, "not.a.jwt".to_owned()] {
        let r = app
            .http
            .get(app.at(&format!("/api/2/clients/{}", app.client_id)))
            .bearer_auth(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(account_error(r, StatusCode::UNAUTHORIZED).await, 401);
    }
}

#[tokio::test]
async fn unknown_routes_methods_and_oversized_bodies_answer_in_the_platform_envelope() {
    let app = TestApp::spawn().await;
    let token = app.client_token().await;
    let id = app.create_user("henry").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .http
        .patch(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::METHOD_NOT_ALLOWED).await, 405);
    let r = app
        .http
        .get(app.at("/api/2/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 404);
    // The face's space is /api/2 and below it; a path that merely starts alike is not.
    let r = app.http.get(app.at("/api/2")).send().await.unwrap();
    assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 404);
    let r = app.http.get(app.at("/api/2x/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["title"], "Not Found",
        "Keystone's body: {body}"
    );
    assert!(body["error"].get("domain").is_none(), "{body}");
    let huge = json!({"contact": {"city": "x".repeat(2 * 1024 * 1024)}, "version": 1});
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{id}")))
        .bearer_auth(&token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::PAYLOAD_TOO_LARGE).await, 413);
    assert_eq!(app.get_user(&id).await["version"], 1);
}

#[tokio::test]
async fn error_bodies_carry_the_request_id_sent_back_in_the_header() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .get(app.at("/api/2/users/me"))
        .send()
        .await
        .unwrap();
    let header = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"]["request_id"], header.as_str());
    assert!(!header.is_empty());
}
