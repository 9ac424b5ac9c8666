//! The gate's Redis paths are awaited end to end: on a current-thread
//! runtime, with its response cache and its budgets in one Redis behind a
//! proxy that holds every reply 300 ms (operation timeout 100 ms), a
//! Converse call waits out four timeouts (cache lookup, budget reserve,
//! settlement, cache fill) while another task on the same thread keeps
//! ticking every millisecond, and the call itself is answered: a cache or
//! budget fault never fails the user's call. Any one round trip run on the
//! thread instead of awaited would stop the ticker for its whole timeout,
//! which the largest gap between ticks shows.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
// The cache crate's test support: a real `redis-server` on a free port,
// and a delaying TCP proxy in front of it.
#[allow(dead_code, clippy::panic)]
#[path = "../../tollgate-cache/tests/support/redis_server.rs"]
mod redis_server;
#[allow(dead_code)]
#[path = "../../tollgate-cache/tests/support/slow_proxy.rs"]
mod slow_proxy;

use common::{client, handle, Collect, Reply, Server};
use redis_server::RedisServer;
use slow_proxy::SlowProxy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_bedrock::{Backoff, ChatRequest, Gate};
use tollgate_cache::{CacheConfig, Redis, RedisConfig, ResponseCache};
use tollgate_cost::{CacheOutcome, Day, GroupKey, Ledger, LedgerConfig, Status, Tags};

const POLICY: &str = r#"
[policy]
name = "stalled-redis"
default_model = "haiku"

[attributes]
feature = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[[cache]]
name = "answers"
when = 'feature == "kb"'
key = ["messages"]
scope = "global"
ttl = "10m"

[[budget]]
name = "kb-daily"
when = 'feature == "kb"'
daily_usd = 100.0
group_by = "feature"
action = "reject"
"#;

const OP_TIMEOUT: Duration = Duration::from_millis(100);

/// What the loopback answers: 7 in, 50 out on Haiku 3.5 ($0.80 / $4 per Mtok).
const COST: u64 = 7 * 800 + 50 * 4_000;

fn tags() -> Tags {
    Tags {
        feature: Some("kb".into()),
        ..Tags::default()
    }
}

fn text(r: &tollgate_bedrock::ChatResponse) -> String {
    r.output
        .output()
        .and_then(|o| o.as_message().ok())
        .and_then(|m| m.content().first())
        .and_then(|c| c.as_text().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "current_thread")]
async fn a_stalled_redis_under_cache_and_budget_does_not_block_the_runtime() {
    let redis_server = RedisServer::start();
    // Connected while the network is fast; then every chunk stalls 300 ms.
    let proxy = SlowProxy::start(redis_server.port(), Duration::ZERO);
    // One handle for both stores: one set of connections, one breaker
    // (which never trips here: every operation waits its full timeout).
    let redis = Redis::new(RedisConfig {
        url: proxy.url(),
        op_timeout: OP_TIMEOUT,
        connect_timeout: Duration::from_millis(500),
        pool_size: 1,
        trip_after: 1_000,
        ..RedisConfig::default()
    })
    .unwrap();
    let cache = Arc::new(ResponseCache::new(
        tollgate_cache::RedisStore::new(redis.clone()),
        CacheConfig::default(),
    ));
    let ledger = Ledger::new(
        tollgate_cost::RedisStore::new(redis.clone()),
        LedgerConfig::default(),
    );
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), handle(POLICY))
        .sink(events.clone())
        .backoff(Backoff::none())
        .cache(cache.clone())
        .ledger(ledger.clone())
        .build();
    let kb = GroupKey::new("feature", "kb");
    let day = Day::today();

    // A healthy Redis: a miss, reserved and settled, stored; the repeat hits.
    server.push(Reply::ok("first", 7, 50));
    let r = gate
        .converse(&ChatRequest::user("hello there"), &tags())
        .await
        .unwrap();
    assert_eq!((text(&r).as_str(), r.event.cost_nanos), ("first", COST));
    assert_eq!(ledger.total_async(kb, day).await.unwrap(), COST as i64);
    let r = gate
        .converse(&ChatRequest::user("hello there"), &tags())
        .await
        .unwrap();
    assert_eq!(text(&r), "first");
    assert_eq!(r.event.cache, CacheOutcome::Hit);
    assert_eq!(server.requests().len(), 1);
    let before = redis.stats();
    assert_eq!((before.timeouts, before.errors, before.connects), (0, 0, 1));

    // Redis stalls. Another task on this thread ticks every millisecond
    // and keeps the largest gap between two ticks, in microseconds.
    proxy.set_delay(Duration::from_millis(300));
    let ticks = Arc::new(AtomicU64::new(0));
    let max_gap_us = Arc::new(AtomicU64::new(0));
    let ticker = {
        let (ticks, max_gap_us) = (ticks.clone(), max_gap_us.clone());
        tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let now = Instant::now();
                let gap = u64::try_from((now - last).as_micros()).unwrap();
                max_gap_us.fetch_max(gap, Ordering::Relaxed);
                last = now;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // The ticker is running before the call starts.
    tokio::time::sleep(Duration::from_millis(5)).await;
    max_gap_us.store(0, Ordering::Relaxed);
    server.push(Reply::ok("second", 7, 50));
    let t0 = ticks.load(Ordering::Relaxed);
    let started = Instant::now();
    let r = gate
        .converse(&ChatRequest::user("a new question"), &tags())
        .await
        .unwrap();
    let waited = started.elapsed();
    let during = ticks.load(Ordering::Relaxed) - t0;
    ticker.abort();

    // The call is answered, priced and recorded as if Redis were not there.
    assert_eq!((text(&r).as_str(), r.event.cost_nanos), ("second", COST));
    assert_eq!(r.event.status, Status::Ok);
    assert_eq!(r.event.cache, CacheOutcome::Miss);
    assert_eq!(server.requests().len(), 2);
    // Four operations each waited out the timeout, awaited: the ticker
    // ran throughout, never held up for anything like one timeout (a
    // round trip run on the thread would stop it for 100 ms).
    assert!(waited >= OP_TIMEOUT * 4, "{waited:?}");
    let max_gap = Duration::from_micros(max_gap_us.load(Ordering::Relaxed));
    assert!(
        max_gap < OP_TIMEOUT / 2,
        "the ticker stood still for {max_gap:?} during a {waited:?} call: the runtime was blocked"
    );
    assert!(
        during >= 100,
        "{during} ticks during a {waited:?} call: the runtime was blocked"
    );
    eprintln!("{during} ticks, largest gap {max_gap:?}, during a {waited:?} call");
    let after = redis.stats();
    assert_eq!(
        (
            after.timeouts - before.timeouts,
            after.errors - before.errors,
            after.connects
        ),
        (4, 0, 1),
        "{after:?}"
    );
    // The faults are counted where they happened: a lookup and a fill in
    // the cache, a reservation and a settlement in the ledger.
    let cs = cache.stats();
    assert_eq!(
        (cs.hits, cs.misses, cs.get_errors, cs.put_errors),
        (1, 2, 1, 1),
        "{cs:?}"
    );
    assert_eq!(ledger.faults(), 2);
    assert_eq!(events.events().len(), 3);
}
