//! Service tier and latency as decisions, against the loopback Bedrock
//! with the real SDK client: `serviceTier` / `performanceConfig` go on the
//! wire exactly to the attempts whose model offers them (the price table's
//! tier and latency-optimized prices), a throttled flex attempt is retried
//! on the same model at the default tier before any fallback model (unless
//! `tier_fallback = false`), and the call event records the tier and
//! latency served and is priced at them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, PerformanceConfigLatency, PerformanceConfiguration,
    ServiceTier, ServiceTierType,
};
use common::{client, delta, event, handle, Collect, Reply, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate_bedrock::{Backoff, ChatRequest, Gate, StreamOptions};
use tollgate_cost::Tags;
use tollgate_lang::{Latency, Tier};

/// Offers flex, priority and latency-optimized inference in the table.
const NOVA_PRO: &str = "us.amazon.nova-pro-v1:0";
/// Offers flex and priority, not latency-optimized inference.
const NOVA_PREMIER: &str = "us.amazon.nova-premier-v1:0";
/// Offers latency-optimized inference, no tier.
const LLAMA_31_70B: &str = "us.meta.llama3-1-70b-instruct-v1:0";
/// Offers neither.
const HAIKU_35: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

fn throttled() -> Reply {
    Reply::error(429, "ThrottlingException", "slow down")
}

/// An answer reporting the tier (and latency) it was served at.
fn served(tier: Option<&str>, latency: Option<&str>) -> Reply {
    let mut body = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 42}
    });
    if let Some(t) = tier {
        body["serviceTier"] = json!({"type": t});
    }
    if let Some(l) = latency {
        body["performanceConfig"] = json!({"latency": l});
    }
    Reply::json(body)
}

/// A policy whose route `r` sends to `primary`, falling back to `fallback`,
/// with `keys` added to the route.
fn policy(primary: &str, fallback: &str, keys: &str) -> String {
    format!(
        r#"
[policy]
name = "tiers"
default_model = "primary"

[attributes]
feature = "string"

[models.primary]
id = "{primary}"

[models.fallback]
id = "{fallback}"

[[route]]
name = "r"
model = "primary"
fallback = ["fallback"]
{keys}

[[limit]]
name = "attempts"
max_attempts = 4
"#
    )
}

fn gate(server: &Server, policy: &str) -> (Gate, Arc<Collect>) {
    let events = Arc::new(Collect::default());
    let g = Gate::builder(client(&server.url), handle(policy))
        .sink(events.clone())
        .backoff(Backoff::none())
        .build();
    (g, events)
}

fn tags() -> Tags {
    Tags {
        feature: Some("agent".into()),
        ..Tags::default()
    }
}

/// Each attempt as (model id, `serviceTier`, `performanceConfig`) on the wire.
fn wire(server: &Server) -> Vec<(String, Value, Value)> {
    server
        .requests()
        .iter()
        .map(|r| {
            let model = r
                .path
                .trim_start_matches("/model/")
                .trim_end_matches("/converse")
                .replace("%3A", ":");
            let b = r.json();
            (
                model,
                b["serviceTier"].clone(),
                b["performanceConfig"].clone(),
            )
        })
        .collect()
}

fn at(model: &str, tier: Value, latency: Value) -> (String, Value, Value) {
    (model.to_string(), tier, latency)
}

#[tokio::test]
async fn a_throttled_flex_attempt_retries_at_the_default_tier_then_falls_back() {
    let server = Server::start().await;
    let p = policy(
        NOVA_PRO,
        HAIKU_35,
        "service_tier = \"flex\"\nlatency = \"optimized\"",
    );
    let (g, events) = gate(&server, &p);
    server.push(throttled());
    server.push(throttled());
    server.push(served(None, None));
    let resp = g
        .converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    let optimized = json!({"latency": "optimized"});
    assert_eq!(
        wire(&server),
        [
            at(NOVA_PRO, json!({"type": "flex"}), optimized.clone()),
            at(NOVA_PRO, Value::Null, optimized),
            // Haiku offers neither: nothing of either is sent.
            at(HAIKU_35, Value::Null, Value::Null),
        ]
    );
    assert_eq!(resp.model_id.as_str(), HAIKU_35);
    let ev = &events.events()[0];
    assert_eq!(ev.attempts, 3);
    assert_eq!(ev.service_tier, None);
    assert_eq!(ev.latency, None);
    // Haiku 3.5 at on-demand prices: $0.80 / $4.00 per Mtok.
    assert_eq!(ev.cost_nanos, 10 * 800 + 5 * 4000);
}

