//! Tests against a real PostgreSQL. Each test creates a database of its own through the admin
//! URL in `TEST_POSTGRES_URL` and drops it at the end; without that variable they are skipped
//! loudly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, Row};
use warden_domain::policy::TrusteeType;
use warden_domain::{
    AccessPolicy, ApiClient, ClientId, Contact, Email, Login, PolicyId, Reach, Role, Tenant,
    TenantId, TenantKind, Timestamp, User, UserId,
};
use warden_store::{BootstrapPlan, CredentialStore, KeyState, SigningKeyRecord, Store, StoreError};

use super::*;

/// A throw-away database on the test server.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a fresh database, or returns `None` (after saying so) when no server is given.
    async fn create() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
            eprintln!("SKIPPED: TEST_POSTGRES_URL not set");
            return None;
        };
        let name = format!("warden_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    async fn open(&self) -> PostgresStore {
        PostgresStore::open(&self.url, 4).await.unwrap()
    }

    /// A plain connection to the test database, for looking behind the store's back.
    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }

    async fn drop_db(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
}

/// The admin URL with its database replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    let base = match head[authority_start..].find('/') {
        Some(slash) => &head[..authority_start + slash],
        None => head,
    };
    format!("{base}/{name}{query}")
}

fn now() -> Timestamp {
    Timestamp::from_micros(1_700_000_000_000_000)
}

fn sys_at(at: Timestamp) -> warden_store::Audit {
    warden_store::Audit::system(at)
}

fn sys() -> warden_store::Audit {
    sys_at(now())
}

