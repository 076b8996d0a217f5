//! The node's cache of the reads every authenticated request makes: a token's subject with
//! its revocation check, the subject's held policies, a user and a tenant by id.
//!
//! SQLite serves one node, and every write goes through the store's one writer connection, so
//! the writer connection's own life tells when cached reads may have gone stale: each time it
//! is handed out the *generation* advances and the writer counts as busy until it is handed
//! back. Cached entries belong to one generation and are used only while the writer is idle
//! and the generation is still theirs: a read that may race a write goes to the database, and
//! from the moment a write is committed no request sees what it replaced. A read fills the
//! cache only if no write began between its start and its end.
//!
//! A write makes the whole cache stale (the writer does not say what it changed); a workload of
//! reads keeps it warm. Entries are bounded; the cache is emptied when full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

use warden_domain::{AccessPolicy, ApiClient, ClientId, Tenant, TenantId, User, UserId};

/// At most this many entries (of all kinds) are kept.
const CAPACITY: usize = 20_000;

/// Cached reads, each as the store answered it (absence included).
#[derive(Default)]
pub(crate) struct Entries {
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
pub(crate) struct Ticket(u64);

#[derive(Default)]
pub(crate) struct ReadCache {
    generation: AtomicU64,
    writer_busy: AtomicBool,
    entries: RwLock<Entries>,
}

impl ReadCache {
    /// The writer connection is handed out (or opened): whatever is cached may be about to
    /// change.
    pub fn writer_taken(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.writer_busy.store(true, Ordering::SeqCst);
    }

    /// The writer connection is back, its transaction committed or rolled back.
    pub fn writer_returned(&self) {
        self.writer_busy.store(false, Ordering::SeqCst);
    }

    /// The generation a read beginning now may fill; `None` while a write runs.
    fn ticket(&self) -> Option<Ticket> {
        if self.writer_busy.load(Ordering::SeqCst) {
            return None;
        }
        Some(Ticket(self.generation.load(Ordering::SeqCst)))
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

    /// Runs `read` against the database, keeping its answer if no write began meanwhile.
    pub async fn read_through<T, F>(
        &self,
        read: F,
        keep: impl FnOnce(&mut Entries, &T),
    ) -> Result<T, warden_store::StoreError>
    where
        F: std::future::Future<Output = Result<T, warden_store::StoreError>>,
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
        cache: &ReadCache,
        value: usize,
        during: impl FnOnce(),
    ) -> Result<usize, warden_store::StoreError> {
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
        let cache = ReadCache::default();
        read_once(&cache, 1, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
        // A write beginning during the read: nothing is kept.
        read_once(&cache, 2, || cache.writer_taken()).await.unwrap();
        // While the write runs, nothing is served from the cache.
        assert_eq!(cached_len(&cache), None);
        cache.writer_returned();
        // After it, the earlier entries are of an old generation.
        assert_eq!(cached_len(&cache), None);
        // A write that began and ended during a read also voids it.
        read_once(&cache, 3, || {
            cache.writer_taken();
            cache.writer_returned();
        })
        .await
        .unwrap();
        assert_eq!(cached_len(&cache), None);
        read_once(&cache, 4, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
    }

    #[tokio::test]
    async fn the_cache_is_emptied_when_full() {
        let cache = ReadCache::default();
        for n in 0..CAPACITY {
            read_once(&cache, n, || {}).await.unwrap();
        }
        assert_eq!(cached_len(&cache), Some(CAPACITY));
        read_once(&cache, 0, || {}).await.unwrap();
        assert_eq!(cached_len(&cache), Some(1));
    }
}
