//! The overhead rig shared by the `overhead` bench and the
//! `overhead_calls` example: a loopback Bedrock, the raw SDK client and a
//! gate over a copy of it (retries off in both), and one call of each.
//! Include it after `mod common;` (the loopback server).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{client, handle, Reply, Server, POLICY};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use std::sync::Arc;
use tollgate_bedrock::{Backoff, ChatRequest, Gate};
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
    _server: Server,
}

pub fn rig() -> Rig {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (server, raw, gate) = rt.block_on(async {
        let server = Server::start().await;
        server.set_default(Reply::ok("hello there", 100, 50));
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
        _server: server,
    }
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
