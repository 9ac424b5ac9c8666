//! Cache benchmarks, each printed against the figure it exists for:
//!
//! - `key/*`: the response-cache key of a 4 KiB and a 64 KiB prompt (goal:
//!   <= 0.5 µs at 4 KiB), against raw xxh3-128 over the same bytes (the
//!   floor: what the canonical encoding adds on top of hashing).
//! - `memory/*`: an in-process hit (goal: <= 200 ns), straight from the
//!   store and through `ResponseCache::lookup`.
//! - `contention/*`: two threads serving hits at once, 16 shards against
//!   one lock (what sharding buys).
//! - `redis/*` (feature `redis`): a GET hit and a SET on a `redis-server`
//!   started on loopback for the run, against the in-process hit.
//!
//! Run: `cargo bench -p tollgate-cache --all-features`. The last lines
//! printed are the comparison table, read from criterion's estimates.

// Bench code: a failed setup is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "redis")]
#[allow(dead_code)]
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_cache::{
    cache_key, CacheConfig, CacheKey, Entry, FieldSet, FillRule, KeyInput, KeySpec, Lookup,
    MemoryConfig, MemoryStore, Message, Part, Role, ScopeValue, StopReason, Store, Usage,
};
use tollgate_engine::StrList;
use tollgate_lang::{KeyField, Normalize};

/// Prose-like text of `n` bytes (words and spaces, some newlines).
fn text(n: usize, seed: u8) -> String {
    let words = [
        "policy", "cache", "tenant", "the", "answer", "of", "bedrock", "token",
    ];
    let mut s = String::with_capacity(n + 16);
    let mut i = usize::from(seed);
    while s.len() < n {
        s.push_str(words[i % words.len()]);
        s.push(if i % 13 == 0 { '\n' } else { ' ' });
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    s.truncate(n);
    s
}

struct Prompt {
    system: String,
    turns: Vec<String>,
}

impl Prompt {
    /// `bytes` of prompt text: a quarter system prompt, the rest in turns
    /// of at most 8 KiB.
    fn new(bytes: usize) -> Prompt {
        let system = text(bytes / 4, 1);
        let mut rest = bytes - system.len();
        let mut turns = Vec::new();
        let mut seed = 2;
        while rest > 0 {
            let n = rest.min(8192);
            turns.push(text(n, seed));
            rest -= n;
            seed += 1;
        }
        Prompt { system, turns }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut v = self.system.as_bytes().to_vec();
        for t in &self.turns {
            v.extend_from_slice(t.as_bytes());
        }
        v
    }
}

const IDS: [&str; 4] = ["kb:1029", "kb:5521", "kb:7710", "kb:9001"];

fn spec(normalize: Option<Normalize>) -> KeySpec<'static> {
    KeySpec {
        rule: "kb-answers",
        version: 2,
        fields: FieldSet::of(&[KeyField::System, KeyField::Messages, KeyField::RetrievalIds]),
        normalize,
        scope: ScopeValue::Attr {
            name: "tenant",
            value: "acme",
        },
    }
}

