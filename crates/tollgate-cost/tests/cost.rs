//! Golden price math, computed by hand from rules/pricing/bedrock.toml.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use tollgate_cost::{price, price_lenient, CacheTtl, Component, CostError, Mode, Usage};
use tollgate_lang::{LongContext, PicosPerToken, PriceTable, Prices};

const fn picos(n: u64) -> PicosPerToken {
    PicosPerToken::from_picos(n)
}

fn table(id: &str) -> Prices {
    PriceTable::builtin()
        .lookup(id)
        .unwrap_or_else(|| panic!("{id} is not in the price table"))
}

const SONNET4: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
const SONNET45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

#[test]
fn cached_tokens_are_not_part_of_input_tokens() {
    // Bedrock: inputTokens=1000 (uncached), cacheReadInputTokens=10000,
    // outputTokens=500. Sonnet 4: $3 in, $15 out, $0.30 read per Mtok.
    // 1000 x 3000 + 500 x 15000 + 10000 x 300 nanos.
    let u = Usage::from_bedrock(1000, 500, Some(10_000), Some(0), &[], CacheTtl::FiveMinutes);
    let c = price(&table(SONNET4), &u, Mode::Realtime).unwrap();
    assert_eq!(c.input_nanos, 3_000_000);
    assert_eq!(c.output_nanos, 7_500_000);
    assert_eq!(c.cache_read_nanos, 3_000_000);
    assert_eq!((c.cache_write_5m_nanos, c.cache_write_1h_nanos), (0, 0));
    assert_eq!(c.total_nanos, 13_500_000); // $0.0135
                                           // The trap: reads folded into input would bill 11000 x 3000 + 7.5M.
    assert_ne!(c.total_nanos, 40_500_000);
    assert_eq!(u.total_input_tokens(), 11_000);
}

#[test]
fn cache_writes_are_priced_by_ttl_from_cache_details() {
    // Sonnet 4.5 (global prices): in 3.00, out 15.00, write 5m 3.75, 1h 6.00.
    // cacheWriteInputTokens=5000 split by cacheDetails: 1h 3000, 5m 2000.
    let u = Usage::from_bedrock(
        200,
        100,
        None,
        Some(5000),
        &[(CacheTtl::OneHour, 3000), (CacheTtl::FiveMinutes, 2000)],
        CacheTtl::FiveMinutes,
    );
    assert_eq!(u.cache_write_input_tokens, 5000);
    assert_eq!(u.cache_write_1h_input_tokens, 3000);
    assert_eq!(u.cache_write_5m_input_tokens(), 2000);
    let c = price(&table(&format!("global.{SONNET45}")), &u, Mode::Realtime).unwrap();
    assert_eq!(c.input_nanos, 600_000); // 200 x 3000
    assert_eq!(c.output_nanos, 1_500_000); // 100 x 15000
    assert_eq!(c.cache_write_5m_nanos, 7_500_000); // 2000 x 3750
    assert_eq!(c.cache_write_1h_nanos, 18_000_000); // 3000 x 6000
    assert_eq!(c.total_nanos, 27_600_000);
}

#[test]
fn cache_writes_without_details_take_the_requested_ttl() {
    let u = Usage::from_bedrock(0, 0, None, Some(1000), &[], CacheTtl::OneHour);
    assert_eq!(
        (u.cache_write_1h_tokens(), u.cache_write_5m_input_tokens()),
        (1000, 0)
    );
    let u = Usage::from_bedrock(0, 0, None, Some(1000), &[], CacheTtl::FiveMinutes);
    assert_eq!(
        (u.cache_write_1h_tokens(), u.cache_write_5m_input_tokens()),
        (0, 1000)
    );
    // Details that add up to more than the reported total win.
    let u = Usage::from_bedrock(
        0,
        0,
        None,
        Some(10),
        &[(CacheTtl::OneHour, 30)],
        CacheTtl::FiveMinutes,
    );
    assert_eq!(
        (u.cache_write_input_tokens, u.cache_write_1h_input_tokens),
        (30, 30)
    );
}

