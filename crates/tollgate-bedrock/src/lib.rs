//! tollgate's Bedrock adapter: a policy in front of every Bedrock call.
//!
//! # Contents
//!
//! | module | job |
//! |---|---|
//! | [`request`] | the request shape the gate reads before sending (system, messages, tools, inference, attributes) |
//! | [`estimate`] | token estimates before the call (pluggable; ~4 chars/token by default) |
//! | [`attrs`] | built-in attributes, tags and app attributes into the policy's context |
//! | [`sdk`] | the mapping onto Converse types (`cachePoint` placement, `maxTokens`) and back from SDK errors |
//! | [`retry`] | tollgate-owned retries: classification, jittered backoff, per-feature retry budget |
//! | [`gate`] | [`Gate::converse`]: decide, cache, call, retry, price, record |
//! | [`stream`] | [`Gate::converse_stream`]: deltas to the caller, early cancel, partial billing |
//! | [`batch`] | [`Gate::send`], batch JSON Lines per model ([`BatchQueue`]), job submission (feature `batch-submit`), output records back to events |
//! | [`repetition`] | the stream guard's n-gram repetition detector |
//! | [`embed`] | [`Gate::embed`]: Titan V2 / Cohere embeddings over InvokeModel, per-text cache, embedding events |
//! | [`error`] | [`GateError`] |
//!
//! # Should I use this crate?
//!
//! Yes, if your service calls Bedrock through `aws-sdk-bedrockruntime` and
//! you want tollgate's routing, caching, limits and cost events applied to
//! each call. Build the SDK client as usual (any credentials, endpoint and
//! HTTP client), hand it to [`Gate::builder`] with a
//! [`PolicyHandle`](tollgate_engine::PolicyHandle), and call
//! [`Gate::converse`] instead of `client.converse()`. The gate turns the
//! SDK's own retries off and runs its own, so attempts are counted,
//! budgeted and moved to fallback models.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod attrs;
pub mod batch;
pub mod embed;
pub mod error;
pub mod estimate;
pub mod gate;
pub mod repetition;
pub mod request;
pub mod retry;
pub mod sdk;
pub mod stream;

pub use batch::{BatchAnswer, BatchFile, BatchLimits, BatchQueue, BatchRecord, Sent};
pub use embed::{EmbedOptions, Embeddings, InputType};
pub use error::GateError;
pub use estimate::{CharEstimator, TokenEstimator};
pub use gate::{Attempt, ChatResponse, Gate, GateBuilder};
pub use repetition::RepetitionDetector;
pub use request::{AttrValue, ChatMessage, ChatRequest, InferenceParams, Role, ToolSpec};
pub use retry::{Backoff, RetryBudget};
pub use stream::{GateStream, StopCause, StreamEvent, StreamOptions, StreamSummary};
