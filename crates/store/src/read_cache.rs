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
//!
//! A node's own change of one user's row may leave the stored row behind as the cached answer
//! ([`ReadCache::writing_user`]), so the next request about that user (typically the next
//! change, which reads it first) needs no round trip. The answer is kept only if nothing but
//! that write's own end moved the user's counter since the write began, and the feed's notice
//! of that very write — recognised by the user and the version it moved the row to, which no
//! other write can produce — is not taken as another node's.

use std::hash::{Hash, Hasher};
use std::iter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use warden_domain::{AccessPolicy, ApiClient, ClientId, Tenant, TenantId, User, UserId};

use crate::StoreError;

/// At most this many entries (of all kinds) are kept.
const CAPACITY: usize = 20_000;

/// Counters the scoped writes are spread over.
const STRIPES: usize = 1024;

/// At most this many of the node's own user changes wait for their notices at once; a change
/// beyond them is not kept as a cached answer.
const MAX_EXPECTED: usize = 4096;

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
        // Fixed seeds: stripes need spreading, not secrecy.
        const SPREAD: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let hash = match self {
            Scope::User(id) => SPREAD.hash_one((0u8, id)),
            Scope::Token(jti) => SPREAD.hash_one((1u8, jti)),
        };
        (hash % STRIPES as u64) as usize
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

/// Keys are hashed with `ahash`, seeded at random per process (absent users are cached too,
/// under ids a client picks, so the seed must not be guessable), several times faster than
/// the standard library's SipHash on the token keys every request looks up.
type Stamped<K, V> = hashbrown::HashMap<K, (Stamp, V), ahash::RandomState>;

/// A token check's key: the subject and the token ids checked for revocation.
type TokenKey<I> = (I, Vec<String>);

/// A token check's key as a request holds it, borrowed: looked up without copying the ids.
/// It hashes exactly as the owned key does (a slice of strings hashes as a vector of them).
struct TokenKeyRef<'a, I>(I, &'a [&'a str]);

impl<I: Hash> Hash for TokenKeyRef<'_, I> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.0, self.1).hash(state);
    }
}

impl<I: PartialEq> hashbrown::Equivalent<TokenKey<I>> for TokenKeyRef<'_, I> {
    fn equivalent(&self, key: &TokenKey<I>) -> bool {
        self.0 == key.0 && self.1.iter().eq(key.1.iter())
    }
}

impl<I: Copy> TokenKeyRef<'_, I> {
    fn to_owned_key(&self) -> TokenKey<I> {
        (self.0, self.1.iter().map(|j| (*j).to_owned()).collect())
    }
}

/// Cached reads, each as the store answered it (absence included), with its stamp.
#[derive(Default)]
pub struct Entries {
    generation: u64,
    len: usize,
    users: Stamped<UserId, Option<Arc<User>>>,
    tenants: Stamped<TenantId, Option<Arc<Tenant>>>,
    /// A token's subject, keyed by the subject and the token ids checked for revocation.
    token_users: Stamped<TokenKey<UserId>, Option<Arc<User>>>,
    token_clients: Stamped<TokenKey<ClientId>, Option<Arc<ApiClient>>>,
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

    /// Keeps `value` under `key` with `stamp` in the map `map_mut` picks, emptying the cache
    /// first when it is full or holds an older generation.
    fn keep<K: Hash + Eq, V>(
        &mut self,
        map_mut: fn(&mut Entries) -> &mut Stamped<K, V>,
        key: K,
        stamp: Stamp,
        value: V,
    ) {
        if self.generation != stamp.generation || self.len >= CAPACITY {
            self.clear(stamp.generation);
        }
        if map_mut(self).insert(key, (stamp, value)).is_none() {
            self.len += 1;
        }
    }
}

pub struct ReadCache {
    generation: AtomicU64,
    stripes: Box<[AtomicU64]>,
    /// Whether every write that could make an entry stale is seen (see the module notes).
    lit: AtomicBool,
    entries: RwLock<Entries>,
    /// The node's own user changes whose notices the feed may still bring.
    expected: Mutex<Vec<Expected>>,
    tickets: AtomicU64,
}

