//! tollgate's Bedrock adapter: a policy in front of every Bedrock call.
//!
//! # Contents
//!
//! The modules are private; what a user needs is re-exported here.
//!
//! | file | job |
//! |---|---|
//! | `gate.rs` | the [`Gate`]: what it holds, its retry rule, event builder, emission and budget reservations |
//! | `builder.rs` | the [`GateBuilder`] |
//! | `call.rs` | the one prepared-call pipeline: request -> context -> decision -> plan -> reservation -> events, used by every operation |
//! | `plan.rs` | what a decision resolves to: models in fallback order with their tiers, attempts, cache points, each attempt's changes |
//! | `converse.rs` | [`Gate::converse`]: response-cache lookup, attempts, price, cache fill, event |
//! | `stream.rs` | [`Gate::converse_stream`]: deltas to the caller ([`GateStream`]), early cancel, partial billing |
//! | `embed.rs` | [`Gate::embed`]: Titan V2 / Cohere embeddings over InvokeModel, per-text cache, embedding events |
//! | `batch.rs`, `batch/` | [`Gate::send`], batch JSON Lines per model ([`BatchQueue`]), per-job quota check ([`JobLimits`]), job submission, polling and S3 outputs (feature `batch-submit`), output records back to events |
//! | `request.rs` | [`ChatRequest`]: the SDK's own `ConverseInput` (or `ConverseStreamInput`) plus application attributes |
//! | `response.rs` | [`ChatResponse`]: the SDK's own `ConverseOutput` plus the call event |
//! | `error.rs` | [`GateError`] |
//! | `retry.rs` | tollgate-owned retries: classification, jittered [`Backoff`], [`Timeouts`], per-feature retry budget |
//! | `sdk.rs` | what one attempt changes in the SDK input (model id, `maxTokens`, `cachePoint`s) and back from SDK errors |
//! | `attrs.rs` | built-in attributes, tags and app attributes into the policy's context |
//! | `estimate.rs` | token estimates before the call ([`TokenEstimator`]; ~4 chars/token by default; bounds for images, documents, media) |
//! | `read.rs` | one pass over a request before the call: its estimate and its fingerprints, each message rendered at most once |
//! | `usage.rs` | usage and prompt-cache TTL conversions |
//! | `canonical.rs` | the response-cache key's view of a request: every block, binary content by hash |
//! | `repetition.rs` | the stream guard's n-gram repetition detector |
//! | `wire/` | Converse types to and from Bedrock's JSON (cache entries, batch records, canonical keys; [`document_from_json`]) |
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

mod attrs;
mod batch;
mod builder;
mod call;
mod canonical;
mod converse;
mod embed;
mod error;
mod estimate;
mod gate;
mod plan;
mod read;
mod repetition;
mod request;
mod response;
mod retry;
mod sdk;
mod stream;
mod usage;
mod wire;

#[cfg(feature = "batch-submit")]
pub use batch::job::{
    output_object, poll_job, poll_job_with, wait_for_job, wait_for_job_with, JobOutput, JobState,
    JobStatus, S3Object, WaitOptions,
};
pub use batch::quota::{
    JobLimits, FILE_SIZE, JOB_SIZE, MIN_RECORDS_PER_JOB, RECORDS_PER_FILE, RECORDS_PER_JOB,
};
#[cfg(feature = "batch-submit")]
pub use batch::submit::{submit_checked, submit_job, submit_job_with, JobSpec, SubmitRetry};
pub use batch::{BatchAnswer, BatchFile, BatchLimits, BatchQueue, BatchRecord, Sent};
pub use builder::GateBuilder;
pub use embed::{EmbedOptions, Embeddings, InputType};
pub use error::GateError;
pub use estimate::{CharEstimator, TextSize, TokenEstimator};
pub use gate::Gate;
pub use request::{AttrValue, ChatRequest};
pub use response::{Attempt, ChatResponse};
pub use retry::{Backoff, Timeouts};
pub use stream::{text_delta, GateStream, StopCause, StreamEvent, StreamOptions, StreamSummary};
pub use wire::{document_from_json, document_to_json};
