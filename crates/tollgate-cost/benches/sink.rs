//! JSON Lines sink throughput against the goal (>= 500,000 events/s), with
//! serialization alone (the line writer) as the ceiling, and the background queue's cost to
//! the caller.
//!
//! Every measurement writes into a fresh directory that is removed after it,
//! so the bench never fills the disk. Run:
//! `cargo bench -p tollgate-cost --bench sink`.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::{median, per_sec, show, verdict};
use tollgate_cost::{
    AsyncSink, CacheOutcome, CallEvent, Fingerprint, JsonlSink, Mode, Sink, Timestamp, Usage,
};
use tollgate_cost::{FlushPolicy, JsonlConfig};
use tollgate_engine::{decide_reference, Request};
use tollgate_lang::{load_str, LoadOptions};

const POLICY: &str = r#"
[policy]
name = "bench"
default_model = "sonnet"
redact = ["prompt"]
[attributes]
feature = "string"
tenant = "string"
"user.id" = "string"
input_tokens = "int"
retrieval_ids = "list<string>"
prompt = "string"
[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"
[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
[[route]]
name = "kb-small"
when = 'feature == "kb" && input_tokens < 1000'
model = "haiku"
max_output_tokens = 500
[[limit]]
name = "guard"
max_output_tokens = 1000
"#;

/// A realistic event (about 1 KiB as JSON).
fn event() -> CallEvent {
    let p = load_str("bench.toml", POLICY, &LoadOptions::default())
        .unwrap()
        .policy;
    let req = Request::parse(
        p.schema(),
        r#"{"feature": "kb", "tenant": "acme", "user": {"id": "u-7"}, "input_tokens": 800,
            "retrieval_ids": ["doc-1", "doc-9", "doc-12"], "prompt": "how?"}"#,
    )
    .unwrap();
    let ctx = req.context(p.schema());
    let d = decide_reference(&p, &ctx);
    CallEvent::builder(&p, &d, &ctx)
        .timestamp(Timestamp::parse_rfc3339("2026-11-26T10:15:30.123Z").unwrap())
        .request_id("0f8fad5b-d9cb-469f-a165-70867728950e")
        .mode(Mode::Stream)
        .cache(CacheOutcome::Miss)
        .usage(Usage {
            input_tokens: 800,
            output_tokens: 310,
            cache_read_input_tokens: 2048,
            cache_write_input_tokens: 0,
            cache_write_1h_input_tokens: 0,
        })
        .latency_ms(812)
        .fingerprint(Fingerprint::of(&["system prompt"], [("user", "how?")]))
        .build()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes `iters` events into a fresh directory; the time of the writes
/// (and the final flush) only.
fn run(name: &str, flush: FlushPolicy, ev: &CallEvent, iters: u64) -> Duration {
    let dir = scratch(name);
    let mut cfg = JsonlConfig::new(&dir);
    cfg.flush = flush;
    let sink = JsonlSink::new(cfg).unwrap();
    let start = Instant::now();
    for _ in 0..iters {
        sink.write(black_box(ev)).unwrap();
    }
    sink.flush().unwrap();
    let t = start.elapsed();
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
    t
}

fn bench(c: &mut Criterion) {
    let ev = event();
    let line_len = ev.to_json_line().unwrap().len();
    println!("event line: {line_len} bytes");
    let mut g = c.benchmark_group("sink");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);

    let mut buf = Vec::with_capacity(4096);
    g.bench_function("serialize_only", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&ev).write_json_line(&mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("jsonl_every_line", |b| {
        b.iter_custom(|iters| run("every", FlushPolicy::EveryLine, &ev, iters))
    });
    g.bench_function("jsonl_buffered_64k", |b| {
        b.iter_custom(|iters| {
            run(
                "buffered",
                FlushPolicy::Buffered {
                    max_bytes: 64 << 10,
                },
                &ev,
                iters,
            )
        })
    });
    // The caller's side of the background queue. `write(&ev)` clones the
    // event; `submit(ev)` moves an event the caller owns (what an adapter does).
    let dir = scratch("async");
    let mut cfg = JsonlConfig::new(&dir);
    cfg.flush = FlushPolicy::Buffered {
        max_bytes: 64 << 10,
    };
    cfg.max_file_bytes = 64 << 20;
    let sink = AsyncSink::new(JsonlSink::new(cfg).unwrap(), 1 << 14).unwrap();
    g.bench_function("async_write_clone", |b| {
        b.iter(|| sink.write(black_box(&ev)).unwrap())
    });
    g.bench_function("async_submit_move", |b| {
        b.iter_batched(
            || ev.clone(),
            |e| black_box(sink.submit(e)),
            BatchSize::SmallInput,
        )
    });
    let stats = sink.stats();
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
    println!("async sink: {stats:?}");
    g.finish();
}

criterion_group!(benches, bench);

fn report() {
    println!(
        "\ncomparison (criterion medians, this run; goal: >= 500,000 events/s to a JSONL file):"
    );
    let goal_ns = 1e9 / 500_000.0;
    for (what, id) in [
        (
            "EveryLine (one write(2) per event)",
            "sink/jsonl_every_line",
        ),
        ("Buffered 64 KiB (whole lines)", "sink/jsonl_buffered_64k"),
    ] {
        if let Some(t) = median(id) {
            println!(
                "  JsonlSink {what:<36} {:>9}/event {:>10}  {}",
                show(t),
                per_sec(t),
                verdict(t <= goal_ns)
            );
        }
    }
    if let Some(t) = median("sink/serialize_only") {
        println!(
            "  the line writer alone (ceiling)              {:>9}/event {:>10}",
            show(t),
            per_sec(t)
        );
    }
    if let Some(t) = median("sink/async_write_clone") {
        println!(
            "  AsyncSink::write(&ev) (clones), caller's cost {:>9}/event",
            show(t)
        );
    }
    if let Some(t) = median("sink/async_submit_move") {
        println!(
            "  AsyncSink::submit(ev) (moves), caller's cost  {:>9}/event",
            show(t)
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
