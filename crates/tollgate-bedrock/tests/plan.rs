//! Each attempt is planned for its own model. A fallback is not the model
//! the request was planned for: the loopback Bedrock here refuses, with a
//! `ValidationException` as Bedrock does, a `maxTokens` above the model's
//! maximum output, a cache point on a model without prompt caching, the
//! 1-hour TTL on a model without it, and a cache point after the tools on
//! Amazon Nova. The first attempt is throttled, so the fallback answers
//! only when its attempt was planned for it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, Message, SystemContentBlock,
    Tool, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use common::{client, handle, Collect, Reply, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate_bedrock::{document_from_json, Backoff, ChatRequest, Gate};
use tollgate_cost::Tags;

const SONNET_4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_35: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const LLAMA_33: &str = "us.meta.llama3-3-70b-instruct-v1:0";
const NOVA_PRO: &str = "us.amazon.nova-pro-v1:0";

/// What Bedrock accepts of each model here, from its model cards and the
/// prompt-caching guide (written out, not read from the gate's table).
struct Accepts {
    max_output: u64,
    caching: bool,
    one_hour: bool,
    after_tools: bool,
}

fn accepts(model: &str) -> Option<Accepts> {
    let (max_output, caching, one_hour, after_tools) = match model {
        SONNET_4 => (64_000, true, false, true),
        SONNET_45 => (64_000, true, true, true),
        HAIKU_35 => (8_192, true, false, true),
        LLAMA_33 => (4_096, false, false, false),
        NOVA_PRO => (10_000, true, false, false),
        _ => return None,
    };
    Some(Accepts {
        max_output,
        caching,
        one_hour,
        after_tools,
    })
}

/// Bedrock's refusals of a Converse body for `model`.
fn bedrock(model: &str, body: &Value) -> Option<String> {
    let Some(a) = accepts(model) else {
        return Some(format!("The provided model identifier {model} is invalid."));
    };
    if let Some(n) = body["inferenceConfig"]["maxTokens"].as_u64() {
        if n > a.max_output {
            return Some(format!(
                "The maximum tokens you requested exceeds the model limit of {}",
                a.max_output
            ));
        }
    }
    let blocks = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let mut points: Vec<(&str, Value)> = Vec::new();
    for b in blocks(&body["system"]) {
        points.extend(b.get("cachePoint").map(|p| ("system", p.clone())));
    }
    for m in blocks(&body["messages"]) {
        for b in blocks(&m["content"]) {
            points.extend(b.get("cachePoint").map(|p| ("messages", p.clone())));
        }
    }
    for t in blocks(&body["toolConfig"]["tools"]) {
        points.extend(t.get("cachePoint").map(|p| ("tools", p.clone())));
    }
    for (site, p) in points {
        if !a.caching {
            return Some(format!("{model} does not support prompt caching"));
        }
        if site == "tools" && !a.after_tools {
            return Some(format!("{model} does not support a cache point in tools"));
        }
        if p["ttl"] == "1h" && !a.one_hour {
            return Some(format!("{model} does not support the 1h cache TTL"));
        }
    }
    None
}

fn throttled() -> Reply {
    Reply::error(429, "ThrottlingException", "slow down")
}

async fn gate(server: &Server, policy: &str) -> (Gate, Arc<Collect>) {
    server.check(bedrock);
    let events = Arc::new(Collect::default());
    let g = Gate::builder(client(&server.url), handle(policy))
        .sink(events.clone())
        .backoff(Backoff::none())
        .build();
    (g, events)
}

fn tags() -> Tags {
    Tags {
        feature: Some("plan".into()),
        ..Tags::default()
    }
}

/// `[policy]`, the models, a route `plan` on `primary` falling back to
/// `fallback`, then `extra`.
fn policy(primary: &str, fallback: &str, route_extra: &str, extra: &str) -> String {
    format!(
        r#"
[policy]
name = "plan"
default_model = "primary"

[attributes]
feature = "string"
system_tokens = "int"

[models.primary]
id = "{primary}"

[models.fallback]
id = "{fallback}"

[[route]]
name = "plan"
when = 'feature == "plan"'
model = "primary"
fallback = ["fallback"]
{route_extra}

{extra}
"#
    )
}

/// A system prompt of about 2,600 tokens (over every model's cache minimum).
fn long_system() -> String {
    "x".repeat(4 * 2600)
}

/// The paths' model ids and the bodies Bedrock received, in order.
fn sent(server: &Server) -> Vec<Value> {
    server.requests().iter().map(|r| r.json()).collect()
}

#[tokio::test]
async fn a_fallback_with_a_lower_maximum_output_gets_its_own_max_tokens() {
    let server = Server::start().await;
    let p = policy(SONNET_4, HAIKU_35, "max_output_tokens = 20000", "");
    let (g, events) = gate(&server, &p).await;
    server.push(throttled());
    server.push(Reply::ok("from haiku", 10, 5));
    let resp = g
        .converse(&ChatRequest::user("hello"), &tags())
        .await
        .unwrap();
    assert_eq!(resp.text(), "from haiku");
    let bodies = sent(&server);
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["inferenceConfig"]["maxTokens"], 20_000);
    assert_eq!(bodies[1]["inferenceConfig"]["maxTokens"], 8_192);
    assert_eq!(resp.model_id.as_str(), HAIKU_35);
    assert_eq!(events.events().len(), 1);
    // Priced as the model that answered: Haiku 3.5, $0.80 / $4.00 per Mtok.
    assert_eq!(resp.event.cost_nanos, 10 * 800 + 5 * 4000);
}

