//! The gate under load: 64 concurrent callers on a multi-thread tokio
//! runtime, each calling `gate.converse` in a loop against a loopback
//! Bedrock that answers every request after a fixed 20 ms, for a set time
//! per case (default 30 s; `TOLLGATE_LOAD_SECS` sets it). One call in ten
//! asks a question never asked before, the others one of 16 common
//! questions, so a response cache serves at most 90% of the calls.
//!
//! The cases: (a) no response cache; (b) an in-process cache; (c) a Redis
//! cache (a real `redis-server` started on a free loopback port, operation
//! timeout 40 ms); (d) the same Redis behind a proxy that holds every
//! chunk 300 ms (set when the measured run starts; the cache was filled
//! while it was fast), so every Redis operation waits out its timeout
//! until the breaker skips Redis; (c') the same Redis behind a one-second
//! in-process tier (`TieredStore`, the configuration for hot keys: each pod
//! reads a hot entry from Redis once a second).
//!
//! Each case runs 1 s unmeasured first (connections, the common answers
//! cached), then prints one row: calls, calls per second, p50 / p99 / max
//! latency of a call as its caller sees it (exact, from every call's
//! time), cache hits and single-flight shares, store faults (failed or
//! skipped lookups and fills), Redis timeouts and skipped operations.
//! Then the goals (docs/figures.md), PASS or MISS:
//!
//! - (d) keeps >= 90% of (a)'s calls per second, and its p99 stays within
//!   the operation timeout (40 ms) plus the Bedrock latency (20 ms) plus a
//!   slack: what the SDK and the machine's scheduling add to a Bedrock
//!   call at the time, (a)'s p99 minus 20 ms (a shared machine's load
//!   moves it by tens of ms);
//! - (c) keeps >= 80% of (b)'s calls per second (and, reported beside it,
//!   (c') against (b)).
//!
//! `cargo bench -p tollgate-bedrock --features redis --bench load`
//! (`TOLLGATE_LOAD_SECS=5` for a quick check). `redis-server` must be
//! installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[allow(dead_code, clippy::panic)]
#[path = "../../tollgate-cache/tests/support/redis_server.rs"]
mod redis_server;
#[allow(dead_code)]
#[path = "../../tollgate-cache/tests/support/slow_proxy.rs"]
mod slow_proxy;

use common::{client, handle, Reply, Server};
use redis_server::RedisServer;
use slow_proxy::SlowProxy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_bedrock::{Backoff, ChatRequest, Gate};
use tollgate_cache::{
    CacheConfig, MemoryConfig, MemoryStore, Redis, RedisConfig, RedisStore, ResponseCache,
    TieredStore, DEFAULT_NEAR_TTL,
};
use tollgate_cost::{CallEvent, Sink, SinkError, Tags};

/// Concurrent callers.
const CALLERS: u64 = 64;
/// The loopback Bedrock's time to answer.
const BEDROCK_LATENCY: Duration = Duration::from_millis(20);
/// Redis's operation timeout in (c) and (d).
const OP_TIMEOUT: Duration = Duration::from_millis(40);
/// What the proxy in (d) holds every chunk.
const PROXY_DELAY: Duration = Duration::from_millis(300);
/// The common questions.
const COMMON: u64 = 16;
/// One call in this many asks a new question.
const NEW_EVERY: u64 = 10;
/// Unmeasured load before each case's measured run.
const WARM_UP: Duration = Duration::from_secs(1);

const POLICY: &str = r#"
[policy]
name = "load"
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
"#;

/// Drops events (the sinks' cost is benchmarked in tollgate-cost).
struct Null;
impl Sink for Null {
    fn write(&self, _: &CallEvent) -> Result<(), SinkError> {
        Ok(())
    }
}

/// One case's measured run.
struct Row {
    label: &'static str,
    calls: usize,
    secs: f64,
    /// Every call's latency, µs, sorted.
    lat: Vec<u32>,
    errors: u64,
    hits: u64,
    shared: u64,
    faults: u64,
    timeouts: u64,
    skipped: u64,
}

impl Row {
    fn per_sec(&self) -> f64 {
        self.calls as f64 / self.secs
    }

    /// The `q` quantile (0..=1) in ms.
    fn q_ms(&self, q: f64) -> f64 {
        let i = ((self.lat.len() as f64 * q) as usize).min(self.lat.len().saturating_sub(1));
        self.lat.get(i).copied().unwrap_or(0) as f64 / 1e3
    }

