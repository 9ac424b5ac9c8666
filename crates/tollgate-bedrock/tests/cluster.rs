//! The gate over a real Redis Cluster (three masters, one replica each;
//! `tollgate-redis`'s test support): its response cache and its spend
//! ledger and budget in the cluster, the loopback Bedrock behind it.
//!
//! - Two gates (two SDK clients, two Redis handles, as two pods) share
//!   cached answers: what one answered the other serves without calling
//!   Bedrock, and the spend read back from the cluster is the sum of the
//!   priced events.
//! - A master is killed while callers keep sending through a gate: no call
//!   fails, the faults are counted (Redis handle, cache, ledger), and once
//!   its replica has taken over, cache hits and exact spend accounting
//!   resume (entries stored before the kill are still served).
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../../tollgate-redis/tests/support/cluster.rs"]
mod cluster;
mod common;

use cluster::Cluster;
use common::{client, handle, Collect, Reply, Server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_bedrock::{Backoff, ChatRequest, ChatResponse, Gate};
use tollgate_cache::{CacheConfig, CacheStats, Redis, RedisConfig, ResponseCache};
use tollgate_cost::{CacheOutcome, Day, GroupKey, Ledger, LedgerConfig, Status, Tags};

const POLICY: &str = r#"
[policy]
name = "cluster-gate"
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
daily_usd = 1000.0
group_by = "feature"
action = "reject"
"#;

/// What the loopback answers: 7 in, 50 out on Haiku 3.5 ($0.80 / $4 per Mtok).
const COST: u64 = 7 * 800 + 50 * 4_000;

fn tags() -> Tags {
    Tags {
        feature: Some("kb".into()),
        ..Tags::default()
    }
}

fn kb() -> GroupKey<'static> {
    GroupKey::new("feature", "kb")
}

fn text(r: &ChatResponse) -> String {
    r.output
        .output()
        .and_then(|o| o.as_message().ok())
        .and_then(|m| m.content().first())
        .and_then(|c| c.as_text().ok())
        .cloned()
        .unwrap_or_default()
}

/// One gate as one pod has it: its own SDK client and its own Redis
/// handle, shared by its response cache and its ledger.
struct Pod {
    gate: Gate,
    redis: Redis,
    cache: Arc<ResponseCache>,
    ledger: Ledger,
    events: Arc<Collect>,
}

impl Pod {
    fn new(server: &Server, cfg: RedisConfig) -> Pod {
        let redis = Redis::new(cfg).unwrap();
        let cache = Arc::new(ResponseCache::new(
            tollgate_cache::RedisStore::new(redis.clone()),
            CacheConfig::default(),
        ));
        let ledger = Ledger::new(
            tollgate_cost::RedisStore::new(redis.clone()),
            LedgerConfig::default(),
        );
        let events = Arc::new(Collect::default());
        let gate = Gate::builder(client(&server.url), handle(POLICY))
            .sink(events.clone())
            .backoff(Backoff::none())
            .cache(cache.clone())
            .ledger(ledger.clone())
            .build();
        Pod {
            gate,
            redis,
            cache,
            ledger,
            events,
        }
    }

    async fn ask(&self, q: &str) -> ChatResponse {
        self.gate
            .converse(&ChatRequest::user(q), &tags())
            .await
            .unwrap_or_else(|e| panic!("`{q}` failed: {e}"))
    }

    async fn spent(&self) -> i64 {
        self.ledger.total_async(kb(), Day::today()).await.unwrap()
    }

    /// Faults so far: Redis operations that failed or timed out, cache
    /// lookups and fills that failed, ledger operations that failed.
    fn faults(&self) -> (u64, u64, u64) {
        let r = self.redis.stats();
        let c = self.cache.stats();
        (
            r.errors + r.timeouts,
            c.get_errors + c.put_errors,
            self.ledger.faults(),
        )
    }
}

/// Generous timeouts for a loaded 2-core machine: with no node down, no
/// operation may fail.
fn patient(c: &Cluster) -> RedisConfig {
    let mut cfg = RedisConfig::cluster(c.seeds());
    cfg.op_timeout = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg
}

