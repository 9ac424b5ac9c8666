//! The Redis store against a real `redis-server` started per test on a
//! free loopback port: round trip, TTL expiry, a server that dies mid-test,
//! recovery, corrupt values, and tenant isolation through Redis.

#![cfg(feature = "redis")]
// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/redis_server.rs"]
mod redis_server;

use redis_server::RedisServer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_cache::{
    CacheConfig, CacheKey, CallResult, Entry, FillResult, FillRule, Put, RedisConfig, RedisStore,
    ResponseCache, Served, StopReason, Store, StoreError, Usage,
};
use tollgate_redis::redis;

fn entry(text: &str) -> Entry {
    Entry {
        body: text.as_bytes().to_vec(),
        stop_reason: StopReason::EndTurn,
        usage: Usage {
            input: 900,
            output: 120,
            cache_read: 2048,
            cache_write: 0,
        },
        cost_nanos: 4_914_400,
        model_id: "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
        created_unix_ms: 1_764_140_000_000,
    }
}

/// Generous timeouts: a loaded 2-core CI box must not make these flaky.
fn test_config() -> RedisConfig {
    RedisConfig {
        op_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        ..RedisConfig::default()
    }
}

fn store(server: &RedisServer) -> RedisStore {
    RedisStore::open(RedisConfig {
        url: server.url(),
        ..test_config()
    })
    .unwrap()
}

#[test]
fn redis_round_trip() {
    let server = RedisServer::start();
    let s = store(&server);
    let k = CacheKey(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    assert_eq!(s.get(k), Ok(None));
    let e = Arc::new(entry("binary \u{0} safe \u{ff}"));
    assert_eq!(
        s.put(k, Arc::clone(&e), Duration::from_secs(60)),
        Ok(Put::Stored)
    );
    assert_eq!(s.get(k).unwrap().as_deref(), Some(&*e));
    assert_eq!(
        s.redis_key(k),
        "tollgate:rc:0123456789abcdef0123456789abcdef"
    );
    // A second store (another process of the fleet) reads the same entry.
    let other = store(&server);
    assert_eq!(other.get(k).unwrap().as_deref(), Some(&*e));
    let st = s.stats();
    assert_eq!((st.gets, st.sets, st.errors, st.timeouts), (2, 1, 0, 0));
    assert_eq!(st.connects, 1, "the connection is pooled");
}

#[test]
fn redis_ttl_expiry() {
    let server = RedisServer::start();
    let s = store(&server);
    let k = CacheKey(1);
    s.put(
        k,
        Arc::new(entry("short-lived")),
        Duration::from_millis(100),
    )
    .unwrap();
    assert!(s.get(k).unwrap().is_some());
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(s.get(k), Ok(None));
}

#[test]
fn redis_down_mid_test_calls_go_on_uncached() {
    let mut server = RedisServer::start();
    let cfg = RedisConfig {
        op_timeout: Duration::from_millis(5),
        connect_timeout: Duration::from_millis(20),
        trip_after: 2,
        backoff: Duration::from_secs(30),
        ..RedisConfig::default()
    };
    let redis = Arc::new(
        RedisStore::open(RedisConfig {
            url: server.url(),
            ..cfg
        })
        .unwrap(),
    );
    let cache = ResponseCache::with_store(redis.clone(), CacheConfig::default());
    let rule = FillRule {
        ttl: Duration::from_secs(60),
        cache_truncated: false,
    };
    let call = || CallResult::Answered {
        entry: entry("answer"),
        guardrail_flagged: false,
    };
    // Warm: stored, then a hit.
    assert!(matches!(
        cache.get_or_call(CacheKey(5), rule, call),
        Served::Called {
            fill: FillResult::Stored,
            ..
        }
    ));
    assert!(matches!(
        cache.get_or_call(CacheKey(5), rule, call),
        Served::Hit(_)
    ));

    server.kill();
    let t = Instant::now();
    for i in 0..20u128 {
        let one = Instant::now();
        match cache.get_or_call(CacheKey(5 + i), rule, call) {
            Served::Called { result, fill } => {
                assert_eq!(result, call());
                assert!(matches!(fill, FillResult::StoreFailed(_)), "{fill:?}");
            }
            other => panic!("a dead Redis cannot serve a hit: {other:?}"),
        }
        assert!(
            one.elapsed() < Duration::from_millis(200),
            "call {i} took {:?}",
            one.elapsed()
        );
    }
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    let rs = redis.stats();
    assert!(rs.errors + rs.timeouts >= 2, "{rs:?}");
    assert!(rs.skipped > 0, "backing off after the trip: {rs:?}");
    let cs = cache.stats();
    assert_eq!((cs.get_errors, cs.put_errors), (20, 20));
    assert_eq!(redis.get(CacheKey(5)), Err(StoreError::Unavailable));
}

#[test]
fn redis_store_recovers_when_the_server_returns() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cfg = RedisConfig {
        trip_after: 1,
        backoff: Duration::from_millis(100),
        ..test_config()
    };
    let s = RedisStore::open(RedisConfig {
        url: server.url(),
        ..cfg
    })
    .unwrap();
    s.put(CacheKey(1), Arc::new(entry("a")), Duration::from_secs(60))
        .unwrap();
    server.kill();
    assert!(s.get(CacheKey(1)).is_err());
    assert_eq!(s.get(CacheKey(1)), Err(StoreError::Unavailable));
    let _server = RedisServer::start_on(port).expect("restart on the same port");
    std::thread::sleep(Duration::from_millis(120));
    // Persistence is off: the restarted server is empty, and reachable.
    assert_eq!(s.get(CacheKey(1)), Ok(None));
    assert_eq!(
        s.put(CacheKey(1), Arc::new(entry("b")), Duration::from_secs(60)),
        Ok(Put::Stored)
    );
}

#[test]
fn redis_corrupt_value_is_a_miss() {
    let server = RedisServer::start();
    let s = store(&server);
    let k = CacheKey(77);
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    redis::cmd("SET")
        .arg(s.redis_key(k))
        .arg(b"not an entry".as_slice())
        .query::<()>(&mut con)
        .unwrap();
    assert!(matches!(s.get(k), Err(StoreError::Corrupt(_))));
    assert_eq!(s.stats().corrupt, 1);
    let cache = ResponseCache::new(s, CacheConfig::default());
    let rule = FillRule {
        ttl: Duration::from_secs(60),
        cache_truncated: false,
    };
    // Served uncached, and the good answer overwrites the bad value.
    let call = || CallResult::Answered {
        entry: entry("good"),
        guardrail_flagged: false,
    };
    assert!(matches!(
        cache.get_or_call(k, rule, call),
        Served::Called {
            fill: FillResult::Stored,
            ..
        }
    ));
    assert!(matches!(cache.get_or_call(k, rule, call), Served::Hit(e) if e.body == b"good"));
}
