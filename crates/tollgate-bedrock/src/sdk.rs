//! The one-way mapping from a [`ChatRequest`] (plus the decision's cap and
//! the planner's cache points) onto the SDK's Converse types, and back
//! from the SDK's errors to what the retry loop needs.
//!
//! Kept apart from the gate so the wire shape (where a `cachePoint` block
//! goes, what `inferenceConfig` holds) is in one file a reader can check
//! against Bedrock's API reference.

use crate::error::GateError;
use crate::request::{ChatRequest, Role};
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, CacheTtl, ContentBlock, ConversationRole,
    InferenceConfiguration, Message, SystemContentBlock, Tool, ToolConfiguration, ToolInputSchema,
    ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use std::borrow::Cow;
use tollgate_cache::PromptTtl;
use tollgate_lang::policy::CachePointSite;

/// The request in SDK types, built once for the first attempt (and again
/// for a retry).
#[derive(Debug, Clone)]
pub struct Parts {
    /// `system`
    pub system: Vec<SystemContentBlock>,
    /// `messages`
    pub messages: Vec<Message>,
    /// `toolConfig`
    pub tool_config: Option<ToolConfiguration>,
    /// `inferenceConfig`
    pub inference: InferenceConfiguration,
}

impl Parts {
    /// Nothing (allocates nothing): what is left once an attempt took the parts.
    pub fn empty() -> Parts {
        Parts {
            system: Vec::new(),
            messages: Vec::new(),
            tool_config: None,
            inference: InferenceConfiguration::builder().build(),
        }
    }
}

/// JSON to a Smithy document.
pub fn document(v: &serde_json::Value) -> Document {
    use serde_json::Value as J;
    match v {
        J::Null => Document::Null,
        J::Bool(b) => Document::Bool(*b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap_or(0.0)))
            }
        }
        J::String(s) => Document::String(s.clone()),
        J::Array(a) => Document::Array(a.iter().map(document).collect()),
        J::Object(o) => Document::Object(o.iter().map(|(k, v)| (k.clone(), document(v))).collect()),
    }
}

fn cache_point(ttl: PromptTtl) -> Result<CachePointBlock, GateError> {
    let ttl = match ttl {
        PromptTtl::FiveMinutes => CacheTtl::FiveMinutes,
        PromptTtl::OneHour => CacheTtl::OneHour,
    };
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .ttl(ttl)
        .build()
        .map_err(|e| GateError::Request(e.to_string()))
}

/// Maps a request. `points` are the sites the planner chose (a cache point
/// goes after the tools, after the system prompt, or at the end of the
/// last message).
pub fn parts(
    req: &ChatRequest,
    max_tokens: Option<u32>,
    points: &[CachePointSite],
    ttl: PromptTtl,
) -> Result<Parts, GateError> {
    let mut system: Vec<SystemContentBlock> = req
        .system
        .iter()
        .map(|s| SystemContentBlock::Text(s.clone()))
        .collect();
    if points.contains(&CachePointSite::System) && !system.is_empty() {
        system.push(SystemContentBlock::CachePoint(cache_point(ttl)?));
    }
    let last = req.messages.len().saturating_sub(1);
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        let role = match m.role {
            Role::User => ConversationRole::User,
            Role::Assistant => ConversationRole::Assistant,
        };
        let mut b = Message::builder()
            .role(role)
            .content(ContentBlock::Text(m.text.clone()));
        if i == last && points.contains(&CachePointSite::Messages) {
            b = b.content(ContentBlock::CachePoint(cache_point(ttl)?));
        }
        messages.push(b.build().map_err(|e| GateError::Request(e.to_string()))?);
    }
    let tool_config = if req.tools.is_empty() {
        None
    } else {
        let mut tools = Vec::with_capacity(req.tools.len() + 1);
        for t in &req.tools {
            let spec = ToolSpecification::builder()
                .name(&t.name)
                .set_description(t.description.clone())
                .input_schema(ToolInputSchema::Json(document(&t.input_schema)))
                .build()
                .map_err(|e| GateError::Request(e.to_string()))?;
            tools.push(Tool::ToolSpec(spec));
        }
        if points.contains(&CachePointSite::Tools) {
            tools.push(Tool::CachePoint(cache_point(ttl)?));
        }
        Some(
            ToolConfiguration::builder()
                .set_tools(Some(tools))
                .build()
                .map_err(|e| GateError::Request(e.to_string()))?,
        )
    };
    let inf = &req.inference;
    let inference = InferenceConfiguration::builder()
        .set_max_tokens(max_tokens.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
        .set_temperature(inf.temperature)
        .set_top_p(inf.top_p)
        .set_stop_sequences((!inf.stop_sequences.is_empty()).then(|| inf.stop_sequences.clone()))
        .build();
    Ok(Parts {
        system,
        messages,
        tool_config,
        inference,
    })
}