fn cache_counts(s: &CacheStats) -> (u64, u64, u64, u64, u64) {
    (s.hits, s.misses, s.stored, s.get_errors, s.put_errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gates_share_cached_answers_and_spend_through_the_cluster() {
    const N: usize = 12;
    let c = Cluster::start();
    let server = Server::start().await;
    let (a, b) = (
        Pod::new(&server, patient(&c)),
        Pod::new(&server, patient(&c)),
    );
    for i in 0..N {
        server.push(Reply::ok(&format!("answer {i}"), 7, 50));
    }
    // Gate A: every question is new, Bedrock answers it, the answer is
    // stored in the cluster.
    for i in 0..N {
        let r = a.ask(&format!("question {i}")).await;
        assert_eq!(text(&r), format!("answer {i}"));
        assert_eq!(
            (r.event.cache, r.event.status, r.event.cost_nanos),
            (CacheOutcome::Miss, Status::Ok, COST)
        );
    }
    assert_eq!(server.requests().len(), N);
    // Gate B: the same questions are all hits; Bedrock is not called.
    for i in 0..N {
        let r = b.ask(&format!("question {i}")).await;
        assert_eq!(text(&r), format!("answer {i}"));
        assert_eq!(
            (r.event.cache, r.event.status, r.event.cost_nanos),
            (CacheOutcome::Hit, Status::Ok, 0)
        );
    }
    assert_eq!(server.requests().len(), N, "a hit does not call Bedrock");
    assert_eq!(
        cache_counts(&a.cache.stats()),
        (0, N as u64, N as u64, 0, 0)
    );
    assert_eq!(cache_counts(&b.cache.stats()), (N as u64, 0, 0, 0, 0));

    // The spend in the cluster is what the events priced, read back
    // through either pod's handle.
    let priced: u64 = a
        .events
        .events()
        .iter()
        .chain(b.events.events().iter())
        .map(|e| e.cost_nanos)
        .sum();
    assert_eq!(priced, N as u64 * COST);
    assert_eq!(a.spent().await, priced as i64);
    assert_eq!(b.spent().await, priced as i64);
    assert_eq!((a.events.events().len(), b.events.events().len()), (N, N));
    assert_eq!(a.faults(), (0, 0, 0));
    assert_eq!(b.faults(), (0, 0, 0));
}

/// How long a caller waits between two calls.
const PACE: Duration = Duration::from_millis(20);
/// Calls a caller makes at most (a bound: it stops when told).
const MAX_CALLS: usize = 400;
const CALLERS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_run_fails_no_call_and_service_resumes() {
    let mut c = Cluster::start();
    let server = Server::start().await;
    // A killed node's loopback port refuses connections at once and the
    // others answer `CLUSTERDOWN` at once, so a fault costs little: the
    // timeouts only need to be long enough that no operation times out
    // on a loaded machine once the replica has taken over (the spend of
    // the calls after it must be exact). A short back-off, so the breaker
    // probes often.
    let mut cfg = RedisConfig::cluster(c.seeds());
    cfg.op_timeout = Duration::from_millis(1000);
    cfg.connect_timeout = Duration::from_millis(1000);
    cfg.backoff = Duration::from_millis(200);
    let pod = Arc::new(Pod::new(&server, cfg));
    for _ in 0..CALLERS * MAX_CALLS + 100 {
        server.push(Reply::ok("an answer", 7, 50));
    }

    // Before: answered, stored, served again from the cluster.
    const WARM: usize = 6;
    for i in 0..WARM {
        let r = pod.ask(&format!("before {i}")).await;
        assert_eq!(
            (r.event.cache, r.event.cost_nanos),
            (CacheOutcome::Miss, COST)
        );
    }
    for i in 0..WARM {
        let r = pod.ask(&format!("before {i}")).await;
        assert_eq!((r.event.cache, r.event.cost_nanos), (CacheOutcome::Hit, 0));
    }
    assert_eq!(server.requests().len(), WARM);
    assert_eq!(pod.spent().await, (WARM as u64 * COST) as i64);
    assert_eq!(pod.faults(), (0, 0, 0));

    // The master of the budget's spend key: every call reserves and
    // settles there.
    let spend_key = tollgate_cost::RedisStore::new(pod.redis.clone()).spend_key(kb(), Day::today());
    let victim = c.master_of(&spend_key);
    c.wait_replicated(victim, Duration::from_secs(10));

    // Callers keep sending new questions through the gate.
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..CALLERS)
        .map(|t| {
            let (pod, stop) = (pod.clone(), stop.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                let mut calls = 0;
                while calls < MAX_CALLS && !stop.load(Ordering::Relaxed) {
                    let q = format!("during {t} {calls}");
                    match pod.gate.converse(&ChatRequest::user(&q), &tags()).await {
                        Ok(r) => assert_eq!(
                            (text(&r).as_str(), r.event.status),
                            ("an answer", Status::Ok)
                        ),
                        Err(e) => failed.push(format!("{q}: {e}")),
                    }
                    calls += 1;
                    tokio::time::sleep(PACE).await;
                }
                (calls, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    // Blocking calls (signals, `redis-cli`, sleeps) off the workers.
    tokio::task::block_in_place(|| {
        c.kill(victim);
        c.wait_failover(&spend_key, victim, Duration::from_secs(20));
    });
    let failover = killed_at.elapsed();
    // The callers go on through the gate's recovery.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = 0;
    for h in callers {
        let (n, failed) = h.await.unwrap();
        assert!(failed.is_empty(), "calls failed: {failed:?}");
        calls += n;
    }
    let (redis_faults, cache_faults, ledger_faults) = pod.faults();
    eprintln!(
        "failover in {failover:?}; {calls} calls during it, none failed; faults: \
         redis {redis_faults}, cache {cache_faults}, ledger {ledger_faults}; {:?}",
        pod.redis.stats()
    );
    assert!(calls >= CALLERS * 10, "{calls} calls");
    // Every fault is counted where it happened: the handle's broken
    // connections, the ledger's reservations and settlements (its key was
    // on the killed master), the cache's lookups and fills (some keys were
    // there; and until the replica took over, every node answered
    // `CLUSTERDOWN`, counted as server errors). The breaker paced it.
    let st = pod.redis.stats();
    assert!(redis_faults > 0, "{st:?}");
    assert!(st.server_errors > 0, "{st:?}");
    assert!(st.trips > 0 && st.skipped > 0, "{st:?}");
    assert!(ledger_faults > 0);
    assert!(cache_faults > 0);
    assert_eq!(pod.events.events().len(), 2 * WARM + calls);

    // Recovery: the breaker closes and the handle learns the new slot
    // map; five calls in a row without a new fault say it is done.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut clean = 0;
    let mut k = 0;
    while clean < 5 {
        assert!(
            Instant::now() < deadline,
            "no recovery: {:?}",
            pod.redis.stats()
        );
        let before = pod.faults();
        let r = pod.ask(&format!("recovering {k}")).await;
        assert_eq!(r.event.status, Status::Ok);
        k += 1;
        clean = if pod.faults() == before { clean + 1 } else { 0 };
        tokio::time::sleep(PACE).await;
    }

    // After: entries stored before the kill are still served (the
    // replica had them), new answers are stored and served, and the
    // spend of the calls after the failover is exact.
    let faults = pod.faults();
    let spent = pod.spent().await;
    let asked = server.requests().len();
    for i in 0..WARM {
        let r = pod.ask(&format!("before {i}")).await;
        assert_eq!((r.event.cache, r.event.cost_nanos), (CacheOutcome::Hit, 0));
    }
    const AFTER: usize = 6;
    for i in 0..AFTER {
        let r = pod.ask(&format!("after {i}")).await;
        assert_eq!(
            (r.event.cache, r.event.cost_nanos),
            (CacheOutcome::Miss, COST)
        );
    }
    for i in 0..AFTER {
        let r = pod.ask(&format!("after {i}")).await;
        assert_eq!((r.event.cache, r.event.cost_nanos), (CacheOutcome::Hit, 0));
    }
    assert_eq!(server.requests().len(), asked + AFTER);
    assert_eq!(pod.spent().await, spent + (AFTER as u64 * COST) as i64);
    assert_eq!(pod.faults(), faults, "{:?}", pod.redis.stats());
}
