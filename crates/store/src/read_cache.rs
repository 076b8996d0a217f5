//! A node's cache of the reads every authenticated request makes: a token's subject with its
//! revocation check, the subject's held policies, a user and a tenant by id, and the policies
//! granted to a user (read before a user is changed). Both backends keep one.
//!
//! A cached answer is good while nothing it came from may have changed. Each answer is kept
//! with the *stamp* it was read under: the global generation, and the counters of the scopes
//! it depends on (the user it is about, the token ids it checked for revocation). Writes
//! advance them, from two sources:
//!
//! - **the node's own writes**, each held as a [`Writing`] from before its transaction begins
//!   until after it has committed or rolled back. A write that says what it changes (one
//!   user's row, one revocation) advances that scope's counter, any other the generation —
//!   both when it begins and when it ends.
//! - **other nodes' writes** (PostgreSQL only), told by the database's change feed:
//!   [`ReadCache::changed_elsewhere`] advances the same counters once the write is committed.
//!   Until the feed is connected, and whenever it is lost, the cache is *dark*: every read
//!   goes to the database, and coming back advances the generation, so nothing cached before
//!   the gap is used after it.
//!
//! An answer is served only while its stamp is current, and kept only if the stamp did not
//! move while it was read. So once a write is acknowledged (after it ended) no request sees
//! what it replaced: an answer read before the write's end carries a stamp that end moved.
//! Scope counters are striped (a write on one user also stales the few users sharing its
//! stripe); a write of the generation stales everything. Entries are bounded; the cache is
//! emptied when full.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::iter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use warden_domain::{AccessPolicy, ApiClient, ClientId, Tenant, TenantId, User, UserId};

use crate::StoreError;

/// At most this many entries (of all kinds) are kept.
const CAPACITY: usize = 20_000;

/// Counters the scoped writes are spread over.
const STRIPES: usize = 1024;

/// What a write changes, or a read depends on, short of everything.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// One user's row.
    User(UserId),
    /// The revocation of one token id.
    Token(&'a str),
}

impl Scope<'_> {
    fn stripe(&self) -> usize {
        // `new` hashes alike in every instance: stripes need spreading, not secrecy.
        let mut hasher = std::hash::DefaultHasher::new();
        match self {
            Scope::User(id) => (0u8, id).hash(&mut hasher),
            Scope::Token(jti) => (1u8, jti).hash(&mut hasher),
        }
        (hasher.finish() % STRIPES as u64) as usize
    }
}

/// The counters an answer was read under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    generation: u64,
    /// The sum of the counters of the scopes read; they only grow, so an equal sum means none
    /// moved.
    scoped: u64,
}

type Stamped<K, V> = HashMap<K, (Stamp, V)>;

/// Cached reads, each as the store answered it (absence included), with its stamp.
#[derive(Default)]
pub struct Entries {
    generation: u64,
    len: usize,
    users: Stamped<UserId, Option<User>>,
    tenants: Stamped<TenantId, Option<Tenant>>,
    /// A token's subject, keyed by the subject and the token ids checked for revocation.
    token_users: Stamped<(UserId, Vec<String>), Option<User>>,
    token_clients: Stamped<(ClientId, Vec<String>), Option<ApiClient>>,
    held_policies: Stamped<uuid::Uuid, Vec<AccessPolicy>>,
    /// The policies granted to a trustee directly.
    policies: Stamped<uuid::Uuid, Vec<AccessPolicy>>,
}

impl Entries {
    fn clear(&mut self, generation: u64) {
        *self = Entries {
            generation,
            ..Entries::default()
        };
    }
}

pub struct ReadCache {
    generation: AtomicU64,
    stripes: Box<[AtomicU64]>,
    /// Whether every write that could make an entry stale is seen (see the module notes).
    lit: AtomicBool,
    entries: RwLock<Entries>,
}

/// A write of this node under way; dropping it ends the write. Hold one from before the
/// write's transaction begins until after it commits or rolls back.
#[must_use = "the write counts as under way only while this is held"]
pub struct Writing {
    cache: Arc<ReadCache>,
    stripe: Option<usize>,
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.cache.advance(self.stripe);
    }
}