/// Runs `f` on the key input of a prompt (built once, outside the timing:
/// the adapter maps SDK values onto these borrowed slices).
fn with_input<R>(p: &Prompt, f: impl FnOnce(&KeyInput<'_>) -> R) -> R {
    let parts: Vec<[Part<'_>; 1]> = p.turns.iter().map(|t| [Part::Text(t)]).collect();
    let messages: Vec<Message<'_>> = parts
        .iter()
        .enumerate()
        .map(|(i, content)| Message {
            role: if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            },
            content,
        })
        .collect();
    let system = [p.system.as_str()];
    let input = KeyInput {
        system: &system,
        messages: &messages,
        retrieval_ids: StrList::Strs(&IDS),
        ..KeyInput::default()
    };
    f(&input)
}

fn bench_keys(c: &mut Criterion) {
    let mut g = c.benchmark_group("key");
    for (name, size) in [("4KiB", 4096), ("64KiB", 65536)] {
        let p = Prompt::new(size);
        let raw = p.bytes();
        with_input(&p, |input| {
            let spec = spec(None);
            g.bench_function(name, |b| b.iter(|| cache_key(&spec, black_box(input))));
        });
        g.bench_function(format!("{name}-xxh3-raw"), |b| {
            b.iter(|| xxhash_rust::xxh3::xxh3_128(black_box(&raw)))
        });
    }
    let p = Prompt::new(4096);
    with_input(&p, |input| {
        let spec = spec(Some(Normalize::Whitespace));
        g.bench_function("4KiB-normalized", |b| {
            b.iter(|| cache_key(&spec, black_box(input)))
        });
    });
    g.finish();
}

fn entry() -> Arc<Entry> {
    Arc::new(Entry {
        body: text(2048, 9).into_bytes(),
        stop_reason: StopReason::EndTurn,
        usage: Usage {
            input: 1800,
            output: 450,
            cache_read: 0,
            cache_write: 0,
        },
        cost_nanos: 12_150_000,
        model_id: "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
        created_unix_ms: 0,
    })
}

/// Keys spread over shards the way real hashes are.
fn keys(n: u64, salt: u64) -> Vec<CacheKey> {
    (0..n)
        .map(|i| {
            let h = xxhash_rust::xxh3::xxh3_128(&(i ^ (salt << 40)).to_le_bytes());
            CacheKey(h)
        })
        .collect()
}

fn filled(shards: usize, keys: &[CacheKey]) -> MemoryStore {
    let s = MemoryStore::new(MemoryConfig {
        max_entries: 100_000,
        max_bytes: 1 << 30,
        shards,
    });
    for k in keys {
        s.put(*k, entry(), Duration::from_secs(3600)).unwrap();
    }
    s
}

fn bench_memory(c: &mut Criterion) {
    let ks = keys(1024, 1);
    let store = Arc::new(filled(16, &ks));
    let mut g = c.benchmark_group("memory");
    let mut i = 0usize;
    g.bench_function("hit", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            store.get(black_box(ks[i])).unwrap()
        })
    });
    let cache = tollgate_cache::ResponseCache::with_store(store.clone(), CacheConfig::default());
    let rule = FillRule {
        ttl: Duration::from_secs(600),
        cache_truncated: false,
    };
    g.bench_function("lookup-hit", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            match cache.lookup(black_box(ks[i]), rule) {
                Lookup::Hit(e) => e,
                _ => panic!("expected a hit"),
            }
        })
    });
    let absent = keys(1024, 2);
    g.bench_function("miss", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            store.get(black_box(absent[i])).unwrap()
        })
    });
    g.finish();
}

/// Two threads, each serving `iters` hits on its own keys; the time per
/// iteration is the wall time of one hit on each thread at once.
fn two_threads(store: &MemoryStore, a: &[CacheKey], b: &[CacheKey], iters: u64) -> Duration {
    let run = |ks: &[CacheKey]| {
        let mut j = 0usize;
        for _ in 0..iters {
            j = (j + 1) & 1023;
            black_box(store.get(ks[j]).unwrap());
        }
    };
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| run(a));
        s.spawn(|| run(b));
    });
    start.elapsed()
}

fn bench_contention(c: &mut Criterion) {
    let a = keys(1024, 3);
    let b = keys(1024, 4);
    let both: Vec<CacheKey> = a.iter().chain(&b).copied().collect();
    let mut g = c.benchmark_group("contention");
    for (name, shards) in [("16-shards", 16), ("1-shard", 1)] {
        let store = filled(shards, &both);
        g.bench_function(name, |bch| {
            bch.iter_custom(|iters| two_threads(&store, &a, &b, iters))
        });
    }
    g.finish();
}

