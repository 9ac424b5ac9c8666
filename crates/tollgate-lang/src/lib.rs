//! tollgate's rules language.
//!
//! Text -> checked [`Policy`]: TOML files parsed with their spans, `when`
//! expressions parsed by a pest grammar (a CEL subset) and type-checked
//! against the attribute [`Schema`], lints, and located diagnostics.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The pest parser is generated for `no_std` (see the workspace manifest) and
// names `alloc::boxed::Box`.
extern crate alloc;

mod constraint;
mod diag;
mod expr;
mod lint;
mod load;
mod policy;
mod policy_prices;
mod pricing;
mod router;
mod schema;
mod source;
mod time;
mod tomlstr;
mod typed;

pub use diag::{Diagnostic, LoadError, Severity};
pub use expr::{
    check, parse, parse_with, ArithOp, Ast, BinOp, CheckLimits, CmpOp, Conv, MacroKind, Node,
    OffsetMap, ParseLimits, Pattern, StrExt, StrFn, SyntaxError, TExpr, TKind, UnOp, ZoneArg,
};
pub use lint::{lint, LintInput};
pub use load::{
    is_rule_file, load_path, load_sources, load_str, rule_files, Limits, LoadOptions, Loaded,
};
pub use policy::{
    Batch, Budget, BudgetAction, Cache, CachePointSite, Expect, KeyField, Limit, Model, ModelIdx,
    Normalize, Policy, PromptCache, Repetition, Route, Rule, Scope, Section, Sections, SpendSpike,
    TestCase,
};
/// Source regions and inference-profile prefixes: how a model id and a
/// region find their price.
pub use pricing::region;
pub use pricing::{
    call_prices, picos_to_nanos_half_up, usd_per_mtok_to_picos, CacheSites, Latency, LongContext,
    LookupError, PicosPerToken, PriceError, PriceTable, Prices, Tier, TierPrices, BUILTIN_TOML,
    DEFAULT_REGION, MAX_PROFILE_MARKUP_PCT, MAX_USD_PER_MTOK, PROFILE_PREFIXES,
};
pub use router::{
    feature_vector, for_each_gram, Family, Router, RouterModel, RouterModelError, RouterPrices,
    RouterScore, HEADS, LENGTH_FEATURES, MAX_HASH_BITS, MIN_HASH_BITS,
};
pub use schema::{AttrDef, AttrId, Elem, Schema, Type};
pub use source::{FileId, SourceFile, SourceMap, Span};
pub use time::{Duration, TimeField, Timestamp, Zone};
pub use typed::{kind, Attr, AttrError};

/// Not part of the API: what tollgate's own crates share (the engine's
/// rule interning and value printing, the language's own tests). May
/// change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::constraint::{atom, same_expr, Conjunction, Constraint, IntSet, StrSet};
    pub use crate::expr::ast::quote;
    pub use crate::expr::decode_string;
    pub use crate::load::parse_duration;
}
