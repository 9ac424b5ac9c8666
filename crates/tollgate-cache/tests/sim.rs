//! The replay simulations: small streams computed by hand, then the real
//! Mooncake conversation trace (12,031 requests) with exact counts.
//!
//! The Mooncake counts were cross-checked with an independent Python
//! implementation of the same rules (see the crate README, "Simulations").

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mooncake.rs"]
mod mooncake;

use tollgate_cache::{
    simulate_prompt_cache, simulate_response_cache, CacheKey, KeyEvent, PrefixRequest, PromptSim,
    PromptSimConfig, PromptTtl, ResponseSim, ResponseSimConfig,
};
use tollgate_lang::PriceTable;

fn ev(at_ms: u64, key: u128, cost_nanos: u64) -> KeyEvent {
    KeyEvent {
        at_ms,
        key: CacheKey(key),
        cost_nanos,
    }
}

#[test]
fn response_sim_by_hand() {
    let events = [
        ev(0, 1, 100),    // miss, stored until 1000
        ev(500, 1, 999),  // hit, avoids 100
        ev(999, 1, 999),  // hit
        ev(1000, 1, 300), // expired: miss, stored until 2000
        ev(1001, 2, 50),  // miss
        ev(1500, 1, 999), // hit, avoids 300
    ];
    let s = simulate_response_cache(
        events,
        ResponseSimConfig {
            ttl_ms: 1000,
            max_entries: None,
        },
    );
    assert_eq!(
        s,
        ResponseSim {
            requests: 6,
            hits: 3,
            misses: 3,
            expired: 1,
            evicted: 0,
            avoided_nanos: 500,
            total_nanos: 100 + 999 + 999 + 300 + 50 + 999,
        }
    );
    assert_eq!(s.hit_rate(), 0.5);
    // One entry of room: key 2 evicts key 1, so the last request misses.
    let s = simulate_response_cache(
        events,
        ResponseSimConfig {
            ttl_ms: 1000,
            max_entries: Some(1),
        },
    );
    assert_eq!((s.hits, s.misses, s.evicted), (2, 4, 2));
}

const SIM: PromptSimConfig = PromptSimConfig {
    block_tokens: 512,
    ttl_ms: 300_000,
    min_tokens: 1024,
    input_nanos: 3000,
    write_nanos: 3750,
    read_nanos: 300,
};

#[test]
fn prompt_sim_by_hand() {
    let reqs = [
        // 1,300 tokens, 3 blocks: writes all 1,300.
        PrefixRequest {
            at_ms: 0,
            input_tokens: 1300,
            blocks: &[1, 2, 3],
        },
        // Next turn shares blocks 1, 2 (1,024 tokens): reads 1,024, writes 976.
        PrefixRequest {
            at_ms: 1000,
            input_tokens: 2000,
            blocks: &[1, 2, 4, 5],
        },
        // Shares only block 1 (512 < minimum): reads nothing, writes 1,100.
        PrefixRequest {
            at_ms: 2000,
            input_tokens: 1100,
            blocks: &[1, 6, 7],
        },
        // Below the minimum: no point, all uncached.
        PrefixRequest {
            at_ms: 3000,
            input_tokens: 900,
            blocks: &[1, 8],
        },
        // After the TTL (last touched at 2,000 + 300,000): all expired.
        PrefixRequest {
            at_ms: 302_000,
            input_tokens: 2000,
            blocks: &[1, 2, 4, 5],
        },
    ];
    let s = simulate_prompt_cache(reqs, SIM);
    let input = 1300 + 2000 + 1100 + 900 + 2000;
    assert_eq!(
        s,
        PromptSim {
            requests: 5,
            requests_reading: 1,
            requests_with_point: 4,
            input_tokens: input,
            read_tokens: 1024,
            write_tokens: 1300 + 976 + 1100 + 2000,
            uncached_tokens: 900,
            baseline_nanos: u128::from(input) * 3000,
            cached_nanos: 900 * 3000 + 1024 * 300 + (1300 + 976 + 1100 + 2000) * 3750,
        }
    );
    // Writes that are mostly never read lose money.
    assert_eq!(s.savings_nanos(), 21_900_000 - 23_167_200);
}

#[test]
fn prompt_sim_config_comes_from_the_price_table() {
    let t = PriceTable::builtin();
    let sonnet = t
        .lookup("us.anthropic.claude-sonnet-4-20250514-v1:0")
        .unwrap();
    assert_eq!(
        PromptSimConfig::for_model(&sonnet, PromptTtl::FiveMinutes, 512),
        Some(SIM)
    );
    assert_eq!(
        PromptSimConfig::for_model(&sonnet, PromptTtl::OneHour, 512),
        None
    );
}

