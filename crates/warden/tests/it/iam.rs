//! The iam face: the self-service contact change of seed 004 and the user view, with every
//! refusal in IAM's body and nothing changed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn hex(id: &str) -> String {
    uuid::Uuid::parse_str(id).unwrap().simple().to_string()
}

#[tokio::test]
async fn info_accepts_both_published_bodies_and_answers_204_empty() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("lena").await;
    let token = app.keystone_token("lena", USER_PASSWORD).await;
    let put = |body: String| {
        app.http
            .put(app.at(&format!("/v3.0/OS-USER/users/{}/info", hex(&id))))
            .header("x-auth-token", &token)
            .header("content-type", "application/json;charset=utf8")
            .body(body)
            .send()
    };
    let seed = "{\n\t\"user\": {\n\t\t\"areacode\": \"0086\",\n\t\t\"phone\": \"18292010816\",\n\t\t\"email\": \"abcdefg@123.com\"\n\t}\n}";
    let r = put(seed.to_owned()).await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.text().await.unwrap().is_empty());
    let user = app.get_user(&id).await;
    assert_eq!(user["contact"]["email"], "abcdefg@123.com");
    assert_eq!(user["contact"]["phone"], "0086-18292010816");
    assert_eq!(user["version"], 3);

    let r =
        put(json!({"user": {"email": "sdk@example.com", "mobile": "0086-123456789"}}).to_string())
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let shown: Value = app
        .http
        .get(app.at(&format!("/v3.0/OS-USER/users/{}", hex(&id))))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["user"]["id"], hex(&id).as_str());
    assert_eq!(shown["user"]["email"], "sdk@example.com");
    assert_eq!(shown["user"]["areacode"], "0086");
    assert_eq!(shown["user"]["phone"], "123456789");
    assert_eq!(shown["user"]["name"], "lena");
    assert_eq!(app.get_user(&id).await["version"], 4);

    // The hyphenated id form is accepted on this face too; an empty change writes nothing.
    let r = app
        .http
        .put(app.at(&format!("/v3.0/OS-USER/users/{id}/info")))
        .header("x-auth-token", &token)
        .json(&json!({"user": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_user(&id).await["version"], 4);
}

#[tokio::test]
async fn info_refusals_use_iam_codes_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("mike").await;
    app.create_active_user("nina").await;
    let token = app.keystone_token("mike", USER_PASSWORD).await;
    let other = app.keystone_token("nina", USER_PASSWORD).await;
    let admin = app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await;
    let path = format!("/v3.0/OS-USER/users/{}/info", hex(&id));
    let before = app.get_user(&id).await;
    let put = |token: Option<&str>, path: &str, body: String| {
        let mut request = app
            .http
            .put(app.at(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.header("x-auth-token", token);
        }
        request.send()
    };
    let cases: Vec<(Option<&str>, String, String, StatusCode, &str)> = vec![
        (
            Some(&token),
            path.clone(),
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "IAM.0011",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"email": "x@example.com"}).to_string(),
            StatusCode::BAD_REQUEST,
            "IAM.0011",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"email": "no-at-sign"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "1102",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"email": format!("{}@example.com", "a".repeat(250))}}).to_string(),
            StatusCode::BAD_REQUEST,
            "1102",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"phone": "123", "areacode": "0086x"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "1104",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"phone": "12a3", "areacode": "0086"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "1104",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"phone": "1".repeat(33), "areacode": "0086"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "1104",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"phone": "18292010816"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "1106",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"mobile": "18292010816"}}).to_string(),
            StatusCode::BAD_REQUEST,
            "1104",
        ),
        (
            None,
            path.clone(),
            json!({"user": {"email": "x@example.com"}}).to_string(),
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        (
            Some("bogus"),
            path.clone(),
            json!({"user": {"email": "x@example.com"}}).to_string(),
            StatusCode::UNAUTHORIZED,
            "IAM.0001",
        ),
        (
            Some(&other),
            path.clone(),
            json!({"user": {"email": "x@example.com"}}).to_string(),
            StatusCode::FORBIDDEN,
            "IAM.0002",
        ),
        (
            Some(&admin),
            path.clone(),
            json!({"user": {"email": "x@example.com"}}).to_string(),
            StatusCode::FORBIDDEN,
            "IAM.0002",
        ),
        (
            Some(&admin),
            format!("/v3.0/OS-USER/users/{}/info", uuid::Uuid::new_v4().simple()),
            json!({"user": {"email": "x@example.com"}}).to_string(),
            StatusCode::NOT_FOUND,
            "IAM.0004",
        ),
        (
            Some(&token),
            path.clone(),
            json!({"user": {"email": format!("{}@example.com", "a".repeat(2 * 1024 * 1024))}})
                .to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "IAM.1101",
        ),
    ];
    for (token, path, body, status, code) in cases {
        let r = put(token, &path, body.clone()).await.unwrap();
        assert_eq!(
            iam_error(r, status).await,
            code,
            "{path} {}",
            &body[..body.len().min(80)]
        );
        assert_eq!(app.get_user(&id).await, before, "{body:.80}");
    }
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let r = app
            .http
            .request(method, app.at(&path))
            .header("x-auth-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            iam_error(r, StatusCode::METHOD_NOT_ALLOWED).await,
            "IAM.0007"
        );
    }
    assert_eq!(app.get_user(&id).await, before);
}

#[tokio::test]
async fn show_is_for_the_user_themself_or_an_administrator() {
    let app = TestApp::spawn().await;
    let id = app.create_active_user("olga").await;
    app.create_active_user("paul").await;
    let path = format!("/v3.0/OS-USER/users/{}", hex(&id));
    let get = |token: String| {
        app.http
            .get(app.at(&path))
            .header("x-auth-token", token)
            .send()
    };
    assert_eq!(
        get(app.keystone_token("olga", USER_PASSWORD).await)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        get(app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = get(app.keystone_token("paul", USER_PASSWORD).await)
        .await
        .unwrap();
    assert_eq!(iam_error(r, StatusCode::FORBIDDEN).await, "IAM.0002");
    let r = app.http.get(app.at(&path)).send().await.unwrap();
    assert_eq!(iam_error(r, StatusCode::UNAUTHORIZED).await, "IAM.0001");
}
