//! tollgate's offline analysis: what a policy would have cost on recorded
//! traffic.
//!
//! # Contents
//!
//! | file | job | main items |
//! |---|---|---|
//! | `trace.rs` | recorded traffic in one shape: time-ordered, weighted requests | [`Trace`], [`Format`] |
//! | `input.rs` | readers: call events, Azure 2023 CSV, Mooncake JSONL, ServeGen rate traces | [`read_path`], [`read_call_events`] |
//! | `replay.rs` (`replay/`: prices, `--set` values, retries) | every request through the compiled policy, caches simulated, priced | [`replay()`], [`ReplayOptions`] |
//! | `prefix.rs` | Bedrock's prompt cache stepped one request at a time | [`PrefixCaches`] |
//! | `report.rs` | the result as text and JSON | [`Report`], [`diff_text`] |
//! | `capacity.rs` | provisioned throughput at the traffic floor vs on demand | [`plan_provisioned`] |
//! | `events.rs` | call-event files streamed for the reports, bad lines skipped and located | [`for_each_in_bytes`], [`SkippedLine`] |
//! | `reprice.rs` | recorded call events priced again at their recorded source region | [`Repricer`] |
//! | `spend.rs` | the daily spend report per feature, with the spend spike alerts | [`read_spend`], [`SpendReport`] |
//! | `spend_html.rs` | that report as a self-contained HTML page with an SVG chart | [`to_html`] |
//! | `tiers.rs` | cost, eval score and latency per model tier and use case | [`read_tiers`], [`TiersReport`] |
//! | `advise.rs` | ranked recommendations (rules to add) from recorded call events | [`advise()`], [`AdviceReport`] |
//! | `batch_plan.rs` | what the calls a selection picks would cost at batch prices | [`plan_batch`], [`BatchPlan`] |
//! | `classify.rs` | a cheap prompt classifier: attributes from the prompt text | [`classify()`] |
//! | `evals.rs` | readers for the RouteLLM per-prompt quality data | [`read_evals`] |
//! | `route_eval.rs` | a policy's routing scored on that data vs all-strong | [`route_eval()`] |
//! | `route_join.rs` | training records from scored call events (strong and weak answers of one prompt) | [`join_scored_events`] |
//! | `route_train.rs` (`route_train/`: records, ridge regression) | a learned router fitted to eval records, thresholds per feature floor (with `route_thresholds.rs`, `route_train_report.rs`) | [`train`], [`TrainReport`] |
//!
//! The modules are private; everything below is re-exported at the crate
//! root, a few names prefixed where two files used the same one
//! ([`ReportRow`] / [`SpendRow`], [`read_spend`] / [`read_tiers`]).
//!
//! # Should I use this crate?
//!
//! Use it to price a rule change before it ships: `tollgate replay` is a
//! thin wrapper over [`read_path`] and [`replay()`]. Nothing
//! here runs on the request path; the run-time crates never depend on it.
//!
//! ```no_run
//! use tollgate_analysis::{read_path, replay, Format, ReplayOptions};
//! let policy = tollgate_lang::load_path("rules/example.toml".as_ref(), &Default::default())
//!     .map_err(|e| e.render())?.policy;
//! let compiled = tollgate_engine::compile(policy)?;
//! let trace = read_path("data/azure-llm-2023/AzureLLMInferenceTrace_conv.csv".as_ref(),
//!     Some(Format::Azure), Default::default())?;
//! let opts = ReplayOptions {
//!     set: vec![("feature".into(), "chat".into())],
//!     baseline_model: Some("sonnet".into()),
//!     progress: false,
//!     region: None,
//! };
//! let report = replay(&compiled, &trace, &opts)?;
//! println!("{}", report.to_text());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod advise;
mod batch_plan;
mod capacity;
mod classify;
mod evals;
mod events;
mod input;
mod prefix;
mod replay;
mod report;
mod reprice;
mod route_eval;
mod route_join;
mod route_thresholds;
mod route_train;
mod route_train_report;
mod spend;
mod spend_html;
mod tiers;
mod trace;

pub use advise::{advise, advise_in, Advice, AdviceReport, Kind as AdviceKind};
pub use batch_plan::{
    compile_when, plan_batch, plan_batch_in, BatchPlan, BatchRow, NoFlex, Selector,
};
pub use capacity::{plan_provisioned, PlanError, ProvisionedPlan, UnitTerms};
pub use classify::{classify, PromptClass};
pub use evals::{read_evals, EvalError, EvalPrompt, EvalSet};
pub use events::{for_each_in_bytes, SkippedLine};
pub use input::{
    parse_azure_timestamp, read_bytes, read_call_events, read_path, servegen_gap_note,
    servegen_windows, ReadError, ServeGenTokens,
};
pub use prefix::{PrefixCaches, PrefixStep};
pub use replay::{
    emitted_event_count, parse_sets, replay, replay_emitting, EventSink, ReplayError, ReplayOptions,
};
pub use report::{diff_json, diff_text, PromptTally, Report, ResponseTally, Row as ReportRow};
pub use reprice::{RepriceSummary, Repricer};
pub use route_eval::{
    route_eval, ModelName, RouteEvalError, RouteEvalOptions, RouteEvalReport, Split, Tally,
};
pub use route_join::{join_scored_events, Joined};
pub use route_train::{
    read_jsonl as read_train_records, train, CurvePoint, FeatureFit, JointFit, Totals, TrainError,
    TrainOptions, TrainRecord, TrainReport,
};
pub use spend::{
    read as read_spend, read_repriced as read_spend_repriced, Cell as SpendCell, Row as SpendRow,
    RowCell as SpendRowCell, SpendBuilder, SpendReport, Versus, MAX_SPAN_DAYS,
};
pub use spend_html::to_html;
pub use tiers::{read as read_tiers, Evals, TierRow, TiersBuilder, TiersReport};
pub use trace::{Format, RecordedCall, Trace, TraceRequest};
