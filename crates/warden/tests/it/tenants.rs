//! Integration tests of the account face: tenants. Every endpoint on its success and refusal
//! paths, the tree rules with their platform codes, cursor paging, moves, cascading deletes,
//! personal tenants, and that a refused request changed nothing.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// A caller of the account face: a bearer token and the application it talks to.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Api<'a> {
    async fn root_client(app: &'a TestApp) -> Api<'a> {
        Api {
            app,
            token: app.client_token().await,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.app
            .http
            .post(self.app.at(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Response {
        self.app
            .http
            .get(self.app.at(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn put(&self, path: &str, body: Value) -> Response {
        self.app
            .http
            .put(self.app.at(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str) -> Response {
        self.app
            .http
            .delete(self.app.at(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a tenant and returns it; the creation must succeed.
    async fn create(&self, parent: &str, kind: &str, name: &str) -> Value {
        let r = self
            .post(
                "/api/2/tenants",
                json!({"parent_id": parent, "kind": kind, "name": name}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    /// Reads a tenant; the read must succeed.
    async fn tenant(&self, id: &str) -> Value {
        let r = self.get(&format!("/api/2/tenants/{id}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// Applies a change at the tenant's current version; it must succeed.
    async fn change(&self, id: &str, mut body: Value) -> Value {
        body["version"] = self.tenant(id).await["version"].clone();
        let r = self.put(&format!("/api/2/tenants/{id}"), body).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    async fn disable(&self, id: &str) -> Value {
        self.change(id, json!({"enabled": false})).await
    }

    async fn delete_at(&self, id: &str, version: &Value) -> Response {
        self.delete(&format!("/api/2/tenants/{id}?version={version}"))
            .await
    }

    /// Ids of the tenants of a subtree, following every cursor.
    async fn subtree(&self, root: &str) -> Vec<String> {
        let body: Value = self
            .get(&format!("/api/2/tenants?subtree_root_id={root}"))
            .await
            .json()
            .await
            .unwrap();
        assert!(body["paging"]["cursors"]["after"].is_null(), "{body}");
        ids(&body["items"])
    }

    /// An API client of `tenant`, acting through a token of its own.
    async fn client_of(&self, tenant: &str) -> Api<'a> {
        let r = self
            .post(
                "/api/2/clients",
                json!({"type": "api_client", "tenant_id": tenant,
                       "token_endpoint_auth_method": "client_secret_basic",
                       "data": {"client_name": "tenant-tests"}}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        let created: Value = r.json().await.unwrap();
        let r = self
            .app
            .http
            .post(self.app.at("/api/2/idp/token"))
            .basic_auth(
                created["client_id"].as_str().unwrap(),
                created["client_secret"].as_str(),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let token = r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Api {
            app: self.app,
            token,
        }
    }

    /// Creates a user in `tenant` and returns it.
    async fn create_user(&self, tenant: &str, login: &str) -> Value {
        let r = self
            .post(
                "/api/2/users",
                json!({"tenant_id": tenant, "login": login,
                       "contact": {"email": format!("{login}@example.com")}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.as_str()
                .unwrap_or_else(|| t["id"].as_str().unwrap())
                .to_owned()
        })
        .collect()
}

fn id(tenant: &Value) -> String {
    tenant["id"].as_str().unwrap().to_owned()
}

/// A plain user's token: no access policies, so no reach over any tenant.
async fn plain_user<'a>(app: &'a TestApp, login: &str) -> Api<'a> {
    app.create_active_user(login).await;
    Api {
        app,
        token: app.user_token(login).await,
    }
}

#[tokio::test]
async fn create_answers_201_with_version_1_and_the_whole_tenant_object() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let r = api
        .post(
            "/api/2/tenants",
            json!({"name": "  Acme Partner ", "kind": "partner", "parent_id": root,
                   "customer_id": "ext-42", "internal_tag": "tag", "language": "de",
                   "contact": {"email": "ops@acme.example", "firstname": "Ann", "types": ["legal"]},
                   "internal-tag": "ignored, as the published samples send it"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let partner: Value = r.json().await.unwrap();
    assert_eq!(partner["version"], 1);
    assert_eq!(partner["name"], "Acme Partner");
    assert_eq!(partner["kind"], "partner");
    assert_eq!(partner["parent_id"], root.as_str());
    assert_eq!(partner["enabled"], true);
    assert_eq!(partner["language"], "de");
    assert_eq!(partner["customer_type"], "default");
    assert_eq!(partner["customer_id"], "ext-42");
    assert_eq!(partner["internal_tag"], "tag");
    assert_eq!(partner["owner_id"], Value::Null);
    assert_eq!(partner["has_children"], false);
    assert_eq!(partner["pricing_mode"], "production");
    assert_eq!(partner["mfa_status"], "disabled");
    assert_eq!(partner["ancestral_access"], true);
    assert_eq!(
        partner["update_lock"],
        json!({"enabled": false, "owner_id": null})
    );
    assert_eq!(
        partner["default_idp_id"],
        "11111111-1111-1111-1111-111111111111"
    );
    assert_eq!(partner["contact"]["email"], "ops@acme.example");
    assert_eq!(partner["contact"]["firstname"], "Ann");
    assert_eq!(partner["contact"]["lastname"], "");
    assert_eq!(partner["contact"]["types"], json!(["legal"]));
    assert!(partner["created_at"].as_str().unwrap().ends_with("+00:00"));
    assert!(partner.get("path").is_none());
    assert_eq!(api.tenant(&id(&partner)).await, partner);

    let customer = api.create(&id(&partner), "customer", "Acme Customer").await;
    assert_eq!(customer["pricing_mode"], "trial");
    assert_eq!(api.tenant(&id(&partner)).await["has_children"], true);
    let unit = api.create(&id(&customer), "unit", "Sales").await;
    assert_eq!(unit["kind"], "unit");
    let folder = api.create(&root, "folder", "Folder").await;
    api.create(&id(&folder), "customer", "In a folder").await;
}

#[tokio::test]
async fn create_refusals_name_the_problem_and_create_nothing() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let customer = id(&api.create(&partner, "customer", "Customer").await);
    let before_root = api.subtree(&root).await;

    let missing = api.post("/api/2/tenants", json!({})).await;
    assert_eq!(account_error(missing, StatusCode::BAD_REQUEST).await, 400);
    let cases = [
        json!({"name": "X", "kind": "unit", "parent_id": partner}),
        json!({"name": "X", "kind": "partner", "parent_id": customer}),
        json!({"name": "X", "kind": "folder", "parent_id": customer}),
        json!({"name": "X", "kind": "root", "parent_id": root}),
        json!({"name": "X", "kind": "emperor", "parent_id": root}),
        json!({"name": "X", "kind": "partner", "parent_id": "not-an-id"}),
        json!({"name": "X", "kind": "partner", "parent_id": uuid::Uuid::new_v4().to_string()}),
        json!({"name": "   ", "kind": "partner", "parent_id": root}),
        json!({"name": "x".repeat(256), "kind": "partner", "parent_id": root}),
        json!({"name": "X", "kind": "partner", "parent_id": root, "internal_tag": "t".repeat(257)}),
        json!({"name": "X", "kind": "partner", "parent_id": root, "contact": {"email": "nope"}}),
        json!({"name": "X", "kind": "partner", "parent_id": root, "contact": {"types": ["boss"]}}),
        json!({"name": "X", "kind": "partner", "parent_id": root, "update_lock": {"owner_id": root}}),
        json!({"name": "X", "kind": "partner", "parent_id": root, "customer_type": "gold"}),
    ];
    for body in cases {
        let r = api.post("/api/2/tenants", body.clone()).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{body}"
        );
    }
    let not_json = app
        .http
        .post(app.at("/api/2/tenants"))
        .bearer_auth(&api.token)
        .body(json!({"name": "X", "kind": "partner", "parent_id": root}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        415
    );
    let unauthenticated = app
        .http
        .post(app.at("/api/2/tenants"))
        .json(&json!({"name": "X", "kind": "partner", "parent_id": root}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(unauthenticated, StatusCode::UNAUTHORIZED).await,
        401
    );
    assert_eq!(api.subtree(&root).await, before_root);
}

#[tokio::test]
async fn a_disabled_parent_refuses_children_with_1003_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let disabled = api.disable(&partner).await;
    assert_eq!(disabled["has_children"], false);
    let r = api
        .post(
            "/api/2/tenants",
            json!({"name": "Child", "kind": "customer", "parent_id": partner}),
        )
        .await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 1003);
    assert_eq!(api.tenant(&partner).await, disabled);
    assert_eq!(api.subtree(&partner).await, vec![partner]);
}

#[tokio::test]
async fn sibling_names_are_unique_without_regard_to_case_with_409_1004_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let acme = api.create(&root, "partner", "Acme").await;
    let other = api.create(&root, "partner", "Other").await;
    let before = api.subtree(&root).await;
    for name in ["Acme", "ACME", " acme "] {
        let r = api
            .post(
                "/api/2/tenants",
                json!({"name": name, "kind": "customer", "parent_id": root}),
            )
            .await;
        assert_eq!(account_error(r, StatusCode::CONFLICT).await, 1004, "{name}");
    }
    assert_eq!(api.subtree(&root).await, before);

    // The same name elsewhere in the tree is fine.
    api.create(&id(&other), "customer", "Acme").await;

    let rename = api
        .put(
            &format!("/api/2/tenants/{}", id(&other)),
            json!({"name": "acme", "version": other["version"]}),
        )
        .await;
    assert_eq!(account_error(rename, StatusCode::CONFLICT).await, 1004);
    let unchanged = api.tenant(&id(&other)).await;
    assert_eq!(unchanged["name"], "Other");
    assert_eq!(unchanged["version"], other["version"]);
    assert_eq!(api.tenant(&id(&acme)).await["name"], "Acme");
}

#[tokio::test]
async fn a_caller_without_reach_gets_403_1002_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = api.create(&root, "partner", "Partner").await;
    let pid = id(&partner);
    let before_tree = api.subtree(&root).await;
    let outsider = plain_user(&app, "outsider").await;

    let attempts = vec![
        outsider
            .post(
                "/api/2/tenants",
                json!({"name": "Mine", "kind": "customer", "parent_id": pid}),
            )
            .await,
        outsider.get(&format!("/api/2/tenants/{pid}")).await,
        outsider
            .put(
                &format!("/api/2/tenants/{pid}"),
                json!({"name": "Taken over", "enabled": false, "version": 1}),
            )
            .await,
        outsider
            .delete(&format!("/api/2/tenants/{pid}?version=1"))
            .await,
        outsider
            .get(&format!("/api/2/tenants/{pid}/children"))
            .await,
        outsider.get(&format!("/api/2/tenants/{pid}/users")).await,
        outsider
            .get(&format!("/api/2/tenants?parent_id={root}"))
            .await,
        outsider
            .get(&format!("/api/2/tenants?subtree_root_id={pid}"))
            .await,
    ];
    for r in attempts {
        assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    }
    assert_eq!(api.tenant(&pid).await, partner);
    assert_eq!(api.subtree(&root).await, before_tree);

    // A uuids list is filtered rather than refused.
    let listed: Value = outsider
        .get(&format!("/api/2/tenants?uuids={pid},{root}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
}

#[tokio::test]
async fn a_sub_tenant_client_acts_inside_its_subtree_only() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let sibling = api.create(&root, "partner", "Sibling").await;
    let admin = api.client_of(&partner).await;

    let customer = admin.create(&partner, "customer", "Customer").await;
    assert_eq!(admin.tenant(&id(&customer)).await, customer);
    let renamed = admin
        .change(&id(&customer), json!({"name": "Customer 2"}))
        .await;
    assert_eq!(renamed["version"], 2);

    let outside = vec![
        admin
            .post(
                "/api/2/tenants",
                json!({"name": "Intruder", "kind": "customer", "parent_id": id(&sibling)}),
            )
            .await,
        admin.get(&format!("/api/2/tenants/{root}")).await,
        admin.get(&format!("/api/2/tenants/{}", id(&sibling))).await,
        admin
            .put(
                &format!("/api/2/tenants/{}", id(&sibling)),
                json!({"name": "Mine now", "version": 1}),
            )
            .await,
        // Moving its customer out of its reach needs reach over the new parent too.
        admin
            .put(
                &format!("/api/2/tenants/{}", id(&customer)),
                json!({"parent_id": id(&sibling), "version": 2}),
            )
            .await,
        // A caller cannot delete the tenant it belongs to.
        admin
            .delete(&format!("/api/2/tenants/{partner}?version=1"))
            .await,
    ];
    for r in outside {
        assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1002);
    }
    assert_eq!(api.tenant(&id(&sibling)).await, sibling);
    assert_eq!(api.tenant(&id(&customer)).await, renamed);
    assert_eq!(
        api.subtree(&id(&sibling)).await,
        vec![id(&sibling)],
        "nothing was created or moved under the sibling"
    );

    let listed: Value = admin
        .get(&format!(
            "/api/2/tenants?uuids={root},{partner},{}",
            id(&customer)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&listed["items"]), vec![partner.clone(), id(&customer)]);
}

#[tokio::test]
async fn get_embeds_the_path_nearest_first_and_unknown_tenants_are_404_1005() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let customer = id(&api.create(&partner, "customer", "Customer").await);
    let with_path: Value = api
        .get(&format!("/api/2/tenants/{customer}?embed_path=true"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(with_path["path"], json!([partner, root]));
    let root_tenant: Value = api
        .get(&format!("/api/2/tenants/{root}?embed_path=true"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(root_tenant["path"], json!([]));
    assert_eq!(root_tenant["kind"], "root");
    assert_eq!(root_tenant["parent_id"], Value::Null);

    // The 32-hex form names the same tenant.
    let simple = customer.replace('-', "");
    assert_eq!(api.tenant(&simple).await["id"], customer.as_str());

    for missing in [uuid::Uuid::new_v4().to_string(), "nope".to_owned()] {
        let r = api.get(&format!("/api/2/tenants/{missing}")).await;
        assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 1005);
    }
}

#[tokio::test]
async fn list_pages_through_a_subtree_by_depth_with_limit_and_only_the_cursor() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let customer_a = id(&api.create(&partner, "customer", "A").await);
    let customer_b = id(&api.create(&partner, "customer", "B").await);
    let unit_a = id(&api.create(&customer_a, "unit", "A1").await);
    let unit_b = id(&api.create(&customer_b, "unit", "B1").await);
    let unit_c = id(&api.create(&customer_b, "unit", "B2").await);
    // Outside the subtree: never listed.
    api.create(&root, "partner", "Elsewhere").await;

    let first: Value = api
        .get(&format!("/api/2/tenants?subtree_root_id={partner}&limit=2"))
        .await
        .json()
        .await
        .unwrap();
    assert!(first["timestamp"].is_string());
    let mut pages = vec![ids(&first["items"])];
    let mut after = first["paging"]["cursors"]["after"]
        .as_str()
        .map(str::to_owned);
    while let Some(cursor) = after {
        let r = api.get(&format!("/api/2/tenants?after={cursor}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.unwrap();
        pages.push(ids(&page["items"]));
        after = page["paging"]["cursors"]["after"]
            .as_str()
            .map(str::to_owned);
        assert!(pages.len() <= 3, "too many pages: {pages:?}");
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.iter().all(|p| p.len() == 2), "{pages:?}");
    let all: Vec<String> = pages.concat();
    assert_eq!(all[0], partner, "the root of the subtree comes first");
    let mut customers = all[1..3].to_vec();
    customers.sort();
    let mut expected_customers = vec![customer_a.clone(), customer_b.clone()];
    expected_customers.sort();
    assert_eq!(customers, expected_customers, "then its children");
    let mut units = all[3..].to_vec();
    units.sort();
    let mut expected_units = vec![unit_a, unit_b, unit_c];
    expected_units.sort();
    assert_eq!(units, expected_units, "then their children");

    // By parent: the direct children only.
    let children: Value = api
        .get(&format!("/api/2/tenants?parent_id={partner}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&children["items"]), expected_customers);
}

#[tokio::test]
async fn list_refuses_no_filter_several_filters_and_bad_cursors() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let first: Value = api
        .get(&format!("/api/2/tenants?subtree_root_id={root}&limit=2"))
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["paging"]["cursors"]["after"].as_str();
    // Only the root and the bootstrap project `admin` exist: one page, no cursor.
    assert_eq!(cursor, None, "{first}");

    let bad = [
        "/api/2/tenants".to_owned(),
        format!("/api/2/tenants?parent_id={root}&subtree_root_id={root}"),
        format!("/api/2/tenants?uuids={root}&parent_id={root}"),
        "/api/2/tenants?uuids=not-an-id".to_owned(),
        "/api/2/tenants?after=garbage".to_owned(),
        format!("/api/2/tenants?parent_id={root}&limit=-1"),
        format!("/api/2/tenants?parent_id={root}&limit=0"),
        format!("/api/2/tenants?parent_id={root}&limit=ten"),
    ];
    for path in bad {
        let r = api.get(&path).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{path}"
        );
    }
    let unknown = api
        .get(&format!(
            "/api/2/tenants?subtree_root_id={}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(account_error(unknown, StatusCode::NOT_FOUND).await, 1005);

    // Unknown ids are left out, like unreadable ones.
    let listed: Value = api
        .get(&format!(
            "/api/2/tenants?uuids={root},{}",
            uuid::Uuid::new_v4()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&listed["items"]), vec![root]);
}

#[tokio::test]
async fn put_renames_merges_the_contact_and_increments_the_version() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let r = api
        .post(
            "/api/2/tenants",
            json!({"name": "Acme", "kind": "customer", "parent_id": root,
                   "customer_id": "c-1", "internal_tag": "t-1",
                   "contact": {"email": "a@acme.example", "city": "Bonn", "firstname": "Ann"}}),
        )
        .await;
    let acme: Value = r.json().await.unwrap();
    let tid = id(&acme);
    // The WHMCS module's update, with the scripts' string forms.
    let r = api
        .put(
            &format!("/api/2/tenants/{tid}"),
            json!({"version": "1", "name": "Acme GmbH", "language": "de",
                   "contact": {"firstname": "Bea", "organization_size": "11-100"},
                   "customer_id": null, "internal_tag": "t-2", "ancestral_access": "false"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["name"], "Acme GmbH");
    assert_eq!(changed["language"], "de");
    assert_eq!(changed["contact"]["firstname"], "Bea");
    assert_eq!(changed["contact"]["city"], "Bonn");
    assert_eq!(changed["contact"]["email"], "a@acme.example");
    assert_eq!(changed["contact"]["organization_size"], "11-100");
    assert_eq!(changed["customer_id"], Value::Null);
    assert_eq!(changed["internal_tag"], "t-2");
    assert_eq!(changed["ancestral_access"], false);
    assert_eq!(changed["kind"], "customer");
    assert_eq!(changed["created_at"], acme["created_at"]);
    assert_eq!(api.tenant(&tid).await, changed);

    let again = api.change(&tid, json!({"enabled": "false"})).await;
    assert_eq!(again["version"], 3);
    assert_eq!(again["enabled"], false);
}

#[tokio::test]
async fn put_without_version_is_400_stale_is_409_1001_and_bad_fields_are_400_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let tenant = api.create(&root, "partner", "Partner").await;
    let tid = id(&tenant);
    let path = format!("/api/2/tenants/{tid}");
    let no_version = api.put(&path, json!({"name": "New"})).await;
    assert_eq!(
        account_error(no_version, StatusCode::BAD_REQUEST).await,
        400
    );
    let stale = api.put(&path, json!({"name": "New", "version": 7})).await;
    assert_eq!(account_error(stale, StatusCode::CONFLICT).await, 1001);
    for body in [
        json!({"name": "", "version": 1}),
        json!({"kind": "customer", "version": 1}),
        json!({"contact": {"email": "bad"}, "version": 1}),
        json!({"enabled": "maybe", "version": 1}),
        json!({"parent_id": "nope", "version": 1}),
    ] {
        let r = api.put(&path, body.clone()).await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{body}"
        );
    }
    let not_json = app
        .http
        .put(app.at(&path))
        .bearer_auth(&api.token)
        .body(r#"{"name": "New", "version": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        account_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        415
    );
    let missing = api
        .put(
            &format!("/api/2/tenants/{}", uuid::Uuid::new_v4()),
            json!({"name": "New", "version": 1}),
        )
        .await;
    assert_eq!(account_error(missing, StatusCode::NOT_FOUND).await, 1005);
    assert_eq!(api.tenant(&tid).await, tenant);

    // The root stays enabled.
    let root_tenant = api.tenant(&root).await;
    let r = api
        .put(
            &format!("/api/2/tenants/{root}"),
            json!({"enabled": false, "version": root_tenant["version"]}),
        )
        .await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(api.tenant(&root).await, root_tenant);
}

#[tokio::test]
async fn moving_a_tenant_rewrites_the_paths_of_its_whole_subtree() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let from = id(&api.create(&root, "partner", "From").await);
    let to = id(&api.create(&root, "partner", "To").await);
    let customer = api.create(&from, "customer", "Customer").await;
    let cid = id(&customer);
    let unit = id(&api.create(&cid, "unit", "Unit").await);
    let deep = id(&api.create(&unit, "unit", "Deep").await);

    let moved = api.change(&cid, json!({"parent_id": to})).await;
    assert_eq!(moved["parent_id"], to.as_str());
    assert_eq!(moved["version"], 2);
    assert_eq!(moved["has_children"], true);

    assert_eq!(api.subtree(&from).await, vec![from.clone()]);
    assert_eq!(
        api.subtree(&to).await,
        vec![to.clone(), cid.clone(), unit.clone(), deep.clone()]
    );
    let deep_path: Value = api
        .get(&format!("/api/2/tenants/{deep}?embed_path=true"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deep_path["path"], json!([unit, cid, to, root]));
    assert_eq!(deep_path["version"], 1, "descendants keep their version");
    assert_eq!(api.tenant(&from).await["has_children"], false);
    assert_eq!(api.tenant(&to).await["has_children"], true);

    // The sibling-name rule holds at the destination too.
    api.create(&from, "customer", "Customer").await;
    let back = api
        .put(
            &format!("/api/2/tenants/{cid}"),
            json!({"parent_id": from, "version": 2}),
        )
        .await;
    assert_eq!(account_error(back, StatusCode::CONFLICT).await, 1004);
    assert_eq!(api.tenant(&cid).await, moved);
}

#[tokio::test]
async fn bad_moves_are_refused_with_their_codes_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = api.create(&root, "partner", "Partner").await;
    let pid = id(&partner);
    let child = id(&api.create(&pid, "partner", "Child").await);
    let grandchild = id(&api.create(&child, "folder", "Grandchild").await);
    let customer = id(&api.create(&root, "customer", "Customer").await);
    let off = id(&api.create(&root, "partner", "Off").await);
    api.disable(&off).await;
    let before = api.tenant(&pid).await;
    let tree = api.subtree(&root).await;

    let cases = [
        (json!({"parent_id": pid}), StatusCode::BAD_REQUEST, 1007),
        (json!({"parent_id": child}), StatusCode::BAD_REQUEST, 1007),
        (
            json!({"parent_id": grandchild}),
            StatusCode::BAD_REQUEST,
            1007,
        ),
        (json!({"parent_id": off}), StatusCode::BAD_REQUEST, 1013),
        (json!({"parent_id": customer}), StatusCode::BAD_REQUEST, 400),
        (
            json!({"parent_id": uuid::Uuid::new_v4().to_string()}),
            StatusCode::BAD_REQUEST,
            400,
        ),
    ];
    for (mut body, status, code) in cases {
        body["version"] = before["version"].clone();
        let r = api
            .put(&format!("/api/2/tenants/{pid}"), body.clone())
            .await;
        assert_eq!(account_error(r, status).await, code, "{body}");
    }
    // The root has no parent to leave.
    let root_tenant = api.tenant(&root).await;
    let r = api
        .put(
            &format!("/api/2/tenants/{root}"),
            json!({"parent_id": pid, "version": root_tenant["version"]}),
        )
        .await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 400);
    assert_eq!(api.tenant(&root).await, root_tenant);
    assert_eq!(api.tenant(&pid).await, before);
    assert_eq!(api.subtree(&root).await, tree);
}

#[tokio::test]
async fn a_locked_tenant_refuses_callers_outside_the_lock_owner_with_1012() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let customer = id(&api.create(&partner, "customer", "Customer").await);
    let partner_admin = api.client_of(&partner).await;

    // The published script's lock, with its string forms.
    let r = api
        .put(
            &format!("/api/2/tenants/{customer}"),
            json!({"update_lock": {"owner_id": root, "enabled": "true"}, "version": "1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let locked: Value = r.json().await.unwrap();
    assert_eq!(
        locked["update_lock"],
        json!({"enabled": true, "owner_id": root})
    );
    assert_eq!(locked["version"], 2);

    let refused = vec![
        partner_admin
            .put(
                &format!("/api/2/tenants/{customer}"),
                json!({"name": "Renamed", "version": 2}),
            )
            .await,
        partner_admin
            .put(
                &format!("/api/2/tenants/{customer}"),
                json!({"update_lock": {"enabled": false}, "version": 2}),
            )
            .await,
        partner_admin
            .delete(&format!("/api/2/tenants/{customer}?version=2"))
            .await,
    ];
    for r in refused {
        assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1012);
    }
    assert_eq!(api.tenant(&customer).await, locked);
    // Reading is not changing.
    assert_eq!(partner_admin.tenant(&customer).await, locked);

    let unlocked = api
        .change(&customer, json!({"update_lock": {"enabled": "false"}}))
        .await;
    assert_eq!(
        unlocked["update_lock"],
        json!({"enabled": false, "owner_id": null})
    );
    let renamed = partner_admin
        .change(&customer, json!({"name": "Renamed"}))
        .await;
    assert_eq!(renamed["name"], "Renamed");

    // A lock owned by the partner (the caller's own tenant by default) binds only callers
    // below it.
    let own = partner_admin
        .change(&customer, json!({"update_lock": {"enabled": true}}))
        .await;
    assert_eq!(own["update_lock"]["owner_id"], partner.as_str());
    let customer_admin = api.client_of(&customer).await;
    let r = customer_admin
        .put(
            &format!("/api/2/tenants/{customer}"),
            json!({"name": "Mine", "version": own["version"]}),
        )
        .await;
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1012);
    assert_eq!(api.tenant(&customer).await, own);
    api.change(&customer, json!({"language": "fr"})).await;
}

#[tokio::test]
async fn a_lock_must_be_owned_above_the_tenant_and_held_by_its_setter() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let sibling = id(&api.create(&root, "partner", "Sibling").await);
    let customer = api.create(&partner, "customer", "Customer").await;
    let cid = id(&customer);
    let partner_admin = api.client_of(&partner).await;
    let cases = [
        // Not above the tenant.
        (
            &api,
            json!({"update_lock": {"enabled": true, "owner_id": sibling}}),
        ),
        // Above, but the caller would lock itself out.
        (
            &partner_admin,
            json!({"update_lock": {"enabled": true, "owner_id": root}}),
        ),
        // No `enabled`.
        (&api, json!({"update_lock": {"owner_id": root}})),
    ];
    for (caller, mut body) in cases {
        body["version"] = json!(1);
        let r = caller
            .put(&format!("/api/2/tenants/{cid}"), body.clone())
            .await;
        assert_eq!(
            account_error(r, StatusCode::BAD_REQUEST).await,
            400,
            "{body}"
        );
    }
    assert_eq!(api.tenant(&cid).await, customer);
}

#[tokio::test]
async fn moving_a_locked_tenant_away_from_its_lock_owner_is_1032() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let other = id(&api.create(&root, "partner", "Other").await);
    let inner = id(&api.create(&partner, "partner", "Inner").await);
    let customer = id(&api.create(&partner, "customer", "Customer").await);
    let locked = api
        .change(
            &customer,
            json!({"update_lock": {"enabled": true, "owner_id": partner}}),
        )
        .await;
    let r = api
        .put(
            &format!("/api/2/tenants/{customer}"),
            json!({"parent_id": other, "version": locked["version"]}),
        )
        .await;
    assert_eq!(account_error(r, StatusCode::BAD_REQUEST).await, 1032);
    assert_eq!(api.tenant(&customer).await, locked);
    // Within the owner's subtree it may move.
    let moved = api.change(&customer, json!({"parent_id": inner})).await;
    assert_eq!(moved["parent_id"], inner.as_str());
}

#[tokio::test]
async fn delete_is_refused_while_enabled_with_1006_and_succeeds_once_disabled() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let tenant = api.create(&root, "partner", "Doomed").await;
    let tid = id(&tenant);

    let enabled = api.delete_at(&tid, &tenant["version"]).await;
    assert_eq!(account_error(enabled, StatusCode::BAD_REQUEST).await, 1006);
    assert_eq!(api.tenant(&tid).await, tenant);

    // The published script's flow: disable with string forms, read the version, delete.
    let r = api
        .put(
            &format!("/api/2/tenants/{tid}"),
            json!({"enabled": "false", "version": "1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let disabled = api.tenant(&tid).await;
    assert_eq!(disabled["version"], 2);

    let no_version = api.delete(&format!("/api/2/tenants/{tid}")).await;
    assert_eq!(
        account_error(no_version, StatusCode::BAD_REQUEST).await,
        400
    );
    let stale = api.delete_at(&tid, &json!(1)).await;
    assert_eq!(account_error(stale, StatusCode::CONFLICT).await, 1001);
    assert_eq!(api.tenant(&tid).await, disabled);

    let done = api.delete_at(&tid, &disabled["version"]).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert!(done.text().await.unwrap().is_empty());
    let gone = api.get(&format!("/api/2/tenants/{tid}")).await;
    assert_eq!(account_error(gone, StatusCode::NOT_FOUND).await, 1005);
    let again = api.delete_at(&tid, &disabled["version"]).await;
    assert_eq!(account_error(again, StatusCode::NOT_FOUND).await, 1005);
    // Only the bootstrap project `admin` remains below the root.
    let children: Value = api
        .get(&format!("/api/2/tenants?parent_id={root}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children["items"].as_array().unwrap().len(), 1, "{children}");
    assert_eq!(children["items"][0]["name"], "admin");
}

#[tokio::test]
async fn deleting_a_tenant_removes_its_subtree_with_its_users_and_clients() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let customer = id(&api.create(&partner, "customer", "Customer").await);
    let unit = id(&api.create(&customer, "unit", "Unit").await);
    let partner_user = id(&api.create_user(&partner, "partner-user").await);
    let customer_user = api.create_user(&customer, "customer-user").await;
    let personal = customer_user["personal_tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unit_user = id(&api.create_user(&unit, "unit-user").await);
    let customer_client = api.client_of(&customer).await;
    assert_eq!(
        customer_client.tenant(&customer).await["id"],
        customer.as_str()
    );
    // Outside the subtree: kept.
    let keeper = api.create(&root, "partner", "Keeper").await;
    let keeper_user = api.create_user(&id(&keeper), "keeper").await;

    let disabled = api.disable(&partner).await;
    let r = api.delete_at(&partner, &disabled["version"]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    for tenant in [&partner, &customer, &unit, &personal] {
        let r = api.get(&format!("/api/2/tenants/{tenant}")).await;
        assert_eq!(account_error(r, StatusCode::NOT_FOUND).await, 1005);
    }
    for user in [partner_user, id(&customer_user), unit_user] {
        let r = api.get(&format!("/api/2/users/{user}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = customer_client
        .get(&format!("/api/2/tenants/{customer}"))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the client went too");
    // The root, the bootstrap project `admin` and the keeper remain.
    let left = api.subtree(&root).await;
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&root) && left.contains(&id(&keeper)));
    assert_eq!(api.tenant(&id(&keeper)).await, keeper);
    let kept = app.get_user(&id(&keeper_user)).await;
    assert_eq!(kept["version"], keeper_user["version"]);
}

#[tokio::test]
async fn deleting_a_personal_tenant_clears_the_reference_of_its_user() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let customer = id(&api.create(&root, "customer", "Customer").await);
    let user = api.create_user(&customer, "someone").await;
    let personal = user["personal_tenant_id"].as_str().unwrap().to_owned();
    let disabled = api.disable(&personal).await;
    let r = api.delete_at(&personal, &disabled["version"]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = app.get_user(&id(&user)).await;
    assert_eq!(after["personal_tenant_id"], Value::Null);
    assert_eq!(after["version"], user["version"].as_i64().unwrap() + 1);
}

#[tokio::test]
async fn children_lists_direct_children_by_name_and_whole_tenants_on_request() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let zeta = api.create(&partner, "customer", "Zeta").await;
    let alpha = api.create(&partner, "customer", "Alpha").await;
    api.create(&id(&alpha), "unit", "Grandchild").await;

    let r = api.get(&format!("/api/2/tenants/{partner}/children")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"items": [id(&alpha), id(&zeta)]}));

    let detailed: Value = api
        .get(&format!(
            "/api/2/tenants/{partner}/children?include_details=true"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detailed["items"][0]["name"], "Alpha");
    assert_eq!(detailed["items"][0]["has_children"], true);
    assert_eq!(detailed["items"][1], zeta);

    let none: Value = api
        .get(&format!("/api/2/tenants/{}/children", id(&zeta)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!({"items": []}));
    let missing = api
        .get(&format!("/api/2/tenants/{}/children", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(account_error(missing, StatusCode::NOT_FOUND).await, 1005);
}

#[tokio::test]
async fn users_lists_a_tenants_users_and_with_grand_children_its_subtrees() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let customer = id(&api.create(&partner, "customer", "Customer").await);
    let bob = id(&api.create_user(&partner, "bob").await);
    let alice = id(&api.create_user(&partner, "alice").await);
    let carol = id(&api.create_user(&customer, "carol").await);

    let own: Value = api
        .get(&format!("/api/2/tenants/{partner}/users"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own, json!({"items": [alice, bob]}));
    let all: Value = api
        .get(&format!(
            "/api/2/tenants/{partner}/users?include_grand_children=true"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all, json!({"items": [alice, bob, carol]}));
    let missing = api
        .get(&format!("/api/2/tenants/{}/users", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(account_error(missing, StatusCode::NOT_FOUND).await, 1005);
}

#[tokio::test]
async fn a_user_created_in_a_customer_gets_a_personal_unit_tenant() {
    let app = TestApp::spawn().await;
    let api = Api::root_client(&app).await;
    let root = app.root_tenant_id().await;
    let partner = id(&api.create(&root, "partner", "Partner").await);
    let customer = id(&api.create(&partner, "customer", "Customer").await);
    // A unit named like the login does not stand in the way.
    api.create(&customer, "unit", "jdoe").await;

    let user = api.create_user(&customer, "jdoe").await;
    let personal_id = user["personal_tenant_id"].as_str().unwrap();
    let personal = api.tenant(personal_id).await;
    assert_eq!(personal["kind"], "unit");
    assert_eq!(personal["owner_id"], user["id"]);
    assert_eq!(personal["parent_id"], customer.as_str());
    assert_eq!(personal["name"], "jdoe");
    assert_eq!(personal["version"], 1);
    assert_eq!(
        app.get_user(&id(&user)).await["personal_tenant_id"],
        personal_id
    );

    let partner_user = api.create_user(&partner, "partner-user").await;
    assert_eq!(partner_user["personal_tenant_id"], Value::Null);

    // A refused user leaves no personal tenant behind.
    let children_before = api
        .get(&format!("/api/2/tenants/{customer}/children"))
        .await;
    let children_before: Value = children_before.json().await.unwrap();
    let r = api
        .post(
            "/api/2/users",
            json!({"tenant_id": customer, "login": "jdoe",
                   "contact": {"email": "other@example.com"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let children_after: Value = api
        .get(&format!("/api/2/tenants/{customer}/children"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children_after, children_before);
}

#[tokio::test]
async fn a_lock_is_passed_by_rights_on_its_owner_not_by_where_the_caller_lives() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let post = |body: Value| {
        app.http
            .post(app.at("/api/2/tenants"))
            .bearer_auth(&client)
            .json(&body)
            .send()
    };
    let partner: Value = post(json!({"name": "Lock P", "kind": "partner", "parent_id": root}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let partner = partner["id"].as_str().unwrap().to_owned();
    let customer: Value = post(json!({"name": "Lock C", "kind": "customer", "parent_id": partner}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let locked = app
        .http
        .put(app.at(&format!("/api/2/tenants/{customer_id}")))
        .bearer_auth(&client)
        .json(&json!({"update_lock": {"enabled": true, "owner_id": partner}, "version": customer["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), StatusCode::OK);
    let locked: Value = locked.json().await.unwrap();
    // A user living in the root tenant, but holding only company_admin on the customer.
    let admin = app.create_active_user("rootdweller").await;
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{admin}/access_policies")))
        .bearer_auth(&client)
        .json(&json!({"items": [{"role_id": "company_admin", "tenant_id": customer_id}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = app.user_token("rootdweller").await;
    let r = app
        .http
        .put(app.at(&format!("/api/2/tenants/{customer_id}")))
        .bearer_auth(&token)
        .json(&json!({"update_lock": {"enabled": false}, "version": locked["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(r, StatusCode::FORBIDDEN).await, 1012);
    let after: Value = app
        .http
        .get(app.at(&format!("/api/2/tenants/{customer_id}")))
        .bearer_auth(&client)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, locked);
}

#[tokio::test]
async fn a_move_that_would_carry_roles_out_of_their_holders_reach_is_refused() {
    let app = TestApp::spawn().await;
    let root = app.root_tenant_id().await;
    let client = app.client_token().await;
    let create = |name: &str, kind: &str, parent: &str| {
        app.http
            .post(app.at("/api/2/tenants"))
            .bearer_auth(&client)
            .json(&json!({"name": name, "kind": kind, "parent_id": parent}))
            .send()
    };
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let p1 = id(create("Move P1", "partner", &root)
        .await
        .unwrap()
        .json()
        .await
        .unwrap());
    let p2 = id(create("Move P2", "partner", &root)
        .await
        .unwrap()
        .json()
        .await
        .unwrap());
    let folder: Value = create("Move F", "folder", &p1)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let folder_id = folder["id"].as_str().unwrap().to_owned();
    // A user living in P1 administers the folder.
    let r = app
        .http
        .post(app.at("/api/2/users"))
        .bearer_auth(&client)
        .json(&json!({"tenant_id": p1, "login": "folderadmin", "contact": {"email": "f@example.com"}}))
        .send()
        .await
        .unwrap();
    let user = id(r.json().await.unwrap());
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{user}/access_policies")))
        .bearer_auth(&client)
        .json(&json!({"items": [{"role_id": "partner_admin", "tenant_id": folder_id}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let moved = app
        .http
        .put(app.at(&format!("/api/2/tenants/{folder_id}")))
        .bearer_auth(&client)
        .json(&json!({"parent_id": p2, "version": folder["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(account_error(moved, StatusCode::BAD_REQUEST).await, 400);
    let after: Value = app
        .http
        .get(app.at(&format!("/api/2/tenants/{folder_id}")))
        .bearer_auth(&client)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, folder);
    // Once the role is gone, the move goes through.
    let r = app
        .http
        .put(app.at(&format!("/api/2/users/{user}/access_policies")))
        .bearer_auth(&client)
        .json(&json!({"items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let moved = app
        .http
        .put(app.at(&format!("/api/2/tenants/{folder_id}")))
        .bearer_auth(&client)
        .json(&json!({"parent_id": p2, "version": folder["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::OK);
}
