//! Simulations for replay: what a response cache and Bedrock's prompt cache
//! would have done on recorded traffic.
//!
//! Both are exact, deterministic walks over time-ordered events (no
//! sampling), so a replay report and its tests can quote exact counts.
//!
//! **Response cache** ([`simulate_response_cache`]): a miss stores the
//! answer until `at + ttl`; a request whose key is stored and not expired
//! is a hit and avoids the stored call's cost. A hit does not extend the
//! lifetime (the stores do not either: a TTL is a freshness bound). With
//! `max_entries`, the least recently used entry is evicted, as in the
//! in-process store. Calls are instantaneous here, so single-flight plays
//! no part.
//!
//! **Prompt cache** ([`simulate_prompt_cache`]) on a trace whose requests
//! carry the hashes of their prompt's fixed-size blocks (the Mooncake
//! format: equal ids mean equal block content and equal prefix up to it),
//! with one cache point at the end of each prompt, Bedrock's rules:
//!
//! - a request reads the longest run of leading blocks that earlier
//!   requests wrote and that has not expired, counted in tokens
//!   (`blocks × block_tokens`, at most the prompt's length); a prefix
//!   shorter than the model's minimum cannot have been a cache point, so
//!   it reads nothing;
//! - a prompt of at least the minimum writes everything it did not read,
//!   and every block it covers lives until `at + ttl` (reads reset the TTL,
//!   as on Bedrock); a shorter prompt gets no point and reads or writes
//!   nothing;
//! - cost with caching = `uncached × input + written × write + read ×
//!   read_price`, against `all tokens × input` without; the difference may
//!   be negative (writes that were never read).
//!
//! Block granularity makes this slightly conservative for multi-turn
//! conversations (Bedrock would also reuse the partial last block of the
//! previous turn) and slightly generous where Bedrock would need a cache
//! point at an exact earlier boundary; it is the reuse a planner placing a
//! point at the end of every prompt can expect.

use crate::key::CacheKey;
use crate::planner::PromptTtl;
use lru::LruCache;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use tollgate_lang::Prices;

/// One request of a response-cache simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEvent {
    /// When, milliseconds (any origin; events in time order).
    pub at_ms: u64,
    /// Its cache key.
    pub key: CacheKey,
    /// What the call costs when it is made, nano-dollars.
    pub cost_nanos: u64,
}

/// Settings of [`simulate_response_cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseSimConfig {
    /// Entry lifetime, milliseconds.
    pub ttl_ms: u64,
    /// Bound on entries (LRU); `None` = unbounded.
    pub max_entries: Option<usize>,
}

/// What a response cache would have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseSim {
    /// Requests seen.
    pub requests: u64,
    /// Served from the cache.
    pub hits: u64,
    /// Not served (each stores its answer).
    pub misses: u64,
    /// Misses whose key had been stored but expired.
    pub expired: u64,
    /// Entries evicted by the bound.
    pub evicted: u64,
    /// Cost the hits avoided, nano-dollars.
    pub avoided_nanos: u128,
    /// Cost of all requests without a cache, nano-dollars.
    pub total_nanos: u128,
}

impl ResponseSim {
    /// Hits over requests (0 without requests).
    pub fn hit_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.hits as f64 / self.requests as f64
        }
    }
}

/// Replays a key stream through a TTL (and optionally size-bounded) cache.
pub fn simulate_response_cache(
    events: impl IntoIterator<Item = KeyEvent>,
    cfg: ResponseSimConfig,
) -> ResponseSim {
    // Value: (expires_at_ms, cost of the call that stored it).
    let mut cache: LruCache<u128, (u64, u64)> = match cfg.max_entries.and_then(NonZeroUsize::new) {
        Some(n) => LruCache::new(n),
        None => LruCache::unbounded(),
    };
    let mut s = ResponseSim::default();
    for e in events {
        s.requests += 1;
        s.total_nanos += u128::from(e.cost_nanos);
        match cache.get(&e.key.0).copied() {
            Some((expires, cost)) if e.at_ms < expires => {
                s.hits += 1;
                s.avoided_nanos += u128::from(cost);
                continue;
            }
            Some(_) => s.expired += 1,
            None => {}
        }
        s.misses += 1;
        let entry = (e.at_ms.saturating_add(cfg.ttl_ms), e.cost_nanos);
        if let Some((old, _)) = cache.push(e.key.0, entry) {
            if old != e.key.0 {
                s.evicted += 1;
            }
        }
    }
    s
}

/// One request of a prompt-cache simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixRequest<'a> {
    /// When, milliseconds (events in time order).
    pub at_ms: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Hash ids of the prompt's blocks, in order.
    pub blocks: &'a [u64],
}

