//! tollgate's Bedrock adapter: a policy in front of every Bedrock call.
//!
//! # Contents
//!
//! | module | job |
//! |---|---|
//! | [`request`] | [`ChatRequest`]: the SDK's own `ConverseInput` (or `ConverseStreamInput`) plus application attributes |
//! | [`response`] | [`ChatResponse`]: the SDK's own `ConverseOutput` plus the call event |
//! | [`wire`] | Converse types to and from Bedrock's JSON (cache entries, batch records, canonical keys) |
//! | `canonical` | the response-cache key's view of a request: every block, binary content by hash |
//! | [`estimate`] | token estimates before the call (pluggable; ~4 chars/token by default; bounds for images, documents, media) |
//! | [`attrs`] | built-in attributes, tags and app attributes into the policy's context |
//! | [`sdk`] | what one attempt changes in the input (model id, `maxTokens`, `cachePoint`s) and back from SDK errors |
//! | [`retry`] | tollgate-owned retries: classification, jittered backoff, per-feature retry budget |
//! | [`gate`] | the [`Gate`], its builder, the decision's plan and the retry rule |
//! | `converse` | [`Gate::converse`]: decide, cache, call, retry, price, record |
//! | [`stream`] | [`Gate::converse_stream`]: deltas to the caller, early cancel, partial billing |
//! | [`batch`] | [`Gate::send`], batch JSON Lines per model ([`BatchQueue`]), per-job quota check, job submission, polling and S3 outputs (feature `batch-submit`), output records back to events |
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
//! [`Gate::converse`] with the same `ConverseInput` instead of
//! `client.converse()`. The gate turns the
//! SDK's own retries off and runs its own, so attempts are counted,
//! budgeted and moved to fallback models.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod attrs;
pub mod batch;
mod builder;
mod call;
mod canonical;
mod converse;
pub mod embed;
pub mod error;
pub mod estimate;
pub mod gate;
mod plan;
pub mod repetition;
pub mod request;
pub mod response;
pub mod retry;
pub mod sdk;
pub mod stream;
mod usage;
pub mod wire;

pub use batch::{BatchAnswer, BatchFile, BatchLimits, BatchQueue, BatchRecord, JobLimits, Sent};
pub use builder::GateBuilder;
pub use embed::{EmbedOptions, Embeddings, InputType};
pub use error::GateError;
pub use estimate::{CharEstimator, TokenEstimator};
pub use gate::Gate;
pub use repetition::RepetitionDetector;
pub use request::{AttrValue, ChatRequest};
pub use response::{Attempt, ChatResponse};
pub use retry::{Backoff, RetryBudget};
pub use stream::{text_delta, GateStream, StopCause, StreamEvent, StreamOptions, StreamSummary};