#[tokio::test]
async fn tier_fallback_false_goes_straight_to_the_fallback_model() {
    let server = Server::start().await;
    let p = policy(
        NOVA_PRO,
        HAIKU_35,
        "service_tier = \"flex\"\ntier_fallback = false",
    );
    let (g, _) = gate(&server, &p);
    server.push(throttled());
    server.push(served(None, None));
    g.converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    assert_eq!(
        wire(&server),
        [
            at(NOVA_PRO, json!({"type": "flex"}), Value::Null),
            at(HAIKU_35, Value::Null, Value::Null),
        ]
    );
}

#[tokio::test]
async fn an_unavailable_flex_attempt_moves_to_the_fallback_not_the_default_tier() {
    let server = Server::start().await;
    let p = policy(NOVA_PRO, HAIKU_35, "service_tier = \"flex\"");
    let (g, _) = gate(&server, &p);
    server.push(Reply::error(
        503,
        "ServiceUnavailableException",
        "unavailable",
    ));
    server.push(served(None, None));
    g.converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    assert_eq!(
        wire(&server),
        [
            at(NOVA_PRO, json!({"type": "flex"}), Value::Null),
            at(HAIKU_35, Value::Null, Value::Null),
        ]
    );
}

#[tokio::test]
async fn a_fallback_that_offers_the_tier_gets_it_and_its_default_tier_retry() {
    let server = Server::start().await;
    // Haiku offers no flex: default tier, and no default-tier retry place.
    let p = policy(HAIKU_35, NOVA_PREMIER, "service_tier = \"flex\"");
    let (g, events) = gate(&server, &p);
    server.push(throttled());
    server.push(throttled());
    server.push(served(Some("default"), None));
    g.converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    assert_eq!(
        wire(&server),
        [
            at(HAIKU_35, Value::Null, Value::Null),
            at(NOVA_PREMIER, json!({"type": "flex"}), Value::Null),
            at(NOVA_PREMIER, Value::Null, Value::Null),
        ]
    );
    let ev = &events.events()[0];
    assert_eq!(ev.service_tier, Some(Tier::Default));
    // Nova Premier on demand: $2.50 / $12.50 per Mtok.
    assert_eq!(ev.cost_nanos, 10 * 2500 + 5 * 12_500);
}

#[tokio::test]
async fn priority_goes_to_a_model_that_offers_it_and_the_event_is_priced_at_the_served_tier() {
    let server = Server::start().await;
    let p = policy(NOVA_PREMIER, HAIKU_35, "service_tier = \"priority\"");
    let (g, events) = gate(&server, &p);
    server.push(served(Some("priority"), None));
    g.converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    assert_eq!(
        wire(&server),
        [at(NOVA_PREMIER, json!({"type": "priority"}), Value::Null)]
    );
    let ev = &events.events()[0];
    assert_eq!(ev.service_tier, Some(Tier::Priority));
    assert_eq!(ev.latency, None);
    // Nova Premier priority: $4.375 / $21.875 per Mtok.
    assert_eq!(ev.cost_nanos, 10 * 4375 + 5 * 21_875);
    let line = String::from_utf8(ev.to_json_line().unwrap()).unwrap();
    assert!(line.starts_with("{\"version\":2,"), "{line}");
    assert!(line.contains(",\"service_tier\":\"priority\","), "{line}");
}

