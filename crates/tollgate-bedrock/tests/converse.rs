//! `Gate::converse` against the loopback Bedrock, through the real SDK.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{client, handle, Collect, Reply, Server, POLICY};
use std::sync::Arc;
use tollgate_bedrock::{AttrValue, Backoff, ChatRequest, Gate, GateError};
use tollgate_cache::{CacheConfig, MemoryConfig, MemoryStore, ResponseCache};
use tollgate_cost::{CacheOutcome, Status, Tags};

const HAIKU_PATH: &str = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse";
const SONNET_PATH: &str = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse";

struct Rig {
    server: Server,
    gate: Gate,
    events: Arc<Collect>,
}

async fn rig(with_cache: bool) -> Rig {
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let mut b = Gate::builder(client(&server.url), handle(POLICY))
        .sink(events.clone())
        .backoff(Backoff::none());
    if with_cache {
        let store = MemoryStore::new(MemoryConfig::default());
        b = b.cache(Arc::new(ResponseCache::new(store, CacheConfig::default())));
    }
    Rig {
        server,
        gate: b.build(),
        events,
    }
}

/// The paths the server was asked for, in order.
fn paths(server: &Server) -> Vec<String> {
    server.requests().iter().map(|q| q.path.clone()).collect()
}

fn tags(feature: &str) -> Tags {
    Tags {
        feature: Some(feature.into()),
        ..Tags::default()
    }
}

#[tokio::test]
async fn converse_sends_routed_model_and_effective_cap_and_prices_exactly() {
    let r = rig(false).await;
    r.server.push(Reply::ok("hello there", 100, 50));
    let req = ChatRequest::user("hi").system("be brief").max_tokens(1000);
    let resp = r.gate.converse(&req, &tags("chat")).await.unwrap();
    assert_eq!(resp.text(), "hello there");
    assert_eq!(resp.stop_reason().as_str(), "end_turn");
    assert_eq!(resp.bedrock_latency_ms(), Some(42));
    let reqs = r.server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, HAIKU_PATH);
    let body = reqs[0].json();
    // min(request 1000, route 400, limit 300)
    assert_eq!(
        body["inferenceConfig"],
        serde_json::json!({"maxTokens": 300})
    );
    assert_eq!(body["system"], serde_json::json!([{"text": "be brief"}]));
    assert_eq!(
        body["messages"],
        serde_json::json!([{"role": "user", "content": [{"text": "hi"}]}])
    );
    assert!(body.get("modelId").is_none());
    let ev = &r.events.events()[0];
    assert_eq!(ev, &resp.event);
    assert_eq!(ev.model, "haiku");
    assert_eq!(ev.attempts, 1);
    assert_eq!(ev.status, Status::Ok);
    assert_eq!(ev.max_output_tokens, Some(300));
    assert_eq!(ev.rules.route.as_deref(), Some("chat"));
    assert_eq!(ev.rules.limit.as_deref(), Some("chat-guard"));
    // Claude 3.5 Haiku: $0.80 / $4.00 per Mtok = 800 / 4000 nanos per token.
    assert_eq!(ev.cost_nanos, 100 * 800 + 50 * 4000);
    assert_eq!(ev.usage.input_tokens, 100);
    assert_eq!(ev.usage.output_tokens, 50);
    // `prompt` is always redacted; derived attributes are recorded.
    assert!(ev.redacted.iter().any(|n| n == "prompt"));
    assert_eq!(ev.attributes["message_count"], serde_json::json!(1));
    assert_eq!(ev.attributes["feature"], serde_json::json!("chat"));
}

#[tokio::test]
async fn throttle_retries_on_the_fallback_model_and_counts_attempts() {
    let r = rig(false).await;
    r.server.push(Reply::error(
        429,
        "ThrottlingException",
        "Too many requests",
    ));
    r.server
        .push(Reply::error(503, "ServiceUnavailableException", "busy"));
    r.server.push(Reply::ok("ok", 10, 5));
    let resp = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap();
    let paths = paths(&r.server);
    assert_eq!(paths, vec![HAIKU_PATH, SONNET_PATH, SONNET_PATH]);
    assert_eq!(resp.attempts.len(), 3);
    assert_eq!(
        resp.attempts[0].error.as_deref(),
        Some("ThrottlingException")
    );
    assert_eq!(
        resp.attempts[1].error.as_deref(),
        Some("ServiceUnavailableException")
    );
    assert_eq!(resp.attempts[2].error, None);
    assert_eq!(resp.attempts[2].usage.output_tokens, 5);
    let ev = &r.events.events()[0];
    assert_eq!(ev.attempts, 3);
    assert_eq!(ev.model, "sonnet");
    // Sonnet 4 (us. profile): $3 / $15 per Mtok.
    assert_eq!(ev.cost_nanos, 10 * 3000 + 5 * 15000);
}

