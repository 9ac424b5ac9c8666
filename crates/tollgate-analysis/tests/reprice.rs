//! Re-pricing recorded call events ([`Repricer`]) the way the gate prices a
//! call: its region, tier, latency option and mode. Every event below is a
//! Nova Pro call of 1,000,000 input and 1,000,000 output tokens recorded at
//! $1 (so that every figure is re-priced, not copied); the shipped table
//! prices Nova Pro per million input / output tokens at $0.80 / $3.20 in
//! us-east-1, $1.05 / $4.20 in eu-*, flex $0.40 / $1.60, priority
//! $1.40 / $5.60, latency-optimized $1.00 / $4.00, batch $0.40 / $1.60.
#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::{json, Value};
use std::path::Path;
use tollgate_analysis::Repricer;
use tollgate_cost::CallEvent;

/// The first event of `fixtures/spend.jsonl` made a Nova Pro call, then
/// `changes` laid over it.
fn event(changes: Value) -> CallEvent {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spend.jsonl"),
    )
    .unwrap();
    let mut v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.insert("version".into(), json!(2));
    o.insert("model".into(), json!("pro"));
    o.insert("model_id".into(), json!("amazon.nova-pro-v1:0"));
    o.insert("cost_nanos".into(), json!(1_000_000_000u64));
    o.insert(
        "usage".into(),
        json!({"input_tokens": 1_000_000, "output_tokens": 1_000_000,
               "cache_read_input_tokens": 0, "cache_write_input_tokens": 0,
               "cache_write_1h_input_tokens": 0}),
    );
    for (k, val) in changes.as_object().unwrap() {
        o.insert(k.clone(), val.clone());
    }
    serde_json::from_value(v).unwrap()
}

fn cost(region: Option<&str>, changes: Value) -> u64 {
    Repricer::new(None, region).cost(&event(changes))
}

#[test]
fn the_recorded_region_prices_the_call_and_the_flag_only_fills_a_missing_one() {
    assert_eq!(cost(None, json!({})), 4_000_000_000);
    assert_eq!(cost(Some("eu-west-1"), json!({})), 5_250_000_000);
    assert_eq!(cost(None, json!({"region": "eu-west-1"})), 5_250_000_000);
    assert_eq!(
        cost(Some("eu-west-1"), json!({"region": "us-east-1"})),
        4_000_000_000
    );
}

#[test]
fn tier_latency_and_batch_are_priced_as_recorded() {
    assert_eq!(cost(None, json!({"service_tier": "flex"})), 2_000_000_000);
    assert_eq!(
        cost(None, json!({"service_tier": "priority"})),
        7_000_000_000
    );
    assert_eq!(cost(None, json!({"latency": "optimized"})), 5_000_000_000);
    assert_eq!(cost(None, json!({"mode": "batch"})), 2_000_000_000);
}

#[test]
fn a_router_call_is_priced_at_its_invoked_model() {
    // Nova Micro at home: $0.035 + $0.14.
    assert_eq!(
        cost(
            Some("eu-west-1"),
            json!({"model_id": "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/amazon.nova:1",
                   "response_model_id": "amazon.nova-micro-v1:0"})
        ),
        175_000_000
    );
}

#[test]
fn an_unpriced_model_keeps_its_recorded_cost_and_is_named() {
    let mut r = Repricer::new(None, None);
    assert_eq!(
        r.cost(&event(
            json!({"model_id": "acme.private-v1", "region": "us-east-1"})
        )),
        1_000_000_000
    );
    assert_eq!(r.cost(&event(json!({}))), 4_000_000_000);
    let s = r.into_summary();
    assert_eq!(
        (
            s.events,
            s.without_region,
            s.kept,
            s.recorded_nanos,
            s.repriced_nanos
        ),
        (2, 1, 1, 2_000_000_000, 5_000_000_000)
    );
    assert_eq!(
        s.kept_models.into_iter().collect::<Vec<_>>(),
        vec!["acme.private-v1".to_owned()]
    );
}

#[test]
fn a_policy_model_with_inline_prices_keeps_them_in_every_region() {
    let policy = tollgate_lang::load_str(
        "inline.toml",
        r#"
[policy]
name = "inline"
default_model = "pro"

[models.pro]
id = "amazon.nova-pro-v1:0"
input_per_mtok = 2.0
output_per_mtok = 2.0
"#,
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("{}", e.render()))
    .policy;
    let mut r = Repricer::new(Some(&policy), Some("eu-west-1"));
    assert_eq!(r.cost(&event(json!({}))), 4_000_000_000);
    assert_eq!(
        r.cost(&event(json!({"region": "ap-northeast-1"}))),
        4_000_000_000
    );
}
