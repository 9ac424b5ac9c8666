//! Tool use through the gate against the loopback Bedrock: a `toolUse`
//! turn, its `toolResult`, the final answer; and what the response cache
//! does with answers that stop to call a tool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, StopReason, Tool, ToolConfiguration, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolSpecification,
};
use common::{client, handle, Collect, Reply, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate_bedrock::{document_from_json, document_to_json, Backoff, ChatRequest, Gate};
use tollgate_cache::{CacheConfig, MemoryConfig, MemoryStore, ResponseCache};
use tollgate_cost::{CacheOutcome, Status, Tags};

const POLICY: &str = r#"
[policy]
name = "agent"
default_model = "haiku"

[attributes]
feature = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[[route]]
name = "agent"
when = 'feature == "agent"'
model = "haiku"
max_output_tokens = 500

[[cache]]
name = "answers"
when = 'feature == "agent"'
key = ["messages"]
scope = "global"
ttl = "10m"
TOOL_USE
"#;

struct Rig {
    server: Server,
    gate: Gate,
    events: Arc<Collect>,
}

/// A gate with a response cache; `cache_tool_use` is the rule's key
/// (`None`: left out).
async fn rig(cache_tool_use: Option<bool>) -> Rig {
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let opt = cache_tool_use.map_or(String::new(), |b| format!("cache_tool_use = {b}"));
    let store = MemoryStore::new(MemoryConfig::default());
    let gate = Gate::builder(
        client(&server.url),
        handle(&POLICY.replace("TOOL_USE", &opt)),
    )
    .sink(events.clone())
    .backoff(Backoff::none())
    .cache(Arc::new(ResponseCache::new(store, CacheConfig::default())))
    .build();
    Rig {
        server,
        gate,
        events,
    }
}

fn tags() -> Tags {
    Tags {
        feature: Some("agent".into()),
        ..Tags::default()
    }
}

fn tools() -> ToolConfiguration {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .input_schema(ToolInputSchema::Json(document_from_json(&schema)))
        .build()
        .unwrap();
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .unwrap()
}

fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest::from(
        ConverseInput::builder()
            .set_messages(Some(messages))
            .tool_config(tools())
            .build()
            .unwrap(),
    )
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

/// Bedrock's answer asking for `get_weather(Paris)`, after a text block.
fn tool_use_reply() -> Reply {
    Reply::json(json!({
        "output": {"message": {"role": "assistant", "content": [
            {"text": "Let me look that up."},
            {"toolUse": {"toolUseId": "tu-1", "name": "get_weather", "input": {"city": "Paris"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 300, "outputTokens": 40, "totalTokens": 340},
        "metrics": {"latencyMs": 12}
    }))
}

#[tokio::test]
async fn a_tool_use_turn_its_result_and_the_answer_are_three_priced_events() {
    let r = rig(None).await;
    r.server.push(tool_use_reply());
    r.server
        .push(Reply::ok("Sunny, 21 degrees in Paris.", 380, 12));

    let mut messages = vec![user("Weather in Paris?")];
    let first = r
        .gate
        .converse(&request(messages.clone()), &tags())
        .await
        .unwrap();
    assert_eq!(*first.stop_reason(), StopReason::ToolUse);
    let uses: Vec<_> = first.tool_uses().collect();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].tool_use_id(), "tu-1");
    assert_eq!(document_to_json(uses[0].input()), json!({"city": "Paris"}));

    // The whole assistant turn goes back, then the tool's result.
    let turn = first.message().unwrap().clone();
    assert_eq!(turn.content().len(), 2);
    let result = ToolResultBlock::builder()
        .tool_use_id("tu-1")
        .content(ToolResultContentBlock::Json(document_from_json(
            &json!({"city": "Paris", "forecast": "sunny", "celsius": 21}),
        )))
        .build()
        .unwrap();
    messages.push(turn);
    messages.push(
        Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::ToolResult(result))
            .build()
            .unwrap(),
    );
    let second = r.gate.converse(&request(messages), &tags()).await.unwrap();
    assert_eq!(*second.stop_reason(), StopReason::EndTurn);
    assert_eq!(second.text(), "Sunny, 21 degrees in Paris.");

    // Bedrock saw the tool, the assistant's toolUse and the toolResult as sent.
    let sent = r.server.requests();
    assert_eq!(sent.len(), 2);
    let body = sent[1].json();
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "get_weather"
    );
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"text": "Let me look that up."},
            {"toolUse": {"toolUseId": "tu-1", "name": "get_weather", "input": {"city": "Paris"}}}
        ])
    );
    assert_eq!(
        body["messages"][2]["content"],
        json!([{"toolResult": {"toolUseId": "tu-1", "content": [
            {"json": {"city": "Paris", "forecast": "sunny", "celsius": 21}}
        ]}}])
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 500);

    // One event per Converse call, each priced at Haiku 3.5's list price
    // ($0.80 / $4.00 per Mtok).
    let events = r.events.events();
    let costs: Vec<u64> = events.iter().map(|e| e.cost_nanos).collect();
    assert_eq!(costs, [300 * 800 + 40 * 4000, 380 * 800 + 12 * 4000]);
    assert!(events.iter().all(|e| e.status == Status::Ok));
    // The tool_use answer was not cached: the rule does not opt in.
    assert!(events.iter().all(|e| e.cache == CacheOutcome::Miss));
}

