//! [`TieredStore`]: an in-process tier in front of a shared store.
//!
//! A fleet shares its response cache through Redis, but a busy pod asks for
//! the same few hot entries thousands of times a second, and each Redis
//! round trip costs the pod CPU (the client's encoding and decoding) and
//! latency. The near tier keeps what the pod read or wrote recently in a
//! small [`MemoryStore`] for a short time (`near_ttl`, one second by
//! default), so a hot entry costs one Redis read per pod per `near_ttl`,
//! not one per call.
//!
//! The price is staleness, bounded by `near_ttl`: an entry may be served
//! from the near tier up to `near_ttl` after it expired in the far store
//! (the far store's remaining lifetime is not read back). Writes go to both
//! tiers, the near one for at most `near_ttl`.
//!
//! The far store is reached the way [`get_async`](crate::get_async) reaches
//! any store: awaited when it does I/O (Redis), in place otherwise; a near
//! hit is a synchronous in-process lookup with no future boxed. A far store
//! that is itself tiered is called in place (its near tier answers, its far
//! one is reached synchronously): do not nest tiers.

use crate::entry::Entry;
use crate::key::CacheKey;
use crate::memory::{MemoryConfig, MemoryStore};
use crate::store::{Backend, Put, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The near tier's default lifetime.
pub const DEFAULT_NEAR_TTL: Duration = Duration::from_secs(1);

/// Counters of a [`TieredStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TieredStats {
    /// Lookups the near tier answered.
    pub near_hits: u64,
    /// Lookups that went to the far store.
    pub far_lookups: u64,
    /// Far lookups that found an entry (and filled the near tier).
    pub far_hits: u64,
}

/// An in-process [`MemoryStore`] in front of a shared store (see the
/// module doc).
pub struct TieredStore {
    near: MemoryStore,
    far: Arc<dyn Store>,
    near_ttl: Duration,
    near_hits: AtomicU64,
    far_lookups: AtomicU64,
    far_hits: AtomicU64,
}

impl std::fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStore")
            .field("near_ttl", &self.near_ttl)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TieredStore {
    /// `far` behind a near tier bounded by `near` whose entries live at most
    /// `near_ttl` ([`DEFAULT_NEAR_TTL`] is a good start).
    pub fn new(near: MemoryConfig, near_ttl: Duration, far: Arc<dyn Store>) -> TieredStore {
        TieredStore {
            near: MemoryStore::new(near),
            far,
            near_ttl,
            near_hits: AtomicU64::new(0),
            far_lookups: AtomicU64::new(0),
            far_hits: AtomicU64::new(0),
        }
    }

    /// The counters.
    pub fn stats(&self) -> TieredStats {
        TieredStats {
            near_hits: self.near_hits.load(Ordering::Relaxed),
            far_lookups: self.far_lookups.load(Ordering::Relaxed),
            far_hits: self.far_hits.load(Ordering::Relaxed),
        }
    }

    /// The near tier's answer, counted.
    fn near_get(&self, key: CacheKey) -> Option<Arc<Entry>> {
        // An in-process store never errs.
        let hit = self.near.get(key).ok().flatten();
        if hit.is_some() {
            self.near_hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Counts a far answer and fills the near tier with what it found.
    fn far_got(&self, key: CacheKey, got: &Result<Option<Arc<Entry>>, StoreError>) {
        self.far_lookups.fetch_add(1, Ordering::Relaxed);
        if let Ok(Some(e)) = got {
            self.far_hits.fetch_add(1, Ordering::Relaxed);
            // An entry too large for the near tier is simply not kept there.
            let _ = self.near.put(key, e.clone(), self.near_ttl);
        }
    }

    /// [`Store::get`] for an async caller: the near tier in place, the far
    /// store awaited when it does I/O.
    pub async fn get_async(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        if let Some(e) = self.near_get(key) {
            return Ok(Some(e));
        }
        let got = match self.far.backend() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.get_async(key).await,
            _ => self.far.get(key),
        };
        self.far_got(key, &got);
        got
    }

    /// [`Store::put`] for an async caller: the near tier in place, the far
    /// store awaited when it does I/O.
    pub async fn put_async(
        &self,
        key: CacheKey,
        entry: Arc<Entry>,
        ttl: Duration,
    ) -> Result<Put, StoreError> {
        let _ = self.near.put(key, entry.clone(), ttl.min(self.near_ttl));
        match self.far.backend() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.put_async(key, entry, ttl).await,
            _ => self.far.put(key, entry, ttl),
        }
    }
}

impl Store for TieredStore {
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        if let Some(e) = self.near_get(key) {
            return Ok(Some(e));
        }
        let got = self.far.get(key);
        self.far_got(key, &got);
        got
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        let _ = self.near.put(key, entry.clone(), ttl.min(self.near_ttl));
        self.far.put(key, entry, ttl)
    }

    fn backend(&self) -> Backend<'_> {
        Backend::Tiered(self)
    }
}