#[tokio::test]
async fn a_flex_answer_is_priced_at_flex() {
    let server = Server::start().await;
    let p = policy(NOVA_PRO, HAIKU_35, "service_tier = \"flex\"");
    let (g, events) = gate(&server, &p);
    server.push(served(Some("flex"), None));
    g.converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    let ev = &events.events()[0];
    assert_eq!(ev.service_tier, Some(Tier::Flex));
    // Nova Pro flex: $0.40 / $1.60 per Mtok (on demand $0.80 / $3.20).
    assert_eq!(ev.cost_nanos, 10 * 400 + 5 * 1600);
}

#[tokio::test]
async fn latency_optimized_goes_only_to_a_model_that_offers_it_and_is_recorded_from_the_request() {
    let server = Server::start().await;
    let p = policy(LLAMA_31_70B, NOVA_PREMIER, "latency = \"optimized\"");
    let (g, events) = gate(&server, &p);
    // The answer says nothing of its latency: the event takes the request's.
    server.push(served(None, None));
    g.converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    server.push(throttled());
    server.push(served(None, None));
    g.converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    let optimized = json!({"latency": "optimized"});
    assert_eq!(
        wire(&server),
        [
            at(LLAMA_31_70B, Value::Null, optimized.clone()),
            at(LLAMA_31_70B, Value::Null, optimized),
            // Nova Premier has no latency-optimized inference.
            at(NOVA_PREMIER, Value::Null, Value::Null),
        ]
    );
    let evs = events.events();
    assert_eq!(evs[0].latency, Some(Latency::Optimized));
    // Llama 3.1 70B latency-optimized: $0.90 / $0.90 per Mtok.
    assert_eq!(evs[0].cost_nanos, 15 * 900);
    assert_eq!(evs[1].latency, None);
    assert_eq!(evs[1].cost_nanos, 10 * 2500 + 5 * 12_500);
}

/// The Converse body of a one-message request as the gate sends it, with
/// `extra` members.
fn body(extra: Value) -> Value {
    let mut b = json!({
        "messages": [{"role": "user", "content": [{"text": "hello"}]}],
    });
    if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
        b.extend(extra.clone());
    }
    b
}

#[tokio::test]
async fn a_route_without_a_tier_sends_the_application_s_own_to_models_that_offer_it() {
    let server = Server::start().await;
    let p = policy(NOVA_PRO, HAIKU_35, "");
    let (g, events) = gate(&server, &p);
    let user = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hello".into()))
        .build()
        .unwrap();
    let input = ConverseInput::builder()
        .messages(user)
        .service_tier(
            ServiceTier::builder()
                .r#type(ServiceTierType::Flex)
                .build()
                .unwrap(),
        )
        .performance_config(
            PerformanceConfiguration::builder()
                .latency(PerformanceConfigLatency::Optimized)
                .build(),
        )
        .build()
        .unwrap();
    server.push(throttled());
    server.push(served(None, None));
    g.converse(&ChatRequest::from(input), &tags())
        .await
        .unwrap();
    let reqs = server.requests();
    let bodies: Vec<Value> = reqs.iter().map(|r| r.json()).collect();
    // Nova Pro offers flex and latency-optimized inference: both as the
    // application set them. Haiku 3.5 offers neither: Bedrock would refuse
    // them, so its attempt goes at the default tier and standard latency.
    // No default-tier retry place: the route decides no tier.
    assert_eq!(
        bodies,
        [
            body(json!({
                "serviceTier": {"type": "flex"},
                "performanceConfig": {"latency": "optimized"},
            })),
            body(json!({})),
        ]
    );
    assert_eq!(
        reqs.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        [
            "/model/us.amazon.nova-pro-v1%3A0/converse",
            "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
        ]
    );
    let ev = &events.events()[0];
    assert_eq!(ev.service_tier, None);
    assert_eq!(ev.latency, None);
    // Haiku 3.5 on demand: $0.80 / $4.00 per Mtok.
    assert_eq!(ev.cost_nanos, 10 * 800 + 5 * 4000);
}

