//! tollgate's run time for money: what a Bedrock call cost, the record of
//! it, and the daily spend that budgets and alerts read.
//!
//! # Contents
//!
//! | module | job |
//! |---|---|
//! | `usage.rs` | token counts as Bedrock reports them (`inputTokens` excludes cached tokens) |
//! | `cost.rs` | exact price math in integer nano-dollars, per component |
//! | `time.rs` | RFC 3339 timestamps and UTC days |
//! | `fingerprint.rs` | xxh3-128 of the system prompt and the messages, no text kept |
//! | `event.rs`, `event/builder.rs` | the [`CallEvent`] (one JSON line per call) and its builder |
//! | `sink/` | where events go: JSON Lines files, CloudWatch EMF, `tracing` (OTel GenAI names), a bounded background queue |
//! | `ledger/` | spend per group and UTC day, in process or in Redis; `spend.<group>_today_usd` attributes |
//! | `budget.rs` | `[[budget]]` rules: reserve an estimate before the call, settle after |
//! | `spike.rs` | `[alerts.spend_spike]`: a group's day against its trailing mean |
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
//!
//! # Example
//!
//! ```
//! use tollgate_cost::{CallEvent, Day, Ledger, Sink, TracingSink, Usage};
//! use tollgate_engine::{decide_reference, Request};
//! use tollgate_lang::{load_str, LoadOptions};
//!
//! let policy = load_str("p.toml", r#"
//!     [policy]
//!     name = "demo"
//!     default_model = "haiku"
//!     [attributes]
//!     feature = "string"
//!     input_tokens = "int"
//!     [models.haiku]
//!     id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
//!     [[budget]]
//!     name = "daily"
//!     daily_usd = 10.0
//!     group_by = "feature"
//!     action = "reject"
//! "#, &LoadOptions::default()).map_err(|e| e.render())?.policy;
//!
//! let ledger = Ledger::in_memory();
//! let req = Request::parse(policy.schema(), r#"{"feature": "kb", "input_tokens": 1200}"#)?;
//! let ctx = req.context(policy.schema());
//! let decision = decide_reference(&policy, &ctx);
//!
//! // Before the call: reserve its worst case against the daily budget.
//! let ticket = ledger.begin(&policy, &decision, &ctx, Day::today())?;
//! // ... call Bedrock with policy.models()[ticket.model().index()] ...
//! let usage = Usage::from_bedrock(1200, 300, Some(0), Some(0), &[], tollgate_cost::CacheTtl::FiveMinutes);
//! let event = CallEvent::builder(&policy, &decision, &ctx)
//!     .request_id("req-1")
//!     .usage(usage)
//!     .latency_ms(640)
//!     .build();
//! assert_eq!(event.cost_nanos, 1200 * 800 + 300 * 4000); // Haiku 3.5: $0.80 / $4 per Mtok
//! TracingSink.write(&event)?;
//! // After the call: settle the reservation to the real cost.
//! ticket.settle(event.cost_nanos);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod attributes;
mod budget;
mod cost;
mod event;
mod event_line;
mod fingerprint;
mod ledger;
mod name;
mod rules;
mod sink;
mod slot_role;
mod spike;
mod time;
mod usage;

pub use attributes::Attributes;
pub use budget::{retry_share_within, BudgetError, Ticket};
pub use cost::{estimate, price, price_lenient, Component, CostBreakdown, CostError, Mode};
pub use event::{
    CacheOutcome, CallEvent, CancelReason, EventBuilder, EventOptions, Operation, Status, Tags,
    EVENT_VERSION,
};
pub use fingerprint::{
    messages as fingerprint_messages, system as fingerprint_system, Fingerprint, Hash128,
    Hasher as FingerprintHasher, Pieces as FingerprintPieces,
};
pub use ledger::{
    Backend, FailMode, GroupKey, Ledger, LedgerConfig, MemoryStore, Reserve, SpendAttributes,
    SpendStore, StoreError, GLOBAL,
};
#[cfg(feature = "redis")]
pub use ledger::{Redis, RedisConfig, RedisError, RedisStore, DEFAULT_RETENTION_DAYS};
pub use name::{EventNames, EventNamesCache, Name};
pub use rules::Rules;
pub use sink::reader::{
    for_each_event, read_events, read_file as read_event_file, ReadOutcome, Skipped,
};
pub use sink::{
    call_span, record_outcome, AsyncSink, AsyncStats, Dimension, EmfConfig, EmfSink, FlushPolicy,
    JsonlConfig, JsonlSink, MultiSink, Sink, SinkError, TracingSink, TRACING_TARGET,
};
pub use slot_role::ALWAYS_REDACTED;
pub use spike::{SpikeAlert, SpikeConfig};
pub use time::{Day, Timestamp, TimestampError};
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
