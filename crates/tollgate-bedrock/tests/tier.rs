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
    ContentBlock, ConversationRole, Message, ServiceTier, ServiceTierType,
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

#[tokio::test]
async fn a_route_without_a_tier_sends_the_application_s_own_untouched() {
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
        .build()
        .unwrap();
    server.push(throttled());
    server.push(served(Some("flex"), Some("standard")));
    g.converse(&ChatRequest::from(input), &tags())
        .await
        .unwrap();
    // No default-tier retry place: the route decides no tier.
    assert_eq!(
        wire(&server),
        [
            at(NOVA_PRO, json!({"type": "flex"}), Value::Null),
            at(HAIKU_35, json!({"type": "flex"}), Value::Null),
        ]
    );
    let ev = &events.events()[0];
    assert_eq!(ev.latency, Some(Latency::Standard));
    assert_eq!(ev.service_tier, Some(Tier::Flex));
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