/// A change of one user's row by this node, as its notice will name it.
struct Expected {
    ticket: u64,
    id: UserId,
    /// The version the change moves the row to.
    version: i64,
    /// The feed told of a change with this user and version.
    heard: bool,
    /// The change succeeded; only its notice is still to come.
    succeeded: bool,
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
            expected: Mutex::new(Vec::new()),
            tickets: AtomicU64::new(0),
        }
    }

    fn expected(&self) -> std::sync::MutexGuard<'_, Vec<Expected>> {
        self.expected.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Begins this node's change of user `id`'s row to version `version`, made with nothing
    /// else in its transaction. If it succeeds, [`UserWriting::succeeded`] may keep the stored
    /// row as the cached answer for the user.
    pub fn writing_user(self: &Arc<Self>, id: UserId, version: i64) -> UserWriting {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let registered = {
            let mut expected = self.expected();
            let room = expected.len() < MAX_EXPECTED;
            if room {
                expected.push(Expected {
                    ticket,
                    id,
                    version,
                    heard: false,
                    succeeded: false,
                });
            }
            room
        };
        let writing = self.writing_on(Scope::User(id));
        // Taken after the write's beginning: only its end may move it before the answer is
        // kept.
        let begun = self.stamp(iter::once(Scope::User(id)));
        UserWriting {
            writing: Some(writing),
            id,
            ticket,
            begun: begun.filter(|_| registered),
        }
    }

    /// Another node committed a write changing what `scope` names, or anything (`None`).
    pub fn changed_elsewhere(&self, scope: Option<Scope<'_>>) {
        self.advance(scope.map(|s| s.stripe()));
    }

    /// A write changed user `id`'s row, moving it to `version` if it moved the version. The
    /// first such notice matching a change of this node that is still expected is that
    /// change's own, whose beginning and end already counted here.
    pub fn user_changed(&self, id: UserId, version: Option<i64>) {
        if let Some(version) = version {
            let mut expected = self.expected();
            if let Some(i) = expected
                .iter()
                .position(|e| !e.heard && e.id == id && e.version == version)
            {
                if expected[i].succeeded {
                    expected.swap_remove(i);
                } else {
                    expected[i].heard = true;
                }
                return;
            }
        }
        self.changed_elsewhere(Some(Scope::User(id)));
    }

    /// The change feed is connected (`true`) or lost (`false`). Either way, what is cached
    /// is stale from now on.
    pub fn set_lit(&self, lit: bool) {
        self.lit.store(lit, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        // Notices lost in a gap will not come; what the node still expected is dropped
        // (the generation moved, so no change begun before now is kept as an answer).
        self.expected().clear();
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

    /// The cached answer under `key` in `map` if its stamp is current, or else `read`'s, kept
    /// with its stamp (under `key` made owned by `own`) if nothing moved while it was read.
    async fn through<'a, K, Q, V, F>(
        &self,
        deps: impl Iterator<Item = Scope<'a>> + Clone,
        map: fn(&Entries) -> &Stamped<K, V>,
        map_mut: fn(&mut Entries) -> &mut Stamped<K, V>,
        key: &Q,
        own: impl FnOnce(&Q) -> K,
        read: F,
    ) -> Result<V, StoreError>
    where
        K: Hash + Eq,
        Q: Hash + hashbrown::Equivalent<K> + ?Sized,
        V: Clone,
        F: std::future::Future<Output = Result<V, StoreError>>,
    {
        let Some(stamp) = self.stamp(deps.clone()) else {
            return read.await;
        };
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((at, found)) = map(&entries).get(key) {
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
        entries.keep(map_mut, own(key), stamp, answer.clone());
        Ok(answer)
    }

    /// Keeps `user`, as a change of this node that began at `begun` stored it, if nothing
    /// moved since but that change's own end.
    fn keep_written(&self, begun: Stamp, user: &User) {
        let stamp = Stamp {
            generation: begun.generation,
            scoped: begun.scoped.wrapping_add(1),
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.stamp(iter::once(Scope::User(user.id))) != Some(stamp) {
            return;
        }
        entries.keep(
            |e| &mut e.users,
            user.id,
            stamp,
            Some(Arc::new(user.clone())),
        );
    }

    /// A user by id.
    pub async fn user<F>(&self, id: UserId, read: F) -> Result<Option<Arc<User>>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<User>, StoreError>>,
    {
        self.through(
            iter::once(Scope::User(id)),
            |e| &e.users,
            |e| &mut e.users,
            &id,
            |id| *id,
            shared(read),
        )
        .await
    }

    /// A tenant by id.
    pub async fn tenant<F>(&self, id: TenantId, read: F) -> Result<Option<Arc<Tenant>>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<Tenant>, StoreError>>,
    {
        self.through(
            iter::empty(),
            |e| &e.tenants,
            |e| &mut e.tenants,
            &id,
            |id| *id,
            shared(read),
        )
        .await
    }

    /// A token's subject user, unless one of the token ids `jtis` is revoked.
    pub async fn token_user<F>(
        &self,
        id: UserId,
        jtis: &[&str],
        read: F,
    ) -> Result<Option<Arc<User>>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<User>, StoreError>>,
    {
        let deps = iter::once(Scope::User(id)).chain(jtis.iter().map(|j| Scope::Token(j)));
        self.through(
            deps,
            |e| &e.token_users,
            |e| &mut e.token_users,
            &TokenKeyRef(id, jtis),
            TokenKeyRef::to_owned_key,
            shared(read),
        )
        .await
    }

    /// A token's subject client, unless one of the token ids `jtis` is revoked.
    pub async fn token_client<F>(
        &self,
        id: ClientId,
        jtis: &[&str],
        read: F,
    ) -> Result<Option<Arc<ApiClient>>, StoreError>
    where
        F: std::future::Future<Output = Result<Option<ApiClient>, StoreError>>,
    {
        let deps = jtis.iter().map(|j| Scope::Token(j));
        self.through(
            deps,
            |e| &e.token_clients,
            |e| &mut e.token_clients,
            &TokenKeyRef(id, jtis),
            TokenKeyRef::to_owned_key,
            shared(read),
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
            &user,
            |user| *user,
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
            &trustee,
            |trustee| *trustee,
            read,
        )
        .await
    }
}

/// A record read from the database, as the cache keeps and hands out records: shared, so a
/// cached answer costs a reference count rather than a copy.
async fn shared<T>(
    read: impl std::future::Future<Output = Result<Option<T>, StoreError>>,
) -> Result<Option<Arc<T>>, StoreError> {
    Ok(read.await?.map(Arc::new))
}

/// A change of one user's row by this node, under way (see [`ReadCache::writing_user`]).
/// Dropping it without [`UserWriting::succeeded`] ends it as failed.
#[must_use = "the write counts as under way only while this is held"]
pub struct UserWriting {
    /// The write while under way; `None` once ended.
    writing: Option<Writing>,
    id: UserId,
    ticket: u64,
    /// The user's stamp once the change had begun; `None` if it cannot be kept (the cache was
    /// dark, or too many changes were waiting for their notices to register this one).
    begun: Option<Stamp>,
}

impl UserWriting {
    /// Ends the write, returning its cache; `None` if it had ended already.
    fn end(&mut self) -> Option<Arc<ReadCache>> {
        let writing = self.writing.take()?;
        let cache = writing.cache.clone();
        drop(writing);
        Some(cache)
    }

    /// The change committed and stored `user`: ends the write, and keeps `user` as the
    /// cached answer if nothing else moved since it began.
    pub fn succeeded(mut self, user: &User) {
        let Some(cache) = self.end() else {
            return;
        };
        let still_expected = {
            let mut expected = cache.expected();
            match expected.iter().position(|e| e.ticket == self.ticket) {
                // Its notice came first.
                Some(i) if expected[i].heard => {
                    expected.swap_remove(i);
                    true
                }
                Some(i) => {
                    expected[i].succeeded = true;
                    true
                }
                // Never registered, or dropped with a gap in the feed.
                None => false,
            }
        };
        if let (true, Some(begun)) = (still_expected && user.id == self.id, self.begun) {
            cache.keep_written(begun, user);
        }
    }
}

impl Drop for UserWriting {
    fn drop(&mut self) {
        let Some(cache) = self.end() else {
            return;
        };
        let mut expected = cache.expected();
        if let Some(i) = expected.iter().position(|e| e.ticket == self.ticket) {
            // A notice taken for this change's was another write's, which this node has
            // not counted yet.
            if expected.swap_remove(i).heard {
                cache.changed_elsewhere(Some(Scope::User(self.id)));
            }
        }
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
        answer.unwrap().contact.firstname.clone()
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
        let jtis = ["t1"];
        let subject = |name: &str| {
            let mut user = sample(one);
            user.contact.firstname = name.to_owned();
            async move { Ok(Some(user)) }
        };
        let name = |u: Option<Arc<User>>| u.unwrap().contact.firstname.clone();
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
    async fn a_token_check_is_found_by_its_exact_list_of_ids() {
        let cache = ReadCache::lit();
        let id = UserId::new_random();
        let check = |jtis: &'static [&'static str], name: &'static str| {
            let cache = cache.clone();
            async move {
                let mut user = sample(id);
                user.contact.firstname = name.to_owned();
                let found = cache
                    .token_user(id, jtis, async move { Ok(Some(user)) })
                    .await
                    .unwrap();
                found.unwrap().contact.firstname.clone()
            }
        };
        assert_eq!(check(&["a", "b"], "ab").await, "ab");
        assert_eq!(check(&["a", "b"], "again").await, "ab", "kept");
        // Fewer ids, the same ids in another order, or ids joined differently: other checks.
        assert_eq!(check(&["a"], "a").await, "a");
        assert_eq!(check(&["b", "a"], "ba").await, "ba");
        assert_eq!(check(&["ab"], "joined").await, "joined");
        assert_eq!(check(&["a", "b"], "again").await, "ab", "kept");
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

    fn named(id: UserId, name: &str, version: i64) -> User {
        let mut user = sample(id);
        user.contact.firstname = name.to_owned();
        user.version = version;
        user
    }

    #[tokio::test]
    async fn a_users_change_by_this_node_is_kept_and_its_own_notice_stales_nothing() {
        let cache = ReadCache::lit();
        let id = UserId::new_random();
        assert_eq!(read(&cache, id, "a", || {}).await, "a");
        let change = cache.writing_user(id, 2);
        assert_eq!(read(&cache, id, "during", || {}).await, "during");
        change.succeeded(&named(id, "written", 2));
        assert_eq!(read(&cache, id, "db", || {}).await, "written", "kept");
        // The feed's notice of that change is its own.
        cache.user_changed(id, Some(2));
        assert_eq!(read(&cache, id, "db", || {}).await, "written", "kept");
        // Any later notice of the user is another write's.
        cache.user_changed(id, Some(2));
        assert_eq!(read(&cache, id, "db-2", || {}).await, "db-2");
        // The notice may come before the change knows it succeeded.
        let change = cache.writing_user(id, 3);
        cache.user_changed(id, Some(3));
        change.succeeded(&named(id, "written-3", 3));
        assert_eq!(read(&cache, id, "db", || {}).await, "written-3", "kept");
        cache.user_changed(id, None);
        assert_eq!(read(&cache, id, "db-3", || {}).await, "db-3");
    }

    #[tokio::test]
    async fn a_change_is_not_kept_when_anything_else_moved_while_it_ran() {
        let cache = ReadCache::lit();
        let id = UserId::new_random();
        // Another node's change of the user.
        let change = cache.writing_user(id, 2);
        cache.user_changed(id, Some(5));
        change.succeeded(&named(id, "written", 2));
        assert_eq!(read(&cache, id, "db", || {}).await, "db");
        // A write of this node on the user (a failed login, say).
        let change = cache.writing_user(id, 3);
        drop(cache.writing_on(Scope::User(id)));
        change.succeeded(&named(id, "written", 3));
        assert_eq!(read(&cache, id, "db-2", || {}).await, "db-2");
        // A change of anything.
        let change = cache.writing_user(id, 4);
        cache.changed_elsewhere(None);
        change.succeeded(&named(id, "written", 4));
        assert_eq!(read(&cache, id, "db-3", || {}).await, "db-3");
        // A gap in the feed: what was expected is dropped, and its notice is another's.
        let change = cache.writing_user(id, 5);
        cache.set_lit(false);
        cache.set_lit(true);
        change.succeeded(&named(id, "written", 5));
        assert_eq!(read(&cache, id, "db-4", || {}).await, "db-4");
        cache.user_changed(id, Some(5));
        assert_eq!(read(&cache, id, "db-5", || {}).await, "db-5");
    }

    #[tokio::test]
    async fn a_failed_change_expects_no_notice() {
        let cache = ReadCache::lit();
        let id = UserId::new_random();
        // It lost to another node's change to the same version, whose notice came first.
        let change = cache.writing_user(id, 2);
        cache.user_changed(id, Some(2));
        drop(change);
        assert_eq!(read(&cache, id, "a", || {}).await, "a");
        assert_eq!(read(&cache, id, "b", || {}).await, "a", "kept");
        // Its notice came after: it is not taken for the failed change's.
        let change = cache.writing_user(id, 3);
        drop(change);
        assert_eq!(read(&cache, id, "c", || {}).await, "c");
        cache.user_changed(id, Some(3));
        assert_eq!(read(&cache, id, "d", || {}).await, "d");
        assert!(cache.expected().is_empty());
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
