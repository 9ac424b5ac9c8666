//! Conversions between the SDK's, the cache's and the cost crate's views
//! of one call: token usage and prompt-cache TTLs, and elapsed
//! milliseconds.

use std::time::Instant;
use tollgate_cache::PromptTtl;
use tollgate_cost::{CacheTtl, Usage};

/// Milliseconds since `since`.
pub(crate) fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn cost_ttl(t: PromptTtl) -> CacheTtl {
    match t {
        PromptTtl::FiveMinutes => CacheTtl::FiveMinutes,
        PromptTtl::OneHour => CacheTtl::OneHour,
    }
}

pub(crate) fn cache_usage(u: &Usage) -> tollgate_cache::Usage {
    tollgate_cache::Usage {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write_input_tokens,
    }
}

/// Usage from the SDK's `TokenUsage`.
pub(crate) fn usage_of(u: &aws_sdk_bedrockruntime::types::TokenUsage, ttl: PromptTtl) -> Usage {
    use aws_sdk_bedrockruntime::types::CacheTtl as SdkTtl;
    let details: Vec<(CacheTtl, i32)> = u
        .cache_details()
        .iter()
        .map(|d| {
            let t = match d.ttl() {
                SdkTtl::OneHour => CacheTtl::OneHour,
                _ => CacheTtl::FiveMinutes,
            };
            (t, d.input_tokens())
        })
        .collect();
    Usage::from_bedrock(
        u.input_tokens(),
        u.output_tokens(),
        u.cache_read_input_tokens(),
        u.cache_write_input_tokens(),
        &details,
        cost_ttl(ttl),
    )
}