/// The same plan `warden_core` builds at first start, with fixed hashes.
fn plan(admin_login: &str) -> BootstrapPlan {
    let now = now();
    let root = Tenant {
        id: TenantId::new_random(),
        parent_id: None,
        ancestors: Vec::new(),
        kind: TenantKind::Root,
        name: "Root".to_owned(),
        is_domain: true,
        enabled: true,
        language: "en".to_owned(),
        owner_id: None,
        contact: warden_domain::tenant::TenantContact::default(),
        customer_type: "default".to_owned(),
        customer_id: None,
        internal_tag: None,
        update_lock: warden_domain::tenant::UpdateLock::default(),
        ancestral_access: true,
        mfa_status: "disabled".to_owned(),
        pricing_mode: TenantKind::Root.initial_pricing_mode().to_owned(),
        has_children: false,
        description: String::new(),
        tags: Vec::new(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let admin = User {
        id: UserId::new_random(),
        tenant_id: root.id,
        login: Login::parse("admin_login", admin_login).unwrap(),
        contact: Contact::default(),
        language: "en".to_owned(),
        activated: true,
        enabled: true,
        terms_accepted: false,
        mfa_status: "disabled".to_owned(),
        notifications: Vec::new(),
        business_types: Vec::new(),
        external_id: None,
        personal_tenant_id: None,
        default_project_id: None,
        extra: Default::default(),
        description: "Administrator created at first start".to_owned(),
        iam: warden_domain::IamAttributes::default(),
        has_password: true,
        tokens_not_before: Timestamp::EPOCH,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let client = ApiClient {
        id: ClientId::new_random(),
        tenant_id: root.id,
        kind: "api_client".to_owned(),
        token_endpoint_auth_method: "client_secret_basic".to_owned(),
        data: serde_json::json!({ "client_name": "bootstrap" }),
        enabled: true,
        allow_password_grant: true,
        created_by: Some(admin.id),
        created_at: now,
        version: 1,
        tokens_not_before: warden_domain::Timestamp::EPOCH,
    };
    BootstrapPlan {
        admin_password_hash: "$argon2id$admin-hash".to_owned(),
        admin_policy: AccessPolicy {
            id: PolicyId::new_random(),
            trustee_id: admin.id.uuid(),
            trustee_type: TrusteeType::User,
            tenant_id: root.id,
            role: Role::RootAdmin,
            reach: Reach::Tree,
            issuer_id: admin.id.uuid(),
            version: 1,
            created_at: now,
        },
        client_secret_hash: "ab".repeat(32),
        root,
        admin,
        client,
    }
}

fn user_in(tenant: TenantId, login: &str) -> User {
    User {
        id: UserId::new_random(),
        tenant_id: tenant,
        login: Login::parse("login", login).unwrap(),
        contact: Contact {
            email: Some(Email::parse("email", "someone@example.com").unwrap()),
            areacode: "+49".to_owned(),
            phone: "301234567".to_owned(),
            firstname: "Ada".to_owned(),
            lastname: "Lovelace".to_owned(),
            city: "Berlin".to_owned(),
            ..Contact::default()
        },
        language: "de".to_owned(),
        activated: false,
        enabled: true,
        terms_accepted: true,
        mfa_status: "disabled".to_owned(),
        notifications: vec!["quota".to_owned(), "reports".to_owned()],
        business_types: vec!["msp".to_owned()],
        external_id: Some("ext-1".to_owned()),
        personal_tenant_id: Some(tenant),
        default_project_id: None,
        extra: Default::default(),
        description: "a user".to_owned(),
        iam: warden_domain::IamAttributes::default(),
        has_password: false,
        tokens_not_before: Timestamp::EPOCH,
        version: 1,
        created_at: now(),
        updated_at: now(),
    }
}

fn key(kid: &str, state: KeyState, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: "ES256".to_owned(),
        state,
        private_key_encrypted: vec![0, 1, 2, 255, kid.len() as u8],
        public_jwk: serde_json::json!({ "kty": "EC", "kid": kid, "crv": "P-256" }),
        created_at: Timestamp::from_micros(created_at),
    }
}

/// Opens a store on a fresh database with the root, administrator and client in place.
async fn bootstrapped() -> Option<(TestDb, PostgresStore, BootstrapPlan)> {
    let db = TestDb::create().await?;
    let store = db.open().await;
    let plan = plan("admin");
    assert!(store.bootstrap(&plan).await.unwrap());
    Some((db, store, plan))
}

#[tokio::test]
async fn migrations_apply_and_match_the_sqlite_backend() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    assert_eq!(migration_names(), warden_store_sqlite::migration_names());
    assert_eq!(
        migration_names().first().map(String::as_str),
        Some("0001_initial")
    );

    let store = db.open().await;
    store.ping().await.unwrap();
    // Opening again finds nothing to apply.
    drop(db.open().await);

    let mut conn = db.connect().await;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let expected: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(applied, expected);
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let def = |name: &str| {
        indexes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("index {name} is missing"))
    };
    assert!(def("tenants_single_root").contains("UNIQUE"));
    assert!(def("tenants_single_root").contains("WHERE (kind = 'root'::text)"));
    assert!(def("tenants_path").contains("text_pattern_ops"));
    assert!(def("users_login_key").contains("UNIQUE"));
    assert!(def("access_policies_assignment").contains("(trustee_id, tenant_id, role, reach)"));
    assert!(def("revoked_tokens_expiry").contains("(expires_at)"));
    for name in [
        "tenants_parent",
        "tenants_domain_name",
        "users_tenant_login",
        "api_clients_tenant",
        "access_policies_tenant",
        "access_policies_role",
        "roles_name",
        "group_members_user",
    ] {
        def(name);
    }
    conn.close().await.unwrap();
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_opening_an_empty_database_together_all_succeed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let url = Arc::new(db.url.clone());
    let opens = (0..6).map(|_| {
        let url = Arc::clone(&url);
        tokio::spawn(async move { PostgresStore::open(&url, 2).await })
    });
    for open in opens.collect::<Vec<_>>() {
        let store = open.await.unwrap().unwrap();
        store.ping().await.unwrap();
    }
    let mut conn = db.connect().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, migration_names().len() as i64);
    conn.close().await.unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn bootstrap_then_insert_and_get_user() {
    let Some((db, store, plan)) = bootstrapped().await else {
        return;
    };
    // A second bootstrap finds the root and writes nothing.
    assert!(!store.bootstrap(&self::plan("other")).await.unwrap());

    let root = store.root_tenant().await.unwrap().unwrap();
    assert_eq!(root, plan.root);
    assert_eq!(
        store.get_tenant(root.id).await.unwrap().as_ref(),
        &plan.root
    );
    assert_eq!(
        store.find_domain_by_name("Root").await.unwrap(),
        Some(plan.root.clone())
    );
    assert_eq!(store.find_domain_by_name("root").await.unwrap(), None);
    assert!(matches!(
        store.get_tenant(TenantId::new_random()).await,
        Err(StoreError::NotFound)
    ));

    let admin = store.get_user(plan.admin.id).await.unwrap();
    assert_eq!(*admin, plan.admin);
    let creds = store
        .user_credentials_by_login("admin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.user, plan.admin);
    assert_eq!(
        creds.password_hash.as_deref(),
        Some(plan.admin_password_hash.as_str())
    );
    assert_eq!(
        store.policies_of(plan.admin.id.uuid()).await.unwrap(),
        vec![plan.admin_policy.clone()]
    );
    assert_eq!(store.get_client(plan.client.id).await.unwrap(), plan.client);
    let (client, secret) = store
        .client_credentials(plan.client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client, plan.client);
    assert_eq!(secret, plan.client_secret_hash);
    assert!(store
        .client_credentials(ClientId::new_random())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.get_client(ClientId::new_random()).await,
        Err(StoreError::NotFound)
    ));

    let user = user_in(root.id, "Ada.Lovelace");
    store.insert_user(&user, &sys()).await.unwrap();
    assert_eq!(*store.get_user(user.id).await.unwrap(), user);
    assert!(store.login_taken("ada.lovelace").await.unwrap());
    assert!(!store.login_taken("Ada.Lovelace").await.unwrap());
    let creds = store
        .user_credentials_by_id(user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.user, user);
    assert_eq!(creds.password_hash, None);
    assert!(store
        .user_credentials_by_id(UserId::new_random())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .user_credentials_by_login("nobody")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.get_user(UserId::new_random()).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.policies_of(user.id.uuid()).await.unwrap().is_empty());
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn update_with_the_current_version_increments_it_and_a_stale_one_changes_nothing() {
    let Some((db, store, plan)) = bootstrapped().await else {
        return;
    };
    let user = user_in(plan.root.id, "grace");
    store.insert_user(&user, &sys()).await.unwrap();

    let mut next = user.clone();
    next.contact.firstname = "Grace".to_owned();
    next.contact.email = None;
    next.notifications = vec!["backup_daily_report".to_owned()];
    next.login = Login::parse("login", "Grace.Hopper").unwrap();
    let later = Timestamp::from_micros(now().micros() + 1);
    let stored = store
        .update_user_if_version(&next, 1, &sys_at(later))
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.updated_at, later);
    assert_eq!(stored.contact.firstname, "Grace");
    assert_eq!(stored.contact.email, None);
    assert_eq!(stored.notifications, vec!["backup_daily_report".to_owned()]);
    assert_eq!(stored.login.as_str(), "Grace.Hopper");
    assert_eq!(*store.get_user(user.id).await.unwrap(), stored);
    assert!(store.login_taken("grace.hopper").await.unwrap());
    assert!(!store.login_taken("grace").await.unwrap());

    let mut stale = stored.clone();
    stale.contact.firstname = "Overwritten".to_owned();
    assert!(matches!(
        store
            .update_user_if_version(&stale, 1, &sys_at(later))
            .await,
        Err(StoreError::VersionMismatch)
    ));
    assert_eq!(*store.get_user(user.id).await.unwrap(), stored);

    let mut unknown = stored.clone();
    unknown.id = UserId::new_random();
    assert!(matches!(
        store
            .update_user_if_version(&unknown, 2, &sys_at(later))
            .await,
        Err(StoreError::NotFound)
    ));
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn logins_are_unique_without_regard_to_case() {
    let Some((db, store, plan)) = bootstrapped().await else {
        return;
    };
    let first = user_in(plan.root.id, "Alice");
    store.insert_user(&first, &sys()).await.unwrap();
    let second = user_in(plan.root.id, "aLICE");
    assert!(matches!(
        store.insert_user(&second, &sys()).await,
        Err(StoreError::Conflict("login"))
    ));
    // Renaming another user onto a taken login is the same conflict.
    let bob = user_in(plan.root.id, "bob");
    store.insert_user(&bob, &sys()).await.unwrap();
    let mut renamed = bob.clone();
    renamed.login = Login::parse("login", "ADMIN").unwrap();
    assert!(matches!(
        store.update_user_if_version(&renamed, 1, &sys()).await,
        Err(StoreError::Conflict("login"))
    ));
    assert_eq!(*store.get_user(bob.id).await.unwrap(), bob);
    // A repeated id is some other uniqueness rule.
    let mut same_id = user_in(plan.root.id, "carol");
    same_id.id = first.id;
    assert!(matches!(
        store.insert_user(&same_id, &sys()).await,
        Err(StoreError::Conflict("unique"))
    ));
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_nodes_bootstrapping_an_empty_database_create_the_root_exactly_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut stores = Vec::new();
    for _ in 0..10 {
        stores.push(Arc::new(PostgresStore::open(&db.url, 2).await.unwrap()));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let store = Arc::clone(store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let plan = plan(&format!("admin{i}"));
                barrier.wait().await;
                let created = store.bootstrap(&plan).await.unwrap();
                (created, plan)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (created, plan) = task.await.unwrap();
        if created {
            winners.push(plan);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one bootstrap must create");
    let root = stores[0].root_tenant().await.unwrap().unwrap();
    assert_eq!(root, winners[0].root);

    let mut conn = db.connect().await;
    for (table, want) in [
        ("tenants", 1_i64),
        ("users", 1),
        ("access_policies", 1),
        ("api_clients", 1),
    ] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, want, "{table}");
    }
    conn.close().await.unwrap();
    drop(stores);
    db.drop_db().await;
}

#[tokio::test]
async fn a_second_root_violates_the_single_root_index() {
    let Some((db, store, _plan)) = bootstrapped().await else {
        return;
    };
    // Around the bootstrap lock, straight at the table.
    let other = plan("other").root;
    assert!(matches!(
        insert_tenant_on(&store.pool, &other).await,
        Err(StoreError::Conflict("root"))
    ));
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn activating_a_signing_key_retires_the_active_one() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.open().await;
    assert!(store.signing_keys().await.unwrap().is_empty());
    store
        .insert_signing_key(&key("k1", KeyState::Active, 1), true)
        .await
        .unwrap();
    store
        .insert_signing_key(&key("k2", KeyState::Staged, 2), false)
        .await
        .unwrap();
    store
        .insert_signing_key(&key("k3", KeyState::Active, 3), true)
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    let states: Vec<_> = keys.iter().map(|k| (k.kid.as_str(), k.state)).collect();
    assert_eq!(
        states,
        vec![
            ("k1", KeyState::Retired),
            ("k2", KeyState::Staged),
            ("k3", KeyState::Active)
        ]
    );
    let k3 = key("k3", KeyState::Active, 3);
    assert_eq!(keys[2].private_key_encrypted, k3.private_key_encrypted);
    assert_eq!(keys[2].public_jwk, k3.public_jwk);
    assert_eq!(keys[2].alg, "ES256");
    assert_eq!(keys[2].created_at, k3.created_at);

    // A repeated kid fails and, activating, leaves the active key alone.
    assert!(matches!(
        store
            .insert_signing_key(&key("k1", KeyState::Active, 4), true)
            .await,
        Err(StoreError::Conflict("unique"))
    ));
    let active: Vec<_> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.state == KeyState::Active)
        .map(|k| k.kid)
        .collect();
    assert_eq!(active, vec!["k3".to_owned()]);
    drop(store);
    db.drop_db().await;
}

/// Eight calls of `insert` at once, spread over four nodes on one fresh database; returns
/// their answers and the keys stored then.
async fn keys_inserted_together<F, Fut, T>(
    insert: F,
) -> Option<(Vec<Result<T, StoreError>>, Vec<SigningKeyRecord>)>
where
    F: Fn(Arc<PostgresStore>, SigningKeyRecord) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<T, StoreError>> + Send,
    T: Send + 'static,
{
    let db = TestDb::create().await?;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(PostgresStore::open(&db.url, 2).await.unwrap()));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let barrier = Arc::clone(&barrier);
            let insert = insert.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                insert(store, key(&format!("k{i}"), KeyState::Active, i as i64)).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let keys = stores[0].signing_keys().await.unwrap();
    drop(stores);
    db.drop_db().await;
    Some((answers, keys))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_activating_keys_together_leave_exactly_one_active() {
    let activate =
        |store: Arc<PostgresStore>, key| async move { store.insert_signing_key(&key, true).await };
    let Some((answers, keys)) = keys_inserted_together(activate).await else {
        return;
    };
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(keys.len(), 8);
    assert_eq!(
        keys.iter().filter(|k| k.state == KeyState::Active).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_creating_the_first_key_together_store_exactly_one() {
    let first =
        |store: Arc<PostgresStore>, key| async move { store.insert_first_signing_key(&key).await };
    let Some((answers, keys)) = keys_inserted_together(first).await else {
        return;
    };
    let inserted: usize = answers.into_iter().map(|a| usize::from(a.unwrap())).sum();
    assert_eq!(inserted, 1);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].state, KeyState::Active);
}

#[tokio::test]
async fn revoked_tokens_are_remembered_until_they_expire() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.open().await;
    let t = |s: i64| Timestamp::from_micros(s * 1_000_000);
    store.revoke_token("old", t(100)).await.unwrap();
    store.revoke_token("edge", t(200)).await.unwrap();
    store.revoke_token("new", t(300)).await.unwrap();
    // Revoking twice is not an error.
    store.revoke_token("new", t(300)).await.unwrap();
    for jti in ["old", "edge", "new"] {
        assert!(store.is_token_revoked(jti).await.unwrap(), "{jti}");
    }
    assert!(!store.is_token_revoked("other").await.unwrap());

    assert_eq!(store.purge_expired(t(200)).await.unwrap(), 1);
    assert!(!store.is_token_revoked("old").await.unwrap());
    assert!(store.is_token_revoked("edge").await.unwrap());
    assert!(store.is_token_revoked("new").await.unwrap());
    assert_eq!(store.purge_expired(t(200)).await.unwrap(), 0);
    assert_eq!(store.purge_expired(t(1000)).await.unwrap(), 2);
    assert!(!store.is_token_revoked("new").await.unwrap());
    drop(store);
    db.drop_db().await;
}

