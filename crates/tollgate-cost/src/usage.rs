//! Token usage of one call, with Bedrock's meaning.
//!
//! Bedrock's `TokenUsage.inputTokens` counts only the *uncached* input: the
//! prompt's full size is `inputTokens + cacheReadInputTokens +
//! cacheWriteInputTokens`. [`Usage::input_tokens`] keeps Bedrock's meaning,
//! so each token is priced exactly once; [`Usage::total_input_tokens`] is
//! the full prompt (what OpenTelemetry's `gen_ai.usage.input_tokens`
//! reports). Folding cache reads into input is the bug gateways shipped
//! (LiteLLM #15270); keeping the four counts apart makes it impossible.
//!
//! Cache writes come in two TTLs priced differently (5 minutes: 1.25x input,
//! 1 hour: 2x on Anthropic models). Bedrock's `cacheDetails` splits the write
//! tokens by TTL; [`Usage::from_bedrock`] reads that split.

use serde::{Deserialize, Serialize};

/// Bedrock's two prompt-cache lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CacheTtl {
    /// `"5m"`, the default.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// `"1h"`, on models that offer it.
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheTtl {
    /// From a `[[prompt_cache]]` rule's `ttl_s` (3600 = one hour, else five minutes).
    pub fn from_secs(ttl_s: u64) -> CacheTtl {
        if ttl_s >= 3600 {
            CacheTtl::OneHour
        } else {
            CacheTtl::FiveMinutes
        }
    }
}

/// Tokens one call used (summed over its attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached input tokens (Bedrock `inputTokens`).
    pub input_tokens: u64,
    /// Output tokens (Bedrock `outputTokens`).
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache (Bedrock `cacheReadInputTokens`).
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the prompt cache, both TTLs (Bedrock
    /// `cacheWriteInputTokens`).
    pub cache_write_input_tokens: u64,
    /// The part of `cache_write_input_tokens` written with the 1-hour TTL;
    /// the rest was written with the 5-minute TTL.
    #[serde(default)]
    pub cache_write_1h_input_tokens: u64,
}

/// Bedrock reports token counts as `i32`; a negative one (never seen) counts as 0.
fn tokens(n: i32) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Usage {
    /// Usage without prompt caching.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Usage {
        Usage {
            input_tokens,
            output_tokens,
            ..Usage::default()
        }
    }

    /// From Bedrock's `TokenUsage` fields.
    ///
    /// `cache_details` is `cacheDetails` as `(ttl, inputTokens)` pairs. When
    /// it is present, its 1-hour entries are the 1-hour writes and the rest
    /// of `cacheWriteInputTokens` are 5-minute writes (should the details add
    /// up to more than `cacheWriteInputTokens`, their sum is taken as the
    /// total). When it is absent, every write is taken to have the TTL the
    /// request asked for (`requested_ttl`, from the `[[prompt_cache]]` rule).
    pub fn from_bedrock(
        input_tokens: i32,
        output_tokens: i32,
        cache_read_input_tokens: Option<i32>,
        cache_write_input_tokens: Option<i32>,
        cache_details: &[(CacheTtl, i32)],
        requested_ttl: CacheTtl,
    ) -> Usage {
        let reported_writes = cache_write_input_tokens.map_or(0, tokens);
        let (writes, writes_1h) = if cache_details.is_empty() {
            let one_hour = if requested_ttl == CacheTtl::OneHour {
                reported_writes
            } else {
                0
            };
            (reported_writes, one_hour)
        } else {
            let sum = |ttl: CacheTtl| -> u64 {
                cache_details
                    .iter()
                    .filter(|(t, _)| *t == ttl)
                    .map(|(_, n)| tokens(*n))
                    .fold(0u64, u64::saturating_add)
            };
            let (h1, m5) = (sum(CacheTtl::OneHour), sum(CacheTtl::FiveMinutes));
            (reported_writes.max(h1.saturating_add(m5)), h1)
        };
        Usage {
            input_tokens: tokens(input_tokens),
            output_tokens: tokens(output_tokens),
            cache_read_input_tokens: cache_read_input_tokens.map_or(0, tokens),
            cache_write_input_tokens: writes,
            cache_write_1h_input_tokens: writes_1h,
        }
    }

    /// Writes with the 5-minute TTL.
    pub fn cache_write_5m_input_tokens(&self) -> u64 {
        self.cache_write_input_tokens
            .saturating_sub(self.cache_write_1h_input_tokens)
    }

    /// Writes with the 1-hour TTL (never more than all writes).
    pub fn cache_write_1h_tokens(&self) -> u64 {
        self.cache_write_1h_input_tokens
            .min(self.cache_write_input_tokens)
    }

    /// The whole prompt: uncached + cache read + cache write. This is what
    /// OpenTelemetry's `gen_ai.usage.input_tokens` reports, and what the
    /// long-context tier's threshold is compared with.
    pub fn total_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_read_input_tokens)
            .saturating_add(self.cache_write_input_tokens)
    }

    /// Adds another attempt's usage (retries bill again).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .saturating_add(other.cache_read_input_tokens);
        self.cache_write_input_tokens = self
            .cache_write_input_tokens
            .saturating_add(other.cache_write_input_tokens);
        self.cache_write_1h_input_tokens = self
            .cache_write_1h_input_tokens
            .saturating_add(other.cache_write_1h_input_tokens);
    }

    /// No tokens at all (a call that failed before the model ran).
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }
}
