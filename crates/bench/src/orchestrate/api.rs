//! Setting up the data a workload needs, through Warden's own API.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::blocking::Client;
use serde_json::{json, Value};

pub struct Api {
    http: Client,
    base: String,
    pub token: String,
    pub client_id: String,
    pub client_secret: String,
}

/// A user made for a workload.
#[derive(Clone, Debug)]
pub struct BenchUser {
    pub id: String,
    pub login: String,
    pub version: i64,
}

impl Api {
    /// Signs in with client credentials.
    pub fn connect(addr: &str, client_id: &str, client_secret: &str) -> Result<Api> {
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let base = format!("http://{addr}");
        let mut api = Api {
            http,
            base,
            token: String::new(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
        };
        api.token = api.client_token()?;
        Ok(api)
    }

    /// A fresh client-credentials access token.
    pub fn client_token(&self) -> Result<String> {
        let response = self
            .http
            .post(format!("{}/api/2/idp/token", self.base))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()?;
        let body = expect(response, 200, "client_credentials token")?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("no access_token")
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<reqwest::blocking::Response> {
        let mut request = self
            .http
            .request(method, format!("{}/api/2{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(request.send()?)
    }

    /// The tenant the API client belongs to (the root tenant for the bootstrap client).
    pub fn own_tenant(&self) -> Result<String> {
        let path = format!("/clients/{}", self.client_id);
        let body = expect(self.send(reqwest::Method::GET, &path, None)?, 200, "client")?;
        body["tenant_id"]
            .as_str()
            .map(str::to_owned)
            .context("no tenant_id")
    }

    pub fn create_tenant(&self, parent: &str, name: &str) -> Result<String> {
        let body = json!({"name": name, "kind": "customer", "parent_id": parent});
        let body = expect(
            self.send(reqwest::Method::POST, "/tenants", Some(body))?,
            201,
            "tenant",
        )?;
        body["id"]
            .as_str()
            .map(str::to_owned)
            .context("no tenant id")
    }

    pub fn create_user(&self, tenant: &str, login: &str) -> Result<BenchUser> {
        let body = json!({
            "tenant_id": tenant,
            "login": login,
            "contact": {"email": format!("{login}@example.com"), "firstname": "Bench", "lastname": "User"},
        });
        let body = expect(
            self.send(reqwest::Method::POST, "/users", Some(body))?,
            200,
            "user",
        )?;
        Ok(BenchUser {
            id: body["id"].as_str().context("no user id")?.to_owned(),
            login: login.to_owned(),
            version: body["version"].as_i64().context("no version")?,
        })
    }

    pub fn set_password(&self, user: &BenchUser, password: &str) -> Result<()> {
        let path = format!("/users/{}/password", user.id);
        let response = self.send(
            reqwest::Method::POST,
            &path,
            Some(json!({"password": password})),
        )?;
        if response.status().as_u16() != 204 {
            bail!("setting a password answered {}", response.status());
        }
        Ok(())
    }

    /// The user's current version.
    pub fn version(&self, user: &str) -> Result<i64> {
        let body = expect(
            self.send(reqwest::Method::GET, &format!("/users/{user}"), None)?,
            200,
            "user",
        )?;
        body["version"].as_i64().context("no version")
    }

    /// GETs a path and checks for a 200 (a sanity check before a workload).
    pub fn check_get(&self, path: &str) -> Result<Value> {
        expect(self.send(reqwest::Method::GET, path, None)?, 200, path)
    }
}

/// The JSON body of `response`, which must have answered `status`.
pub(super) fn expect(
    response: reqwest::blocking::Response,
    status: u16,
    what: &str,
) -> Result<Value> {
    let got = response.status().as_u16();
    let text = response.text()?;
    if got != status {
        bail!("{what}: expected {status}, got {got}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}
