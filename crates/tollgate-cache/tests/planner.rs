//! The prompt-cache planner, every case computed by hand from the built-in
//! price table (nano-dollars per token):
//!
//! | model | input | 5m write | 1h write | read | minimum |
//! |---|---|---|---|---|---|
//! | Claude Sonnet 4 | 3000 | 3750 | - | 300 | 1024 |
//! | Claude Haiku 4.5 | 1000 | 1250 | 2000 | 100 | 4096 |
//! | Nova Micro | 35 | 35 | - | 9 | 1024 |
//! | Claude 3 Haiku | 250 | - | - | - | - |
//!
//! Break-even reuse r* = (write - input) / (input - read): Sonnet 4 5m
//! 750/2700 = 0.278; Haiku 4.5 5m 250/900 = 0.278, 1h 1000/900 = 1.111;
//! Nova 0/26 = 0.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_cache::{
    Plan, PlannerConfig, Point, PromptCachePlanner, PromptTtl, Segments, SkipReason, Skipped, Usage,
};
use tollgate_engine::{decide_reference, Request};
use tollgate_lang::PriceTable;
use tollgate_lang::{load_str, LoadOptions};
use tollgate_lang::{CachePointSite, Model, PromptCache};

use CachePointSite::{Messages, System, Tools};

const SONNET4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
// `global.`: the geographic profiles carry the 4.5 models' 10% regional premium.
const HAIKU45: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
const NOVA_MICRO: &str = "us.amazon.nova-micro-v1:0";
const HAIKU3: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn model(id: &str) -> Model {
    Model {
        alias: id.into(),
        id: id.into(),
        prices: PriceTable::builtin().lookup(id).unwrap(),
        max_output_tokens: None,
        prompt_cache_min_tokens: None,
        span: Default::default(),
    }
}

fn rule(points: &[CachePointSite], ttl_s: u64, expected_reuse: Option<f64>) -> PromptCache {
    PromptCache {
        points: points.to_vec(),
        ttl_s,
        expected_reuse,
    }
}

fn seg(tools: u32, system: u32, messages: u32) -> Segments {
    Segments {
        tools,
        system,
        messages,
    }
}

fn sites(p: &Plan) -> Vec<(CachePointSite, u64)> {
    p.points.iter().map(|p| (p.site, p.prefix_tokens)).collect()
}

fn losses(p: &Plan) -> Vec<CachePointSite> {
    p.skipped
        .iter()
        .filter(|s| s.reason == SkipReason::LosesMoney)
        .map(|s| s.site)
        .collect()
}

#[test]
fn planner_places_points_only_where_the_prefix_reaches_the_minimum() {
    let planner = PromptCachePlanner::default();
    let r = rule(&[Tools, System, Messages], 300, Some(3.0));
    let plan = planner.plan("r", &r, &model(SONNET4), seg(300, 900, 2500));
    // tools: prefix 300 < 1024. system: prefix 1200 (Δ 1200). messages:
    // prefix 3700 (Δ 2500). r = 3.0 (prior only).
    assert_eq!(
        plan.points,
        vec![
            Point {
                site: System,
                prefix_tokens: 1200,
                new_tokens: 1200,
                write_premium_nanos: 1200 * 750,
                expected_saving_nanos: 3.0 * 1200.0 * 2700.0,
            },
            Point {
                site: Messages,
                prefix_tokens: 3700,
                new_tokens: 2500,
                write_premium_nanos: 2500 * 750,
                expected_saving_nanos: 3.0 * 2500.0 * 2700.0,
            },
        ]
    );
    assert_eq!(
        plan.skipped,
        vec![Skipped {
            site: Tools,
            reason: SkipReason::BelowMinimum {
                prefix_tokens: 300,
                min_tokens: 1024
            }
        }]
    );
    assert_eq!(plan.ttl, PromptTtl::FiveMinutes);
    let e = plan.economics.unwrap();
    assert_eq!(
        (e.input_nanos, e.write_nanos, e.read_nanos),
        (3000, 3750, 300)
    );
    assert_eq!(e.expected_reuse, 3.0);
    assert!((e.break_even_reuse - 750.0 / 2700.0).abs() < 1e-12);
    assert!(!plan.probe);
}

#[test]
fn planner_minimum_is_per_model_and_policy_overridable() {
    let planner = PromptCachePlanner::default();
    let r = rule(&[Tools, System], 300, Some(3.0));
    // Haiku 4.5 needs 4,096: tools 3,000 is short, tools + system 5,000 is not.
    let plan = planner.plan("r", &r, &model(HAIKU45), seg(3000, 2000, 0));
    assert_eq!(sites(&plan), vec![(System, 5000)]);
    assert_eq!(plan.points[0].new_tokens, 5000);
    // A policy's own minimum wins over the table's.
    let strict = Model {
        prompt_cache_min_tokens: Some(8192),
        ..model(HAIKU45)
    };
    let plan = planner.plan("r", &r, &strict, seg(3000, 2000, 0));
    assert!(plan.points.is_empty());
    assert_eq!(
        plan.skipped[1].reason,
        SkipReason::BelowMinimum {
            prefix_tokens: 5000,
            min_tokens: 8192
        }
    );
}

