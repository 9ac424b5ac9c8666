//! What the gate adds to a Converse call: `gate.converse` against the raw
//! SDK's `client.converse()`, both through the same loopback Bedrock, so
//! the difference is the gate's own work (attributes, decision, mapping,
//! pricing, event). Goal (docs/figures.md): <= 10 µs per call, for a
//! plain text request and for a tool-use one. After criterion's
//! groups it prints the added time from a long interleaved run: the
//! median over rounds of (gate - raw), robust to the bursts of a shared
//! machine, and the difference of the means; then what the decision and
//! the call event add when each runs once between SDK calls, as in the
//! gate (far more than in a hot loop: their code and data are evicted by
//! the SDK's, and evict it in turn). Instruction counts, which noise does
//! not move, come from `scripts/overhead-instructions`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/overhead_rig.rs"]
mod rig;

use criterion::{criterion_group, criterion_main, Criterion};
use rig::{
    gate_call, long_prompt, raw_call, raw_call_text, raw_tool_call, request, request_text, rig,
    tool_input, tool_request,
};
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
    // The context the gate builds for `request()`.
    let mut ctx = tollgate_engine::Context::new(schema);
    if let Some(id) = schema.id("feature") {
        ctx.set_str(id, "chat");
    }
    if let Some(id) = schema.id("prompt") {
        ctx.set_str(id, "hi there, how are you?");
    }
    for (attr, v) in [
        ("input_tokens", 10),
        ("system_tokens", 0),
        ("message_count", 1),
    ] {
        if let Some(id) = schema.id(attr) {
            ctx.set_int(id, v);
        }
    }
    let names = tollgate_cost::EventNamesCache::new();
    let d = live.decide(&ctx);
    c.bench_function("pieces/decide", |b| {
        b.iter(|| std::hint::black_box(live.decide(&ctx)))
    });
    c.bench_function("pieces/call_event_build", |b| {
        b.iter(|| {
            std::hint::black_box(
                CallEvent::builder(policy, &d, &ctx)
                    .names(names.get(policy, schema))
                    .tags(tags.clone())
                    .usage(tollgate_cost::Usage::new(100, 50))
                    .build(),
            )
        })
    });

    // Interleaved rounds: `cargo bench --bench overhead -- none` skips
    // criterion's groups and runs only these (about 40 s);
    // TOLLGATE_OVERHEAD_ROUNDS sets the number of rounds;
    // TOLLGATE_OVERHEAD_SERVER=thread runs the loopback Bedrock on a thread
    // of its own (see the rig).
    let rounds: usize = std::env::var("TOLLGATE_OVERHEAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(200);
    let raw = || raw_call(&r.raw);
    let (median, mean, raw_us, gate_us) =
        interleaved(&r, rounds, raw, || gate_call(&r.gate, &req, &tags));
    println!(
        "overhead: raw sdk {raw_us:.1} µs/call, gate {gate_us:.1} µs/call; added per call: median of {rounds} rounds {median:.1} µs, difference of means {mean:.1} µs (goal <= 10 µs)"
    );
    // An agent's turn: a tool in `toolConfig`, a history with a `toolUse`
    // and a `toolResult`, answered with a `tool_use` stop reason: the
    // blocks the gate reads for its estimate and maps back.
    r.server.set_default(rig::tool_reply());
    let tool = tool_input();
    let (tool_req, tool_tags) = tool_request();
    let (median, mean, raw_us, gate_us) = interleaved(
        &r,
        rounds,
        || raw_tool_call(&r.raw, &tool),
        || gate_call(&r.gate, &tool_req, &tool_tags),
    );
    println!(
        "overhead, tool use: raw sdk {raw_us:.1} µs/call, gate {gate_us:.1} µs/call; added per call: median of {rounds} rounds {median:.1} µs, difference of means {mean:.1} µs (goal <= 10 µs)"
    );
    // The same turn, its tool result carrying a 16 KiB page: what grows
    // with an agent's history (reading and escaping it, copying it).
    let page = rig::fetched_page();
    let page_input = rig::tool_input_with(Some(&page));
    let (page_req, page_tags) = rig::tool_request_with(Some(&page));
    let (median, mean, raw_us, gate_us) = interleaved(
        &r,
        rounds / 2,
        || raw_tool_call(&r.raw, &page_input),
        || gate_call(&r.gate, &page_req, &page_tags),
    );
    println!(
        "overhead, tool use with a 16 KiB tool result: raw sdk {raw_us:.1} µs/call, gate {gate_us:.1} µs/call; added per call: median of {} rounds {median:.1} µs, difference of means {mean:.1} µs",
        rounds / 2
    );
    r.server.set_default(rig::plain_reply());
    // A 4 KiB prompt: the costs that grow with the text (token estimate,
    // fingerprint, the copy into the SDK's types) on top.
    let long = long_prompt();
    let (long_req, long_tags) = request_text(&long);
    let (median, mean, raw_us, gate_us) = interleaved(
        &r,
        rounds / 2,
        || raw_call_text(&r.raw, &long),
        || gate_call(&r.gate, &long_req, &long_tags),
    );
    println!(
        "overhead, 4 KiB prompt: raw sdk {raw_us:.1} µs/call, gate {gate_us:.1} µs/call; added per call: median of {} rounds {median:.1} µs, difference of means {mean:.1} µs",
        rounds / 2
    );

    // The same pieces as above, each run once before a raw call, as the
    // gate runs them: what they cost between SDK calls (their code and data
    // evicted, and evicting the SDK's) rather than in a hot loop.
    let decide_then_raw = || async {
        let d = live.decide(&ctx);
        std::hint::black_box(&d);
        raw_call(&r.raw).await;
    };
    let (decide_in_situ, _, _, _) = interleaved(&r, rounds / 2, raw, decide_then_raw);
    let event_then_raw = || async {
        let d = live.decide(&ctx);
        let event = CallEvent::builder(policy, &d, &ctx)
            .names(names.get(policy, schema))
            .tags(tags.clone())
            .usage(tollgate_cost::Usage::new(100, 50))
            .build();
        std::hint::black_box(&event);
        drop(event);
        raw_call(&r.raw).await;
    };
    let (event_in_situ, _, _, _) = interleaved(&r, rounds / 2, raw, event_then_raw);
    println!(
        "in situ (median of {} rounds, added to a raw call): decide {decide_in_situ:.1} µs; decide + call event {event_in_situ:.1} µs",
        rounds / 2
    );
}