#[cfg(feature = "redis")]
fn bench_redis(c: &mut Criterion) {
    use tollgate_cache::{RedisConfig, RedisStore};
    let server = redis_server::RedisServer::start();
    let store = RedisStore::open(RedisConfig {
        url: server.url(),
        op_timeout: Duration::from_millis(100),
        connect_timeout: Duration::from_millis(100),
        ..RedisConfig::default()
    })
    .unwrap();
    let ks = keys(1024, 5);
    for k in &ks {
        store.put(*k, entry(), Duration::from_secs(3600)).unwrap();
    }
    let mut g = c.benchmark_group("redis");
    let mut i = 0usize;
    g.bench_function("get-hit", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            store.get(black_box(ks[i])).unwrap()
        })
    });
    let e = entry();
    g.bench_function("set", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            store
                .put(black_box(ks[i]), Arc::clone(&e), Duration::from_secs(3600))
                .unwrap()
        })
    });
    g.finish();
    let st = store.stats();
    assert_eq!(st.errors + st.timeouts, 0, "redis bench saw errors: {st:?}");
    drop(server);
}

#[cfg(not(feature = "redis"))]
fn bench_redis(_: &mut Criterion) {
    println!("redis benches skipped: build with --features redis");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_keys, bench_memory, bench_contention, bench_redis
}

fn criterion_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(h);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion")
}

/// Median of one benchmark from criterion's saved estimates, in ns.
fn median(id: &str) -> Option<f64> {
    let path = criterion_dir().join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

fn show(ns: f64) -> String {
    if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn verdict(ns: f64, goal: f64) -> &'static str {
    if ns <= goal {
        "meets"
    } else {
        "MISSES"
    }
}

/// How much two threads really ran in parallel during this run (2.0 on two
/// idle cores, 1.0 when something else holds one): the contention figures
/// mean something only near 2.
fn parallelism() -> f64 {
    fn spin(n: u64) -> u64 {
        let mut x = 1u64;
        for i in 0..n {
            x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
        }
        x
    }
    let n = 50_000_000;
    let t = Instant::now();
    black_box(spin(n));
    let one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| black_box(spin(n)));
        s.spawn(|| black_box(spin(n)));
    });
    2.0 * one / t.elapsed().as_secs_f64()
}

fn report() {
    println!("\ncomparison (criterion medians, this run):");
    for (name, bytes) in [("4KiB", 4096.0), ("64KiB", 65536.0)] {
        let (Some(k), Some(raw)) = (
            median(&format!("key/{name}")),
            median(&format!("key/{name}-xxh3-raw")),
        ) else {
            continue;
        };
        let goal = if name == "4KiB" {
            format!("   goal <= 500 ns: {}", verdict(k, 500.0))
        } else {
            String::new()
        };
        println!(
            "  key, {name:<5} prompt       {:>10} ({:.1} GB/s)  raw xxh3-128 {:>10}: encoding adds {:.0}%{goal}",
            show(k),
            bytes / k,
            show(raw),
            (k / raw - 1.0) * 100.0
        );
    }
    if let (Some(n), Some(k)) = (median("key/4KiB-normalized"), median("key/4KiB")) {
        println!(
            "  key, 4KiB normalized       {:>10} ({:.1}x the plain key; opt-in)",
            show(n),
            n / k
        );
    }
    if let Some(h) = median("memory/hit") {
        println!(
            "  in-process hit (store)     {:>10}   goal <= 200 ns: {}",
            show(h),
            verdict(h, 200.0)
        );
    }
    if let (Some(l), Some(m)) = (median("memory/lookup-hit"), median("memory/miss")) {
        println!(
            "  in-process hit (lookup)    {:>10}   miss {:>10}",
            show(l),
            show(m)
        );
    }
    if let (Some(s16), Some(s1), Some(h)) = (
        median("contention/16-shards"),
        median("contention/1-shard"),
        median("memory/hit"),
    ) {
        println!(
            "  2 threads, hit each        16 shards {:>10}   1 shard {:>10} ({:.1}x slower)   1 thread {:>10}",
            show(s16),
            show(s1),
            s1 / s16,
            show(h)
        );
        println!(
            "    (two threads ran {:.1}x in parallel just now, 2.0 ideal; ideal 16-shard figure = the 1-thread hit)",
            parallelism()
        );
    }
    if let (Some(g), Some(s), Some(h)) = (
        median("redis/get-hit"),
        median("redis/set"),
        median("memory/hit"),
    ) {
        println!(
            "  redis loopback             GET hit {:>10}   SET {:>10}   ({:.0}x the in-process hit)",
            show(g),
            show(s),
            g / h
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
