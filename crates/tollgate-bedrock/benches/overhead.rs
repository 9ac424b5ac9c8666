//! What the gate adds to a Converse call: `gate.converse` against the raw
//! SDK's `client.converse()`, both through the same loopback Bedrock, so
//! the difference is the gate's own work (attributes, decision, mapping,
//! pricing, event). Goal (DESIGN): <= 10 µs per call. Prints the
//! difference of means over a long interleaved run after criterion's
//! groups.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use common::{client, Reply, Server, POLICY};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_bedrock::{Backoff, ChatRequest, Gate};
use tollgate_cost::{CallEvent, Sink, SinkError, Tags};
use tollgate_engine::PolicyHandle;
use tollgate_lang::{load_str, LoadOptions};

const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

/// Drops events (the sink's own cost is benchmarked in tollgate-cost).
struct Null;
impl Sink for Null {
    fn write(&self, _: &CallEvent) -> Result<(), SinkError> {
        Ok(())
    }
}

struct Rig {
    rt: tokio::runtime::Runtime,
    raw: aws_sdk_bedrockruntime::Client,
    gate: Gate,
    _server: Server,
}

fn rig() -> Rig {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (server, raw, gate) = rt.block_on(async {
        let server = Server::start().await;
        server.set_default(Reply::ok("hello there", 100, 50));
        let loaded = load_str("p.toml", POLICY, &LoadOptions::default())
            .map_err(|e| e.render())
            .unwrap();
        let handle =
            Arc::new(PolicyHandle::from_policy(loaded.policy, LoadOptions::default()).unwrap());
        let gate = Gate::builder(client(&server.url), handle)
            .sink(Arc::new(Null))
            .backoff(Backoff::none())
            .build();
        // The raw client with retries off too, so both do the same work.
        let raw = gate.client().clone();
        (server, raw, gate)
    });
    Rig {
        rt,
        raw,
        gate,
        _server: server,
    }
}

async fn raw_call(c: &aws_sdk_bedrockruntime::Client) {
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hi there, how are you?".into()))
        .build()
        .unwrap();
    let out = c
        .converse()
        .model_id(HAIKU)
        .messages(msg)
        .inference_config(InferenceConfiguration::builder().max_tokens(300).build())
        .send()
        .await
        .unwrap();
    std::hint::black_box(out);
}

async fn gate_call(g: &Gate, req: &ChatRequest, tags: &Tags) {
    let out = g.converse(req, tags).await.unwrap();
    std::hint::black_box(out);
}

fn bench(c: &mut Criterion) {
    let r = rig();
    let req = ChatRequest::user("hi there, how are you?");
    let tags = Tags {
        feature: Some("chat".into()),
        ..Tags::default()
    };
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

    // Interleaved rounds, so drift in the machine hits both sides alike.
    let rounds = 20;
    let per = 200;
    let (mut raw_t, mut gate_t) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        r.rt.block_on(async {
            for _ in 0..per {
                raw_call(&r.raw).await;
            }
        });
        raw_t += t.elapsed();
        let t = Instant::now();
        r.rt.block_on(async {
            for _ in 0..per {
                gate_call(&r.gate, &req, &tags).await;
            }
        });
        gate_t += t.elapsed();
    }
    let n = f64::from(rounds * per);
    let raw_us = raw_t.as_secs_f64() * 1e6 / n;
    let gate_us = gate_t.as_secs_f64() * 1e6 / n;
    println!(
        "overhead: raw sdk {raw_us:.1} µs/call, gate {gate_us:.1} µs/call, added {:.1} µs/call (goal <= 10 µs)",
        gate_us - raw_us
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