#[tokio::test]
async fn the_application_s_own_tier_stays_on_a_model_that_offers_it() {
    let server = Server::start().await;
    let p = policy(NOVA_PRO, HAIKU_35, "");
    let (g, events) = gate(&server, &p);
    let input = ConverseInput::builder()
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("hello".into()))
                .build()
                .unwrap(),
        )
        .service_tier(
            ServiceTier::builder()
                .r#type(ServiceTierType::Flex)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    server.push(served(Some("flex"), Some("standard")));
    g.converse(&ChatRequest::from(input), &tags())
        .await
        .unwrap();
    assert_eq!(
        server.requests()[0].json(),
        body(json!({"serviceTier": {"type": "flex"}}))
    );
    let ev = &events.events()[0];
    assert_eq!(ev.latency, Some(Latency::Standard));
    assert_eq!(ev.service_tier, Some(Tier::Flex));
    assert_eq!(ev.cost_nanos, 10 * 400 + 5 * 1600);
}

#[tokio::test]
async fn a_stream_sends_the_tier_and_its_event_takes_the_metadata_s() {
    let server = Server::start().await;
    let p = policy(
        NOVA_PRO,
        HAIKU_35,
        "service_tier = \"flex\"\nlatency = \"optimized\"",
    );
    let (g, events) = gate(&server, &p);
    server.push(Reply::Stream {
        frames: vec![
            event("messageStart", json!({"role": "assistant"})),
            delta("ok"),
            event("contentBlockStop", json!({"contentBlockIndex": 0})),
            event("messageStop", json!({"stopReason": "end_turn"})),
            event(
                "metadata",
                json!({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
                       "metrics": {"latencyMs": 12},
                       "serviceTier": {"type": "flex"},
                       "performanceConfig": {"latency": "standard"}}),
            ),
        ],
        complete: true,
    });
    let s = g
        .converse_stream(ChatRequest::user("hi"), tags(), StreamOptions::default())
        .await
        .unwrap();
    s.collect().await.unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.path, "/model/us.amazon.nova-pro-v1%3A0/converse-stream");
    let body = req.json();
    assert_eq!(body["serviceTier"], json!({"type": "flex"}));
    assert_eq!(body["performanceConfig"], json!({"latency": "optimized"}));
    let ev = &events.events()[0];
    assert_eq!(ev.service_tier, Some(Tier::Flex));
    assert_eq!(ev.latency, Some(Latency::Standard));
    // Nova Pro flex: $0.40 / $1.60 per Mtok.
    assert_eq!(ev.cost_nanos, 10 * 400 + 5 * 1600);
}

/// Routes by `feature`, each capped at 100 output tokens, under a global
/// budget of $1 a day.
const BUDGET_POLICY: &str = r#"
[policy]
name = "tier-budget"
default_model = "pro"

[attributes]
feature = "string"

[models.pro]
id = "us.amazon.nova-pro-v1:0"

[models.premier]
id = "us.amazon.nova-premier-v1:0"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[[route]]
name = "agent"
when = 'feature == "agent"'
model = "pro"
service_tier = "flex"
max_output_tokens = 100

[[route]]
name = "chat"
when = 'feature == "chat"'
model = "premier"
service_tier = "priority"
max_output_tokens = 100

[[route]]
name = "plain"
when = 'feature == "plain"'
model = "haiku"
max_output_tokens = 100

[[route]]
name = "own"
when = 'feature == "own"'
model = "pro"
max_output_tokens = 100

[[budget]]
name = "daily"
daily_usd = 1.0
action = "reject"
"#;

const DAILY: i64 = 1_000_000_000;

fn budget_gate(server: &Server, ledger: tollgate_cost::Ledger) -> (Gate, Arc<Collect>) {
    let events = Arc::new(Collect::default());
    let g = Gate::builder(client(&server.url), handle(BUDGET_POLICY))
        .sink(events.clone())
        .backoff(Backoff::none())
        .ledger(ledger)
        .build();
    (g, events)
}