impl ReadCache {
    /// A cache that sees every write there is (one node, one database of its own).
    pub fn lit() -> Arc<Self> {
        Arc::new(Self::with_light(true))
    }

    /// A cache that stays dark until its change feed says it is connected.
    pub fn dark() -> Arc<Self> {
        Arc::new(Self::with_light(false))
    }

    fn with_light(lit: bool) -> Self {
        Self {
            generation: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            lit: AtomicBool::new(lit),
            entries: RwLock::new(Entries::default()),
        }
    }

    fn advance(&self, stripe: Option<usize>) {
        match stripe {
            Some(i) => self.stripes[i].fetch_add(1, Ordering::SeqCst),
            None => self.generation.fetch_add(1, Ordering::SeqCst),
        };
    }

    /// Begins a write of this node that may change anything.
    pub fn writing(self: &Arc<Self>) -> Writing {
        self.begin(None)
    }

    /// Begins a write of this node that changes only what `scope` names.
    pub fn writing_on(self: &Arc<Self>, scope: Scope<'_>) -> Writing {
        self.begin(Some(scope.stripe()))
    }

    fn begin(self: &Arc<Self>, stripe: Option<usize>) -> Writing {
        self.advance(stripe);
        Writing {
            cache: self.clone(),
            stripe,
        }
    }

    /// Another node committed a write changing what `scope` names, or anything (`None`).
    pub fn changed_elsewhere(&self, scope: Option<Scope<'_>>) {
        self.advance(scope.map(|s| s.stripe()));
    }

