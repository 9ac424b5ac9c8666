//! The in-process store: LRU (the `lru` crate) with per-entry TTL, bounded
//! by entries and by bytes, sharded by key hash.
//!
//! Why sharded mutexes rather than one lock or a lock-free map: an LRU
//! `get` reorders the list, so even a hit writes; one lock would make every
//! thread of a busy service queue on it. Keys are already uniform 128-bit
//! hashes, so the shard is picked from the high 64 bits and the shard's
//! hash map uses the low 64 bits as they are (no second hashing). Two
//! threads contend only when their keys land in the same shard.
//!
//! Bounds are per shard: each shard holds at most `ceil(max_entries /
//! shards)` entries and `max_bytes / shards` bytes ([`Entry::weight`]), and
//! evicts its least recently used entries beyond either. Expired entries are
//! dropped when read and otherwise age out through the LRU order.

use crate::entry::Entry;
use crate::key::CacheKey;
use crate::store::{Put, Store, StoreError};
use crossbeam_utils::CachePadded;
use lru::LruCache;
use parking_lot::Mutex;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bounds and sharding of a [`MemoryStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Most entries held (across shards).
    pub max_entries: usize,
    /// Most bytes held (across shards), as [`Entry::weight`] counts them.
    pub max_bytes: usize,
    /// Number of shards; rounded up to a power of two, at least 1, at most
    /// `max_entries`.
    pub shards: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_entries: 10_000,
            max_bytes: 64 << 20,
            shards: 16,
        }
    }
}

/// Counters of a [`MemoryStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStats {
    /// Entries held now.
    pub entries: usize,
    /// Bytes held now.
    pub bytes: usize,
    /// Entries evicted for room (entry or byte bound).
    pub evicted: u64,
    /// Entries found expired when read.
    pub expired: u64,
}

/// The in-process store.
pub struct MemoryStore {
    shards: Box<[Padded]>,
    mask: u64,
    evicted: AtomicU64,
    expired: AtomicU64,
}

/// A shard on cache lines of its own, so that two threads working on
/// neighbouring shards do not invalidate each other's line.
type Padded = CachePadded<Mutex<Shard>>;

struct Slot {
    entry: Arc<Entry>,
    expires: Instant,
    weight: usize,
}

struct Shard {
    lru: LruCache<u128, Slot, BuildHasherDefault<KeyHasher>>,
    bytes: usize,
    max_bytes: usize,
}

/// Keys are uniform hashes already: the low 64 bits are the map hash.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        // Truncation intended: the low half of a uniform hash.
        self.0 = n as u64;
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new(cfg: MemoryConfig) -> MemoryStore {
        let max_entries = cfg.max_entries.max(1);
        let shards = cfg.shards.clamp(1, max_entries).next_power_of_two();
        let per_entries = max_entries.div_ceil(shards);
        let per_bytes = cfg.max_bytes / shards;
        let cap = NonZeroUsize::new(per_entries).unwrap_or(NonZeroUsize::MIN);
        let shards: Box<[Padded]> = (0..shards)
            .map(|_| {
                CachePadded::new(Mutex::new(Shard {
                    lru: LruCache::with_hasher(cap, BuildHasherDefault::default()),
                    bytes: 0,
                    max_bytes: per_bytes,
                }))
            })
            .collect();
        MemoryStore {
            // INVARIANT: `shards` is a power of two, so `len - 1` is a mask.
            mask: (shards.len() as u64).saturating_sub(1),
            shards,
            evicted: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: CacheKey) -> Option<&Mutex<Shard>> {
        let i = ((key.0 >> 64) as u64) & self.mask;
        self.shards
            .get(usize::try_from(i).unwrap_or(0))
            .map(|p| &**p)
    }

    /// [`Store::get`] at a given instant (tests drive time with this).
    pub fn get_at(&self, key: CacheKey, now: Instant) -> Option<Arc<Entry>> {
        let mut s = self.shard(key)?.lock();
        match s.lru.get(&key.0) {
            None => return None,
            Some(slot) if slot.expires > now => return Some(Arc::clone(&slot.entry)),
            Some(_) => {}
        }
        if let Some(slot) = s.lru.pop(&key.0) {
            s.bytes = s.bytes.saturating_sub(slot.weight);
            self.expired.fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    /// [`Store::put`] at a given instant.
    pub fn put_at(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration, now: Instant) -> Put {
        let Some(shard) = self.shard(key) else {
            return Put::TooLarge;
        };
        let weight = entry.weight();
        let mut s = shard.lock();
        if weight > s.max_bytes {
            return Put::TooLarge;
        }
        // A TTL past the clock's range means "until evicted".
        let expires = now
            .checked_add(ttl)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now);
        let mut evicted = 0;
        if let Some((old_key, old)) = s.lru.push(
            key.0,
            Slot {
                entry,
                expires,
                weight,
            },
        ) {
            s.bytes = s.bytes.saturating_sub(old.weight);
            if old_key != key.0 {
                evicted += 1;
            }
        }
        s.bytes += weight;
        while s.bytes > s.max_bytes {
            let Some((_, old)) = s.lru.pop_lru() else {
                break;
            };
            s.bytes = s.bytes.saturating_sub(old.weight);
            evicted += 1;
        }
        drop(s);
        if evicted > 0 {
            self.evicted.fetch_add(evicted, Ordering::Relaxed);
        }
        Put::Stored
    }

    /// Current size and counters.
    pub fn stats(&self) -> MemoryStats {
        let (entries, bytes) = self.shards.iter().fold((0, 0), |(n, b), s| {
            let s = s.lock();
            (n + s.lru.len(), b + s.bytes)
        });
        MemoryStats {
            entries,
            bytes,
            evicted: self.evicted.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

impl Store for MemoryStore {
    #[inline]
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        Ok(self.get_at(key, Instant::now()))
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        Ok(self.put_at(key, entry, ttl, Instant::now()))
    }
}
