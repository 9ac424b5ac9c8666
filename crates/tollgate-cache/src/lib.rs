//! tollgate's caches: the response cache and the prompt-cache planner.
//!
//! # Contents
//!
//! | module | job |
//! |---|---|
//! | `key.rs` | response-cache keys: xxh3-128 over a documented, length-prefixed encoding of the fields a `[[cache]]` rule names, its scope and namespace |
//! | `normalize.rs` | `normalize = "whitespace"` |
//! | `entry.rs` | a cached response (body, stop reason, usage, cost, model, time) and its binary form |
//! | `cacheable.rs` | what is never cached: errors, throttles, cut answers, guardrail flags |
//! | `store.rs` | the [`Store`] trait, and how async callers reach a store |
//! | `memory.rs` | the in-process store: sharded LRU, TTL, entry and byte bounds |
//! | `tiered.rs` | [`TieredStore`]: an in-process tier in front of a shared (Redis) store |
//! | `redis_store` | the Redis store, async and sync, over `tollgate-redis` (cargo feature `redis`) |
//! | `flight.rs` | single-flight for concurrent identical misses |
//! | `response.rs` | [`ResponseCache`]: store + single-flight + storing rules behind one lookup |
//! | `planner.rs` | where Bedrock prompt-cache points go, and whether they pay |
//! | `sim.rs` | simulations of both caches for replay |
//!
//! # Should I use this crate?
//!
//! Directly, when you embed tollgate without its Bedrock adapter and call
//! Bedrock yourself: decide with `tollgate-engine`, build a [`KeySpec`]
//! from the decision, key the request, and go through
//! [`ResponseCache::lookup`]; ask the [`PromptCachePlanner`] where cache
//! points go. The adapter does all of this for you.
//!
//! # Failure behaviour
//!
//! Nothing fails because the cache did. A store that errs or times out is a
//! miss; a store that cannot take an answer leaves the answer with the
//! caller; errors are counted ([`CacheStats`], `RedisStats`).

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cacheable;
mod entry;
mod flight;
mod key;
mod memory;
mod normalize;
mod planner;
#[cfg(feature = "redis")]
mod redis_store;
mod response;
mod sim;
mod stats;
mod store;
mod tiered;

pub use cacheable::{cacheable, FillRule, NotCached, Outcome};
pub use entry::{DecodeError, Entry, StopReason, Usage, ENTRY_OVERHEAD_BYTES};
pub use flight::Waiter;
pub use key::{
    cache_key, encode_key, retrieval_ids_of, CacheKey, FieldSet, Inference, KeyInput, KeySpec,
    Message, Part, Role, ScopeValue, KEY_FORMAT_VERSION,
};
pub use memory::{MemoryConfig, MemoryStats, MemoryStore};
/// Whitespace normalisation, as cache keys apply it.
pub use normalize::whitespace as normalize_whitespace;
pub use planner::{
    Economics, Plan, PlannerConfig, Point, PromptCachePlanner, PromptTtl, Segments, SkipReason,
    Skipped, DEFAULT_MIN_TOKENS, MAX_CACHE_POINTS,
};
#[cfg(feature = "redis")]
pub use redis_store::{RedisStats, RedisStore, DEFAULT_MAX_VALUE_BYTES};
pub use response::{
    CacheConfig, CallResult, Fill, FillResult, Lookup, ResponseCache, Served, Wait,
};
pub use sim::{
    simulate_prompt_cache, simulate_response_cache, KeyEvent, PrefixRequest, PromptSim,
    PromptSimConfig, ResponseSim, ResponseSimConfig,
};
pub use stats::{CacheStats, NotStoredCounts};
pub use store::{get_async, put_async, Backend, Put, Store, StoreError};
pub use tiered::{TieredStats, TieredStore, DEFAULT_NEAR_TTL};
#[cfg(feature = "redis")]
pub use tollgate_redis::{Redis, RedisConfig, RedisError};