    /// The change feed is connected (`true`) or lost (`false`). Either way, what is cached
    /// is stale from now on.
    pub fn set_lit(&self, lit: bool) {
        self.lit.store(lit, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether cached answers may be used at all right now.
    pub fn is_lit(&self) -> bool {
        self.lit.load(Ordering::SeqCst)
    }

    /// The stamp of a read of `deps` beginning now; `None` while the cache is dark.
    fn stamp<'a>(&self, deps: impl Iterator<Item = Scope<'a>>) -> Option<Stamp> {
        // The generation is read before the light: losing the feed after this load advances
        // it, so the check below cannot be overtaken unnoticed.
        let generation = self.generation.load(Ordering::SeqCst);
        if !self.lit.load(Ordering::SeqCst) {
            return None;
        }
        let scoped = deps.fold(0u64, |sum, d| {
            sum.wrapping_add(self.stripes[d.stripe()].load(Ordering::SeqCst))
        });
        Some(Stamp { generation, scoped })
    }

    /// The cached answer found by `pick` if its stamp is current, or else `read`'s, kept
    /// with its stamp by `keep` if nothing moved while it was read.
    async fn through<'a, K, V, F>(
        &self,
        deps: impl Iterator<Item = Scope<'a>> + Clone,
        map: fn(&Entries) -> &Stamped<K, V>,
        map_mut: fn(&mut Entries) -> &mut Stamped<K, V>,
        key: K,
        read: F,
    ) -> Result<V, StoreError>
    where
        K: Hash + Eq,
        V: Clone,
        F: std::future::Future<Output = Result<V, StoreError>>,
    {
        let Some(stamp) = self.stamp(deps.clone()) else {
            return read.await;
        };
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((at, found)) = map(&entries).get(&key) {
                if *at == stamp {
                    return Ok(found.clone());
                }
            }
        }
        let answer = read.await?;
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock: a write that began or ended during the read makes the
        // answer possibly stale.
        if self.stamp(deps) != Some(stamp) {
            return Ok(answer);
        }
        if entries.generation != stamp.generation || entries.len >= CAPACITY {
            entries.clear(stamp.generation);
        }
        if map_mut(&mut entries)
            .insert(key, (stamp, answer.clone()))
            .is_none()
        {
            entries.len += 1;
        }
        Ok(answer)
    }

    /// A user by id.
    pub async fn user<F>(&self, id: UserId, read: F) -> Result<Option<User>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<User>, StoreError>>,
    {
        self.through(
            iter::once(Scope::User(id)),
            |e| &e.users,
            |e| &mut e.users,
            id,
            read,
        )
        .await
    }

    /// A tenant by id.
    pub async fn tenant<F>(&self, id: TenantId, read: F) -> Result<Option<Tenant>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<Tenant>, StoreError>>,
    {
        self.through(iter::empty(), |e| &e.tenants, |e| &mut e.tenants, id, read)
            .await
    }

    /// A token's subject user, unless one of the token ids `jtis` is revoked.
    pub async fn token_user<F>(
        &self,
        id: UserId,
        jtis: &[String],
        read: F,
    ) -> Result<Option<User>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<User>, StoreError>>,
    {
        let deps = iter::once(Scope::User(id)).chain(jtis.iter().map(|j| Scope::Token(j)));
        let key = (id, jtis.to_vec());
        self.through(deps, |e| &e.token_users, |e| &mut e.token_users, key, read)
            .await
    }

    /// A token's subject client, unless one of the token ids `jtis` is revoked.
    pub async fn token_client<F>(
        &self,
        id: ClientId,
        jtis: &[String],
        read: F,
    ) -> Result<Option<ApiClient>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<ApiClient>, StoreError>>,
    {
        let deps = jtis.iter().map(|j| Scope::Token(j));
        let key = (id, jtis.to_vec());
        self.through(
            deps,
            |e| &e.token_clients,
            |e| &mut e.token_clients,
            key,
            read,
        )
        .await
    }

    /// The policies a user holds, directly and through groups.
    pub async fn held_policies<F>(
        &self,
        user: uuid::Uuid,
        read: F,
    ) -> Result<Vec<AccessPolicy>, StoreError>
    where
        F: std::future::Future<Output = Result<Vec<AccessPolicy>, StoreError>>,
    {
        self.through(
            iter::empty(),
            |e| &e.held_policies,
            |e| &mut e.held_policies,
            user,
            read,
        )
        .await
    }

    /// The policies granted to a trustee (a user, group or client) directly.
    pub async fn policies<F>(
        &self,
        trustee: uuid::Uuid,
        read: F,
    ) -> Result<Vec<AccessPolicy>, StoreError>
    where
        F: std::future::Future<Output = Result<Vec<AccessPolicy>, StoreError>>,
    {
        self.through(
            iter::empty(),
            |e| &e.policies,
            |e| &mut e.policies,
            trustee,
            read,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads user `id` through the cache; the database answers `value` (as the user's first
    /// name), with `during` run while it reads. Returns the name answered.
    async fn read(cache: &ReadCache, id: UserId, value: &str, during: impl FnOnce()) -> String {
        let answer = cache
            .user(id, async {
                during();
                let mut user = sample(id);
                user.contact.firstname = value.to_owned();
                Ok(Some(user))
            })
            .await
            .unwrap();
        answer.unwrap().contact.firstname
    }

    fn sample(id: UserId) -> User {
        use warden_domain::{Contact, Login, Timestamp};
        User {
            id,
            tenant_id: TenantId::new_random(),
            login: Login::parse("login", "sample").unwrap(),
            contact: Contact::default(),
            language: "en".to_owned(),
            activated: true,
            enabled: true,
            terms_accepted: true,
            mfa_status: "disabled".to_owned(),
            notifications: Vec::new(),
            business_types: Vec::new(),
            external_id: None,
            personal_tenant_id: None,
            description: String::new(),
            default_project_id: None,
            extra: serde_json::Map::new(),
            iam: Default::default(),
            has_password: false,
            tokens_not_before: Timestamp::from_micros(0),
            version: 1,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
        }
    }

    #[tokio::test]
    async fn answers_are_kept_until_a_write_begins_or_ends() {
        let cache = ReadCache::lit();
        let id = UserId::new_random();
        assert_eq!(read(&cache, id, "a", || {}).await, "a");
        assert_eq!(read(&cache, id, "b", || {}).await, "a", "kept");
        // A write beginning makes it stale.
        let write = cache.writing();
        assert_eq!(read(&cache, id, "c", || {}).await, "c");
        // What was read while the write ran is not used once it has ended.
        drop(write);
        assert_eq!(read(&cache, id, "d", || {}).await, "d");
        assert_eq!(read(&cache, id, "e", || {}).await, "d", "kept");
        // A write beginning or ending during a read (of a user not cached yet): the answer
        // is not kept.
        let id = UserId::new_random();
        let mut held = None;
        assert_eq!(
            read(&cache, id, "f", || held = Some(cache.writing())).await,
            "f"
        );
        assert_eq!(read(&cache, id, "g", || drop(held.take())).await, "g");
        assert_eq!(read(&cache, id, "h", || {}).await, "h");
        assert_eq!(read(&cache, id, "i", || {}).await, "h", "kept");
    }

    #[tokio::test]
    async fn a_scoped_write_stales_its_scope_and_leaves_the_rest() {
        let cache = ReadCache::lit();
        let (one, other) = (UserId::new_random(), UserId::new_random());
        read(&cache, one, "one", || {}).await;
        read(&cache, other, "other", || {}).await;
        drop(cache.writing_on(Scope::User(one)));
        assert_eq!(read(&cache, one, "one-2", || {}).await, "one-2");
        // Unless the two share a stripe, the other user's answer is still served.
        if Scope::User(one).stripe() != Scope::User(other).stripe() {
            assert_eq!(read(&cache, other, "other-2", || {}).await, "other");
        }
        // A revocation stales the token checks naming it, and only those.
        let jtis = vec!["t1".to_owned()];
        let subject = |name: &str| {
            let mut user = sample(one);
            user.contact.firstname = name.to_owned();
            async move { Ok(Some(user)) }
        };
        let name = |u: Option<User>| u.unwrap().contact.firstname;
        assert_eq!(
            name(cache.token_user(one, &jtis, subject("x")).await.unwrap()),
            "x"
        );
        assert_eq!(
            name(cache.token_user(one, &jtis, subject("y")).await.unwrap()),
            "x"
        );
        cache.changed_elsewhere(Some(Scope::Token("t1")));
        assert_eq!(
            name(cache.token_user(one, &jtis, subject("z")).await.unwrap()),
            "z"
        );
        // A change of anything stales everything.
        cache.changed_elsewhere(None);
        assert_eq!(read(&cache, other, "other-3", || {}).await, "other-3");
    }

    #[tokio::test]
    async fn a_dark_cache_serves_nothing_and_lighting_it_starts_afresh() {
        let cache = ReadCache::dark();
        let id = UserId::new_random();
        assert_eq!(read(&cache, id, "a", || {}).await, "a");
        assert_eq!(read(&cache, id, "b", || {}).await, "b", "dark");
        cache.set_lit(true);
        assert_eq!(read(&cache, id, "c", || {}).await, "c");
        assert_eq!(read(&cache, id, "d", || {}).await, "c", "kept");
        // Losing the feed during a read: nothing is kept, nothing is served.
        let late = UserId::new_random();
        assert_eq!(read(&cache, late, "e", || cache.set_lit(false)).await, "e");
        assert_eq!(read(&cache, id, "f", || {}).await, "f", "dark");
        // Lost and found again during a read: the read is not kept either.
        cache.set_lit(true);
        let blink = || {
            cache.set_lit(false);
            cache.set_lit(true);
        };
        let id = UserId::new_random();
        assert_eq!(read(&cache, id, "g", blink).await, "g");
        assert_eq!(read(&cache, id, "h", || {}).await, "h");
        assert_eq!(read(&cache, id, "i", || {}).await, "h", "kept");
    }

    #[tokio::test]
    async fn the_cache_is_emptied_when_full() {
        let cache = ReadCache::lit();
        let first = UserId::new_random();
        read(&cache, first, "first", || {}).await;
        for _ in 1..CAPACITY {
            read(&cache, UserId::new_random(), "n", || {}).await;
        }
        assert_eq!(read(&cache, first, "again", || {}).await, "first");
        // One more entry empties it.
        read(&cache, UserId::new_random(), "n", || {}).await;
        assert_eq!(read(&cache, first, "again", || {}).await, "again");
    }
}
