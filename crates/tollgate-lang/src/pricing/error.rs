//! Why a price table was refused ([`PriceError`]) and why a model has no
//! price for a region and tier ([`LookupError`]).

use super::Tier;

/// A price or price table that was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    /// A price is NaN or infinite.
    #[error("price `{value}` is not a finite number")]
    NotFinite {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// A price is below zero.
    #[error("price `{value}` is negative")]
    Negative {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// A price is above [`MAX_USD_PER_MTOK`](crate::MAX_USD_PER_MTOK).
    #[error("price `{value}` is above the ceiling of 1000000 USD per million tokens")]
    TooLarge {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// A price has more than six decimals, so it is not a whole number of
    /// pico-dollars per token.
    #[error("price `{value}` has more than six decimals (USD per million tokens)")]
    TooPrecise {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// The text is not valid TOML.
    #[error("invalid price table at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column in characters, 0 when unknown.
        column: usize,
        /// The TOML parser's message.
        message: String,
    },
    /// A top-level key other than `models`.
    #[error(
        "unknown top-level key `{key}` in the price table (expected `[models.\"ID\"]` tables)"
    )]
    UnknownTopLevelKey {
        /// The key.
        key: String,
    },
    /// `models`, or one model, is not a table.
    #[error("`{what}` must be a table")]
    NotATable {
        /// `models` or `models."ID"`.
        what: String,
    },
    /// A model table holds a key the format does not know.
    #[error("unknown key `{key}` in model `{model}`{}", help_suffix(.help))]
    UnknownKey {
        /// Model id.
        model: String,
        /// The unknown key.
        key: String,
        /// "did you mean `x`?" when a known key is close.
        help: Option<String>,
    },
    /// A required key is missing.
    #[error("model `{model}` lacks `{key}`")]
    MissingKey {
        /// Model id.
        model: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key holds a value of the wrong type.
    #[error("`{key}` of model `{model}` must be {expected}, not {found}")]
    WrongType {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// What the key takes.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A price key holds a price that cannot be used.
    #[error("`{key}` of model `{model}`: {reason}")]
    InvalidPrice {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// Why the price was refused.
        reason: Box<PriceError>,
    },
    /// An integer key is out of its range.
    #[error("`{key}` of model `{model}` is `{value}`, outside {min}..={max}")]
    OutOfRange {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// The value found.
        value: i64,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// Some but not all of the long-context keys are given.
    #[error("model `{model}` gives `{given}` without `{missing}` (the long-context tier needs all three keys)")]
    IncompleteLongContext {
        /// Model id.
        model: String,
        /// A key that is present.
        given: &'static str,
        /// A key that is absent.
        missing: &'static str,
    },
    /// A tier's input price without its output price, or the reverse.
    #[error("model `{model}` gives `{given}` without `{missing}` (a tier needs both prices)")]
    IncompleteTier {
        /// Model id.
        model: String,
        /// The key that is present.
        given: &'static str,
        /// The key that is absent.
        missing: &'static str,
    },
    /// A list value is not one of the accepted words.
    #[error("`{key}` of model `{model}` holds `{value}`, expected {expected}")]
    BadListValue {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// What the list takes.
        expected: &'static str,
    },
    /// A `[[models."ID".regional]]` block does not price the same things as
    /// the model's own prices.
    #[error("regional prices for `{regions}` of model `{model}` {} `{key}`, which the model's own prices {}", if *.has { "give" } else { "lack" }, if *.has { "do not" } else { "give" })]
    RegionalKeysDiffer {
        /// Model id.
        model: String,
        /// The block's regions, comma-separated.
        regions: String,
        /// The key.
        key: &'static str,
        /// Whether the block has the key (and the model not).
        has: bool,
    },
    /// A region is priced twice in one model.
    #[error("model `{model}` prices region `{region}` twice")]
    DuplicateRegion {
        /// Model id.
        model: String,
        /// The region or pattern.
        region: String,
    },
}

fn help_suffix(help: &Option<String>) -> String {
    help.as_ref()
        .map_or_else(String::new, |h| format!(" ({h})"))
}

/// Why a model id has no price for a region and tier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The id names no model of the table.
    #[error("unknown model id `{id}`{}", help_suffix(.help))]
    UnknownModel {
        /// The id as given.
        id: String,
        /// "did you mean `x`?" when a known id is close.
        help: Option<String>,
    },
    /// A geographic profile called from a region outside its geography.
    #[error(
        "profile `{prefix}` cannot be called from `{region}`: it takes calls from {geography}"
    )]
    WrongGeography {
        /// The profile prefix.
        prefix: &'static str,
        /// The region asked for.
        region: String,
        /// The regions the profile accepts.
        geography: &'static str,
    },
    /// The model has no price for the region.
    #[error("model `{id}` has no price in `{region}` (priced in: {priced})")]
    NoRegionPrice {
        /// The base model id.
        id: String,
        /// The region asked for.
        region: String,
        /// The regions it is priced in.
        priced: String,
    },
    /// The model has no latency-optimized price.
    #[error("model `{id}` has no latency-optimized price")]
    NoLatencyOptimized {
        /// The model id.
        id: String,
    },
    /// The model does not offer the tier (or, for `reserved`, has no price).
    #[error("model `{id}` has no `{}` tier price (offered: {offered})", .tier.name())]
    TierNotOffered {
        /// The base model id.
        id: String,
        /// The tier asked for.
        tier: Tier,
        /// The tiers it offers.
        offered: String,
    },
}
