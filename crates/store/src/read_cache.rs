//! A node's cache of the reads every authenticated request makes: a token's subject with its
//! revocation check, the subject's held policies, a user and a tenant by id. Both backends
//! keep one.
//!
//! A cached answer is good while nothing it came from may have changed. The cache does not
//! know what a write changes, only that one happens, from two sources:
//!
//! - **the node's own writes**, each held as a [`Writing`] from before its transaction begins
//!   until after it has committed or rolled back. Taking one advances the *generation*; while
//!   any is held nothing is served from the cache or put into it. From the moment a write is
//!   committed, no request of this node sees what it replaced.
//! - **other nodes' writes** (PostgreSQL only), told by the database's change feed:
//!   [`ReadCache::changed_elsewhere`] advances the generation when one is committed. Until the
//!   feed is connected, and whenever it is lost, the cache is *dark*: every read goes to the
//!   database, and coming back advances the generation, so nothing cached before the gap is
//!   used after it.
//!
//! Entries belong to one generation and are used only while it is current. A read fills the
//! cache only if its generation was current, the cache lit and no write held from its start
//! to its end. A write makes the whole cache stale; a workload of reads keeps it warm.
//! Entries are bounded; the cache is emptied when full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use warden_domain::{AccessPolicy, ApiClient, ClientId, Tenant, TenantId, User, UserId};

use crate::StoreError;

/// At most this many entries (of all kinds) are kept.
const CAPACITY: usize = 20_000;

/// Cached reads, each as the store answered it (absence included).
#[derive(Default)]
pub struct Entries {
    generation: u64,
    len: usize,
    pub users: HashMap<UserId, Option<User>>,
    pub tenants: HashMap<TenantId, Option<Tenant>>,
    /// A token's subject, keyed by the subject and the token ids checked for revocation.
    pub token_users: HashMap<(UserId, Vec<String>), Option<User>>,
    pub token_clients: HashMap<(ClientId, Vec<String>), Option<ApiClient>>,
    pub held_policies: HashMap<uuid::Uuid, Vec<AccessPolicy>>,
}

impl Entries {
    fn clear(&mut self, generation: u64) {
        *self = Entries {
            generation,
            ..Entries::default()
        };
    }
}

/// Proof that no write was running when a read began: the generation it may fill.
#[derive(Clone, Copy, Debug)]
struct Ticket(u64);

pub struct ReadCache {
    generation: AtomicU64,
    /// Writes of this node under way.
    writes: AtomicUsize,
    /// Whether every write that could make an entry stale is seen (see the module notes).
    lit: AtomicBool,
    entries: RwLock<Entries>,
}

