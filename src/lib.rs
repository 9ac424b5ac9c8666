#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

/// The rules language: rule files to a checked [`Policy`] (grammar, type
/// checking, lints, located diagnostics, the Bedrock price table).
pub use tollgate_lang as lang;

/// The decision engine: [`Context`], the compiled `decide`, the reference
/// interpreter, hot reload and shadow policies, tests inside rule files.
pub use tollgate_engine as engine;

/// Response-cache keys and stores (in-process, Redis), the prompt-cache
/// planner, cache simulation.
pub use tollgate_cache as cache;

/// Exact prices, call events, sinks, the spend ledger, budgets and spike
/// alerts.
pub use tollgate_cost as cost;

/// The gate over the real `aws-sdk-bedrockruntime` client: each decision
/// applied to a Converse, ConverseStream, embedding or batch call, with
/// tollgate-owned retries, the response cache, budgets and one priced call
/// event per call (cargo feature `bedrock`).
#[cfg(feature = "bedrock")]
pub use tollgate_bedrock as bedrock;

pub use tollgate_engine::{Context, Decision, Request};
pub use tollgate_lang::{Policy, Schema, Type};
