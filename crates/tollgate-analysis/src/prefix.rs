//! Bedrock's prompt cache, one request at a time.
//!
//! The same rules as `tollgate_cache::simulate_prompt_cache` (one
//! cache point at the end of each prompt; the longest unexpired run of
//! leading blocks is read when it reaches the model's minimum; the rest is
//! written; every block of the prompt lives until `at + ttl`), but stepped
//! per request, because replay prices each request on the model and TTL
//! its own decision chose and attributes the cost to its rule, feature and
//! model. The aggregate simulation cannot do that; a test checks that both
//! agree on the Mooncake trace.
//!
//! Caches are per model: a prefix Sonnet cached is not in Haiku's cache.

use rustc_hash::FxHashMap;

/// Tokens read from and written to the cache by one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrefixStep {
    /// Read from the cache.
    pub read: u64,
    /// Written to the cache (0 when the prompt is below the minimum).
    pub write: u64,
    /// The prompt got a cache point (it reached the minimum).
    pub point: bool,
}

/// Per-model block caches.
#[derive(Debug, Default)]
pub struct PrefixCaches {
    /// Model index -> block id -> expiry (ms).
    alive: Vec<FxHashMap<u64, u64>>,
}

impl PrefixCaches {
    /// Empty caches.
    pub fn new() -> PrefixCaches {
        PrefixCaches::default()
    }

    /// One request on `model`'s cache: prompt of `len` tokens made of
    /// `blocks` of `block_tokens` each, at `at_ms`, cache lifetime `ttl_ms`,
    /// minimum cacheable prefix `min_tokens`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the simulation's inputs, all plain numbers, named at the call site"
    )]
    pub fn step(
        &mut self,
        model: usize,
        at_ms: u64,
        len: u64,
        blocks: &[u64],
        block_tokens: u64,
        ttl_ms: u64,
        min_tokens: u64,
    ) -> PrefixStep {
        if len < min_tokens {
            return PrefixStep::default();
        }
        if self.alive.len() <= model {
            self.alive.resize_with(model + 1, FxHashMap::default);
        }
        let Some(alive) = self.alive.get_mut(model) else {
            return PrefixStep::default();
        };
        let matched = blocks
            .iter()
            .take_while(|b| alive.get(b).is_some_and(|&exp| at_ms < exp))
            .count() as u64;
        let matched_tokens = matched.saturating_mul(block_tokens).min(len);
        let read = if matched_tokens >= min_tokens {
            matched_tokens
        } else {
            0
        };
        let expires = at_ms.saturating_add(ttl_ms);
        for b in blocks {
            alive.insert(*b, expires);
        }
        PrefixStep {
            read,
            write: len - read,
            point: true,
        }
    }
}
