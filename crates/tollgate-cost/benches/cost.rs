//! Cost computation: exact integer pricing against the float formula it
//! replaces, and building a whole call event. Replay's goal (>= 1,000,000
//! requests/s decided, priced and cache-simulated on one core) leaves
//! pricing a small slice of a microsecond.
//!
//! Run: `cargo bench -p tollgate-cost --bench cost`.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::Duration;
use support::{median, per_sec, show, verdict};
use tollgate_cost::{price, CallEvent, Mode, Timestamp, Usage};
use tollgate_engine::{decide_reference, Request};
use tollgate_lang::PriceTable;
use tollgate_lang::{load_str, LoadOptions};

fn bench(c: &mut Criterion) {
    let sonnet = PriceTable::builtin()
        .lookup("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .unwrap();
    let usages: Vec<Usage> = (0..64u64)
        .map(|i| Usage {
            input_tokens: 500 + i * 37,
            output_tokens: 200 + i * 11,
            cache_read_input_tokens: if i % 3 == 0 { 4096 } else { 0 },
            cache_write_input_tokens: if i % 5 == 0 { 2048 } else { 0 },
            cache_write_1h_input_tokens: if i % 10 == 0 { 2048 } else { 0 },
        })
        .collect();
    let mut g = c.benchmark_group("cost");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("price_exact", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % usages.len();
            black_box(
                price(black_box(&sonnet), black_box(&usages[i]), Mode::Realtime)
                    .map(|c| c.total_nanos),
            )
        })
    });
    // What gateways do: USD-per-token floats, no tier, no missing-price check.
    let (fi, fo, fr, fw5, fw1) = (3.3e-6, 16.5e-6, 0.33e-6, 4.125e-6, 6.6e-6);
    g.bench_function("baseline_f64_formula", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % usages.len();
            let u = black_box(&usages[i]);
            let w1 = u.cache_write_1h_input_tokens as f64;
            let w5 = u.cache_write_input_tokens as f64 - w1;
            black_box(
                u.input_tokens as f64 * fi
                    + u.output_tokens as f64 * fo
                    + u.cache_read_input_tokens as f64 * fr
                    + w5 * fw5
                    + w1 * fw1,
            )
        })
    });

    let text = r#"
[policy]
name = "bench"
default_model = "sonnet"
[attributes]
feature = "string"
tenant = "string"
input_tokens = "int"
retrieval_ids = "list<string>"
[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"
"#;
    let p = load_str("bench.toml", text, &LoadOptions::default())
        .unwrap()
        .policy;
    let req = Request::parse(
        p.schema(),
        r#"{"feature": "kb", "tenant": "acme", "input_tokens": 800, "retrieval_ids": ["a", "b"]}"#,
    )
    .unwrap();
    let ctx = req.context(p.schema());
    let d = decide_reference(&p, &ctx);
    let ts = Timestamp::from_unix_ms(1_795_688_130_123);
    g.bench_function("event_build", |b| {
        b.iter(|| {
            let ev = CallEvent::builder(&p, &d, &ctx)
                .timestamp(ts)
                .request_id("req-42")
                .usage(usages[3])
                .latency_ms(812)
                .build();
            black_box(ev.cost_nanos)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn report() {
    println!("\ncomparison (criterion medians, this run):");
    if let Some(t) = median("cost/price_exact") {
        println!(
            "  exact integer price (u128 products)  {:>9} {:>10}  {} (<= 100 ns: a tenth of replay's 1 µs per request)",
            show(t),
            per_sec(t),
            verdict(t <= 100.0)
        );
        if let Some(f) = median("cost/baseline_f64_formula") {
            println!(
                "  float formula (inexact, no checks)   {:>9}  exactness costs {:.1}x",
                show(f),
                t / f
            );
        }
    }
    if let Some(t) = median("cost/event_build") {
        println!(
            "  whole CallEvent (attributes, names)  {:>9} {:>10}",
            show(t),
            per_sec(t)
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
