//! The call event: one JSON object per call, written as one JSON line.
//!
//! It carries what replay and reports need and nothing they do not: the
//! decision (rule per section, policy hash), tags, model, mode, outcome,
//! Bedrock usage, latency, the exact cost in nano-dollars (and USD for
//! reading), the request's attribute values minus the redacted ones (so
//! replay can re-decide the call), and fingerprints of the prompt instead of
//! its text. Prompt and response text appear only when the application
//! turns on [`EventOptions::record_prompt_text`] /
//! [`EventOptions::record_response_text`].
//!
//! Optional members (`response_model_id`, `region`, `service_tier`, `latency`, `downgraded_from`, `error_type`,
//! `usage_estimated` (when false), `cancel_reason`, `cost_error`, `prompt_text`, `response_text`) are left
//! out when empty; every other member is always present. The crate README
//! shows a complete example.

mod builder;

use crate::attributes::Attributes;
use crate::cost::{CostBreakdown, Mode};
use crate::fingerprint::Fingerprint;
use crate::name::Name;
use crate::rules::Rules;
use crate::time::Timestamp;
use crate::usage::Usage;
pub use builder::{EventBuilder, EventOptions};
use serde::{Deserialize, Serialize};
use tollgate_engine::{Context, Decision};
use tollgate_lang::Policy;

/// The version of the event schema this crate writes.
///
/// Version 2 adds `latency`. Readers take every version: a member a line
/// of an older version lacks reads as its default (`service_tier` and
/// `latency` absent: the default tier, standard latency).
pub const EVENT_VERSION: u32 = 2;

/// What the call was (OpenTelemetry's `gen_ai.operation.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Converse / ConverseStream.
    #[default]
    Chat,
    /// InvokeModel with a completion body.
    TextCompletion,
    /// An embeddings model.
    Embeddings,
}

impl Operation {
    /// The OpenTelemetry name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::TextCompletion => "text_completion",
            Operation::Embeddings => "embeddings",
        }
    }
}

/// How the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A response was served (from the model or the response cache).
    #[default]
    Ok,
    /// Bedrock returned an error after the last attempt (see `error_type`).
    Error,
    /// The stream was cancelled early (see `cancel_reason`).
    Cancelled,
    /// A budget rejected the call; Bedrock was never called.
    Rejected,
}

impl Status {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Cancelled => "cancelled",
            Status::Rejected => "rejected",
        }
    }
}

/// What the response cache did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    /// Served from the cache; the model was not called.
    Hit,
    /// A cache rule applied, nothing was stored yet.
    Miss,
    /// No cache rule applied (or the store was unavailable).
    #[default]
    Bypass,
}

impl CacheOutcome {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Bypass => "bypass",
        }
    }
}

/// Why a stream was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The repetition detector (`cancel_on_repetition`).
    Repetition,
    /// The caller went away or asked to stop.
    Caller,
    /// A deadline passed.
    Timeout,
    /// The caller's output budget was spent.
    OutputBudget,
}

impl CancelReason {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            CancelReason::Repetition => "repetition",
            CancelReason::Caller => "caller",
            CancelReason::Timeout => "timeout",
            CancelReason::OutputBudget => "output_budget",
        }
    }
}

/// The request's tags.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tags {
    /// Application.
    pub app: Option<Name>,
    /// Product feature.
    pub feature: Option<Name>,
    /// End user.
    pub user: Option<Name>,
    /// Use case.
    pub use_case: Option<Name>,
    /// Customer account.
    pub tenant: Option<Name>,
}

/// One call, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// Event schema version ([`EVENT_VERSION`]).
    pub version: u32,
    /// When the call started (RFC 3339, UTC).
    pub timestamp: Timestamp,
    /// The application's (or Bedrock's) request id.
    pub request_id: String,
    /// `[policy] name`.
    pub policy: Name,
    /// The policy's content hash, 32 hex digits.
    pub policy_hash: Name,
    /// The rule per section.
    pub rules: Rules,
    /// Tags.
    pub tags: Tags,
    /// The alias of the model that served.
    pub model: Name,
    /// Its Bedrock model id (inference profile or ARN).
    pub model_id: Name,
    /// The model a prompt router actually invoked, when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_model_id: Option<String>,
    /// The call's source region (the client's region), which priced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Name>,
    /// The service tier the call was billed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<tollgate_lang::Tier>,
    /// The latency option the call was served (and billed) at: the one the
    /// response reports, else the one the request asked for (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<tollgate_lang::Latency>,
    /// The alias the decision chose before a budget downgraded the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgraded_from: Option<Name>,
    /// `chat`, `text_completion` or `embeddings`.
    pub operation: Operation,
    /// `realtime`, `stream`, `batch` or `embedding`.
    pub mode: Mode,
    /// How the call ended.
    pub status: Status,
    /// The error's type (`ThrottlingException`, ...), when `status` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Attempts made, the first included (0 for a rejected or cached call).
    pub attempts: u32,
    /// What the response cache did.
    pub cache: CacheOutcome,
    /// The output cap sent as `maxTokens`.
    pub max_output_tokens: Option<u32>,
    /// Tokens, summed over attempts, with Bedrock's meaning.
    pub usage: Usage,
    /// `usage` is the gate's estimate, not Bedrock's count: a stream ended
    /// (exception frame, dropped connection, cancel) before its usage
    /// metadata arrived. Left out when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub usage_estimated: bool,
    /// Wall time of the call, all attempts, milliseconds.
    pub latency_ms: u64,
    /// `cost_nanos` in USD, for reading. Sum `cost_nanos`, not this.
    pub cost_usd: f64,
    /// The exact cost, nano-dollars.
    pub cost_nanos: u64,
    /// The cost per component.
    pub cost_breakdown: CostBreakdown,
    /// `cost_avoided_nanos` in USD.
    pub cost_avoided_usd: f64,
    /// What a response-cache hit saved: the cost of the call it replaced.
    pub cost_avoided_nanos: u64,
    /// Why a stream was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<CancelReason>,
    /// Why `cost_nanos` is not exact (a missing price, priced as input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_error: Option<String>,
    /// The request's attribute values, without the redacted ones, by name
    /// in schema order: what `Request::from_map` reads back for replay.
    pub attributes: Attributes,
    /// Names of attributes the request had but the event leaves out
    /// (`[policy] redact`, and `prompt` always).
    pub redacted: Vec<Name>,
    /// xxh3-128 of the system prompt and of the messages.
    pub fingerprint: Fingerprint,
    /// The last user message, only when the application opts in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_text: Option<String>,
    /// The response text, only when the application opts in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_text: Option<String>,
}

impl CallEvent {
    /// Starts an event for a decided request.
    #[inline]
    pub fn builder<'b, 'c>(
        policy: &'b Policy,
        decision: &'b Decision,
        ctx: &'b Context<'c>,
    ) -> EventBuilder<'b, 'c> {
        EventBuilder::new(policy, decision, ctx)
    }

    /// The event as one JSON line, newline included.
    pub fn to_json_line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut buf = Vec::with_capacity(1024);
        self.write_json_line(&mut buf)?;
        Ok(buf)
    }

    /// Reads one JSON line (surrounding white space ignored).
    pub fn from_json_line(line: &[u8]) -> Result<CallEvent, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