async fn stored_hash(store: &PostgresStore, id: UserId) -> Option<String> {
    store
        .user_credentials_by_id(id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

#[tokio::test]
async fn setting_a_password_activates_and_bumps_the_version_and_rehash_needs_the_old_hash() {
    let Some((db, store, plan)) = bootstrapped().await else {
        return;
    };
    let user = user_in(plan.root.id, "dave");
    store.insert_user(&user, &sys()).await.unwrap();
    let later = Timestamp::from_micros(now().micros() + 5);
    let stored = store
        .set_user_password(user.id, "hash-1", None, &sys_at(later))
        .await
        .unwrap();
    assert!(stored.activated);
    assert!(stored.has_password);
    assert_eq!(stored.version, 2);
    assert_eq!(stored.tokens_not_before, later);
    assert_eq!(stored.updated_at, later);
    assert!(matches!(
        store
            .set_user_password(UserId::new_random(), "hash", None, &sys_at(later))
            .await,
        Err(StoreError::NotFound)
    ));

    store
        .rehash_user_password(user.id, "not-the-hash", "hash-2")
        .await
        .unwrap();
    assert_eq!(
        stored_hash(&store, user.id).await.as_deref(),
        Some("hash-1")
    );
    store
        .rehash_user_password(user.id, "hash-1", "hash-2")
        .await
        .unwrap();
    assert_eq!(
        stored_hash(&store, user.id).await.as_deref(),
        Some("hash-2")
    );
    // A rehash is not a change of the user.
    assert_eq!(*store.get_user(user.id).await.unwrap(), stored);
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn deleting_a_user_removes_its_policies_and_checks_the_version() {
    let Some((db, store, plan)) = bootstrapped().await else {
        return;
    };
    let admin = plan.admin.id;
    // A policy of someone else stays.
    let other = user_in(plan.root.id, "erin");
    store.insert_user(&other, &sys()).await.unwrap();
    let mut policy = plan.admin_policy.clone();
    policy.id = PolicyId::new_random();
    policy.trustee_id = other.id.uuid();
    policy.role = Role::ReadonlyAdmin;
    insert_policy_on(&store.pool, &policy).await.unwrap();

    assert!(matches!(
        store.delete_user_if_version(admin, 7, &sys()).await,
        Err(StoreError::VersionMismatch)
    ));
    assert_eq!(store.policies_of(admin.uuid()).await.unwrap().len(), 1);
    store
        .delete_user_if_version(admin, 1, &sys())
        .await
        .unwrap();
    assert!(matches!(
        store.get_user(admin).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.policies_of(admin.uuid()).await.unwrap().is_empty());
    assert_eq!(
        store.policies_of(other.id.uuid()).await.unwrap(),
        vec![policy]
    );
    assert!(matches!(
        store.delete_user_if_version(admin, 1, &sys()).await,
        Err(StoreError::NotFound)
    ));
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn an_unreachable_database_fails_fast_as_unavailable() {
    if std::env::var("TEST_POSTGRES_URL").is_err() {
        eprintln!("SKIPPED: TEST_POSTGRES_URL not set");
        return;
    }
    // Refused: retried (the server may be starting) until the two-second acquire timeout.
    let started = Instant::now();
    let refused = PostgresStore::open("postgres://postgres@127.0.0.1:1/postgres", 2).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{:?}",
        refused.err()
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // A host that never answers (TEST-NET-1) is given up on by the connect timeout.
    let started = Instant::now();
    let silent = PostgresStore::open("postgres://postgres@192.0.2.1:5432/postgres", 2).await;
    assert!(
        matches!(silent, Err(StoreError::Unavailable(_))),
        "{:?}",
        silent.err()
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_terminated_by_the_server_reports_unavailable() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = Arc::new(db.open().await);
    let running = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            sqlx::query("SELECT pg_sleep(4)")
                .execute(&store.pool)
                .await
                .map_err(map_err)
        })
    };
    let mut conn = db.connect().await;
    // Wait until the statement runs, then end its backend as an administrator would.
    let mut terminated = false;
    for _ in 0..100 {
        terminated = sqlx::query_scalar(
            "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity \
             WHERE datname = current_database() AND query = 'SELECT pg_sleep(4)' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if terminated {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(terminated, "the statement never showed up");
    let outcome = running.await.unwrap();
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    // The pool replaces the dead connection.
    store.ping().await.unwrap();
    conn.close().await.unwrap();
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn pooled_connections_cut_statements_off_after_five_seconds() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.open().await;
    let timeout: String = sqlx::query("SHOW statement_timeout")
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeout, "5s");
    let started = Instant::now();
    let slow = sqlx::query("SELECT pg_sleep(6)")
        .execute(&store.pool)
        .await
        .map_err(map_err);
    assert!(
        matches!(slow, Err(StoreError::Unavailable(_))),
        "{:?}",
        slow.err()
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    drop(store);
    db.drop_db().await;
}

#[test]
fn sqlstates_of_an_unreachable_database_are_unavailable() {
    for code in [
        "08000", "08006", "08001", "57P01", "57P02", "57P03", "57014", "53300",
    ] {
        assert!(is_unavailable_sqlstate(code), "{code}");
    }
    for code in ["23505", "42P01", "22P02", "40001", "XX000"] {
        assert!(!is_unavailable_sqlstate(code), "{code}");
    }
}

#[test]
fn the_test_database_url_keeps_everything_but_the_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

#[tokio::test]
async fn users_round_trip_every_field() {
    let Some((db, store, plan)) = bootstrapped().await else {
        return;
    };
    let mut user = user_in(plan.root.id, "frank");
    user.contact.address1 = "Street 1".to_owned();
    user.contact.address2 = "Floor 2".to_owned();
    user.contact.country = "DE".to_owned();
    user.contact.state = "BE".to_owned();
    user.contact.zipcode = "10115".to_owned();
    user.mfa_status = "enabled".to_owned();
    user.tokens_not_before = Timestamp::from_micros(42);
    store.insert_user(&user, &sys()).await.unwrap();
    assert_eq!(*store.get_user(user.id).await.unwrap(), user);
    drop(store);
    db.drop_db().await;
}

/// Search reaches each property through its own index (with sequential scans priced out, as
/// they are on a large table, the planner must be able to use one).
#[tokio::test]
async fn every_search_property_has_a_usable_index() {
    let Some((_db, store, _)) = bootstrapped().await else {
        return;
    };
    let mut conn = store.pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    for (property, index) in [
        ("u.login_key", "users_login_search"),
        ("lower(u.email)", "users_email_search"),
        ("lower(u.firstname)", "users_firstname_search"),
        ("lower(u.lastname)", "users_lastname_search"),
    ] {
        let sql = format!("EXPLAIN SELECT u.id FROM users u WHERE {property} LIKE 'ab%' ORDER BY {property} LIMIT 10");
        let plan: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert!(
            plan.iter().any(|line| line.contains(index)),
            "{property}: {plan:#?}"
        );
    }
    let plan: Vec<String> =
        sqlx::query_scalar("EXPLAIN SELECT id FROM tenants WHERE lower(name) LIKE 'ab%' LIMIT 10")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert!(
        plan.iter().any(|line| line.contains("tenants_name_search")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn failed_logins_are_counted_in_a_window_and_cleared() {
    let Some((_db, store, plan)) = bootstrapped().await else {
        return;
    };
    let id = plan.admin.id;
    let key = plan.admin.login.key();
    let at = |s: i64| Timestamp::from_micros(s * 1_000_000);
    store
        .record_login_failure(id, at(1000), 3600)
        .await
        .unwrap();
    store
        .record_login_failure(id, at(1010), 3600)
        .await
        .unwrap();
    let failures = store
        .user_credentials_by_login(&key)
        .await
        .unwrap()
        .unwrap()
        .failures;
    assert_eq!(
        (failures.count, failures.window_start, failures.last),
        (2, at(1000), at(1010))
    );
    // A failure after the window opens a new one.
    store
        .record_login_failure(id, at(5000), 3600)
        .await
        .unwrap();
    let failures = store
        .user_credentials_by_login(&key)
        .await
        .unwrap()
        .unwrap()
        .failures;
    assert_eq!((failures.count, failures.window_start), (1, at(5000)));
    store.clear_login_failures(id).await.unwrap();
    let failures = store
        .user_credentials_by_login(&key)
        .await
        .unwrap()
        .unwrap()
        .failures;
    assert_eq!(failures.count, 0);
}

#[tokio::test]
async fn nodes_creating_access_keys_for_one_user_together_stay_within_the_quota() {
    let Some((db, first, plan)) = bootstrapped().await else {
        return;
    };
    drop(first);
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(PostgresStore::open(&db.url, 2).await.unwrap()));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let user = plan.admin.id;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let record = warden_store::CredentialRecord {
                    access_key: format!("AK{i:018}"),
                    user_id: user,
                    status: warden_store::CredentialStatus::Active,
                    description: String::new(),
                    created_at: now(),
                };
                barrier.wait().await;
                store.insert_credential(&record, b"sealed", &sys()).await
            })
        })
        .collect();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => {}
            Err(StoreError::Conflict("credential_quota")) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(refused, 6);
    let held = stores[0].credentials_of_user(user).await.unwrap();
    assert_eq!(held.len(), 2);
    let (record, sealed) = stores[0]
        .get_credential(&held[0].access_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record, held[0]);
    assert_eq!(sealed, b"sealed");
    // A change and a deletion each leave one event in the user's tenant.
    let patch = warden_store::CredentialPatch {
        status: Some(warden_store::CredentialStatus::Inactive),
        description: None,
    };
    let changed = stores[0]
        .update_credential(&record.access_key, &patch, &sys())
        .await
        .unwrap();
    assert_eq!(changed.status, warden_store::CredentialStatus::Inactive);
    stores[0]
        .delete_credential(&record.access_key, &sys())
        .await
        .unwrap();
    assert!(matches!(
        stores[0]
            .delete_credential(&record.access_key, &sys())
            .await,
        Err(StoreError::NotFound)
    ));
    let mut conn = db.connect().await;
    let events: Vec<(String, uuid::Uuid)> = sqlx::query_as(
        "SELECT action, tenant_id FROM audit_events WHERE object_type = 'credential' \
         AND object_id = $1 ORDER BY seq",
    )
    .bind(&record.access_key)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let root = plan.root.id.uuid();
    assert_eq!(
        events,
        vec![
            ("create".to_owned(), root),
            ("update".to_owned(), root),
            ("delete".to_owned(), root)
        ]
    );
    drop(conn);
    drop(stores);
    db.drop_db().await;
}

/// Waits (up to ten seconds) until `check` holds, polling.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Renames a user behind every store's back: with triggers off for the session, the change
/// feed does not hear of it, so a node that still answers the old name answers from its cache.
async fn rename_silently(conn: &mut sqlx::PgConnection, id: UserId, name: &str) {
    conn.execute("SET session_replication_role = replica")
        .await
        .unwrap();
    sqlx::query("UPDATE users SET firstname = $1 WHERE id = $2")
        .bind(name)
        .bind(id.uuid())
        .execute(&mut *conn)
        .await
        .unwrap();
    conn.execute("SET session_replication_role = origin")
        .await
        .unwrap();
}

async fn firstname(store: &PostgresStore, id: UserId) -> String {
    store.get_user(id).await.unwrap().contact.firstname.clone()
}

/// Shows that `store` answers a user's reads from its cache: after a silent rename it still
/// answers the name it read before. Notifications of earlier writes may still be on their way
/// and make the first tries read the row again, so it tries a few times. Returns the name the
/// database holds.
async fn cached_behind_a_silent_rename(
    store: &PostgresStore,
    conn: &mut sqlx::PgConnection,
    id: UserId,
) -> String {
    for attempt in 0..50 {
        let before = firstname(store, id).await;
        let hidden = format!("Hidden{attempt}");
        rename_silently(conn, id, &hidden).await;
        if firstname(store, id).await == before {
            return hidden;
        }
    }
    panic!("the store never answered from its cache");
}

/// Warms node A's token check of `user`, revokes the token on node B, and waits until node A
/// refuses it.
async fn revocation_on_b_reaches_a(a: &PostgresStore, b: &PostgresStore, user: UserId) {
    let jtis = ["jti-1"];
    assert!(a.token_user(&jtis, user).await.unwrap().is_some());
    b.revoke_token("jti-1", Timestamp::from_micros(now().micros() + 60_000_000))
        .await
        .unwrap();
    eventually("node A sees the revocation", || async {
        a.token_user(&jtis, user).await.unwrap().is_none()
    })
    .await;
}

/// A user inserted through `store`, returned once the store's change feed is connected.
async fn user_once_the_feed_reads(store: &PostgresStore, tenant: TenantId) -> User {
    let user = user_in(tenant, "ada");
    store.insert_user(&user, &sys()).await.unwrap();
    eventually("the feed connected", || async {
        store.change_feed_connected()
    })
    .await;
    user
}

/// Two nodes on one bootstrapped database holding one user, both feeds connected; `None`
/// without a test database.
async fn two_nodes_with_a_user() -> Option<(TestDb, PostgresStore, PostgresStore, User)> {
    let (db, a, plan) = bootstrapped().await?;
    let b = db.open().await;
    let user = user_in(plan.root.id, "ada");
    a.insert_user(&user, &sys()).await.unwrap();
    eventually("both feeds connected", || async {
        a.change_feed_connected() && b.change_feed_connected()
    })
    .await;
    Some((db, a, b, user))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_reaches_the_cached_reads_of_another() {
    let Some((db, a, b, user)) = two_nodes_with_a_user().await else {
        return;
    };
    // Node A answers from its cache: a change the feed does not tell is not seen.
    let mut conn = db.connect().await;
    cached_behind_a_silent_rename(&a, &mut conn, user.id).await;
    // A write through node B is told to node A, which then reads the row again.
    let mut next = User::clone(&a.get_user(user.id).await.unwrap());
    next.contact.firstname = "Told".to_owned();
    b.update_user_if_version(&next, next.version, &sys())
        .await
        .unwrap();
    eventually("node A sees node B's write", || async {
        firstname(&a, user.id).await == "Told"
    })
    .await;
    // A revocation on node B reaches node A's cached token check too.
    revocation_on_b_reaches_a(&a, &b, user.id).await;
    // The node's own write is seen by its next read at once, feed or no feed.
    let mut next = User::clone(&a.get_user(user.id).await.unwrap());
    next.contact.firstname = "Own".to_owned();
    a.update_user_if_version(&next, next.version, &sys())
        .await
        .unwrap();
    assert_eq!(firstname(&a, user.id).await, "Own");
    conn.close().await.unwrap();
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_own_user_change_is_kept_as_its_cached_answer() {
    let Some((db, a, b, user)) = two_nodes_with_a_user().await else {
        return;
    };
    let mut conn = db.connect().await;
    // A write transaction left open elsewhere holds the feeds' cursor back, so every read of
    // the log returns each row again: each is still applied once.
    let mut open = db.connect().await;
    open.execute("BEGIN").await.unwrap();
    open.execute("SELECT pg_current_xact_id()").await.unwrap();
    // The row a change of node A stored is its answer afterwards, without a read: a silent
    // rename after the change is not seen. Notices of earlier writes may still be on their
    // way and move the user's counter during the change, so it tries a few times.
    let mut kept = None;
    for attempt in 0..50 {
        let mut next = User::clone(&a.get_user(user.id).await.unwrap());
        next.contact.firstname = format!("Own{attempt}");
        let stored = a
            .update_user_if_version(&next, next.version, &sys())
            .await
            .unwrap();
        rename_silently(&mut conn, user.id, "Hidden").await;
        if firstname(&a, user.id).await == next.contact.firstname {
            kept = Some(stored);
            break;
        }
    }
    let kept = kept.expect("node A never kept the row its change stored");
    // The change's own notice stales nothing: once a later notice (a revocation on node B)
    // has reached node A, the earlier one has too, and the kept row is still the answer.
    revocation_on_b_reaches_a(&a, &b, user.id).await;
    assert_eq!(firstname(&a, user.id).await, kept.contact.firstname);
    // Node B's change of the user is another's, and reaches node A.
    let mut next = kept.clone();
    next.contact.firstname = "FromB".to_owned();
    b.update_user_if_version(&next, kept.version, &sys())
        .await
        .unwrap();
    eventually("node A sees node B's change", || async {
        firstname(&a, user.id).await == "FromB"
    })
    .await;
    // A change of node A that lost to it keeps nothing and reads the row again.
    rename_silently(&mut conn, user.id, "Renamed").await;
    assert!(matches!(
        a.update_user_if_version(&kept, kept.version, &sys()).await,
        Err(StoreError::VersionMismatch)
    ));
    assert_eq!(firstname(&a, user.id).await, "Renamed");
    open.execute("COMMIT").await.unwrap();
    open.close().await.unwrap();
    conn.close().await.unwrap();
    drop((a, b));
    db.drop_db().await;
}

async fn log_rows(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM change_log")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_log_is_pruned_and_a_node_that_stopped_reading_it_starts_afresh() {
    let Some((db, _first, plan)) = bootstrapped().await else {
        return;
    };
    // A node on a fast clock: a gap after 300 ms, rows kept 600 ms after their transaction.
    let timing = crate::feed::Timing {
        read_every: Duration::from_millis(5),
        gap_after: Duration::from_millis(300),
        keep_ended: Duration::from_millis(600),
        prune_every: Duration::from_millis(50),
    };
    let store = PostgresStore::open_with(&db.url, 4, timing).await.unwrap();
    let user = user_once_the_feed_reads(&store, plan.root.id).await;
    let mut conn = db.connect().await;
    assert!(log_rows(&mut conn).await > 0, "the writes left no rows");
    // Once their transactions ended long enough ago, the rows are deleted, and the feed
    // still follows the writes after them.
    for _ in 0..500 {
        if log_rows(&mut conn).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(log_rows(&mut conn).await, 0, "the log was never pruned");
    assert!(store.change_feed_connected());
    let missed = cached_behind_a_silent_rename(&store, &mut conn, user.id).await;
    // The feed's reads are held up (a lock on the log): past the gap the cache goes dark,
    // nothing cached before is used after it, and the node reads the log afresh.
    let mut lock = db.connect().await;
    lock.execute("BEGIN").await.unwrap();
    lock.execute("LOCK TABLE change_log IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    eventually("the feed lost", || async { !store.change_feed_connected() }).await;
    lock.execute("COMMIT").await.unwrap();
    eventually("the feed back", || async { store.change_feed_connected() }).await;
    assert_eq!(firstname(&store, user.id).await, missed);
    lock.close().await.unwrap();
    conn.close().await.unwrap();
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_change_feed_is_reconnected_and_nothing_cached_before_the_gap_is_used() {
    let Some((db, store, plan)) = bootstrapped().await else {
        return;
    };
    let user = user_once_the_feed_reads(&store, plan.root.id).await;
    let mut conn = db.connect().await;
    let missed = cached_behind_a_silent_rename(&store, &mut conn, user.id).await;
    // The feed's connection is ended, as a restart of the database or a failover would.
    let ended: bool = sqlx::query_scalar(
        "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(crate::feed::APPLICATION_NAME)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(ended, "no feed connection was found");
    // Whatever was missed in the gap, the entry cached before it is not used again: the
    // renamed row is read once the feed is back (or while it is down).
    eventually("the feed lost", || async { !store.change_feed_connected() }).await;
    eventually("the feed back", || async { store.change_feed_connected() }).await;
    assert_eq!(firstname(&store, user.id).await, missed);
    conn.close().await.unwrap();
    drop(store);
    db.drop_db().await;
}