/// `base` calls (raw SDK calls) against `other` calls in interleaved rounds of 200, so
/// drift in the machine hits both sides alike; each round's difference is
/// one sample. Which side goes first alternates, so an order effect
/// (caches, the allocator's state) cancels out too. Returns the median
/// and the mean of `other - raw` per call, and both sides' means, in µs.
fn interleaved<B, BF, F, Fut>(
    r: &rig::Rig,
    rounds: usize,
    base: B,
    other: F,
) -> (f64, f64, f64, f64)
where
    B: Fn() -> BF,
    BF: std::future::Future<Output = ()>,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let per = 200;
    let (mut raw_t, mut other_t) = (Duration::ZERO, Duration::ZERO);
    let mut diffs = Vec::with_capacity(rounds);
    for round in 0..rounds.max(1) {
        let time = |other_side: bool| {
            let t = Instant::now();
            r.rt.block_on(async {
                for _ in 0..per {
                    if other_side {
                        other().await;
                    } else {
                        base().await;
                    }
                }
            });
            t.elapsed()
        };
        let (raw, o) = if round % 2 == 0 {
            let raw = time(false);
            (raw, time(true))
        } else {
            let o = time(true);
            (time(false), o)
        };
        raw_t += raw;
        other_t += o;
        diffs.push((o.as_secs_f64() - raw.as_secs_f64()) * 1e6 / per as f64);
    }
    diffs.sort_by(f64::total_cmp);
    let median = diffs[diffs.len() / 2];
    let n = (diffs.len() * per) as f64;
    let raw_us = raw_t.as_secs_f64() * 1e6 / n;
    let other_us = other_t.as_secs_f64() * 1e6 / n;
    (median, other_us - raw_us, raw_us, other_us)
}

criterion_group!(benches, bench);
criterion_main!(benches);