#[tokio::test]
async fn a_fallback_without_prompt_caching_gets_no_cache_point_at_all() {
    let server = Server::start().await;
    // No `[[prompt_cache]]` rule: the policy language refuses one that can
    // apply to a model without cache prices. The application's own cache
    // point is what Llama would refuse.
    let rule = "";
    let p = policy(HAIKU_35, LLAMA_33, "max_output_tokens = 400", rule);
    let (g, _) = gate(&server, &p).await;
    server.push(throttled());
    server.push(Reply::ok("from llama", 10, 5));
    let own = CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .build()
        .unwrap();
    let user = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("question".into()))
        .content(ContentBlock::CachePoint(own))
        .build()
        .unwrap();
    let input = ConverseInput::builder()
        .system(SystemContentBlock::Text(long_system()))
        .messages(user)
        .build()
        .unwrap();
    let resp = g
        .converse(&ChatRequest::from(input), &tags())
        .await
        .unwrap();
    assert_eq!(resp.text(), "from llama");
    let bodies = sent(&server);
    assert_eq!(bodies.len(), 2);
    // Haiku: the application's point, as sent.
    assert_eq!(
        bodies[0]["messages"][0]["content"][1],
        json!({"cachePoint": {"type": "default"}})
    );
    // Llama: none.
    assert_eq!(bodies[1]["system"], json!([{"text": long_system()}]));
    assert_eq!(
        bodies[1]["messages"][0]["content"],
        json!([{"text": "question"}])
    );
}

#[tokio::test]
async fn a_fallback_without_the_one_hour_ttl_writes_at_five_minutes() {
    let server = Server::start().await;
    let rule = r#"
[[prompt_cache]]
name = "system"
when = 'system_tokens >= 2048'
points = ["system"]
ttl = "1h"
"#;
    let p = policy(SONNET_45, SONNET_4, "max_output_tokens = 400", rule);
    let (g, _) = gate(&server, &p).await;
    server.push(throttled());
    server.push(Reply::ok_usage("from sonnet 4", 10, 5, 0, 2600));
    let req = ChatRequest::user("question").system(long_system());
    let resp = g.converse(&req, &tags()).await.unwrap();
    assert_eq!(resp.text(), "from sonnet 4");
    let bodies = sent(&server);
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["system"][1]["cachePoint"]["ttl"], "1h");
    assert_eq!(bodies[1]["system"][1]["cachePoint"]["ttl"], "5m");
    // The write is priced at Sonnet 4's 5-minute rate ($3.75 per Mtok).
    assert_eq!(resp.event.cost_nanos, 10 * 3000 + 5 * 15_000 + 2600 * 3750);
}

#[tokio::test]
async fn nova_as_a_fallback_gets_no_cache_point_after_the_tools() {
    let server = Server::start().await;
    let rule = r#"
[[prompt_cache]]
name = "tools-and-system"
when = 'system_tokens >= 2048'
points = ["tools", "system"]
ttl = "5m"
"#;
    let p = policy(HAIKU_35, NOVA_PRO, "max_output_tokens = 400", rule);
    let (g, _) = gate(&server, &p).await;
    server.push(throttled());
    server.push(Reply::ok("from nova", 10, 5));
    let spec = ToolSpecification::builder()
        .name("lookup")
        .description("y".repeat(4 * 2600))
        .input_schema(ToolInputSchema::Json(document_from_json(
            &json!({"type": "object"}),
        )))
        .build()
        .unwrap();
    let tools = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .unwrap();
    let input = ConverseInput::builder()
        .system(SystemContentBlock::Text(long_system()))
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("question".into()))
                .build()
                .unwrap(),
        )
        .tool_config(tools)
        .build()
        .unwrap();
    let resp = g
        .converse(&ChatRequest::from(input), &tags())
        .await
        .unwrap();
    assert_eq!(resp.text(), "from nova");
    let bodies = sent(&server);
    assert_eq!(bodies.len(), 2);
    let point = json!({"cachePoint": {"type": "default", "ttl": "5m"}});
    // Haiku: after the tools and after the system prompt.
    assert_eq!(bodies[0]["toolConfig"]["tools"][1], point);
    assert_eq!(bodies[0]["system"][1], point);
    // Nova: after the system prompt only.
    assert_eq!(
        bodies[1]["toolConfig"]["tools"].as_array().unwrap().len(),
        1
    );
    assert_eq!(bodies[1]["system"][1], point);
}