#[tokio::test]
async fn throttling_past_max_attempts_is_a_typed_error_with_an_event() {
    let r = rig(false).await;
    for _ in 0..3 {
        r.server
            .push(Reply::error(429, "ThrottlingException", "slow down"));
    }
    let err = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GateError::Bedrock {
            code: "ThrottlingException".into(),
            message: "slow down".into(),
            attempts: 3
        }
    );
    assert_eq!(r.server.requests().len(), 3);
    let ev = &r.events.events()[0];
    assert_eq!(ev.status, Status::Error);
    assert_eq!(ev.error_type.as_deref(), Some("ThrottlingException"));
    assert_eq!(ev.attempts, 3);
    assert_eq!(ev.cost_nanos, 0);
}

/// An error status with no Bedrock error code, as a proxy or load
/// balancer in front of the endpoint answers.
fn bare(status: u16, body: &str) -> Reply {
    Reply::Json {
        status,
        error_type: None,
        body: body.into(),
    }
}

#[tokio::test]
async fn an_error_status_without_a_code_is_retried_as_the_sdk_would() {
    let r = rig(false).await;
    r.server.push(bare(429, "{}"));
    r.server.push(bare(503, "<html>Service Unavailable</html>"));
    r.server.push(Reply::ok("ok", 10, 5));
    let resp = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap();
    let paths = paths(&r.server);
    // 429 is throttling: the fallback model; 503 is transient: the same one.
    assert_eq!(paths, vec![HAIKU_PATH, SONNET_PATH, SONNET_PATH]);
    let errors: Vec<Option<&str>> = resp.attempts.iter().map(|a| a.error.as_deref()).collect();
    assert_eq!(errors, [Some("HTTP 429"), Some("HTTP 503"), None]);

    // Any other status would fail again: not retried.
    r.server.push(bare(501, "{}"));
    let err = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GateError::Bedrock { code, attempts: 1, .. } if code == "HTTP 501"),
        "{err:?}"
    );
    assert_eq!(r.server.requests().len(), 4);
    assert_eq!(r.events.events()[1].error_type.as_deref(), Some("HTTP 501"));
}

#[tokio::test]
async fn validation_error_is_not_retried() {
    let r = rig(false).await;
    r.server
        .push(Reply::error(400, "ValidationException", "bad input"));
    let err = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GateError::Bedrock { ref code, attempts: 1, .. } if code == "ValidationException"),
        "{err:?}"
    );
    assert_eq!(r.server.requests().len(), 1);
}

#[tokio::test]
async fn cache_hit_makes_no_http_call_and_records_cost_avoided() {
    let r = rig(true).await;
    r.server.push(Reply::ok("cached answer", 200, 100));
    let t = Tags {
        feature: Some("kb".into()),
        tenant: Some("acme".into()),
        ..Tags::default()
    };
    let req = ChatRequest::user("what is the refund policy?").system("kb");
    let first = r.gate.converse(&req, &t).await.unwrap();
    assert_eq!(first.event.cache, CacheOutcome::Miss);
    let cost = first.event.cost_nanos;
    assert_eq!(cost, 200 * 800 + 100 * 4000);
    let second = r.gate.converse(&req, &t).await.unwrap();
    assert_eq!(r.server.requests().len(), 1, "a hit must not call Bedrock");
    assert_eq!(second.text(), "cached answer");
    assert_eq!(second.event.cache, CacheOutcome::Hit);
    assert_eq!(second.event.attempts, 0);
    assert_eq!(second.event.cost_nanos, 0);
    assert_eq!(second.event.cost_avoided_nanos, cost);
    // Another tenant does not share the entry.
    r.server.push(Reply::ok("other", 1, 1));
    let other = Tags {
        tenant: Some("globex".into()),
        ..t.clone()
    };
    let third = r.gate.converse(&req, &other).await.unwrap();
    assert_eq!(third.text(), "other");
    assert_eq!(r.server.requests().len(), 2);
    assert_eq!(r.events.events().len(), 3);
}

#[tokio::test]
async fn prompt_cache_point_goes_after_the_system_prompt() {
    let r = rig(false).await;
    r.server.push(Reply::ok_usage("ok", 10, 5, 0, 2600));
    let long = "x".repeat(4 * 2600);
    let req = ChatRequest::user("q").system(long.clone());
    let resp = r.gate.converse(&req, &tags("other")).await.unwrap();
    let body = r.server.requests()[0].json();
    assert_eq!(
        body["system"],
        serde_json::json!([{"text": long}, {"cachePoint": {"type": "default", "ttl": "5m"}}])
    );
    assert_eq!(
        resp.event.rules.prompt_cache.as_deref(),
        Some("long-system")
    );
    // 10 * 800 + 5 * 4000 + 2600 writes at $1.00/Mtok (5m).
    assert_eq!(resp.event.cost_nanos, 10 * 800 + 5 * 4000 + 2600 * 1000);
}

