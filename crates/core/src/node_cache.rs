//! A value read from the store and kept on one node for a short while: the service catalog
//! and the role book, which every Keystone token shows and which change rarely.
//!
//! A node's own writes invalidate its copy at once; a write made on another node shows here
//! within [`NODE_CACHE_TTL`]. `generation` moves on every invalidation, so a load that raced
//! with a write is not kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long a node keeps a value another node may have changed.
pub const NODE_CACHE_TTL: Duration = Duration::from_secs(5);

pub(crate) struct NodeCache<T> {
    generation: AtomicU64,
    cached: RwLock<Option<Cached<T>>>,
}

struct Cached<T> {
    generation: u64,
    loaded_at: Instant,
    value: Arc<T>,
}

impl<T> Default for NodeCache<T> {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            cached: RwLock::new(None),
        }
    }
}

impl<T> NodeCache<T> {
    /// The kept value, if it is still fresh.
    pub(crate) fn fresh(&self) -> Option<Arc<T>> {
        let guard = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .filter(|c| {
                c.generation == self.generation.load(Ordering::Acquire)
                    && c.loaded_at.elapsed() < NODE_CACHE_TTL
            })
            .map(|c| c.value.clone())
    }

    /// The generation to pass to [`Self::keep`] for a load starting now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps a value loaded at `generation`, unless the cache was invalidated meanwhile.
    pub(crate) fn keep(&self, generation: u64, value: Arc<T>) {
        let mut guard = self.cached.write().unwrap_or_else(PoisonError::into_inner);
        if generation == self.generation.load(Ordering::Acquire) {
            *guard = Some(Cached {
                generation,
                loaded_at: Instant::now(),
                value,
            });
        }
    }

    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_raced_with_a_write_is_not_kept() {
        let cache: NodeCache<Vec<u8>> = NodeCache::default();
        let before = cache.generation();
        cache.invalidate();
        cache.keep(before, Arc::new(Vec::new()));
        assert!(cache.fresh().is_none());
        let now = cache.generation();
        cache.keep(now, Arc::new(Vec::new()));
        assert!(cache.fresh().is_some());
        cache.invalidate();
        assert!(cache.fresh().is_none());
    }
}
