//! The Bedrock price table: its format, the built-in copy and lookups.
//!
//! Prices are written in USD per million tokens with at most three decimals
//! and held as integer nano-dollars (1e-9 USD) per token, so that
//! `tokens x price` is exact.

/// Nano-dollars per token.
pub type NanosPerToken = u64;

/// The long-context tier: above the threshold, other prices apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongContext {
    /// Input tokens above which the tier applies.
    pub threshold_tokens: u64,
    /// Input price in the tier.
    pub input: NanosPerToken,
    /// Output price in the tier.
    pub output: NanosPerToken,
}

/// One model's prices, in nano-dollars per token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prices {
    /// Uncached input.
    pub input: NanosPerToken,
    /// Output.
    pub output: NanosPerToken,
    /// Cache write with the 5-minute TTL.
    pub cache_write_5m: Option<NanosPerToken>,
    /// Cache write with the 1-hour TTL.
    pub cache_write_1h: Option<NanosPerToken>,
    /// Cache read.
    pub cache_read: Option<NanosPerToken>,
    /// Batch input.
    pub batch_input: Option<NanosPerToken>,
    /// Batch output.
    pub batch_output: Option<NanosPerToken>,
    /// Minimum prefix for a prompt-cache point.
    pub prompt_cache_min_tokens: Option<u32>,
    /// Long-context tier.
    pub long_context: Option<LongContext>,
    /// Where the prices come from.
    pub source: Option<String>,
    /// When they were read.
    pub as_of: Option<String>,
}
