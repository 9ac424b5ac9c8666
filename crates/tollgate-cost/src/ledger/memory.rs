//! The in-process spend store: sharded atomic counters.
//!
//! Why this shape: an update must cost well under a microsecond and never
//! allocate. The key `(dimension, value, day)` is hashed once from borrowed
//! strings (foldhash, seeded per process, so request-controlled values such
//! as tenant names cannot be made to collide on purpose); the hash picks one
//! of 64 cache-line-aligned shards; under the shard's *read* lock a
//! `hashbrown::HashTable` finds the entry and one `fetch_add` updates it.
//! Only the first update of a group on a day takes the write lock to insert.
//! Rejected alternatives: a `Mutex<HashMap<String, _>>` (every update
//! serialises and allocates a key), a single `RwLock` (all cores bounce one
//! reader count), `DashMap` (a dependency for what 100 lines do).
//!
//! Days older than the retention (default 100 days, more than the longest
//! trailing window of 90) are pruned when a new day first appears.

use super::{GroupKey, Reserve, SpendStore, StoreError};
use crate::time::Day;
use crossbeam_utils::CachePadded;
use hashbrown::HashTable;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

const SHARDS: usize = 64;

struct Entry {
    dim: Box<str>,
    value: Box<str>,
    day: Day,
    hash: u64,
    nanos: AtomicI64,
}

impl Entry {
    fn is(&self, key: GroupKey<'_>, day: Day) -> bool {
        self.day == day && *self.value == *key.value && *self.dim == *key.dim
    }
}

/// One shard's table; each on cache lines of its own
/// ([`CachePadded`]), so writers of neighbouring shards do not contend.
struct Shard {
    table: RwLock<HashTable<Entry>>,
}

type Group = (Box<str>, Box<str>);

/// Spend per group and day, in this process.
pub struct MemoryStore {
    hasher: foldhash::fast::RandomState,
    shards: Box<[CachePadded<Shard>]>,
    /// First day each group was seen.
    first: RwLock<HashMap<Group, Day>>,
    /// Groups whose spike alert fired, by day.
    alerted: Mutex<HashSet<(Group, Day)>>,
    /// The newest day seen (pruning runs when it moves).
    newest: AtomicU32,
    retention_days: u32,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("retention_days", &self.retention_days)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store keeping 100 days.
    pub fn new() -> MemoryStore {
        MemoryStore::with_retention(100)
    }

    /// An empty store keeping `days` days (at least 2).
    pub fn with_retention(days: u32) -> MemoryStore {
        MemoryStore {
            hasher: foldhash::fast::RandomState::default(),
            shards: (0..SHARDS)
                .map(|_| {
                    CachePadded::new(Shard {
                        table: RwLock::new(HashTable::new()),
                    })
                })
                .collect(),
            first: RwLock::new(HashMap::new()),
            alerted: Mutex::new(HashSet::new()),
            newest: AtomicU32::new(0),
            retention_days: days.max(2),
        }
    }

    fn hash(&self, key: GroupKey<'_>, day: Day) -> u64 {
        self.hasher.hash_one((key.dim, key.value, day.0))
    }

    fn shard(&self, hash: u64) -> &Shard {
        // Middle bits: hashbrown uses the low bits for the bucket and the top
        // seven for its tag, so neither should be constant within a shard.
        let i = ((hash >> 32) as usize) % SHARDS;
        // INVARIANT: `i < SHARDS == self.shards.len()`.
        &self.shards[i]
    }

    fn read(shard: &Shard) -> RwLockReadGuard<'_, HashTable<Entry>> {
        // Entries are atomics; a panic elsewhere cannot leave one half-written.
        shard.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(shard: &Shard) -> RwLockWriteGuard<'_, HashTable<Entry>> {
        shard.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the entry's counter, creating the entry if needed.
    fn with_counter<R>(&self, key: GroupKey<'_>, day: Day, f: impl Fn(&AtomicI64) -> R) -> R {
        let hash = self.hash(key, day);
        let shard = self.shard(hash);
        {
            let table = Self::read(shard);
            if let Some(e) = table.find(hash, |e| e.is(key, day)) {
                return f(&e.nanos);
            }
        }
        self.new_day(key, day);
        let mut table = Self::write(shard);
        if table.find(hash, |e| e.is(key, day)).is_none() {
            table.insert_unique(
                hash,
                Entry {
                    dim: key.dim.into(),
                    value: key.value.into(),
                    day,
                    hash,
                    nanos: AtomicI64::new(0),
                },
                |e| e.hash,
            );
        }
        match table.find(hash, |e| e.is(key, day)) {
            Some(e) => f(&e.nanos),
            // INVARIANT: inserted just above under the same write lock.
            None => f(&AtomicI64::new(0)),
        }
    }

    /// Records the group's first day and prunes old days when a new one appears.
    fn new_day(&self, key: GroupKey<'_>, day: Day) {
        {
            let first = self.first.read().unwrap_or_else(|p| p.into_inner());
            let known = first
                .get(&(Box::<str>::from(key.dim), Box::<str>::from(key.value)))
                .is_some_and(|&d| d <= day);
            if !known {
                drop(first);
                let mut first = self.first.write().unwrap_or_else(|p| p.into_inner());
                let slot = first
                    .entry((key.dim.into(), key.value.into()))
                    .or_insert(day);
                *slot = (*slot).min(day);
            }
        }
        let newest = self.newest.fetch_max(day.0, Ordering::Relaxed);
        if day.0 > newest {
            self.prune(day);
        }
    }

    fn prune(&self, today: Day) {
        let oldest = today.minus(self.retention_days);
        for shard in self.shards.iter() {
            Self::write(shard).retain(|e| e.day >= oldest);
        }
        let mut alerted = self.alerted.lock().unwrap_or_else(|p| p.into_inner());
        alerted.retain(|(_, d)| *d >= oldest);
    }
}

impl SpendStore for MemoryStore {
    fn add(&self, key: GroupKey<'_>, day: Day, delta: i64) -> Result<i64, StoreError> {
        Ok(self.with_counter(key, day, |c| {
            c.fetch_add(delta, Ordering::AcqRel).saturating_add(delta)
        }))
    }

    fn try_reserve(
        &self,
        key: GroupKey<'_>,
        day: Day,
        amount: i64,
        limit: i64,
    ) -> Result<Reserve, StoreError> {
        Ok(self.with_counter(key, day, |c| {
            match c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let next = cur.checked_add(amount)?;
                (next <= limit).then_some(next)
            }) {
                Ok(prev) => Reserve::Granted {
                    total: prev.saturating_add(amount),
                },
                Err(cur) => Reserve::Denied { total: cur },
            }
        }))
    }

    fn total(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        let hash = self.hash(key, day);
        let table = Self::read(self.shard(hash));
        Ok(table
            .find(hash, |e| e.is(key, day))
            .map_or(0, |e| e.nanos.load(Ordering::Acquire)))
    }

    fn first_day(&self, key: GroupKey<'_>) -> Result<Option<Day>, StoreError> {
        let first = self.first.read().unwrap_or_else(|p| p.into_inner());
        Ok(first
            .get(&(Box::<str>::from(key.dim), Box::<str>::from(key.value)))
            .copied())
    }

    fn mark_alerted(&self, key: GroupKey<'_>, day: Day) -> Result<bool, StoreError> {
        let mut alerted = self.alerted.lock().unwrap_or_else(|p| p.into_inner());
        Ok(alerted.insert(((key.dim.into(), key.value.into()), day)))
    }
}
