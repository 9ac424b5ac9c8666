//! Redis faults under the response cache: a server that is not there, a
//! slow network (a delaying proxy in front of a real `redis-server`), and
//! a server killed and restarted while two threads keep calling. In every
//! case every call returns its answer, no call waits much past the
//! configured timeouts, and the counters say what happened.

#![cfg(feature = "redis")]
// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/slow_proxy.rs"]
mod slow_proxy;

use redis_server::RedisServer;
use slow_proxy::SlowProxy;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_cache::{
    CacheConfig, CacheKey, CallResult, Entry, FillRule, RedisConfig, RedisStore, ResponseCache,
    Served, StopReason, Usage,
};

fn entry(n: u128) -> Entry {
    Entry {
        body: format!("answer {n}").into_bytes(),
        stop_reason: StopReason::EndTurn,
        usage: Usage {
            input: 100,
            output: 20,
            cache_read: 0,
            cache_write: 0,
        },
        cost_nanos: 1_000,
        model_id: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
        created_unix_ms: 1_764_140_000_000,
    }
}

const RULE: FillRule = FillRule {
    ttl: Duration::from_secs(60),
    cache_truncated: false,
};

/// One call through the cache for key `n`; returns the answer's body and
/// whether it was a hit. The "model" answers `answer n`.
fn call(cache: &ResponseCache, n: u128) -> (Vec<u8>, bool) {
    match cache.get_or_call(CacheKey(n), RULE, || CallResult::Answered {
        entry: entry(n),
        guardrail_flagged: false,
    }) {
        Served::Hit(e) | Served::Shared(e) => (e.body.clone(), true),
        Served::Called { result, .. } => match result {
            CallResult::Answered { entry, .. } => (entry.body, false),
            other => panic!("the model call itself never fails here: {other:?}"),
        },
    }
}