#[tokio::test]
async fn a_tool_use_answer_is_neither_stored_nor_served_without_cache_tool_use() {
    for opt in [None, Some(false)] {
        let r = rig(opt).await;
        r.server.push(tool_use_reply());
        r.server.push(tool_use_reply());
        let req = request(vec![user("Weather in Paris?")]);
        let a = r.gate.converse(&req, &tags()).await.unwrap();
        let b = r.gate.converse(&req, &tags()).await.unwrap();
        assert_eq!(r.server.requests().len(), 2, "{opt:?}: both reach Bedrock");
        assert_eq!(a.event.cache, CacheOutcome::Miss, "{opt:?}");
        assert_eq!(b.event.cache, CacheOutcome::Miss, "{opt:?}");
        assert_eq!(*b.stop_reason(), StopReason::ToolUse);
        // An ordinary answer to the same rule is still cached.
        r.server.push(Reply::ok("plain", 10, 2));
        let plain = request(vec![user("Just say hi.")]);
        r.gate.converse(&plain, &tags()).await.unwrap();
        let hit = r.gate.converse(&plain, &tags()).await.unwrap();
        assert_eq!(hit.event.cache, CacheOutcome::Hit, "{opt:?}");
        assert_eq!(hit.text(), "plain");
        assert_eq!(r.server.requests().len(), 3, "{opt:?}");
    }
}

#[tokio::test]
async fn with_cache_tool_use_a_hit_returns_the_whole_output_message() {
    let r = rig(Some(true)).await;
    r.server.push(tool_use_reply());
    let req = request(vec![user("Weather in Paris?")]);
    let miss = r.gate.converse(&req, &tags()).await.unwrap();
    let hit = r.gate.converse(&req, &tags()).await.unwrap();
    assert_eq!(
        r.server.requests().len(),
        1,
        "the hit must not call Bedrock"
    );
    assert_eq!(miss.event.cache, CacheOutcome::Miss);
    assert_eq!(hit.event.cache, CacheOutcome::Hit);
    assert_eq!(hit.event.cost_nanos, 0);
    assert_eq!(hit.event.cost_avoided_nanos, 300 * 800 + 40 * 4000);
    // Every block of the stored message comes back, in order, and the stop
    // reason with it: the loop can answer the tool from a hit.
    assert_eq!(hit.message(), miss.message());
    assert_eq!(*hit.stop_reason(), StopReason::ToolUse);
    let blocks: Vec<Value> = hit
        .message()
        .unwrap()
        .content()
        .iter()
        .map(|c| match c {
            ContentBlock::Text(t) => json!({"text": t}),
            ContentBlock::ToolUse(u) => json!({"toolUse": {
                "toolUseId": u.tool_use_id(), "name": u.name(),
                "input": document_to_json(u.input())}}),
            other => panic!("unexpected block {other:?}"),
        })
        .collect();
    assert_eq!(
        blocks,
        [
            json!({"text": "Let me look that up."}),
            json!({"toolUse": {"toolUseId": "tu-1", "name": "get_weather", "input": {"city": "Paris"}}})
        ]
    );
}

/// Bedrock's answer with a block a newer Bedrock sends and the locked SDK
/// does not know, after a text block.
fn reply_with_an_unknown_block() -> Reply {
    Reply::json(json!({
        "output": {"message": {"role": "assistant", "content": [
            {"text": "Here it is."},
            {"someFutureBlock": {"payload": 1}}
        ]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 30, "outputTokens": 4, "totalTokens": 34},
        "metrics": {"latencyMs": 12}
    }))
}

#[tokio::test]
async fn an_answer_holding_a_block_the_sdk_does_not_know_is_passed_through_and_never_cached() {
    let r = rig(Some(true)).await;
    r.server.push(reply_with_an_unknown_block());
    r.server.push(reply_with_an_unknown_block());
    let req = request(vec![user("Show me.")]);
    let a = r.gate.converse(&req, &tags()).await.unwrap();
    // The application gets the whole message, the unknown block in place.
    let blocks = a.message().unwrap().content();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0], ContentBlock::Text("Here it is.".into()));
    assert!(blocks[1].is_unknown());
    assert_eq!(a.event.status, Status::Ok);
    assert_eq!(a.event.cache, CacheOutcome::Miss);
    // It cannot be stored faithfully, so the same question asks Bedrock again.
    let b = r.gate.converse(&req, &tags()).await.unwrap();
    assert_eq!(b.event.cache, CacheOutcome::Miss);
    assert_eq!(r.server.requests().len(), 2);
}
