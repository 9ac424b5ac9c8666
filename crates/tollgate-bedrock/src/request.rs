//! The request the gate carries: the SDK's own `ConverseInput` (or
//! `ConverseStreamInput`), untouched, plus the application's attributes.
//!
//! Why the SDK's operation inputs rather than a shape of our own? A gate
//! that re-models Converse drops whatever its model lacks (tool results,
//! images, documents, reasoning, guardrails...), and every SDK release
//! widens the gap. The operation inputs are built with the SDK's builders
//! and read through their getters, so the gate reads what it needs
//! (estimates, attributes, the cache key) and sends everything else as the
//! application built it. Only what a decision changes is rewritten: the
//! model id, `maxTokens`, cache points, service tier and latency.

use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamInput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, GuardrailConfiguration, GuardrailStreamConfiguration,
    InferenceConfiguration, Message, SystemContentBlock,
};

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
    /// `list<string>`
    Strs(Vec<String>),
    /// `list<int>`
    Ints(Vec<i64>),
    /// timestamp
    Timestamp(tollgate_lang::Timestamp),
}

/// One Converse call as the application built it, plus its attributes.
///
/// ```
/// use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
/// use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
/// use tollgate_bedrock::ChatRequest;
///
/// let msg = Message::builder()
///     .role(ConversationRole::User)
///     .content(ContentBlock::Text("hello".into()))
///     .build()?;
/// let input = ConverseInput::builder().model_id("app-choice").messages(msg).build()?;
/// let req = ChatRequest::from(input);
/// assert_eq!(req.requested_model(), Some("app-choice"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    input: ConverseInput,
    /// `ConverseStreamInput`'s guardrail (it has a processing mode), kept
    /// for the stream call; `input.guardrail_config` holds the same
    /// guardrail for everything else.
    stream_guardrail: Option<GuardrailStreamConfiguration>,
    attributes: Vec<(String, AttrValue)>,
}

/// An input with nothing set.
#[allow(clippy::expect_used)]
fn empty_input() -> ConverseInput {
    // INVARIANT: every field of `ConverseInputBuilder` is optional, so its
    // `build` cannot fail (it returns `Result` only for uniformity).
    ConverseInput::builder()
        .build()
        .expect("ConverseInput has no required field")
}

impl Default for ChatRequest {
    fn default() -> ChatRequest {
        ChatRequest::from(empty_input())
    }
}

impl From<ConverseInput> for ChatRequest {
    fn from(input: ConverseInput) -> ChatRequest {
        ChatRequest {
            input,
            stream_guardrail: None,
            attributes: Vec::new(),
        }
    }
}

impl From<ConverseStreamInput> for ChatRequest {
    fn from(s: ConverseStreamInput) -> ChatRequest {
        let guardrail_config = s.guardrail_config.as_ref().map(|g| {
            GuardrailConfiguration::builder()
                .guardrail_identifier(g.guardrail_identifier())
                .guardrail_version(g.guardrail_version())
                .trace(g.trace().clone())
                .build()
        });
        let mut input = empty_input();
        input.model_id = s.model_id;
        input.messages = s.messages;
        input.system = s.system;
        input.inference_config = s.inference_config;
        input.tool_config = s.tool_config;
        input.guardrail_config = guardrail_config;
        input.additional_model_request_fields = s.additional_model_request_fields;
        input.prompt_variables = s.prompt_variables;
        input.additional_model_response_field_paths = s.additional_model_response_field_paths;
        input.request_metadata = s.request_metadata;
        input.performance_config = s.performance_config;
        input.service_tier = s.service_tier;
        input.output_config = s.output_config;
        ChatRequest {
            input,
            stream_guardrail: s.guardrail_config,
            attributes: Vec::new(),
        }
    }
}

fn text_message(role: ConversationRole, text: String) -> Option<Message> {
    Message::builder()
        .role(role)
        .content(ContentBlock::Text(text))
        .build()
        .ok()
}

impl ChatRequest {
    /// A request over the SDK's input.
    pub fn new(input: ConverseInput) -> ChatRequest {
        ChatRequest::from(input)
    }

    /// A request with one user text message (a shorthand for tests and
    /// simple chat; anything richer is built with the SDK's builders).
    pub fn user(text: impl Into<String>) -> ChatRequest {
        let mut r = ChatRequest::default();
        r.input.messages = text_message(ConversationRole::User, text.into()).map(|m| vec![m]);
        r
    }

    /// Appends a system text block.
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.input
            .system
            .get_or_insert_with(Vec::new)
            .push(SystemContentBlock::Text(text.into()));
        self
    }

    /// Appends a message.
    pub fn message(mut self, m: Message) -> Self {
        self.input.messages.get_or_insert_with(Vec::new).push(m);
        self
    }

    /// Sets the caller's own output cap (`inferenceConfig.maxTokens`); the
    /// gate sends the smallest of this, the route's, the limit's and the
    /// model's.
    pub fn max_tokens(mut self, n: u32) -> Self {
        let inf = self
            .input
            .inference_config
            .get_or_insert_with(|| InferenceConfiguration::builder().build());
        inf.max_tokens = Some(i32::try_from(n).unwrap_or(i32::MAX));
        self
    }

    /// Sets an application attribute (it overrides a built-in one).
    pub fn attr(mut self, name: impl Into<String>, v: AttrValue) -> Self {
        self.attributes.push((name.into(), v));
        self
    }

    /// The SDK input, as the application built it.
    pub fn input(&self) -> &ConverseInput {
        &self.input
    }

    /// The SDK input, moved out.
    pub fn into_input(self) -> ConverseInput {
        self.input
    }

    /// The stream guardrail of a request made from a `ConverseStreamInput`.
    pub fn stream_guardrail(&self) -> Option<&GuardrailStreamConfiguration> {
        self.stream_guardrail.as_ref()
    }

    /// The application's attributes, in the order set.
    pub fn attributes(&self) -> &[(String, AttrValue)] {
        &self.attributes
    }

    /// The `modelId` the application set (the `requested_model` attribute).
    pub fn requested_model(&self) -> Option<&str> {
        self.input.model_id().filter(|m| !m.is_empty())
    }

    /// The caller's own `maxTokens`, when set and positive.
    pub fn requested_max_tokens(&self) -> Option<u32> {
        self.input
            .inference_config()
            .and_then(InferenceConfiguration::max_tokens)
            .and_then(|n| u32::try_from(n).ok())
    }

    /// The last user message's first text block (the `prompt` attribute).
    pub fn last_user_text(&self) -> Option<&str> {
        self.input
            .messages()
            .iter()
            .rev()
            .find(|m| *m.role() == ConversationRole::User)?
            .content()
            .iter()
            .find_map(|c| c.as_text().ok())
            .map(String::as_str)
    }
}