/// A write of this node under way; dropping it ends the write. Hold one from before the
/// write's transaction begins until after it commits or rolls back.
#[must_use = "the write counts as under way only while this is held"]
pub struct Writing(Arc<ReadCache>);

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.writes.fetch_sub(1, Ordering::SeqCst);
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
            writes: AtomicUsize::new(0),
            lit: AtomicBool::new(lit),
            entries: RwLock::new(Entries::default()),
        }
    }

    /// Begins a write of this node: whatever is cached may be about to change.
    pub fn writing(self: &Arc<Self>) -> Writing {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        Writing(self.clone())
    }

    /// Another node committed a write.
    pub fn changed_elsewhere(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
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

    /// The generation a read beginning now may fill; `None` while a write runs or the cache is
    /// dark.
    fn ticket(&self) -> Option<Ticket> {
        // The generation is read first: a write or a loss of the feed beginning after this
        // load advances it, so the checks below cannot be overtaken unnoticed.
        let generation = self.generation.load(Ordering::SeqCst);
        if self.writes.load(Ordering::SeqCst) > 0 || !self.lit.load(Ordering::SeqCst) {
            return None;
        }
        Some(Ticket(generation))
    }

    /// A cached answer, if one of the current generation is there and no write runs.
    pub fn lookup<T>(&self, pick: impl FnOnce(&Entries) -> Option<T>) -> Option<T> {
        let ticket = self.ticket()?;
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        if entries.generation != ticket.0 {
            return None;
        }
        pick(&entries)
    }

    /// The cached answer `pick` finds, or else `read`'s, kept by `keep` (see `read_through`).
    pub async fn get_or_read<T, F>(
        &self,
        pick: impl FnOnce(&Entries) -> Option<T>,
        read: F,
        keep: impl FnOnce(&mut Entries, &T),
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        match self.lookup(pick) {
            Some(found) => Ok(found),
            None => self.read_through(read, keep).await,
        }
    }

    /// Runs `read` against the database, keeping its answer if no write began meanwhile.
    pub async fn read_through<T, F>(
        &self,
        read: F,
        keep: impl FnOnce(&mut Entries, &T),
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let ticket = self.ticket();
        let answer = read.await?;
        if let Some(ticket) = ticket {
            self.keep(ticket, |entries| keep(entries, &answer));
        }
        Ok(answer)
    }

    fn keep(&self, ticket: Ticket, put: impl FnOnce(&mut Entries)) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock: a write that began after the ticket makes the answer
        // possibly stale.
        match self.ticket() {
            Some(now) if now.0 == ticket.0 => {}
            _ => return,
        }
        if entries.generation != ticket.0 || entries.len >= CAPACITY {
            entries.clear(ticket.0);
        }
        entries.len += 1;
        put(&mut entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_once(
        cache: &Arc<ReadCache>,
        value: usize,
        during: impl FnOnce(),
    ) -> Result<usize, StoreError> {
        let key = UserId::new_random();
        cache
            .read_through(
                async {
                    during();
                    Ok(value)
                },
                |entries, _| {
                    entries.users.insert(key, None);
                },
            )
            .await
    }

    fn cached_len(cache: &ReadCache) -> Option<usize> {
        cache.lookup(|e| Some(e.users.len()))
    }

    #[tokio::test]
    async fn reads_fill_only_when_no_write_began_and_writes_make_everything_stale() {
        let cache = ReadCache::lit();
        read_once(&cache, 1, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
        // A write beginning during the read: nothing is kept.
        let mut held = None;
        read_once(&cache, 2, || held = Some(cache.writing()))
            .await
            .unwrap();
        // While the write runs, nothing is served from the cache.
        assert_eq!(cached_len(&cache), None);
        // Nor while a second one runs after the first has ended.
        let second = cache.writing();
        drop(held);
        assert_eq!(cached_len(&cache), None);
        read_once(&cache, 3, || {}).await.unwrap();
        drop(second);
        // After them, the earlier entries are of an old generation.
        assert_eq!(cached_len(&cache), None);
        // A write that began and ended during a read also voids it.
        read_once(&cache, 3, || drop(cache.writing()))
            .await
            .unwrap();
        assert_eq!(cached_len(&cache), None);
        read_once(&cache, 4, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
    }

    #[tokio::test]
    async fn a_dark_cache_serves_nothing_and_lighting_it_starts_afresh() {
        let cache = ReadCache::dark();
        read_once(&cache, 1, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), None);
        cache.set_lit(true);
        read_once(&cache, 1, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
        // A write elsewhere makes what is cached stale.
        cache.changed_elsewhere();
        assert_eq!(cached_len(&cache), None);
        read_once(&cache, 2, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
        // Losing the feed during a read: nothing is kept, nothing is served.
        read_once(&cache, 3, || cache.set_lit(false)).await.unwrap();
        assert_eq!(cached_len(&cache), None);
        // Lost and found again during a read: the read is not kept either.
        cache.set_lit(true);
        read_once(&cache, 4, || {
            cache.set_lit(false);
            cache.set_lit(true);
        })
        .await
        .unwrap();
        assert_eq!(cached_len(&cache), None);
    }

    #[tokio::test]
    async fn the_cache_is_emptied_when_full() {
        let cache = ReadCache::lit();
        for n in 0..CAPACITY {
            read_once(&cache, n, || {}).await.unwrap();
        }
        assert_eq!(cached_len(&cache), Some(CAPACITY));
        read_once(&cache, 0, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
    }
}