/// The HTTP status of what an SDK error was read from, when it was an
/// HTTP response (an event-stream frame has none).
pub trait RawStatus {
    /// The status code.
    fn http_status(&self) -> Option<u16>;
}

impl RawStatus for HttpResponse {
    fn http_status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

impl RawStatus for aws_smithy_types::event_stream::RawMessage {
    fn http_status(&self) -> Option<u16> {
        None
    }
}

/// What an SDK error means to the retry loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bedrock answered with a modeled or coded error.
    Service {
        /// Error code.
        code: String,
        /// Message.
        message: String,
    },
    /// An HTTP error status without a Bedrock error code (a proxy or load
    /// balancer in front of the endpoint answered).
    Status {
        /// The HTTP status; the code the caller and the event see is
        /// `HTTP 503` and the like.
        status: u16,
        /// The SDK's description.
        message: String,
    },
    /// The connection failed.
    Transport(String),
    /// The response could not be read.
    Malformed(String),
}

impl Failure {
    /// From any SDK error.
    pub fn of<E, R>(e: SdkError<E, R>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: RawStatus + std::fmt::Debug,
    {
        let text = DisplayErrorContext(&e).to_string();
        match e {
            SdkError::ServiceError(se) => {
                let err = se.err();
                match err.code() {
                    Some(code) => Failure::Service {
                        code: code.to_string(),
                        message: err.message().unwrap_or_default().to_string(),
                    },
                    None => {
                        let status = se.raw().http_status().unwrap_or(0);
                        if status >= 400 {
                            Failure::Status {
                                status,
                                message: text,
                            }
                        } else {
                            Failure::Malformed(text)
                        }
                    }
                }
            }
            SdkError::ResponseError(_) => Failure::Malformed(text),
            _ => Failure::Transport(text),
        }
    }

    /// The error code (`TransportError` / `MalformedResponse` for the others).
    pub fn code(&self) -> Cow<'_, str> {
        match self {
            Failure::Service { code, .. } => Cow::Borrowed(code),
            Failure::Status { status, .. } => Cow::Owned(format!("HTTP {status}")),
            Failure::Transport(_) => Cow::Borrowed("TransportError"),
            Failure::Malformed(_) => Cow::Borrowed("MalformedResponse"),
        }
    }

    /// Throttling: Bedrock's `ThrottlingException`, or a bare HTTP 429.
    pub fn is_throttling(&self) -> bool {
        match self {
            Failure::Service { code, .. } => code == "ThrottlingException",
            Failure::Status { status, .. } => *status == 429,
            _ => false,
        }
    }

    /// The error the caller sees after the last attempt.
    pub fn into_error(self, attempts: u32) -> GateError {
        match self {
            Failure::Service { code, message } => GateError::Bedrock {
                code,
                message,
                attempts,
            },
            Failure::Status { status, message } => GateError::Bedrock {
                code: format!("HTTP {status}"),
                message,
                attempts,
            },
            Failure::Transport(t) => GateError::Transport(t),
            Failure::Malformed(t) => GateError::Malformed(t),
        }
    }
}