#[test]
fn regional_profile_markup_is_applied_once() {
    // `us.` Sonnet 4.5 carries a 10% markup (PriceTable::lookup applies it);
    // the same usage as above costs exactly 1.1x, not 1.21x.
    let u = Usage {
        input_tokens: 200,
        output_tokens: 100,
        cache_write_input_tokens: 5000,
        cache_write_1h_input_tokens: 3000,
        ..Usage::default()
    };
    let regional = price(&table(&format!("us.{SONNET45}")), &u, Mode::Realtime).unwrap();
    // 200 x 3300 + 100 x 16500 + 2000 x 4125 + 3000 x 6600
    assert_eq!(
        regional.total_nanos,
        660_000 + 1_650_000 + 8_250_000 + 19_800_000
    );
    assert_eq!(regional.total_nanos, 30_360_000);
    // Through a loaded policy: the model's prices already hold the markup.
    let policy = common::policy();
    let m = &policy.models()[policy.model_by_alias("sonnet45").unwrap().index()];
    assert_eq!(m.prices.input, picos(3_300_000));
    assert_eq!(
        price(&m.prices, &u, Mode::Realtime).unwrap().total_nanos,
        30_360_000
    );
    let g = &policy.models()[policy.model_by_alias("sonnet45g").unwrap().index()];
    assert_eq!(
        price(&g.prices, &u, Mode::Realtime).unwrap().total_nanos,
        27_600_000
    );
}

#[test]
fn batch_calls_use_batch_prices() {
    // Sonnet 4 batch: in 1.50, out 7.50. 10000 x 1500 + 2000 x 7500.
    let u = Usage::new(10_000, 2_000);
    let c = price(&table(SONNET4), &u, Mode::Batch).unwrap();
    assert_eq!((c.input_nanos, c.output_nanos), (15_000_000, 15_000_000));
    assert_eq!(c.total_nanos, 30_000_000);
    let on_demand = price(&table(SONNET4), &u, Mode::Realtime).unwrap();
    assert_eq!(on_demand.total_nanos, 60_000_000);
    // Streaming is priced on demand.
    assert_eq!(price(&table(SONNET4), &u, Mode::Stream).unwrap(), on_demand);
}

#[test]
fn a_failed_call_with_zero_usage_costs_nothing() {
    let zero = Usage::default();
    for mode in [Mode::Realtime, Mode::Stream, Mode::Batch] {
        let c = price(&table(SONNET4), &zero, mode).unwrap();
        assert_eq!(c, tollgate_cost::CostBreakdown::default());
    }
    // Even for a model lacking the prices a non-zero call would need.
    let bare = Prices {
        input: picos(1),
        output: picos(1),
        ..Prices::default()
    };
    assert_eq!(price(&bare, &zero, Mode::Batch).unwrap().total_nanos, 0);
}

#[test]
fn the_long_context_tier_applies_only_above_its_threshold() {
    // Sonnet 4: above 200,000 prompt tokens, in 6.00 and out 22.50; cache
    // reads scale with the input ratio: 0.30 x 6/3 = 0.60.
    let at = Usage {
        input_tokens: 150_000,
        output_tokens: 1_000,
        cache_read_input_tokens: 50_000,
        ..Usage::default()
    };
    let c = price(&table(SONNET4), &at, Mode::Realtime).unwrap();
    assert!(!c.long_context);
    // 150000 x 3000 + 50000 x 300 + 1000 x 15000
    assert_eq!(c.total_nanos, 450_000_000 + 15_000_000 + 15_000_000);
    let above = Usage {
        cache_read_input_tokens: 50_001,
        ..at
    };
    let c = price(&table(SONNET4), &above, Mode::Realtime).unwrap();
    assert!(c.long_context);
    assert_eq!(c.input_nanos, 900_000_000); // 150000 x 6000
    assert_eq!(c.cache_read_nanos, 30_000_600); // 50001 x 600
    assert_eq!(c.output_nanos, 22_500_000); // 1000 x 22500
    assert_eq!(c.total_nanos, 952_500_600);
    // Batch in the tier: batch prices scaled the same way (1500 -> 3000, 7500 -> 11250).
    let b = price(&table(SONNET4), &Usage::new(200_001, 1000), Mode::Batch).unwrap();
    assert_eq!(b.total_nanos, 200_001 * 3000 + 1000 * 11_250);
}

