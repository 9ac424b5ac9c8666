//! What the gate adds to a Converse call: `gate.converse` against the raw
//! SDK's `client.converse()`, both through the same loopback Bedrock, so
//! the difference is the gate's own work (attributes, decision, mapping,
//! pricing, event). Goal (DESIGN): <= 10 µs per call. After criterion's
//! groups it prints the added time from a long interleaved run: the
//! median over rounds of (gate - raw), robust to the bursts of a shared
//! machine, and the difference of the means. Instruction counts, which
//! noise does not move, come from `scripts/overhead-instructions`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/overhead_rig.rs"]
mod rig;

use criterion::{criterion_group, criterion_main, Criterion};
use rig::{gate_call, raw_call, request, rig};
use std::time::{Duration, Instant};
use tollgate_cost::CallEvent;

fn bench(c: &mut Criterion) {
    let r = rig();
    let (req, tags) = request();
    let mut g = c.benchmark_group("converse_loopback");
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("raw_sdk", |b| b.iter(|| r.rt.block_on(raw_call(&r.raw))));
    g.bench_function("gate", |b| {
        b.iter(|| r.rt.block_on(gate_call(&r.gate, &req, &tags)))
    });
    g.finish();

    // Where the gate's time goes without I/O: the call event alone.
    let live = r.gate.policy().current();
    let policy = live.policy();
    let schema = r.gate.policy().schema();
    let mut ctx = tollgate_engine::Context::new(schema);
    if let Some(id) = schema.id("feature") {
        ctx.set_str(id, "chat");
    }
    let d = live.decide(&ctx);
    c.bench_function("pieces/decide", |b| {
        b.iter(|| std::hint::black_box(live.decide(&ctx)))
    });
    c.bench_function("pieces/call_event_build", |b| {
        b.iter(|| {
            std::hint::black_box(
                CallEvent::builder(policy, &d, &ctx)
                    .tags(tags.clone())
                    .usage(tollgate_cost::Usage::new(100, 50))
                    .build(),
            )
        })
    });

    // Interleaved rounds, so drift in the machine hits both sides alike;
    // each round's difference is one sample. `cargo bench --bench overhead
    // -- none` skips criterion's groups and runs only this part (about 10 s);
    // TOLLGATE_OVERHEAD_ROUNDS sets the number of rounds.
    let rounds: usize = std::env::var("TOLLGATE_OVERHEAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(200);
    let per = 200;
    let (mut raw_t, mut gate_t) = (Duration::ZERO, Duration::ZERO);
    let mut diffs = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Alternate which side goes first, so an order effect (caches,
        // the allocator's state) cancels out too.
        let time = |gate_side: bool| {
            let t = Instant::now();
            r.rt.block_on(async {
                for _ in 0..per {
                    if gate_side {
                        gate_call(&r.gate, &req, &tags).await;
                    } else {
                        raw_call(&r.raw).await;
                    }
                }
            });
            t.elapsed()
        };
        let (raw, gate) = if round % 2 == 0 {
            let raw = time(false);
            (raw, time(true))
        } else {
            let gate = time(true);
            (time(false), gate)
        };
        raw_t += raw;
        gate_t += gate;
        diffs.push((gate.as_secs_f64() - raw.as_secs_f64()) * 1e6 / per as f64);
    }
    diffs.sort_by(f64::total_cmp);
    let median = diffs[rounds / 2];
    let n = (rounds * per) as f64;
    let raw_us = raw_t.as_secs_f64() * 1e6 / n;
    let gate_us = gate_t.as_secs_f64() * 1e6 / n;
    println!(
        "overhead: raw sdk {raw_us:.1} µs/call, gate {gate_us:.1} µs/call; added per call: median of {rounds} rounds {median:.1} µs, difference of means {:.1} µs (goal <= 10 µs)",
        gate_us - raw_us
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