fn feature(f: &str) -> Tags {
    Tags {
        feature: Some(f.into()),
        ..Tags::default()
    }
}

/// "hello": 2 tokens + 4 for the message = 6 input tokens, and the
/// route's cap of 100 output tokens.
fn reserve(input_nanos: i64, output_nanos: i64) -> i64 {
    6 * input_nanos + 100 * output_nanos
}

#[tokio::test]
async fn a_budget_reserves_each_call_at_the_tier_it_is_sent_at() {
    let server = Server::start().await;
    let ledger = tollgate_cost::Ledger::in_memory();
    let global = tollgate_cost::GroupKey::new("global", "");
    let day = tollgate_cost::Day::today();
    // The day is spent: every call is refused with its estimate.
    ledger.store().add(global, day, DAILY).unwrap();
    let (g, _) = budget_gate(&server, ledger);
    let flex_input = ConverseInput::builder()
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("hello".into()))
                .build()
                .unwrap(),
        )
        .service_tier(
            ServiceTier::builder()
                .r#type(ServiceTierType::Flex)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let mut estimates = Vec::new();
    for (f, req) in [
        ("agent", ChatRequest::user("hello")),
        ("chat", ChatRequest::user("hello")),
        ("plain", ChatRequest::from(flex_input.clone())),
        ("own", ChatRequest::from(flex_input)),
    ] {
        match g.converse(&req, &feature(f)).await {
            Err(tollgate_bedrock::GateError::BudgetExceeded { estimate_nanos, .. }) => {
                estimates.push((f, estimate_nanos as i64))
            }
            other => panic!("{f}: {other:?}"),
        }
    }
    assert_eq!(
        estimates,
        [
            // Nova Pro flex: $0.40 / $1.60 per Mtok (on demand $0.80 / $3.20).
            ("agent", reserve(400, 1600)),
            // Nova Premier priority: $4.375 / $21.875 per Mtok.
            ("chat", reserve(4375, 21_875)),
            // The application's flex on Haiku 3.5, which has none: sent
            // and reserved at the default tier, $0.80 / $4.00.
            ("plain", reserve(800, 4000)),
            // The application's own flex on Nova Pro: reserved at flex.
            ("own", reserve(400, 1600)),
        ]
    );
    assert_eq!(estimates[0].1, 162_400);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_flex_reservation_settles_at_the_tier_served() {
    let server = Server::start().await;
    let ledger = tollgate_cost::Ledger::in_memory();
    let global = tollgate_cost::GroupKey::new("global", "");
    let day = tollgate_cost::Day::today();
    let (g, events) = budget_gate(&server, ledger.clone());
    // A stream holds its reservation until it ends.
    server.push(Reply::Stream {
        frames: vec![
            event("messageStart", json!({"role": "assistant"})),
            delta("ok"),
            event("messageStop", json!({"stopReason": "end_turn"})),
            event(
                "metadata",
                json!({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
                       "metrics": {"latencyMs": 12},
                       "serviceTier": {"type": "flex"}}),
            ),
        ],
        complete: true,
    });
    let s = g
        .converse_stream(
            ChatRequest::user("hello"),
            feature("agent"),
            StreamOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(ledger.total(global, day).unwrap(), reserve(400, 1600));
    s.collect().await.unwrap();
    // Settled at flex: 10 x $0.40 + 5 x $1.60 per Mtok.
    assert_eq!(ledger.total(global, day).unwrap(), 10 * 400 + 5 * 1600);
    // A throttled flex attempt served at the default tier settles there.
    server.push(throttled());
    server.push(served(Some("default"), None));
    g.converse(&ChatRequest::user("hello"), &feature("agent"))
        .await
        .unwrap();
    assert_eq!(
        ledger.total(global, day).unwrap(),
        10 * 400 + 5 * 1600 + 10 * 800 + 5 * 3200
    );
    let evs = events.events();
    assert_eq!(evs[1].service_tier, Some(Tier::Default));
    assert_eq!(evs[1].cost_nanos, 10 * 800 + 5 * 3200);
}
