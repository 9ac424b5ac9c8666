//! The request tollgate sends: plain owned values, not SDK types.
//!
//! Why not take the SDK's `ConverseFluentBuilder`? The gate must read the
//! request before anything is sent (to estimate tokens, key the response
//! cache, fill policy attributes and place prompt-cache points), and the
//! SDK's builders are write-only. A small owned shape that maps onto
//! Converse one way keeps that reading cheap and the mapping in one place
//! ([`crate::sdk`]).

use serde_json::Value as Json;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// Bedrock's name for the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One text message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub text: String,
}

impl ChatMessage {
    /// A user message.
    pub fn user(text: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::User,
            text: text.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::Assistant,
            text: text.into(),
        }
    }
}

/// A tool the model may call (Converse `toolSpec`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// Its input as a JSON schema.
    pub input_schema: Json,
}

impl ToolSpec {
    /// A canonical text form (for cache keys and token estimates).
    pub fn canonical(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        })
        .to_string()
    }
}

/// Inference parameters (Converse `inferenceConfig`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InferenceParams {
    /// The caller's own output cap; the gate sends the smallest of this,
    /// the route's, the limit's and the model's.
    pub max_tokens: Option<u32>,
    /// `temperature`.
    pub temperature: Option<f32>,
    /// `topP`.
    pub top_p: Option<f32>,
    /// `stopSequences`.
    pub stop_sequences: Vec<String>,
}

/// An application attribute value for the policy.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// bool
    Bool(bool),
    /// int
    Int(i64),
    /// float
    Float(f64),
    /// string
    Str(String),
    /// list<string>
    Strs(Vec<String>),
    /// list<int>
    Ints(Vec<i64>),
}

/// One chat request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// System prompt blocks, in order.
    pub system: Vec<String>,
    /// The conversation, in order.
    pub messages: Vec<ChatMessage>,
    /// Tools, in order.
    pub tools: Vec<ToolSpec>,
    /// Inference parameters.
    pub inference: InferenceParams,
    /// Application attributes by name (they override the built-in ones).
    pub attributes: Vec<(String, AttrValue)>,
}

impl ChatRequest {
    /// A request with one user message.
    pub fn user(text: impl Into<String>) -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::user(text)],
            ..ChatRequest::default()
        }
    }

    /// Adds a system block.
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.system.push(text.into());
        self
    }

    /// Appends a message.
    pub fn message(mut self, m: ChatMessage) -> Self {
        self.messages.push(m);
        self
    }

    /// Adds a tool.
    pub fn tool(mut self, t: ToolSpec) -> Self {
        self.tools.push(t);
        self
    }

    /// Sets the caller's own output cap.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.inference.max_tokens = Some(n);
        self
    }

    /// Sets an application attribute.
    pub fn attr(mut self, name: impl Into<String>, v: AttrValue) -> Self {
        self.attributes.push((name.into(), v));
        self
    }

    /// The last user message's text (the `prompt` attribute).
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.text.as_str())
    }
}
