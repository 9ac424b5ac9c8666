//! Replay throughput: decide + price + cache simulation per request, one
//! core, on rules/example.toml. Goal (docs/figures.md): >= 1,000,000 requests/s.
//!
//! Two inputs: the bundled Azure conversation trace repeated to 1 M
//! requests (`feature=chat`: route, cap, price; no cache identity), and the
//! bundled Mooncake trace (`feature=chat`, `message_count=6`: prompt-cache
//! simulation on every long prompt, response-cache keys on every request).
//! Prints requests/s for each at the end.

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use tollgate_analysis::{read_path, ServeGenTokens};
use tollgate_analysis::{replay, ReplayOptions, Trace};
use tollgate_engine::{compile, CompiledPolicy};
use tollgate_lang::{load_path, LoadOptions};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn setup() -> Option<(CompiledPolicy, Trace, Trace)> {
    let policy = load_path(&root().join("rules/example.toml"), &LoadOptions::default())
        .ok()?
        .policy;
    let compiled = compile(policy).ok()?;
    let conv = read_path(
        &root().join("data/azure-llm-2023/AzureLLMInferenceTrace_conv.csv"),
        None,
        ServeGenTokens::default(),
    )
    .ok()?;
    let mut big = Trace::default();
    let span = conv.requests.last().map_or(0, |r| r.at_ms) + 1;
    let mut k = 0u64;
    while big.requests.len() < 1_000_000 {
        big.requests.extend(conv.requests.iter().map(|r| {
            let mut r = *r;
            r.at_ms += k * span;
            r
        }));
        k += 1;
    }
    big.requests.truncate(1_000_000);
    let mooncake = read_path(
        &root().join("data/mooncake-conversation/conversation_trace.jsonl"),
        None,
        ServeGenTokens::default(),
    )
    .ok()?;
    Some((compiled, big, mooncake))
}

fn opts(extra: &[(&str, &str)]) -> ReplayOptions {
    let mut set = vec![
        ("feature".to_owned(), "chat".to_owned()),
        ("has_images".to_owned(), "false".to_owned()),
    ];
    set.extend(extra.iter().map(|(a, v)| (a.to_string(), v.to_string())));
    ReplayOptions {
        set,
        baseline_model: Some("sonnet".into()),
        progress: false,
        region: None,
    }
}

fn rate(compiled: &CompiledPolicy, trace: &Trace, o: &ReplayOptions) -> f64 {
    let mut best = 0f64;
    for _ in 0..5 {
        let t = Instant::now();
        let r = replay(compiled, trace, o);
        let secs = t.elapsed().as_secs_f64();
        black_box(r.ok());
        best = best.max(trace.requests.len() as f64 / secs);
    }
    best
}

fn bench(c: &mut Criterion) {
    let Some((compiled, azure, mooncake)) = setup() else {
        eprintln!("replay bench: cannot load rules/example.toml or the bundled traces");
        return;
    };
    let plain = opts(&[]);
    let cached = opts(&[("message_count", "6")]);
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.bench_function("azure_conv_x1M", |b| {
        b.iter(|| black_box(replay(&compiled, &azure, &plain).ok()))
    });
    g.bench_function("mooncake_12k_prompt_cache", |b| {
        b.iter(|| black_box(replay(&compiled, &mooncake, &cached).ok()))
    });
    g.finish();
    let a = rate(&compiled, &azure, &plain);
    let m = rate(&compiled, &mooncake, &cached);
    println!("\nreplay throughput, one core (best of 5; goal >= 1,000,000 requests/s):");
    println!(
        "  Azure conv x1M   (decide + cap + price)                     {:>12.0} requests/s",
        a
    );
    println!(
        "  Mooncake 12,031  (decide + price + prompt/response caches)  {:>12.0} requests/s",
        m
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