    fn print(&self) {
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1}% | {} | {} | {} | {} | {} |",
            self.label,
            self.calls,
            self.per_sec(),
            self.q_ms(0.50),
            self.q_ms(0.99),
            self.q_ms(1.0),
            100.0 * self.hits as f64 / self.calls.max(1) as f64,
            self.shared,
            self.faults,
            self.timeouts,
            self.skipped,
            self.errors,
        );
    }
}

/// What a case's gate is built with.
struct Setup<'a> {
    label: &'static str,
    cache: Option<Arc<ResponseCache>>,
    redis: Option<Redis>,
    /// Slowed when the measured run starts.
    proxy: Option<&'a SlowProxy>,
}

fn main() {
    let secs: u64 = std::env::var("TOLLGATE_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(30);
    let run = Duration::from_secs(secs);
    // The loopback Bedrock on its own runtime (one worker): the gate's
    // workers run the gate and the SDK only.
    let bedrock_rt = runtime(Some(1));
    let server = bedrock_rt.block_on(async {
        let s = Server::start().await;
        s.set_default(Reply::ok("the answer", 100, 50));
        s.set_latency(BEDROCK_LATENCY);
        s
    });
    let rt = runtime(None);
    let redis_server = RedisServer::start();
    let proxy = SlowProxy::start(redis_server.port(), Duration::ZERO);
    let memory = MemoryStore::new(MemoryConfig::default());
    let redis_c = redis_handle(redis_server.url(), "load-c");
    let redis_c2 = redis_handle(redis_server.url(), "load-c2");
    let redis_d = redis_handle(proxy.url(), "load-d");
    let cache = |store: ResponseCache| Some(Arc::new(store));
    let redis_cache = |r: &Redis| cache(response_cache(RedisStore::new(r.clone())));
    let cases = [
        Setup {
            label: "(a) no cache",
            cache: None,
            redis: None,
            proxy: None,
        },
        Setup {
            label: "(b) in-process cache",
            cache: cache(response_cache(memory)),
            redis: None,
            proxy: None,
        },
        Setup {
            label: "(c) Redis cache",
            cache: redis_cache(&redis_c),
            redis: Some(redis_c.clone()),
            proxy: None,
        },
        Setup {
            label: "(c') Redis behind a 1 s in-process tier",
            cache: cache(response_cache(TieredStore::new(
                MemoryConfig::default(),
                DEFAULT_NEAR_TTL,
                Arc::new(RedisStore::new(redis_c2.clone())),
            ))),
            redis: Some(redis_c2.clone()),
            proxy: None,
        },
        Setup {
            label: "(d) Redis behind a 300 ms proxy",
            cache: redis_cache(&redis_d),
            redis: Some(redis_d.clone()),
            proxy: Some(&proxy),
        },
    ];
    println!(
        "{CALLERS} callers, {} ms Bedrock latency, {secs} s per case, 1 call in {NEW_EVERY} new; {} worker threads",
        BEDROCK_LATENCY.as_millis(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    println!("| case | calls | calls/s | p50 ms | p99 ms | max ms | hits | shared | store faults | Redis timeouts | Redis skipped | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rows: Vec<Row> = cases
        .into_iter()
        .map(|setup| {
            let row = run_case(&rt, &server.url, setup, run);
            row.print();
            row
        })
        .collect();
    goals(&rows);
    drop(rt);
    drop(bedrock_rt);
}

fn runtime(workers: Option<usize>) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        b.worker_threads(n);
    }
    b.enable_all().build().unwrap()
}

/// A Redis handle with the defaults but a 40 ms operation timeout.
fn redis_handle(url: String, prefix: &str) -> Redis {
    Redis::new(RedisConfig {
        key_prefix: prefix.to_string(),
        op_timeout: OP_TIMEOUT,
        ..RedisConfig::new(url)
    })
    .unwrap()
}

fn response_cache(store: impl tollgate_cache::Store + 'static) -> ResponseCache {
    ResponseCache::new(store, CacheConfig::default())
}

/// Warms the case up, runs it for `run` and measures it.
fn run_case(rt: &tokio::runtime::Runtime, url: &str, setup: Setup<'_>, run: Duration) -> Row {
    let mut b = Gate::builder(client(url), handle(POLICY))
        .sink(Arc::new(Null))
        .backoff(Backoff::none());
    if let Some(c) = &setup.cache {
        b = b.cache(c.clone());
    }
    let gate = Arc::new(b.build());
    let fresh = Arc::new(AtomicU64::new(0));
    rt.block_on(load(&gate, WARM_UP, &fresh));
    let cache_before = setup.cache.as_ref().map(|c| c.stats()).unwrap_or_default();
    let redis_before = setup.redis.as_ref().map(|r| r.stats()).unwrap_or_default();
    if let Some(p) = setup.proxy {
        p.set_delay(PROXY_DELAY);
    }
    let started = Instant::now();
    let (mut lat, errors) = rt.block_on(load(&gate, run, &fresh));
    let secs = started.elapsed().as_secs_f64();
    if let Some(p) = setup.proxy {
        p.set_delay(Duration::ZERO);
    }
    lat.sort_unstable();
    let cs = setup.cache.as_ref().map(|c| c.stats()).unwrap_or_default();
    let rs = setup.redis.as_ref().map(|r| r.stats()).unwrap_or_default();
    Row {
        label: setup.label,
        calls: lat.len(),
        secs,
        lat,
        errors,
        hits: cs.hits - cache_before.hits,
        shared: cs.shared - cache_before.shared,
        faults: (cs.get_errors + cs.put_errors)
            - (cache_before.get_errors + cache_before.put_errors),
        timeouts: rs.timeouts - redis_before.timeouts,
        skipped: rs.skipped - redis_before.skipped,
    }
}

/// All callers for `run`: every call's latency (µs) and the errors.
async fn load(gate: &Arc<Gate>, run: Duration, fresh: &Arc<AtomicU64>) -> (Vec<u32>, u64) {
    let deadline = Instant::now() + run;
    let tasks: Vec<_> = (0..CALLERS)
        .map(|id| tokio::spawn(caller(id, gate.clone(), deadline, fresh.clone())))
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    (all, errors)
}

/// One caller: calls until `deadline`, one new question in [`NEW_EVERY`]
/// (callers start at different points of the cycle).
async fn caller(
    id: u64,
    gate: Arc<Gate>,
    deadline: Instant,
    fresh: Arc<AtomicU64>,
) -> (Vec<u32>, u64) {
    let tags = Tags {
        feature: Some("kb".into()),
        ..Tags::default()
    };
    let mut lat = Vec::with_capacity(4096);
    let mut errors = 0;
    let mut i = id;
    while Instant::now() < deadline {
        let prompt = if i.is_multiple_of(NEW_EVERY) {
            let n = fresh.fetch_add(1, Ordering::Relaxed);
            format!("a question never asked before, number {n}")
        } else {
            format!("a common question, number {}", i % COMMON)
        };
        let req = ChatRequest::user(prompt);
        let t = Instant::now();
        match gate.converse(&req, &tags).await {
            Ok(r) => drop(std::hint::black_box(r)),
            Err(_) => errors += 1,
        }
        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        i += 1;
    }
    (lat, errors)
}

/// The issue's goals, PASS or MISS.
fn goals(rows: &[Row]) {
    let [a, b, c, c2, d] = rows else { return };
    let bound = OP_TIMEOUT.as_secs_f64() * 1e3 + a.q_ms(0.99);
    let ratio_d = d.per_sec() / a.per_sec();
    let pass_d = ratio_d >= 0.90 && d.q_ms(0.99) <= bound;
    println!(
        "{}: (d)/(a) calls/s {ratio_d:.3} (goal >= 0.90); (d) p99 {:.1} ms (goal <= {} ms timeout + {} ms Bedrock latency + {:.1} ms slack, what the SDK and the machine add at this load: (a)'s p99 - {} ms; = {bound:.1} ms)",
        verdict(pass_d),
        d.q_ms(0.99),
        OP_TIMEOUT.as_millis(),
        BEDROCK_LATENCY.as_millis(),
        a.q_ms(0.99) - BEDROCK_LATENCY.as_secs_f64() * 1e3,
        BEDROCK_LATENCY.as_millis(),
    );
    let ratio_c = c.per_sec() / b.per_sec();
    println!(
        "{}: (c)/(b) calls/s {ratio_c:.3} (goal >= 0.80)",
        verdict(ratio_c >= 0.80)
    );
    let ratio_c2 = c2.per_sec() / b.per_sec();
    println!(
        "{}: (c')/(b) calls/s {ratio_c2:.3} (goal >= 0.80, with the in-process tier)",
        verdict(ratio_c2 >= 0.80)
    );
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}
