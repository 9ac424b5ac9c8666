//! tollgate's run time for money: what a Bedrock call cost, the record of
//! it, and the daily spend that budgets and alerts read.
//!
//! # Contents
//!
//! | module | job |
//! |---|---|
//! | [`usage`] | token counts as Bedrock reports them (`inputTokens` excludes cached tokens) |
//! | [`cost`] | exact price math in integer nano-dollars, per component |
//! | [`time`] | RFC 3339 timestamps and UTC days |
//! | [`fingerprint`] | xxh3-128 of the system prompt and the messages, no text kept |
//! | [`event`] | the [`CallEvent`] (one JSON line per call) and its builder |
//! | [`sink`] | where events go: JSON Lines files, CloudWatch EMF, `tracing` (OTel GenAI names), a bounded background queue |
//! | [`ledger`] | spend per group and UTC day, in process or in Redis; `spend.<group>_today_usd` attributes |
//! | [`budget`] | `[[budget]]` rules: reserve an estimate before the call, settle after |
//! | [`spike`] | `[alerts.spend_spike]`: a group's day against its trailing mean |
//!
//! # Should I use this crate?
//!
//! Use it directly when you call Bedrock yourself and want tollgate's
//! accounting: price a call from its usage, write a call event, keep a
//! ledger that hard budgets and spike alerts read. The Bedrock adapter uses
//! it for you. Reports over recorded events (tiers, HTML) live in the
//! offline analysis crate, not here.
//!
//! # The path of one call
//!
//! ```text
//! SpendAttributes::fill (ctx) -> decide -> Ledger::begin (reserve estimate | downgrade | reject)
//!   -> Bedrock call -> Usage -> cost::price -> CallEvent -> Sink(s)
//!   -> Ticket::settle (real cost; spike check)
//! ```
//!
//! Money is `u64` nano-dollars (1e-9 USD) wherever it is summed; `*_usd`
//! floats exist only for display and JSON.

#![warn(missing_docs)]

pub mod budget;
pub mod cost;
pub mod event;
pub mod fingerprint;
pub mod ledger;
pub mod sink;
pub mod spike;
pub mod time;
pub mod usage;

pub use budget::{BudgetError, FailMode};
pub use cost::{price, price_lenient, Component, CostBreakdown, CostError, Mode};
pub use event::{
    CacheOutcome, CallEvent, CancelReason, EventBuilder, EventOptions, Operation, Rules, Status,
    Tags,
};
pub use fingerprint::{Fingerprint, Hash128};
pub use ledger::{
    GroupKey, Ledger, LedgerConfig, MemoryStore, Reserve, SpendAttributes, SpendStore, StoreError,
    Ticket,
};
pub use sink::{AsyncSink, AsyncStats, EmfSink, JsonlSink, MultiSink, Sink, SinkError, TracingSink};
pub use spike::{SpikeAlert, SpikeConfig};
pub use time::{Day, Timestamp};
pub use usage::{CacheTtl, Usage};

/// Nano-dollars (1e-9 USD) in one dollar.
pub const NANOS_PER_USD: u64 = 1_000_000_000;

/// Nano-dollars as USD, for display and JSON only (never summed).
pub fn nanos_to_usd(nanos: u64) -> f64 {
    nanos as f64 / NANOS_PER_USD as f64
}

/// Signed nano-dollars as USD, for display.
pub fn signed_nanos_to_usd(nanos: i64) -> f64 {
    nanos as f64 / NANOS_PER_USD as f64
}
