//! The overhead rig shared by the `overhead` bench and the
//! `overhead_calls` example: a loopback Bedrock, the raw SDK client and a
//! gate over a copy of it (retries off in both), and one call of each.
//! Include it after `mod common;` (the loopback server).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{client, handle, Reply, Server, POLICY};
use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, Tool, ToolConfiguration,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use std::sync::Arc;
use tollgate_bedrock::{document_from_json, Backoff, ChatRequest, Gate};
use tollgate_cost::{CallEvent, Sink, SinkError, Tags};

const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

/// Drops events (the sink's own cost is benchmarked in tollgate-cost).
struct Null;
impl Sink for Null {
    fn write(&self, _: &CallEvent) -> Result<(), SinkError> {
        Ok(())
    }
}

pub struct Rig {
    pub rt: tokio::runtime::Runtime,
    pub raw: aws_sdk_bedrockruntime::Client,
    pub gate: Gate,
    /// The loopback Bedrock (its default answer can change between runs).
    pub server: Server,
}

pub fn rig() -> Rig {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // TOLLGATE_OVERHEAD_SERVER=thread: the loopback Bedrock runs on a
    // thread and runtime of its own, as a remote service would, so the
    // client's core and caches are its own.
    let server = if std::env::var("TOLLGATE_OVERHEAD_SERVER").as_deref() == Ok("thread") {
        server_thread()
    } else {
        rt.block_on(Server::start())
    };
    let (server, raw, gate) = rt.block_on(async {
        server.set_default(plain_reply());
        let handle = handle(POLICY);
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
        server,
    }
}

/// A loopback Bedrock served from a thread of its own.
fn server_thread() -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tx.send(Server::start().await).unwrap();
            std::future::pending::<()>().await
        });
    });
    rx.recv().unwrap()
}

/// The loopback's answer to the text requests.
pub fn plain_reply() -> Reply {
    Reply::ok("hello there", 100, 50)
}

/// The short prompt of the main comparison.
pub const PROMPT: &str = "hi there, how are you?";

/// A 4 KiB prompt (a long question with its context pasted in), for the
/// costs that grow with the text: estimating, fingerprinting, copying.
pub fn long_prompt() -> String {
    let sentence = "Summarise the incident report below and list the follow-ups. ";
    sentence.repeat(4096 / sentence.len() + 1)[..4096].to_string()
}

pub async fn raw_call(c: &aws_sdk_bedrockruntime::Client) {
    raw_call_text(c, PROMPT).await
}

pub async fn raw_call_text(c: &aws_sdk_bedrockruntime::Client, text: &str) {
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_string()))
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

pub async fn gate_call(g: &Gate, req: &ChatRequest, tags: &Tags) {
    let out = g.converse(req, tags).await.unwrap();
    std::hint::black_box(out);
}

/// The request and tags both sides of the comparison send.
pub fn request() -> (ChatRequest, Tags) {
    request_text(PROMPT)
}

/// [`request`] with another prompt.
pub fn request_text(text: &str) -> (ChatRequest, Tags) {
    let req = ChatRequest::user(text);
    let tags = Tags {
        feature: Some("chat".into()),
        ..Tags::default()
    };
    (req, tags)
}

