//! What a gated Converse call hands back: the SDK's own output, whole,
//! with the gate's record of the call beside it.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{ContentBlock, Message, StopReason, ToolUseBlock};
use tollgate_cost::{CallEvent, Name, Usage};

/// One attempt of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The model id it was sent to.
    pub model_id: Name,
    /// Its error code, when it failed.
    pub error: Option<String>,
    /// Tokens it billed.
    pub usage: Usage,
}

/// A gated call's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The SDK's output as Bedrock sent it: the whole message (every
    /// block), `stopReason`, usage, metrics, trace,
    /// `additionalModelResponseFields`, the served performance config and
    /// service tier. On a response-cache hit: the stored message and stop
    /// reason, zero usage, no metrics or trace.
    pub output: ConverseOutput,
    /// Tokens billed, summed over attempts (zero on a cache hit).
    pub usage: Usage,
    /// The model id that answered (the route's, or a fallback's).
    pub model_id: Name,
    /// The model a prompt router invoked, when the id was a router.
    pub response_model_id: Option<String>,
    /// Every attempt (empty on a cache hit).
    pub attempts: Vec<Attempt>,
    /// The event written for the call.
    pub event: CallEvent,
}

impl ChatResponse {
    /// The output message.
    pub fn message(&self) -> Option<&Message> {
        self.output.output().and_then(|o| o.as_message().ok())
    }

    /// The text blocks of the output message, joined.
    pub fn text(&self) -> String {
        self.message()
            .map(|m| {
                m.content()
                    .iter()
                    .filter_map(|c| c.as_text().ok())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Bedrock's stop reason.
    pub fn stop_reason(&self) -> &StopReason {
        self.output.stop_reason()
    }

    /// The `toolUse` blocks of the output message, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUseBlock> {
        self.message()
            .into_iter()
            .flat_map(|m| m.content().iter())
            .filter_map(|c| match c {
                ContentBlock::ToolUse(t) => Some(t),
                _ => None,
            })
    }

    /// Bedrock's own `metrics.latencyMs`.
    pub fn bedrock_latency_ms(&self) -> Option<u64> {
        self.output
            .metrics()
            .and_then(|m| u64::try_from(m.latency_ms()).ok())
    }
}