#[test]
fn redis_not_there_every_call_is_answered_and_counted() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = RedisConfig {
        op_timeout: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(50),
        trip_after: 3,
        backoff: Duration::from_millis(200),
        ..RedisConfig::default()
    };
    let redis = Arc::new(
        RedisStore::open(RedisConfig {
            url: format!("redis://127.0.0.1:{port}/"),
            ..cfg
        })
        .unwrap(),
    );
    let cache = ResponseCache::with_store(redis.clone(), CacheConfig::default());
    let n = 200u128;
    let started = Instant::now();
    for i in 0..n {
        let one = Instant::now();
        assert_eq!(call(&cache, i), (format!("answer {i}").into_bytes(), false));
        assert!(
            one.elapsed() < Duration::from_millis(500),
            "{:?}",
            one.elapsed()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let cs = cache.stats();
    // Every lookup and every store failed, and each was counted once.
    assert_eq!(
        (cs.hits, cs.misses, cs.get_errors, cs.put_errors),
        (0, 200, 200, 200)
    );
    let rs = redis.stats();
    assert_eq!(rs.errors + rs.timeouts + rs.skipped, 2 * 200, "{rs:?}");
    assert!(
        rs.skipped > 0,
        "the back-off spares most calls a connect: {rs:?}"
    );
    assert_eq!((rs.gets, rs.sets), (0, 0));
}

#[test]
fn slow_redis_costs_at_most_the_timeout_then_recovers() {
    let server = RedisServer::start();
    let proxy = SlowProxy::start(server.port(), Duration::from_millis(300));
    let cfg = RedisConfig {
        op_timeout: Duration::from_millis(40),
        connect_timeout: Duration::from_millis(500),
        trip_after: 1_000,
        backoff: Duration::from_millis(10),
        ..RedisConfig::default()
    };
    let redis = Arc::new(
        RedisStore::open(RedisConfig {
            url: proxy.url(),
            ..cfg
        })
        .unwrap(),
    );
    let cache = ResponseCache::with_store(redis.clone(), CacheConfig::default());
    // Slow: each get and put times out; the call is answered regardless.
    for i in 0..10u128 {
        let one = Instant::now();
        assert_eq!(call(&cache, i), (format!("answer {i}").into_bytes(), false));
        // connect (fast) + two timed-out round trips, with slack for a busy box.
        assert!(
            one.elapsed() < Duration::from_millis(1_500),
            "{:?}",
            one.elapsed()
        );
    }
    let rs = redis.stats();
    // Each of the 20 operations failed once, nearly always by timing out
    // (a reconnect's handshake through the slow proxy may fail instead).
    assert_eq!(rs.timeouts + rs.errors, 20, "{rs:?}");
    assert!(rs.timeouts >= 10, "{rs:?}");
    let cs = cache.stats();
    assert_eq!((cs.get_errors, cs.put_errors, cs.stored), (10, 10, 0));
    // The network recovers: stores and hits resume through the same store.
    proxy.set_delay(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(700)); // late replies drain
    assert_eq!(call(&cache, 100), (b"answer 100".to_vec(), false));
    assert_eq!(call(&cache, 100), (b"answer 100".to_vec(), true));
    let cs = cache.stats();
    assert_eq!((cs.stored, cs.hits), (1, 1));
}

#[test]
fn redis_restarted_mid_run_no_call_fails() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cfg = RedisConfig {
        op_timeout: Duration::from_millis(100),
        connect_timeout: Duration::from_millis(100),
        trip_after: 2,
        backoff: Duration::from_millis(20),
        ..RedisConfig::default()
    };
    let redis = Arc::new(
        RedisStore::open(RedisConfig {
            url: server.url(),
            ..cfg
        })
        .unwrap(),
    );
    let cache = Arc::new(ResponseCache::with_store(
        redis.clone(),
        CacheConfig::default(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2u128)
        .map(|t| {
            let (cache, stop, calls) = (cache.clone(), stop.clone(), calls.clone());
            std::thread::spawn(move || {
                let mut i = 0u128;
                while !stop.load(Ordering::Relaxed) {
                    // 16 distinct keys per thread, so hits happen whenever Redis is up.
                    let n = t * 1_000 + i % 16;
                    let (body, _) = call(&cache, n);
                    assert_eq!(body, format!("answer {n}").into_bytes());
                    calls.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    let wait_for = |cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out: {:?}", cache.stats());
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(&|| cache.stats().hits >= 20);
    server.kill();
    let errors_at_kill = cache.stats().get_errors;
    wait_for(&|| cache.stats().get_errors >= errors_at_kill + 20);
    let _server = RedisServer::start_on(port).expect("restart on the same port");
    let hits_at_restart = cache.stats().hits;
    // Persistence is off: the new server starts empty, fills, then serves hits.
    wait_for(&|| cache.stats().hits >= hits_at_restart + 20);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("no call panicked");
    }
    let cs = cache.stats();
    let n = calls.load(Ordering::Relaxed);
    // Every call was served: a hit or a (counted) miss.
    assert_eq!(cs.hits + cs.misses, n, "{cs:?}");
    assert!(cs.get_errors >= 20 && cs.put_errors > 0, "{cs:?}");
    assert!(cs.stored > 0, "{cs:?}");
}

/// The async path on a current-thread runtime: while a lookup waits on a
/// Redis that stalls every reply, the runtime's one thread keeps running
/// other tasks (a blocking client would freeze them for the whole wait).
#[tokio::test(flavor = "current_thread")]
async fn a_stalled_redis_does_not_block_the_runtime() {
    let server = RedisServer::start();
    // Connected while the network is fast; then every reply stalls 300 ms.
    let proxy = SlowProxy::start(server.port(), Duration::ZERO);
    let cfg = RedisConfig {
        url: proxy.url(),
        op_timeout: Duration::from_millis(40),
        connect_timeout: Duration::from_millis(500),
        pool_size: 1,
        trip_after: 1_000,
        ..RedisConfig::default()
    };
    let redis = Arc::new(RedisStore::open(cfg).unwrap());
    let cache = ResponseCache::with_store(redis.clone(), CacheConfig::default());
    assert!(matches!(
        cache.lookup_async(CacheKey(99), RULE).await,
        tollgate_cache::Lookup::Miss(_)
    ));
    assert_eq!(cache.stats().get_errors, 0);
    proxy.set_delay(Duration::from_millis(300));
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for i in 0..3u128 {
        let before = ticks.load(Ordering::Relaxed);
        let started = Instant::now();
        let found = cache.lookup_async(CacheKey(i), RULE).await;
        let waited = started.elapsed();
        let during = ticks.load(Ordering::Relaxed) - before;
        let fill = match found {
            tollgate_cache::Lookup::Miss(fill) => fill,
            _ => panic!("a stalled Redis cannot answer a hit"),
        };
        // The wait was real (at least the operation timeout), and the
        // ticker ran throughout it.
        assert!(waited >= Duration::from_millis(40), "{waited:?}");
        assert!(
            during >= 10,
            "{during} ticks during a {waited:?} wait: the runtime was blocked"
        );
        let before = ticks.load(Ordering::Relaxed);
        let fill = fill
            .complete_async(tollgate_cache::Outcome::Answered {
                entry: &entry(i),
                guardrail_flagged: false,
            })
            .await;
        assert!(
            matches!(fill, tollgate_cache::FillResult::StoreFailed(_)),
            "{fill:?}"
        );
        assert!(ticks.load(Ordering::Relaxed) - before >= 10);
    }
    ticker.abort();
    let cs = cache.stats();
    assert_eq!((cs.misses, cs.get_errors, cs.put_errors), (4, 3, 3));
    let rs = redis.stats();
    assert_eq!((rs.timeouts, rs.errors, rs.connects), (6, 0, 1), "{rs:?}");
}
