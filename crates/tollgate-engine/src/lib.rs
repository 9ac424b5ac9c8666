//! tollgate's decision engine.
//!
//! A checked [`Policy`](tollgate_lang::Policy) becomes a decision: the
//! request's attributes go into a slot-indexed [`Context`], and `decide`
//! answers every section at once with the rule that decided each. The
//! reference interpreter (`eval.rs`, [`decide_reference`]) reads the
//! semantics directly and is the oracle the compiled engine is tested
//! against.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod compile;
mod context;
mod convert;
mod decision;
mod eval;
mod explain;
mod handle;
mod request;
mod routers;
mod strext;
mod testing;
#[cfg(feature = "watch")]
mod watch;

/// Synthetic policies and requests for benches, fuzzing and tests (the
/// `synth` feature).
#[cfg(feature = "synth")]
pub mod synth;

pub use compile::{
    compile, compile_with, CompileError, CompileLimits, CompiledPolicy, SectionStats, TooLarge,
};
pub use context::{
    Context, ContextError, IntPairs, Slot, SlotKind, StrList, StrPairs, INLINE_SLOTS,
};
pub use decision::{decide_reference, rule_name, to_json, Decision, RuleIdx};
pub use eval::{
    eval, holds, outcome, sub_values, ErrorKind, EvalError, EvalResult, Outcome, Value,
};
pub use explain::{culprit_values, trace, Explanation, Step, SubValue};
pub use handle::{
    diff_decisions, DiffField, DiffFields, HandleStats, Live, LiveRef, PolicyHandle, ReloadError,
    ReloadOk, ShadowDiff,
};
pub use request::{Owned, Request, RequestError, MAX_REQUEST_DEPTH};
pub use routers::{has_routers, score_routers};
pub use testing::{run_case, run_tests, Mismatch, TestResult};
#[cfg(feature = "watch")]
pub use watch::{WatchError, WatchMode, WatchOptions, Watcher, DEFAULT_POLL_INTERVAL};