#[tokio::test]
async fn prompt_router_call_is_priced_as_the_invoked_model() {
    let r = rig(false).await;
    let body = serde_json::json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "routed"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1000, "outputTokens": 100, "totalTokens": 1100},
        "metrics": {"latencyMs": 7},
        "trace": {"promptRouter": {"invokedModelId":
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"}}
    });
    r.server.push(Reply::Json {
        status: 200,
        error_type: None,
        body: body.to_string(),
    });
    let resp = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("router"))
        .await
        .unwrap();
    assert_eq!(
        r.server.requests()[0].path,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Adefault-prompt-router%2Fanthropic.claude%3A1/converse"
    );
    assert!(resp
        .response_model_id
        .as_deref()
        .unwrap()
        .ends_with("claude-3-haiku-20240307-v1:0"));
    assert_eq!(resp.event.response_model_id, resp.response_model_id);
    // Claude 3 Haiku: $0.25 / $1.25 per Mtok, not the router's inline $1 / $5.
    assert_eq!(resp.event.cost_nanos, 1000 * 250 + 100 * 1250);
}

#[tokio::test]
async fn malformed_json_is_a_typed_error_not_a_panic() {
    let r = rig(false).await;
    r.server.push(Reply::Json {
        status: 200,
        error_type: None,
        body: "{\"output\": {\"message\": ".into(),
    });
    let err = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    assert!(matches!(err, GateError::Malformed(_)), "{err:?}");
    assert_eq!(r.server.requests().len(), 1);
    assert_eq!(
        r.events.events()[0].error_type.as_deref(),
        Some("MalformedResponse")
    );
}

#[tokio::test]
async fn reset_connection_is_a_transport_error_not_a_panic() {
    let r = rig(false).await;
    // Retried on the same model first, then the fallback: three resets.
    for _ in 0..3 {
        r.server.push(Reply::Reset);
    }
    let err = r
        .gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    assert!(matches!(err, GateError::Transport(_)), "{err:?}");
    assert_eq!(paths(&r.server), vec![HAIKU_PATH, HAIKU_PATH, SONNET_PATH]);
    assert_eq!(r.events.events()[0].status, Status::Error);
    assert_eq!(r.events.events()[0].attempts, 3);
}

#[tokio::test]
async fn retry_budget_stops_a_retry_storm() {
    let r = rig(false).await;
    // First call: a throttle then success; the success is retry spend.
    r.server
        .push(Reply::error(429, "ThrottlingException", "slow"));
    r.server.push(Reply::ok("ok", 100, 10));
    r.gate
        .converse(&ChatRequest::user("a"), &tags("budgeted"))
        .await
        .unwrap();
    let (retry, total) = r.gate.retry_spend("budgeted");
    assert_eq!(retry, total);
    assert!(total > 0);
    // Retries are now 100% of the feature's spend (> 10%): no retry.
    r.server
        .push(Reply::error(429, "ThrottlingException", "slow"));
    r.server.push(Reply::ok("never sent", 1, 1));
    let err = r
        .gate
        .converse(&ChatRequest::user("b"), &tags("budgeted"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GateError::RetryBudget {
            feature: "budgeted".into(),
            code: "ThrottlingException".into()
        }
    );
    assert_eq!(r.server.requests().len(), 3);
}

#[tokio::test]
async fn app_attributes_override_built_ins() {
    let r = rig(false).await;
    r.server.push(Reply::ok("ok", 1, 1));
    let req = ChatRequest::user("hi").attr("feature", AttrValue::Str("chat".into()));
    let resp = r.gate.converse(&req, &tags("kb")).await.unwrap();
    assert_eq!(resp.event.rules.route.as_deref(), Some("chat"));
}

#[test]
fn converse_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = rig(false).await;
        let req = ChatRequest::user("hi");
        let t = tags("chat");
        let f = r.gate.converse(&req, &t);
        is_send(&f);
    });
}

const TIME_POLICY: &str = r#"
[policy]
name = "gate-time"
default_model = "sonnet"

[attributes]
request_time = "timestamp"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "this-century"
when = 'request_time >= timestamp("2001-01-01T00:00:00Z")'
model = "haiku"
"#;

#[tokio::test]
async fn the_gate_fills_request_time_with_the_time_of_the_call() {
    use tollgate_lang::Timestamp;
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), handle(TIME_POLICY))
        .sink(events.clone())
        .backoff(Backoff::none())
        .build();
    server.push(Reply::ok("ok", 1, 1));
    server.push(Reply::ok("ok", 1, 1));
    let before = Timestamp::now();
    let resp = gate
        .converse(&ChatRequest::user("hi"), &Tags::default())
        .await
        .unwrap();
    let after = Timestamp::now();
    assert_eq!(resp.event.rules.route.as_deref(), Some("this-century"));
    let recorded = resp.event.attributes["request_time"]
        .as_str()
        .and_then(Timestamp::parse)
        .unwrap_or_else(|| panic!("{:?}", resp.event.attributes));
    assert!(before <= recorded && recorded <= after, "{recorded}");
    // The application's own value wins.
    let old = Timestamp::parse("1999-12-31T23:00:00Z").unwrap();
    let req = ChatRequest::user("hi").attr("request_time", AttrValue::Timestamp(old));
    let resp = gate.converse(&req, &Tags::default()).await.unwrap();
    assert_eq!(resp.event.rules.route, None);
    assert_eq!(resp.event.model, "sonnet");
    assert_eq!(
        resp.event.attributes["request_time"],
        serde_json::json!("1999-12-31T23:00:00Z")
    );
    assert_eq!(paths(&server), [HAIKU_PATH, SONNET_PATH]);
}
