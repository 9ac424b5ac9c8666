//! tollgate's offline analysis: what a policy would have cost on recorded
//! traffic.
//!
//! # Contents
//!
//! | module | job |
//! |---|---|
//! | [`trace`] | recorded traffic in one shape: time-ordered, weighted requests |
//! | [`input`] | readers: call events, Azure 2023 CSV, Mooncake JSONL, ServeGen rate traces |
//! | [`replay()`] | every request through the compiled policy, caches simulated, priced |
//! | [`prefix`] | Bedrock's prompt cache stepped one request at a time |
//! | [`report`] | the result as text and JSON |
//! | [`capacity`] | provisioned throughput at the traffic floor vs on demand |
//! | [`events`] | call-event files streamed for the reports, bad lines skipped and located |
//! | [`reprice`] | recorded call events priced again at their recorded source region |
//! | [`spend`] | the daily spend report per feature, with the spend spike alerts |
//! | [`spend_html`] | that report as a self-contained HTML page with an SVG chart |
//! | [`tiers`] | cost, eval score and latency per model tier and use case |
//! | [`advise`] | ranked recommendations (rules to add) from recorded call events |
//! | [`batch_plan`] | what the calls a selection picks would cost at batch prices |
//! | [`classify`] | a cheap prompt classifier: attributes from the prompt text |
//! | [`evals`] | readers for the RouteLLM per-prompt quality data |
//! | [`route_eval`] | a policy's routing scored on that data vs all-strong |
//! | [`route_join`] | training records from scored call events (strong and weak answers of one prompt) |
//! | [`route_train`] | a learned router fitted to eval records, thresholds per feature floor |
//!
//! # Should I use this crate?
//!
//! Use it to price a rule change before it ships: `tollgate replay` is a
//! thin wrapper over [`input::read_path`] and [`replay::replay`]. Nothing
//! here runs on the request path; the run-time crates never depend on it.
//!
//! ```no_run
//! use tollgate_analysis::{input, replay, trace::Format};
//! let policy = tollgate_lang::load_path("rules/example.toml".as_ref(), &Default::default())
//!     .map_err(|e| e.render())?.policy;
//! let compiled = tollgate_engine::compile(policy)?;
//! let trace = input::read_path("data/azure-llm-2023/AzureLLMInferenceTrace_conv.csv".as_ref(),
//!     Some(Format::Azure), Default::default())?;
//! let opts = replay::ReplayOptions {
//!     set: vec![("feature".into(), "chat".into())],
//!     baseline_model: Some("sonnet".into()),
//!     progress: false,
//!     region: None,
//! };
//! let report = replay::replay(&compiled, &trace, &opts)?;
//! println!("{}", report.to_text());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod advise;
pub mod batch_plan;
pub mod capacity;
pub mod classify;
pub mod evals;
pub mod events;
pub mod input;
pub mod prefix;
pub mod replay;
pub mod report;
pub mod reprice;
pub mod route_eval;
pub mod route_join;
mod route_thresholds;
pub mod route_train;
mod route_train_report;
pub mod spend;
pub mod spend_html;
pub mod tiers;
pub mod trace;

pub use replay::{replay, replay_emitting, ReplayError, ReplayOptions};
pub use report::Report;
pub use trace::{Format, Trace, TraceRequest};