fn key_of(hash_ids: &[u64]) -> CacheKey {
    let bytes: Vec<u8> = hash_ids.iter().flat_map(|h| h.to_le_bytes()).collect();
    CacheKey(xxhash_rust::xxh3::xxh3_128(&bytes))
}

#[test]
fn mooncake_response_cache_exact_counts() {
    let rows = mooncake::load();
    assert_eq!(rows.len(), 12_031);
    // Same prompt (same block hashes) = same key; Sonnet 4 prices.
    let events = || {
        rows.iter().map(|r| KeyEvent {
            at_ms: r.timestamp_ms,
            key: key_of(&r.hash_ids),
            cost_nanos: r.input_length * 3000 + r.output_length * 15_000,
        })
    };
    let ten_min = simulate_response_cache(
        events(),
        ResponseSimConfig {
            ttl_ms: 600_000,
            max_entries: None,
        },
    );
    // Whole-prompt repeats are rare in a conversation trace: 107 hits, 0.9%.
    assert_eq!(
        ten_min,
        ResponseSim {
            requests: 12_031,
            hits: 107,
            misses: 11_924,
            expired: 11,
            evicted: 0,
            avoided_nanos: 2_935_044_000,
            total_nanos: 496_212_189_000,
        }
    );
    let bounded = simulate_response_cache(
        events(),
        ResponseSimConfig {
            ttl_ms: 600_000,
            max_entries: Some(100),
        },
    );
    assert_eq!(
        bounded,
        ResponseSim {
            requests: 12_031,
            hits: 24,
            misses: 12_007,
            expired: 0,
            evicted: 11_907,
            avoided_nanos: 372_348_000,
            total_nanos: 496_212_189_000,
        }
    );
}

#[test]
fn mooncake_prompt_cache_exact_counts() {
    let rows = mooncake::load();
    let reqs = || {
        rows.iter().map(|r| PrefixRequest {
            at_ms: r.timestamp_ms,
            input_tokens: r.input_length,
            blocks: &r.hash_ids,
        })
    };
    let t = PriceTable::builtin();
    let sonnet = t
        .lookup("us.anthropic.claude-sonnet-4-20250514-v1:0")
        .unwrap();
    let cfg = PromptSimConfig::for_model(&sonnet, PromptTtl::FiveMinutes, 512).unwrap();
    let s = simulate_prompt_cache(reqs(), cfg);
    assert_eq!(
        s,
        PromptSim {
            requests: 12_031,
            requests_reading: 3_639,
            requests_with_point: 10_677,
            input_tokens: 144_793_823,
            read_tokens: 38_139_560,
            write_tokens: 105_412_200,
            uncached_tokens: 1_242_063,
            baseline_nanos: 434_381_469_000,
            cached_nanos: 410_463_807_000,
        }
    );
    // Reuse 0.362 beats Sonnet 4's 5-minute break-even (0.278): $23.92 saved
    // of $434.38, 26% of prompt tokens read from the cache.
    assert_eq!(s.savings_nanos(), 23_917_662_000);
    assert!((s.reuse() - 0.361_813_5).abs() < 1e-6);
    // `global.`: the geographic profiles carry the 4.5 models' 10% premium.
    let haiku = t
        .lookup("global.anthropic.claude-haiku-4-5-20251001-v1:0")
        .unwrap();
    let cfg = PromptSimConfig::for_model(&haiku, PromptTtl::OneHour, 512).unwrap();
    let s = simulate_prompt_cache(reqs(), cfg);
    assert_eq!(
        s,
        PromptSim {
            requests: 12_031,
            requests_reading: 2_969,
            requests_with_point: 7_929,
            input_tokens: 144_793_823,
            read_tokens: 47_065_994,
            write_tokens: 90_439_397,
            uncached_tokens: 7_288_432,
            baseline_nanos: 144_793_823_000,
            cached_nanos: 192_873_825_400,
        }
    );
    // A point on every prompt with the 1-hour TTL loses money: reuse 0.52 is
    // below Haiku 4.5's 1-hour break-even (1.11). The planner's money test
    // exists for exactly this.
    assert_eq!(s.savings_nanos(), -48_080_002_400);
    assert!(s.reuse() < 1000.0 / 900.0);
}
