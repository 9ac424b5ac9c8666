//! The in-process store: per-entry TTL, the entry and byte bounds (LRU
//! order), oversized entries, and sharing across threads.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_cache::ENTRY_OVERHEAD_BYTES;
use tollgate_cache::{
    CacheKey, Entry, MemoryConfig, MemoryStats, MemoryStore, Put, StopReason, Store, Usage,
};

fn entry(body_len: usize) -> Arc<Entry> {
    Arc::new(Entry {
        body: vec![b'x'; body_len],
        stop_reason: StopReason::EndTurn,
        usage: Usage {
            input: 100,
            output: 20,
            cache_read: 0,
            cache_write: 0,
        },
        cost_nanos: 600_000,
        model_id: "m".into(),
        created_unix_ms: 0,
    })
}

/// Weight of `entry(n)`: body + 1-byte model id + overhead.
fn weight(n: usize) -> usize {
    n + 1 + ENTRY_OVERHEAD_BYTES
}

fn key(n: u128) -> CacheKey {
    CacheKey(n)
}

fn one_shard(max_entries: usize, max_bytes: usize) -> MemoryStore {
    MemoryStore::new(MemoryConfig {
        max_entries,
        max_bytes,
        shards: 1,
    })
}

#[test]
fn memory_ttl_expires_each_entry_on_its_own_clock() {
    let s = one_shard(100, 1 << 20);
    let t0 = Instant::now();
    s.put_at(key(1), entry(10), Duration::from_secs(60), t0);
    s.put_at(key(2), entry(10), Duration::from_secs(600), t0);
    let at = |secs| t0 + Duration::from_secs(secs);
    assert!(s.get_at(key(1), at(59)).is_some());
    assert!(s.get_at(key(1), at(60)).is_none(), "expires exactly at ttl");
    assert!(s.get_at(key(2), at(60)).is_some());
    assert!(s.get_at(key(2), at(599)).is_some());
    assert!(s.get_at(key(2), at(600)).is_none());
    let st = s.stats();
    assert_eq!((st.entries, st.bytes, st.expired), (0, 0, 2));
}

#[test]
fn memory_byte_bound_evicts_least_recently_used() {
    // Room for exactly three 1,000-byte bodies.
    let s = one_shard(100, 3 * weight(1000));
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    for k in 1..=3 {
        assert_eq!(s.put_at(key(k), entry(1000), ttl, t0), Put::Stored);
    }
    // Touch 1, so 2 is the least recently used.
    assert!(s.get_at(key(1), t0).is_some());
    s.put_at(key(4), entry(1000), ttl, t0);
    assert!(s.get_at(key(2), t0).is_none());
    for k in [1, 3, 4] {
        assert!(s.get_at(key(k), t0).is_some(), "key {k} kept");
    }
    assert_eq!(
        s.stats(),
        MemoryStats {
            entries: 3,
            bytes: 3 * weight(1000),
            evicted: 1,
            expired: 0
        }
    );
    // One big entry pushes out as many as it needs: two.
    s.put_at(key(5), entry(2000), ttl, t0);
    let st = s.stats();
    assert_eq!(
        (st.entries, st.bytes, st.evicted),
        (2, weight(1000) + weight(2000), 3)
    );
    assert!(
        s.get_at(key(4), t0).is_some(),
        "most recent small entry kept"
    );
}

#[test]
fn memory_entry_bound_evicts_least_recently_used() {
    let s = one_shard(2, 1 << 20);
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    s.put_at(key(1), entry(1), ttl, t0);
    s.put_at(key(2), entry(1), ttl, t0);
    s.put_at(key(3), entry(1), ttl, t0);
    assert!(s.get_at(key(1), t0).is_none());
    assert!(s.get_at(key(2), t0).is_some());
    assert!(s.get_at(key(3), t0).is_some());
    assert_eq!(s.stats().evicted, 1);
}

#[test]
fn memory_oversized_entry_is_not_stored() {
    let s = one_shard(10, 1000);
    let t0 = Instant::now();
    assert_eq!(
        s.put_at(key(1), entry(2000), Duration::from_secs(1), t0),
        Put::TooLarge
    );
    assert_eq!(s.stats().entries, 0);
}

#[test]
fn memory_replacing_a_key_keeps_the_byte_count_exact() {
    let s = one_shard(10, 1 << 20);
    let t0 = Instant::now();
    let ttl = Duration::from_secs(60);
    s.put_at(key(1), entry(500), ttl, t0);
    s.put_at(key(1), entry(100), ttl, t0);
    let st = s.stats();
    assert_eq!((st.entries, st.bytes, st.evicted), (1, weight(100), 0));
    assert_eq!(s.get_at(key(1), t0).unwrap().body.len(), 100);
}

#[test]
fn memory_shards_split_the_bounds() {
    let s = MemoryStore::new(MemoryConfig {
        max_entries: 1000,
        max_bytes: 16 << 20,
        shards: 12,
    });
    assert_eq!(s.shard_count(), 16, "rounded up to a power of two");
    let tiny = MemoryStore::new(MemoryConfig {
        max_entries: 3,
        max_bytes: 1 << 20,
        shards: 16,
    });
    assert_eq!(
        tiny.shard_count(),
        4,
        "never more shards than entries (rounded)"
    );
}

#[test]
fn memory_store_serves_many_threads() {
    let s = Arc::new(MemoryStore::new(MemoryConfig::default()));
    let handles: Vec<_> = (0..4u128)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..2000u128 {
                    // Spread keys over shards the way real hashes do.
                    let k = key(((t * 10_000 + i) << 64) | (t * 10_000 + i));
                    s.put(k, entry(10), Duration::from_secs(60)).unwrap();
                    assert!(s.get(k).unwrap().is_some());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.stats().entries, 8000);
}
