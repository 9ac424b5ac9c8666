//! The tiered store: an in-process tier in front of a shared store. Hot
//! entries are read from the far store once per `near_ttl`; writes reach
//! both tiers; the near tier's staleness is bounded by `near_ttl`. With the
//! `redis` feature, the far store is a real `redis-server` reached through
//! the async path, and a near hit sends nothing to Redis.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;
use tollgate_cache::{
    CacheKey, Entry, MemoryConfig, MemoryStore, Put, StopReason, Store, TieredStats, TieredStore,
    Usage,
};

fn entry(text: &str) -> Arc<Entry> {
    Arc::new(Entry {
        body: text.as_bytes().to_vec(),
        stop_reason: StopReason::EndTurn,
        usage: Usage {
            input: 900,
            output: 120,
            cache_read: 0,
            cache_write: 0,
        },
        cost_nanos: 4_914_400,
        model_id: "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
        created_unix_ms: 1_764_140_000_000,
    })
}

const K: CacheKey = CacheKey(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

#[test]
fn a_hot_entry_is_read_from_the_far_store_once_per_near_ttl() {
    let far = Arc::new(MemoryStore::new(MemoryConfig::default()));
    far.put(K, entry("shared answer"), Duration::from_secs(60))
        .unwrap();
    let near_ttl = Duration::from_secs(1);
    let t = TieredStore::new(MemoryConfig::default(), near_ttl, far.clone());

    for _ in 0..5 {
        assert_eq!(t.get(K).unwrap().unwrap().body, b"shared answer");
    }
    assert_eq!(
        t.stats(),
        TieredStats {
            near_hits: 4,
            far_lookups: 1,
            far_hits: 1
        }
    );

    // Past near_ttl the near copy is gone and the far store is asked again.
    std::thread::sleep(near_ttl + Duration::from_millis(50));
    assert_eq!(t.get(K).unwrap().unwrap().body, b"shared answer");
    assert_eq!(t.stats().far_lookups, 2);
    assert_eq!(t.stats().near_hits, 4);

    // A miss in both tiers is a miss, counted as a far lookup.
    let other = CacheKey(7);
    assert_eq!(t.get(other).unwrap(), None);
    assert_eq!(
        t.stats(),
        TieredStats {
            near_hits: 4,
            far_lookups: 3,
            far_hits: 2
        }
    );
}

#[test]
fn writes_reach_both_tiers_and_the_near_copy_lives_at_most_near_ttl() {
    let far = Arc::new(MemoryStore::new(MemoryConfig::default()));
    let near_ttl = Duration::from_secs(1);
    let t = TieredStore::new(MemoryConfig::default(), near_ttl, far.clone());
    assert_eq!(
        t.put(K, entry("fresh"), Duration::from_secs(60)).unwrap(),
        Put::Stored
    );
    assert_eq!(far.get(K).unwrap().unwrap().body, b"fresh");
    assert_eq!(t.get(K).unwrap().unwrap().body, b"fresh");
    assert_eq!(t.stats().near_hits, 1);
    assert_eq!(t.stats().far_lookups, 0);

    // The far copy is replaced behind the tier's back (another pod wrote):
    // the near copy is served until near_ttl ends, then the new one.
    far.put(K, entry("newer"), Duration::from_secs(60)).unwrap();
    assert_eq!(t.get(K).unwrap().unwrap().body, b"fresh");
    std::thread::sleep(near_ttl + Duration::from_millis(50));
    assert_eq!(t.get(K).unwrap().unwrap().body, b"newer");

    // An entry written with a TTL shorter than near_ttl lives no longer
    // in the near tier than in the far store.
    let short = CacheKey(9);
    t.put(short, entry("brief"), Duration::from_millis(20))
        .unwrap();
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(t.get(short).unwrap(), None);
}

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

#[cfg(feature = "redis")]
mod redis {
    use super::redis_server::RedisServer;
    use super::*;
    use tollgate_cache::{get_async, put_async, RedisConfig, RedisStore};

    #[tokio::test(flavor = "current_thread")]
    async fn near_hits_send_nothing_to_redis() {
        let server = RedisServer::start();
        let redis = Arc::new(
            RedisStore::open(RedisConfig {
                url: server.url(),
                op_timeout: Duration::from_millis(500),
                connect_timeout: Duration::from_millis(500),
                ..RedisConfig::default()
            })
            .unwrap(),
        );
        let writer = TieredStore::new(
            MemoryConfig::default(),
            Duration::from_secs(5),
            redis.clone(),
        );
        let reader = TieredStore::new(
            MemoryConfig::default(),
            Duration::from_secs(5),
            redis.clone(),
        );
        assert_eq!(
            put_async(&writer, K, entry("from pod A"), Duration::from_secs(60))
                .await
                .unwrap(),
            Put::Stored
        );
        assert_eq!(redis.stats().sets, 1);
        // Pod B reads it from Redis once, then from its near tier.
        for _ in 0..10 {
            let got = get_async(&reader, K).await.unwrap().unwrap();
            assert_eq!(got.body, b"from pod A");
        }
        assert_eq!(redis.stats().gets, 1);
        assert_eq!(
            reader.stats(),
            TieredStats {
                near_hits: 9,
                far_lookups: 1,
                far_hits: 1
            }
        );
        // Pod A's own write is a near hit: no Redis read at all.
        get_async(&writer, K).await.unwrap().unwrap();
        assert_eq!(redis.stats().gets, 1);
    }
}