#[test]
fn planner_skips_a_site_that_adds_no_tokens() {
    let planner = PromptCachePlanner::default();
    let r = rule(&[Tools, System], 300, Some(3.0));
    let plan = planner.plan("r", &r, &model(SONNET4), seg(0, 2000, 500));
    assert_eq!(sites(&plan), vec![(System, 2000)]);
    assert_eq!(
        plan.skipped,
        vec![Skipped {
            site: Tools,
            reason: SkipReason::Empty
        }]
    );
}

#[test]
fn planner_money_test_weighs_reuse_against_the_write_premium() {
    let planner = PromptCachePlanner::default();
    let haiku = model(HAIKU45);
    let s = seg(0, 5000, 0);
    // r = 0.5: pays at 5m (0.5 x 900 = 450 > 250), loses at 1h (450 < 1000).
    let five = planner.plan("five", &rule(&[System], 300, Some(0.5)), &haiku, s);
    assert_eq!(sites(&five), vec![(System, 5000)]);
    assert_eq!(five.points[0].write_premium_nanos, 5000 * 250);
    assert_eq!(five.points[0].expected_saving_nanos, 0.5 * 5000.0 * 900.0);
    let hour = planner.plan("hour", &rule(&[System], 3600, Some(0.5)), &haiku, s);
    assert!(hour.points.is_empty());
    assert_eq!(losses(&hour), vec![System]);
    assert_eq!(hour.ttl, PromptTtl::OneHour);
    assert_eq!(hour.economics.unwrap().write_nanos, 2000);
    // Either side of r* = 1.111 at 1h.
    let below = planner.plan("b", &rule(&[System], 3600, Some(1.1)), &haiku, s);
    assert!(below.points.is_empty());
    let above = planner.plan("a", &rule(&[System], 3600, Some(1.2)), &haiku, s);
    assert_eq!(above.points[0].write_premium_nanos, 5000 * 1000);
    assert_eq!(above.points[0].expected_saving_nanos, 1.2 * 5000.0 * 900.0);
}

#[test]
fn planner_without_history_or_rule_prior_uses_the_default() {
    let planner = PromptCachePlanner::default();
    // Default r = 2.0: pays even at 1h (1,800 > 1,000).
    let plan = planner.plan(
        "r",
        &rule(&[System], 3600, None),
        &model(HAIKU45),
        seg(0, 5000, 0),
    );
    assert_eq!(plan.economics.unwrap().expected_reuse, 2.0);
    assert_eq!(sites(&plan), vec![(System, 5000)]);
}

#[test]
fn planner_learns_reuse_from_observed_usage() {
    let planner = PromptCachePlanner::default();
    let haiku = model(HAIKU45);
    let r = rule(&[System], 3600, Some(0.5));
    let s = seg(0, 5000, 0);
    assert!(planner.plan("kb", &r, &haiku, s).points.is_empty());
    // Reads 4 per write: r = (200,000 + 0.5 x 50,000) / (50,000 + 50,000) = 2.25.
    planner.observe(
        "kb",
        HAIKU45,
        &Usage {
            input: 10,
            output: 10,
            cache_read: 200_000,
            cache_write: 50_000,
        },
    );
    let plan = planner.plan("kb", &r, &haiku, s);
    let e = plan.economics.unwrap();
    assert_eq!(e.expected_reuse, 2.25);
    assert_eq!(
        (e.observed_read_tokens, e.observed_write_tokens),
        (200_000, 50_000)
    );
    assert_eq!(sites(&plan), vec![(System, 5000)]);
    // History is per (rule, model): another rule or model starts from its prior.
    assert_eq!(
        planner
            .plan("other", &r, &haiku, s)
            .economics
            .unwrap()
            .expected_reuse,
        0.5
    );
    // Writes that are never read pull it back down:
    // r = (200,000 + 25,000) / (450,000 + 50,000) = 0.45.
    planner.observe(
        "kb",
        HAIKU45,
        &Usage {
            cache_write: 400_000,
            ..Usage::default()
        },
    );
    let plan = planner.plan("kb", &r, &haiku, s);
    assert_eq!(plan.economics.unwrap().expected_reuse, 0.45);
    assert!(plan.points.is_empty());
}

