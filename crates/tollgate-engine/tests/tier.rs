//! `service_tier`, `latency` and `tier_fallback` on `[[route]]`: loaded,
//! carried in the decision by the compiled engine exactly as by the
//! reference interpreter, and written into the decision JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_engine::{compile, decide_reference, to_json, Request};
use tollgate_lang::{load_str, LoadOptions};
use tollgate_lang::{Latency, Tier};

const POLICY: &str = r#"
[policy]
name = "tiers"
default_model = "sonnet"

[attributes]
feature = "string"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[[route]]
name = "agent"
when = 'feature == "agent"'
model = "sonnet"
service_tier = "flex"
tier_fallback = false
fallback = ["haiku"]

[[route]]
name = "chat"
when = 'feature == "chat"'
model = "haiku"
service_tier = "priority"
latency = "optimized"

[[route]]
name = "plain"
when = 'feature == "plain"'
model = "haiku"
"#;

#[test]
fn the_route_tier_and_latency_are_decided_and_written() {
    let policy = load_str("tiers.toml", POLICY, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let routes: Vec<_> = policy
        .routes
        .iter()
        .map(|r| (r.then.service_tier, r.then.latency, r.then.tier_fallback))
        .collect();
    assert_eq!(
        routes,
        [
            (Some(Tier::Flex), None, false),
            (Some(Tier::Priority), Some(Latency::Optimized), true),
            (None, None, true),
        ]
    );
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let cases = [
        ("agent", Some(Tier::Flex), None, "\"flex\"", "null"),
        (
            "chat",
            Some(Tier::Priority),
            Some(Latency::Optimized),
            "\"priority\"",
            "\"optimized\"",
        ),
        ("plain", None, None, "null", "null"),
        ("other", None, None, "null", "null"),
    ];
    for (feature, tier, latency, tier_json, latency_json) in cases {
        let json = format!(r#"{{"feature": "{feature}"}}"#);
        let req = Request::parse(schema, &json).expect("parses");
        let ctx = req.context(schema);
        let d = compiled.decide(&ctx);
        assert_eq!(d, decide_reference(&policy, &ctx), "{feature}");
        assert_eq!((d.service_tier, d.latency), (tier, latency), "{feature}");
        let j = to_json(&policy, &d, &ctx);
        assert_eq!(
            j["route"]["service_tier"].to_string(),
            tier_json,
            "{feature}"
        );
        assert_eq!(j["route"]["latency"].to_string(), latency_json, "{feature}");
    }
}

/// `[[test]]` `expect` checks the route's tier and latency (`"none"`: the
/// route sets none); a wrong expectation is a mismatch naming both.
#[test]
fn test_cases_check_the_tier_and_latency() {
    let text = format!(
        r#"{POLICY}
[[test]]
name = "agent on flex"
request = {{ feature = "agent" }}
expect = {{ route = "agent", service_tier = "flex", latency = "none" }}

[[test]]
name = "chat on priority, optimized"
request = {{ feature = "chat" }}
expect = {{ service_tier = "priority", latency = "optimized" }}

[[test]]
name = "wrong"
request = {{ feature = "plain" }}
expect = {{ service_tier = "flex", latency = "standard" }}
"#
    );
    let policy = load_str("tiers.toml", &text, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let results = tollgate_engine::run_tests(&policy, &|ctx| compiled.decide(ctx));
    type Got = Vec<(String, Vec<(String, String, String)>)>;
    let got: Got = results
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.mismatches
                    .iter()
                    .map(|m| (m.what.clone(), m.expected.clone(), m.actual.clone()))
                    .collect(),
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        [
            (s("agent on flex"), vec![]),
            (s("chat on priority, optimized"), vec![]),
            (
                s("wrong"),
                vec![
                    (s("service_tier"), s("flex"), s("none")),
                    (s("latency"), s("standard"), s("none")),
                ]
            ),
        ]
    );
}

#[test]
fn a_bad_expected_tier_is_a_located_error() {
    let text = format!(
        r#"{POLICY}
[[test]]
name = "bad"
request = {{ feature = "agent" }}
expect = {{ service_tier = "cheap" }}
"#
    );
    let Err(err) = load_str("tiers.toml", &text, &LoadOptions::default()) else {
        panic!("a bad expected tier is refused");
    };
    let shown = err.render();
    assert!(
        shown.contains(
            "error[invalid-value]: expected service tier `cheap` is not one a route may ask for"
        ),
        "{shown}"
    );
}