#[test]
fn a_missing_price_is_an_error_not_zero() {
    // Claude 3 Haiku has no cache prices.
    let haiku3 = table("anthropic.claude-3-haiku-20240307-v1:0");
    let u = Usage {
        input_tokens: 100,
        cache_read_input_tokens: 1000,
        ..Usage::default()
    };
    assert_eq!(
        price(&haiku3, &u, Mode::Realtime),
        Err(CostError::MissingPrice(Component::CacheRead))
    );
    // Lenient: priced as uncached input (250 nanos/token), flagged.
    let (c, err) = price_lenient(&haiku3, &u, Mode::Realtime);
    assert_eq!(err, Some(CostError::MissingPrice(Component::CacheRead)));
    assert_eq!(c.total_nanos, 1100 * 250);
    // A batch call on a model without batch prices: on-demand, flagged.
    let titan = table("amazon.titan-embed-text-v2:0");
    let (c, err) = price_lenient(&titan, &Usage::new(1000, 0), Mode::Batch);
    assert_eq!(err, Some(CostError::MissingPrice(Component::BatchInput)));
    assert_eq!(titan.input, picos(20_000)); // $0.02/Mtok
    assert_eq!(c.total_nanos, 20_000); // 1000 x 20,000 picos
}

#[test]
fn overflow_is_an_error_never_a_panic() {
    let absurd = Prices {
        input: picos(u64::MAX / 2),
        output: picos(u64::MAX / 2),
        ..Prices::default()
    };
    // 6000 x 2^63 picos is about 3 x 2^64 nanos: above u64.
    let u = Usage::new(3000, 3000);
    assert_eq!(price(&absurd, &u, Mode::Realtime), Err(CostError::Overflow));
    let (c, err) = price_lenient(&absurd, &u, Mode::Realtime);
    assert_eq!((c.total_nanos, err), (u64::MAX, Some(CostError::Overflow)));
    // The largest real call fits: 2^31 tokens of each kind at $1000/Mtok.
    let dear = Prices {
        input: picos(1_000_000_000),
        output: picos(1_000_000_000),
        cache_read: Some(picos(1_000_000_000)),
        cache_write_5m: Some(picos(1_000_000_000)),
        ..Prices::default()
    };
    let n = u64::from(i32::MAX as u32);
    let big = Usage {
        input_tokens: n,
        output_tokens: n,
        cache_read_input_tokens: n,
        cache_write_input_tokens: n,
        cache_write_1h_input_tokens: 0,
    };
    assert_eq!(
        price(&dear, &big, Mode::Realtime).unwrap().total_nanos,
        4 * n * 1_000_000
    );
}

#[test]
fn sums_of_tiny_prices_stay_exact() {
    // Nova Micro input is $0.035/Mtok = 35 nanos/token; a million one-token
    // calls are exactly $0.035 (a float accumulator drifts).
    let nova = table("amazon.nova-micro-v1:0");
    assert_eq!(nova.input, picos(35_000));
    let one = price(&nova, &Usage::new(1, 0), Mode::Realtime)
        .unwrap()
        .total_nanos;
    let total: u64 = (0..1_000_000).map(|_| one).sum();
    assert_eq!(total, 35_000_000);
    let float: f64 = (0..1_000_000).map(|_| 0.035 / 1e6).sum();
    assert_ne!(float, 0.035, "the float sum drifts (why money is integer)");
}

#[test]
fn the_estimate_assumes_no_cache_and_the_whole_output_cap() {
    // Haiku 3.5: 500 input x 800 + 500 output x 4000.
    let haiku = table("us.anthropic.claude-3-5-haiku-20241022-v1:0");
    assert_eq!(
        tollgate_cost::estimate(&haiku, 500, 500, Mode::Realtime),
        2_400_000
    );
    assert_eq!(
        tollgate_cost::estimate(&haiku, 500, 500, Mode::Batch),
        1_200_000
    );
}

#[test]
fn long_context_with_a_half_price_ratio_rounds_half_up() {
    let p = Prices {
        input: picos(3),
        output: picos(10),
        cache_read: Some(picos(1)),
        long_context: Some(LongContext {
            threshold_tokens: 10,
            input: picos(4),
            output: picos(10),
        }),
        ..Prices::default()
    };
    // read 1 pico x 4/3 = 1.33 -> 1 pico per token: 3000 reads are 3 nanos
    // (an unrounded rate would make them 4).
    let u = Usage {
        input_tokens: 10_000,
        cache_read_input_tokens: 3_000,
        ..Usage::default()
    };
    let c = price(&p, &u, Mode::Realtime).unwrap();
    assert_eq!((c.input_nanos, c.cache_read_nanos), (40, 3));
}