/// The loopback's answer to the tool-use request: a text block and a
/// `toolUse` block, stop reason `tool_use`.
pub fn tool_reply() -> Reply {
    Reply::json(serde_json::json!({
        "output": {"message": {"role": "assistant", "content": [
            {"text": "And in Lyon?"},
            {"toolUse": {"toolUseId": "tu-2", "name": "get_weather", "input": {"city": "Lyon"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 300, "outputTokens": 40, "totalTokens": 340},
        "metrics": {"latencyMs": 12}
    }))
}

/// An agent's second turn: one tool in `toolConfig`, and a history of
/// the user's question, the assistant's `toolUse` and the `toolResult`.
/// No model id: the gate's decision sets it, the raw call its own.
pub fn tool_input() -> ConverseInput {
    tool_input_with(None)
}

/// A page a tool fetched, 16 KiB of text with quotes and line breaks (to
/// escape), for [`tool_input_with`]: the costs that grow with an agent's
/// history.
pub fn fetched_page() -> String {
    let line = "The \"incident\" began at 09:14; the on-call engineer paged the database team.\n";
    line.repeat(16 * 1024 / line.len() + 1)[..16 * 1024].to_string()
}

/// [`tool_input`], its tool result carrying `page` too, as a `text`
/// block after the `json` one.
pub fn tool_input_with(page: Option<&str>) -> ConverseInput {
    let json = |v: serde_json::Value| document_from_json(&v);
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .description("The current weather in a city.")
        .input_schema(ToolInputSchema::Json(json(serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        }))))
        .build()
        .unwrap();
    let tools = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .unwrap();
    let turn = |role: ConversationRole, blocks: Vec<ContentBlock>| {
        Message::builder()
            .role(role)
            .set_content(Some(blocks))
            .build()
            .unwrap()
    };
    let tool_use = ToolUseBlock::builder()
        .tool_use_id("tu-1")
        .name("get_weather")
        .input(json(serde_json::json!({"city": "Paris"})))
        .build()
        .unwrap();
    let mut result =
        ToolResultBlock::builder()
            .tool_use_id("tu-1")
            .content(ToolResultContentBlock::Json(json(
                serde_json::json!({"city": "Paris", "forecast": "sunny", "celsius": 21}),
            )));
    if let Some(page) = page {
        result = result.content(ToolResultContentBlock::Text(page.to_string()));
    }
    let result = result.build().unwrap();
    let messages = vec![
        turn(
            ConversationRole::User,
            vec![ContentBlock::Text(
                "What is the weather in Paris, and then in Lyon?".into(),
            )],
        ),
        turn(
            ConversationRole::Assistant,
            vec![
                ContentBlock::Text("Let me look that up.".into()),
                ContentBlock::ToolUse(tool_use),
            ],
        ),
        turn(
            ConversationRole::User,
            vec![ContentBlock::ToolResult(result)],
        ),
    ];
    ConverseInput::builder()
        .set_messages(Some(messages))
        .tool_config(tools)
        .build()
        .unwrap()
}

/// [`tool_input`] sent by the raw SDK, as an application would: the
/// history and the tools copied into the call, the model and `maxTokens`.
pub async fn raw_tool_call(c: &aws_sdk_bedrockruntime::Client, input: &ConverseInput) {
    let out = c
        .converse()
        .model_id(HAIKU)
        .set_messages(input.messages.clone())
        .set_tool_config(input.tool_config.clone())
        .inference_config(InferenceConfiguration::builder().max_tokens(300).build())
        .send()
        .await
        .unwrap();
    std::hint::black_box(out);
}

/// Which request a [`Workload`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// The short text prompt.
    Text,
    /// The agent's tool-use turn (with the loopback's `tool_use` answer).
    Tool,
    /// That turn with [`fetched_page`] in its tool result.
    Page,
}

/// One of the requests both sides send.
pub struct Workload {
    req: ChatRequest,
    tags: Tags,
    /// The tool-use turn as the raw SDK sends it.
    tool: Option<ConverseInput>,
}

impl Workload {
    /// The request of `turn`; sets the loopback's answer.
    pub fn new(r: &Rig, turn: Turn) -> Workload {
        if turn == Turn::Text {
            r.server.set_default(plain_reply());
            let (req, tags) = request();
            return Workload {
                req,
                tags,
                tool: None,
            };
        }
        r.server.set_default(tool_reply());
        let page = (turn == Turn::Page).then(fetched_page);
        let (req, tags) = tool_request_with(page.as_deref());
        Workload {
            req,
            tags,
            tool: Some(tool_input_with(page.as_deref())),
        }
    }

    /// One raw SDK call.
    pub async fn raw(&self, r: &Rig) {
        match &self.tool {
            Some(input) => raw_tool_call(&r.raw, input).await,
            None => raw_call(&r.raw).await,
        }
    }

    /// One call through the gate.
    pub async fn gate(&self, r: &Rig) {
        gate_call(&r.gate, &self.req, &self.tags).await
    }
}

/// [`tool_input`] for the gate, with the same tags as [`request`].
pub fn tool_request() -> (ChatRequest, Tags) {
    tool_request_with(None)
}

/// [`tool_input_with`] for the gate, with the same tags as [`request`].
pub fn tool_request_with(page: Option<&str>) -> (ChatRequest, Tags) {
    let (_, tags) = request();
    (ChatRequest::from(tool_input_with(page)), tags)
}