/// Settings of [`simulate_prompt_cache`]: the cache's rules and the
/// model's prices (nano-dollars per token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptSimConfig {
    /// Tokens per block of the trace (512 in Mooncake).
    pub block_tokens: u64,
    /// Cache lifetime, milliseconds.
    pub ttl_ms: u64,
    /// The model's minimum cached prefix.
    pub min_tokens: u64,
    /// Input price.
    pub input_nanos: u64,
    /// Cache-write price for the TTL.
    pub write_nanos: u64,
    /// Cache-read price.
    pub read_nanos: u64,
}

impl PromptSimConfig {
    /// The settings for a model's prices and a TTL; `None` when the model
    /// has no cache prices for it. The minimum falls back to 1,024 tokens.
    /// Prices are taken to the nearest nano-dollar per token (an estimate).
    pub fn for_model(
        prices: &Prices,
        ttl: PromptTtl,
        block_tokens: u64,
    ) -> Option<PromptSimConfig> {
        let write = match ttl {
            PromptTtl::FiveMinutes => prices.cache_write_5m,
            PromptTtl::OneHour => prices.cache_write_1h,
        }?
        .nanos_rounded();
        Some(PromptSimConfig {
            block_tokens,
            ttl_ms: ttl.secs() * 1000,
            min_tokens: u64::from(
                prices
                    .prompt_cache_min_tokens
                    .unwrap_or(crate::planner::DEFAULT_MIN_TOKENS),
            ),
            input_nanos: prices.input.nanos_rounded(),
            write_nanos: write,
            read_nanos: prices.cache_read?.nanos_rounded(),
        })
    }
}

/// What Bedrock's prompt cache would have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromptSim {
    /// Requests seen.
    pub requests: u64,
    /// Requests that read a cached prefix.
    pub requests_reading: u64,
    /// Requests that got a cache point (prompt at least the minimum).
    pub requests_with_point: u64,
    /// All prompt tokens.
    pub input_tokens: u64,
    /// Tokens read from the cache.
    pub read_tokens: u64,
    /// Tokens written to the cache.
    pub write_tokens: u64,
    /// Tokens sent uncached (prompts below the minimum).
    pub uncached_tokens: u64,
    /// Cost without prompt caching, nano-dollars.
    pub baseline_nanos: u128,
    /// Cost with it, nano-dollars.
    pub cached_nanos: u128,
}

impl PromptSim {
    /// Baseline minus cached cost (negative when caching lost money).
    pub fn savings_nanos(&self) -> i128 {
        i128::try_from(self.baseline_nanos).unwrap_or(i128::MAX)
            - i128::try_from(self.cached_nanos).unwrap_or(i128::MAX)
    }

    /// Read tokens per written token (the reuse the planner learns).
    pub fn reuse(&self) -> f64 {
        if self.write_tokens == 0 {
            0.0
        } else {
            self.read_tokens as f64 / self.write_tokens as f64
        }
    }

    /// Share of prompt tokens read from the cache.
    pub fn read_share(&self) -> f64 {
        if self.input_tokens == 0 {
            0.0
        } else {
            self.read_tokens as f64 / self.input_tokens as f64
        }
    }
}

/// Replays a block-hashed trace through Bedrock's prompt cache, one point
/// at the end of each prompt.
pub fn simulate_prompt_cache<'a>(
    requests: impl IntoIterator<Item = PrefixRequest<'a>>,
    cfg: PromptSimConfig,
) -> PromptSim {
    // Block id -> expiry, ms.
    let mut alive: HashMap<u64, u64> = HashMap::new();
    let mut s = PromptSim::default();
    for r in requests {
        let len = r.input_tokens;
        s.requests += 1;
        s.input_tokens += len;
        s.baseline_nanos += u128::from(len) * u128::from(cfg.input_nanos);
        if len < cfg.min_tokens {
            s.uncached_tokens += len;
            s.cached_nanos += u128::from(len) * u128::from(cfg.input_nanos);
            continue;
        }
        let matched = r
            .blocks
            .iter()
            .take_while(|b| alive.get(b).is_some_and(|&exp| r.at_ms < exp))
            .count() as u64;
        let matched_tokens = matched.saturating_mul(cfg.block_tokens).min(len);
        let read = if matched_tokens >= cfg.min_tokens {
            matched_tokens
        } else {
            0
        };
        let write = len - read;
        let expires = r.at_ms.saturating_add(cfg.ttl_ms);
        for b in r.blocks {
            alive.insert(*b, expires);
        }
        s.requests_with_point += 1;
        if read > 0 {
            s.requests_reading += 1;
        }
        s.read_tokens += read;
        s.write_tokens += write;
        s.cached_nanos += u128::from(read) * u128::from(cfg.read_nanos)
            + u128::from(write) * u128::from(cfg.write_nanos);
    }
    s
}
