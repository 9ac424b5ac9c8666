//! tollgate's decision engine.
//!
//! A checked [`Policy`](tollgate_lang::Policy) becomes a decision: the
//! request's attributes go into a slot-indexed [`Context`], and `decide`
//! answers every section at once with the rule that decided each. The
//! reference interpreter ([`eval`], [`decide_reference`]) reads the
//! semantics directly and is the oracle the compiled engine is tested
//! against.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod context;
pub mod convert;
pub mod decision;
pub mod eval;
pub mod strext;
pub mod testing;

pub use context::{
    Context, ContextError, IntPairs, Owned, Request, RequestError, Slot, SlotKind, StrList,
    StrPairs,
};
pub use decision::{decide_reference, to_json, Decision, RuleIdx};
pub use eval::{ErrorKind, EvalError, Outcome, Value};

pub mod handle;
#[cfg(feature = "watch")]
pub mod watch;

pub use handle::{
    diff_decisions, DiffField, DiffFields, HandleStats, Live, LiveRef, PolicyHandle, ReloadError,
    ReloadOk, ShadowDiff,
};
#[cfg(feature = "watch")]
pub use watch::{WatchError, WatchMode, WatchOptions, Watcher};
pub mod compile;
pub use compile::{
    compile, compile_with, CompileError, CompileLimits, CompiledPolicy, SectionStats, TooLarge,
};
pub mod explain;
pub mod routers;
pub mod synth;
