//! `advise` on hand-made call events (`fixtures/advise/calls.jsonl`, one
//! day, all on Claude 3.5 Haiku: 800 / 4,000 nano-dollars per input /
//! output token, 400 / 2,000 in batch): the estimates by hand, every
//! advised rule parses, and replay with the rule added to the policy the
//! calls ran under reproduces each estimate exactly (the kinds replay can
//! simulate: response cache, output cap, batch).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tollgate_analysis::advise::{advise, Kind};
use tollgate_analysis::input::{read_call_events, read_path};
use tollgate_analysis::{replay, ReplayOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/advise")
        .join(name)
}

fn policy(extra: &str) -> tollgate_engine::CompiledPolicy {
    let text = std::fs::read_to_string(fixture("base.toml")).unwrap() + "\n" + extra;
    let l = tollgate_lang::load_str("base.toml", &text, &Default::default())
        .map_err(|e| e.render())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    tollgate_engine::compile(l.policy).unwrap()
}

#[test]
fn advice_is_ranked_with_the_hand_computed_savings() {
    let (events, _) = read_call_events(&fixture("calls.jsonl")).unwrap();
    let r = advise(&events);
    let got: Vec<(Kind, Option<&str>, u128)> = r
        .advice
        .iter()
        .map(|a| (a.kind, a.feature.as_deref(), a.daily_saving_nanos))
        .collect();
    assert_eq!(
        got,
        [
            // 2 x (12,000,000 on demand - 6,000,000 batch)
            (Kind::Batch, Some("nightly"), 12_000_000),
            // p90 of 1,000..10,000 is 9,000: 1,000 tokens x 4,000
            (Kind::OutputCap, Some("essay"), 4_000_000),
            // 1,200,000 x 2/3 + 1,200,000 x 1/2
            (Kind::Retries, Some("agent"), 1_400_000),
            // calls at 60 s, 120 s (entry of 0 s) and 1,100 s (entry of
            // 1,000 s) hit; 280,000 each
            (Kind::ResponseCache, Some("faq"), 840_000),
        ]
    );
    assert_eq!(r.days, 1);
    assert_eq!(
        r.advice[1].rule.as_deref(),
        Some("[[limit]]\nname = \"advised-cap-essay\"\nwhen = 'feature == \"essay\"'\nmax_output_tokens = 9000\n")
    );
}

#[test]
fn replay_with_each_advised_rule_reproduces_its_estimate() {
    let (events, _) = read_call_events(&fixture("calls.jsonl")).unwrap();
    let trace = read_path(&fixture("calls.jsonl"), None, Default::default()).unwrap();
    let base = replay(&policy(""), &trace, &ReplayOptions::default()).unwrap();
    assert_eq!(base.projected_nanos, base.baseline_nanos);
    let mut checked = 0;
    for a in advise(&events).advice {
        let rule = a.rule.unwrap();
        let with = policy(&rule);
        if a.kind == Kind::Retries {
            continue; // replay does not model attempts
        }
        let r = replay(&with, &trace, &ReplayOptions::default()).unwrap();
        assert_eq!(
            base.projected_nanos - r.projected_nanos,
            a.saving_nanos,
            "{rule}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn a_shared_long_system_prompt_gets_a_prompt_cache_rule() {
    // Three calls with one 4,000-token system prompt (attribute
    // `system_tokens`), at 0, 100 and 500 s: the first writes (premium
    // 1,000 - 800 = 200 per token), the second reads (800 - 80 = 720 per
    // token saved), the third comes after the 5 minutes and writes again.
    let (mut events, _) = read_call_events(&fixture("calls.jsonl")).unwrap();
    events.retain(|e| e.tags.feature.as_deref() == Some("agent"));
    for (e, t) in events.iter_mut().zip([0i64, 100, 500]) {
        e.timestamp = tollgate_cost::Timestamp::from_unix_ms(1_700_000_000_000 + t * 1000);
        e.attempts = 1;
        e.fingerprint.system = Some(tollgate_cost::Hash128(7));
        e.attributes
            .insert("system_tokens".into(), serde_json::json!(4000));
    }
    let r = advise(&events);
    assert_eq!(r.advice.len(), 1);
    let a = &r.advice[0];
    assert_eq!(a.kind, Kind::PromptCache);
    assert_eq!(a.saving_nanos, 4000 * 720 - 2 * 4000 * 200);
    let text = std::fs::read_to_string(fixture("base.toml"))
        .unwrap()
        .replacen(
            "latency = \"string\"\n",
            "latency = \"string\"\nsystem_tokens = \"int\"\n",
            1,
        )
        + "\n"
        + a.rule.as_deref().unwrap();
    tollgate_lang::load_str("p.toml", &text, &Default::default())
        .map_err(|e| e.render())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
}

#[test]
fn a_full_day_of_traffic_gets_a_provisioned_floor_note() {
    // One call of 10,000 + 1,000 tokens every hour for 24 hours: 183
    // tokens/min held all day; no rule, no saving without a unit quote.
    let (events, _) = read_call_events(&fixture("calls.jsonl")).unwrap();
    let one = events
        .iter()
        .find(|e| e.tags.feature.as_deref() == Some("nightly"))
        .unwrap();
    let day: Vec<_> = (0..24i64)
        .map(|h| {
            let mut e = one.clone();
            e.timestamp = tollgate_cost::Timestamp::from_unix_ms(1_700_006_400_000 + h * 3_600_000);
            e.attributes
                .insert("latency".into(), serde_json::json!("interactive"));
            e
        })
        .collect();
    let r = advise(&day);
    assert_eq!(r.advice.len(), 1);
    assert_eq!(r.advice[0].kind, Kind::Provisioned);
    assert_eq!(r.advice[0].rule, None);
    assert_eq!(
        r.advice[0].finding,
        "`us.anthropic.claude-3-5-haiku-20241022-v1:0` holds 183 tokens/min at least 16 h every day (1 days): price units for that floor with `tollgate plan provisioned` and your AWS quote"
    );
}