#[test]
fn planner_history_halves_past_its_window() {
    let planner = PromptCachePlanner::new(PlannerConfig {
        window_write_tokens: 100_000,
        ..PlannerConfig::default()
    });
    let u = Usage {
        cache_read: 30_000,
        cache_write: 120_000,
        ..Usage::default()
    };
    planner.observe("kb", HAIKU45, &u);
    let plan = planner.plan(
        "kb",
        &rule(&[System], 300, Some(1.0)),
        &model(HAIKU45),
        seg(0, 5000, 0),
    );
    let e = plan.economics.unwrap();
    assert_eq!(
        (e.observed_read_tokens, e.observed_write_tokens),
        (15_000, 60_000)
    );
    // r = (15,000 + 50,000) / (60,000 + 50,000)
    assert_eq!(e.expected_reuse, 65_000.0 / 110_000.0);
}

#[test]
fn planner_probes_every_nth_losing_plan() {
    let planner = PromptCachePlanner::new(PlannerConfig {
        probe_every: 3,
        ..PlannerConfig::default()
    });
    let r = rule(&[System], 3600, Some(0.5));
    let haiku = model(HAIKU45);
    let placed: Vec<(bool, usize)> = (0..6)
        .map(|_| {
            let p = planner.plan("kb", &r, &haiku, seg(0, 5000, 0));
            (p.probe, p.points.len())
        })
        .collect();
    assert_eq!(
        placed,
        vec![
            (false, 0),
            (false, 0),
            (true, 1),
            (false, 0),
            (false, 0),
            (true, 1)
        ]
    );
}

#[test]
fn planner_nova_has_no_write_premium() {
    let planner = PromptCachePlanner::default();
    let nova = model(NOVA_MICRO);
    let p = planner.plan(
        "n",
        &rule(&[System], 300, Some(0.01)),
        &nova,
        seg(0, 2000, 0),
    );
    assert_eq!(p.economics.unwrap().break_even_reuse, 0.0);
    assert_eq!(p.points[0].write_premium_nanos, 0);
    assert_eq!(p.points[0].expected_saving_nanos, 0.01 * 2000.0 * 26.0);
    // No reuse at all: nothing to gain, no point.
    let p = planner.plan(
        "z",
        &rule(&[System], 300, Some(0.0)),
        &nova,
        seg(0, 2000, 0),
    );
    assert!(p.points.is_empty());
}

#[test]
fn planner_needs_cache_prices_for_the_ttl() {
    let planner = PromptCachePlanner::default();
    let p = planner.plan(
        "r",
        &rule(&[Tools, System], 300, Some(5.0)),
        &model(HAIKU3),
        seg(2000, 2000, 0),
    );
    assert!(p.points.is_empty());
    assert_eq!(p.economics, None);
    assert_eq!(
        p.skipped
            .iter()
            .map(|s| (s.site, s.reason))
            .collect::<Vec<_>>(),
        vec![
            (Tools, SkipReason::NoCachePrices),
            (System, SkipReason::NoCachePrices)
        ]
    );
    // Sonnet 4 has no 1-hour write price.
    let p = planner.plan(
        "r",
        &rule(&[System], 3600, Some(5.0)),
        &model(SONNET4),
        seg(0, 2000, 0),
    );
    assert_eq!(p.skipped[0].reason, SkipReason::NoCachePrices);
}

const POLICY: &str = r#"
[policy]
name = "t"
default_model = "sonnet"

[attributes]
feature = "string"
system_tokens = "int"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[prompt_cache]]
name = "agent-tools"
when = 'feature == "agent" && system_tokens >= 1024'
points = ["tools", "system"]
ttl = "5m"
expected_reuse = 6.0
"#;

#[test]
fn planner_follows_the_decision() {
    let policy = load_str("t.toml", POLICY, &LoadOptions::default())
        .unwrap()
        .policy;
    let planner = PromptCachePlanner::default();
    let req = Request::parse(
        policy.schema(),
        r#"{"feature": "agent", "system_tokens": 1500}"#,
    )
    .unwrap();
    let ctx = req.context(policy.schema());
    let d = decide_reference(&policy, &ctx);
    // Tools 1,100 reach the minimum alone; system adds 1,500.
    let plan = planner
        .plan_decision(&policy, &d, seg(1100, 1500, 800))
        .unwrap();
    assert_eq!(sites(&plan), vec![(Tools, 1100), (System, 2600)]);
    assert_eq!(plan.points[1].new_tokens, 1500);
    assert_eq!(plan.economics.unwrap().expected_reuse, 6.0);
    // No rule matched: no plan.
    let req = Request::parse(policy.schema(), r#"{"feature": "chat"}"#).unwrap();
    let ctx = req.context(policy.schema());
    let d = decide_reference(&policy, &ctx);
    assert_eq!(
        planner.plan_decision(&policy, &d, seg(1100, 1500, 800)),
        None
    );
}
