//! The test harness: a running application, its bootstrap credentials, and shortcuts for the
//! calls most tests need.

use reqwest::{Client, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use warden::{Application, Settings};

pub const ADMIN_LOGIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-Passw0rd-for-tests";
pub const CLIENT_SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const USER_PASSWORD: &str = "user-Passw0rd-for-tests";

pub struct TestApp {
    pub url: String,
    pub http: Client,
    pub client_id: String,
    pub settings: Settings,
    pub data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A fixed key-encryption key for tests on a shared database (nodes must agree on it).
pub const TEST_KEK: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// The PostgreSQL server the suite runs against when `TEST_POSTGRES_URL` names one (an admin
/// URL such as `postgres://postgres@127.0.0.1:5432/postgres`); SQLite otherwise.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A new, empty PostgreSQL database for one test; returns its URL.
pub fn fresh_postgres_database(admin_url: &str) -> String {
    let name = format!("warden_it_{}", uuid::Uuid::new_v4().simple());
    let out = std::process::Command::new("psql")
        .args([
            admin_url,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "creating {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("admin URL names a database");
    format!("{base}/{name}")
}

/// The database for a new test application: a fresh PostgreSQL database when the suite runs
/// on PostgreSQL, else `None` (SQLite in the data directory).
pub fn fresh_database() -> Option<String> {
    postgres_admin_url().map(|admin| fresh_postgres_database(&admin))
}

pub fn settings_for(
    dir: &std::path::Path,
    client_id: &str,
    database_url: Option<String>,
) -> Settings {
    Settings {
        listen: "127.0.0.1:0".to_owned(),
        data_dir: dir.to_owned(),
        kek: database_url.as_ref().map(|_| SecretString::from(TEST_KEK)),
        database_url,
        bootstrap_admin_login: ADMIN_LOGIN.to_owned(),
        bootstrap_admin_password: Some(SecretString::from(ADMIN_PASSWORD)),
        bootstrap_client_id: Some(client_id.to_owned()),
        bootstrap_client_secret: Some(SecretString::from(CLIENT_SECRET)),
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let client_id = uuid::Uuid::new_v4().to_string();
        let mut settings = settings_for(dir.path(), &client_id, fresh_database());
        adjust(&mut settings);
        Self::start(dir, client_id, settings).await
    }

    /// An application whose services read time from `clock`.
    pub async fn spawn_with_clock(clock: &warden_core::ManualClock) -> Self {
        Self::spawn_with_clock_and(clock, |_| {}).await
    }

    /// An application whose services read time from `clock`, with adjusted settings.
    pub async fn spawn_with_clock_and(
        clock: &warden_core::ManualClock,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let client_id = uuid::Uuid::new_v4().to_string();
        let mut settings = settings_for(dir.path(), &client_id, fresh_database());
        adjust(&mut settings);
        let app =
            Application::build_with_clock(settings.clone(), std::sync::Arc::new(clock.clone()))
                .await
                .expect("application starts");
        Self::serve(app, dir, client_id, settings)
    }

    /// Starts an application over an existing data directory (a restart).
    pub async fn start(dir: tempfile::TempDir, client_id: String, settings: Settings) -> Self {
        let app = Application::build(settings.clone())
            .await
            .expect("application starts");
        Self::serve(app, dir, client_id, settings)
    }

    /// Serves an application that was already built.
    pub fn serve(
        app: Application,
        dir: tempfile::TempDir,
        client_id: String,
        settings: Settings,
    ) -> Self {
        let url = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(async {
            let _ = rx.await;
        }));
        TestApp {
            url,
            http: Client::new(),
            client_id,
            settings,
            data_dir: dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server, draining requests; hands back its data directory and settings.
    pub async fn stop(mut self) -> (tempfile::TempDir, Settings) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let data = std::mem::replace(&mut self.data_dir, dir);
        (data, self.settings.clone())
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn client_token(&self) -> String {
        let r = self
            .http
            .post(self.at("/api/2/idp/token"))
            .basic_auth(&self.client_id, Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn root_tenant_id(&self) -> String {
        let token = self.client_token().await;
        let r = self
            .http
            .get(self.at(&format!("/api/2/clients/{}", self.client_id)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["tenant_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a user in the root tenant through the account face; returns its JSON.
    pub async fn create_user(&self, login: &str) -> Value {
        let token = self.client_token().await;
        let tenant = self.root_tenant_id().await;
        let r = self
            .http
            .post(self.at("/api/2/users"))
            .bearer_auth(&token)
            .json(&json!({"tenant_id": tenant, "login": login, "contact": {"email": format!("{login}@example.com")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// Creates a user and sets its password (which activates it); returns its id.
    pub async fn create_active_user(&self, login: &str) -> String {
        let user = self.create_user(login).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let r = self
            .http
            .post(self.at(&format!("/api/2/users/{id}/password")))
            .bearer_auth(self.client_token().await)
            .json(&json!({"password": USER_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        id
    }

    pub async fn get_user(&self, id: &str) -> Value {
        let r = self
            .http
            .get(self.at(&format!("/api/2/users/{id}")))
            .bearer_auth(self.client_token().await)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// A domain-scoped Keystone token, the way IAM clients obtain one.
    pub async fn keystone_token(&self, login: &str, password: &str) -> String {
        let r = self
            .keystone_auth(login, password, json!({"domain": {"name": "Default"}}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.headers()["x-subject-token"].to_str().unwrap().to_owned()
    }

    pub async fn keystone_auth(&self, login: &str, password: &str, scope: Value) -> Response {
        self.http
            .post(self.at("/v3/auth/tokens"))
            .json(&json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": login, "domain": {"name": "Default"}, "password": password}}},
                "scope": scope}}))
            .send()
            .await
            .unwrap()
    }

    pub async fn user_token(&self, login: &str) -> String {
        let r = self
            .http
            .post(self.at("/api/2/idp/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", login),
                ("password", USER_PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The account face's error envelope, checked for shape; returns its `code`.
pub async fn account_error(r: Response, status: StatusCode) -> i64 {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["details"].is_object(), "{body}");
    assert_eq!(error["domain"], "PlatformAccountServer");
    error["code"].as_i64().expect("integer code")
}

/// The IAM error body, checked for shape; returns its `error_code`.
pub async fn iam_error(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert!(body["error_msg"].is_string(), "{body}");
    body["error_code"].as_str().expect("string code").to_owned()
}

/// Keystone's error body, checked for shape.
pub async fn keystone_error(r: Response, status: StatusCode) {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], status.as_u16());
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["title"].is_string());
}

/// `X-Sdk-Date` for now plus `offset_seconds`, as the Huawei SDK writes it.
pub fn sdk_date(offset_seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_seconds))
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// The `Authorization` header the Huawei SDK would send for this request signed with `ak`/`sk`
/// (`SDK-HMAC-SHA256`, every given header signed).
pub fn sdk_authorization(
    ak: &str,
    sk: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
) -> String {
    use warden_core::aksk::{canonical_request, sign, string_to_sign, SignedRequest};
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    let date = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-sdk-date"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let request = SignedRequest {
        method,
        path,
        query,
        headers,
        body,
    };
    let signature = sign(
        sk,
        &string_to_sign(&date, &canonical_request(&request, &names)),
    );
    format!(
        "SDK-HMAC-SHA256 Access={ak}, SignedHeaders={}, Signature={signature}",
        names.join(";")
    )
}

impl TestApp {
    /// `host:port` as the HTTP client sends it in `Host`.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// The headers the Huawei SDK signs for a request with or without a JSON body.
    pub fn sdk_headers(&self, with_body: bool) -> Vec<(String, String)> {
        let mut headers = vec![
            ("host".to_owned(), self.host()),
            ("x-sdk-date".to_owned(), sdk_date(0)),
        ];
        if with_body {
            headers.push((
                "content-type".to_owned(),
                "application/json;charset=utf-8".to_owned(),
            ));
        }
        headers
    }

    /// Sends a request exactly as signed: `path_and_query`, `headers` (all signed) and `body`.
    pub async fn send_signed(
        &self,
        ak: &str,
        sk: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Response {
        let authorization = {
            let (path, query) = match path_and_query.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (path_and_query, None),
            };
            sdk_authorization(ak, sk, method, path, query, headers, body)
        };
        self.send_with_authorization(method, path_and_query, headers, body, &authorization)
            .await
    }

    /// Sends a request with a given `Authorization`, which need not match what is sent.
    pub async fn send_with_authorization(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: &[u8],
        authorization: &str,
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, self.at(path_and_query))
            .header("authorization", authorization);
        for (name, value) in headers {
            // The client writes `Host` itself, with the same value.
            if !name.eq_ignore_ascii_case("host") {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        request.body(body.to_vec()).send().await.unwrap()
    }
}

/// A refused signature: 401 with the API gateway's body (form D); returns `error_msg`.
pub async fn signature_refused(r: Response) -> String {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "APIGW.0301", "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    body["error_msg"].as_str().unwrap().to_owned()
}

/// Whether the embedded database's files hold `text` in clear (always false on PostgreSQL,
/// whose files this test cannot read).
pub fn database_holds(app: &TestApp, text: &str) -> bool {
    if app.settings.database_url.is_some() {
        return false;
    }
    ["warden.db", "warden.db-wal"].iter().any(|name| {
        std::fs::read(app.data_dir.path().join(name)).is_ok_and(|bytes| {
            bytes
                .windows(text.len())
                .any(|window| window == text.as_bytes())
        })
    })
}

/// A Keystone request with an optional token (`X-Auth-Token`) and JSON body.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut request = app.http.request(method, app.at(path));
    if let Some(token) = token {
        request = request.header("x-auth-token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// The JSON body of an answer that must have `status` (the body is shown when it has not).
pub async fn ok_json(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The administrator's Keystone token, scoped to the Default domain.
pub async fn admin_token(app: &TestApp) -> String {
    app.keystone_token(ADMIN_LOGIN, ADMIN_PASSWORD).await
}

/// Sends a Keystone request (as [`call`]) that must be refused with `status` in Keystone's
/// error body.
pub async fn refused(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: StatusCode,
) {
    let r = call(app, method, path, token, body).await;
    keystone_error(r, status).await;
}
