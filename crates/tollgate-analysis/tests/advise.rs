//! `advise` on hand-made call events (`fixtures/advise/calls.jsonl`, one
//! day, all on Claude 3.5 Haiku: 800 / 4,000 nano-dollars per input /
//! output token, 400 / 2,000 in batch, cache read 80 and 5-minute write
//! 1,000 per token): the estimates by hand, every advised rule parses, and
//! replay with the rule added to the policy the calls ran under reproduces
//! each estimate exactly, for every kind of advice with a dollar figure.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tollgate_analysis::Format;
use tollgate_analysis::{advise, AdviceKind};
use tollgate_analysis::{read_bytes, read_call_events, read_path};
use tollgate_analysis::{replay, ReplayOptions};
use tollgate_cost::CallEvent;

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
    let got: Vec<(AdviceKind, Option<&str>, u128)> = r
        .advice
        .iter()
        .map(|a| (a.kind, a.feature.as_deref(), a.daily_saving_nanos))
        .collect();
    assert_eq!(
        got,
        [
            // 2 x (12,000,000 on demand - 6,000,000 batch)
            (AdviceKind::Batch, Some("nightly"), 12_000_000),
            // p90 of 1,000..10,000 is 9,000: 1,000 tokens x 4,000
            (AdviceKind::OutputCap, Some("essay"), 4_000_000),
            // a call's tokens minus one attempt's share, rounded down:
            // (1,200,000 - (333 x 800 + 33 x 4,000)) + (1,200,000 -
            // (500 x 800 + 50 x 4,000))
            (AdviceKind::Retries, Some("agent"), 801_600 + 600_000),
            // calls at 60 s, 120 s (entry of 0 s) and 1,100 s (entry of
            // 1,000 s) hit; 280,000 each
            (AdviceKind::ResponseCache, Some("faq"), 840_000),
        ]
    );
    assert_eq!(r.days, 1);
    assert_eq!(
        r.advice[1].rule.as_deref(),
        Some("[[limit]]\nname = \"advised-cap-essay\"\nwhen = 'feature == \"essay\"'\nmax_output_tokens = 9000\n")
    );
}

/// The fixture's calls plus three calls of a `support` feature sharing one
/// 4,000-token system prompt (5,000 input and 100 output tokens each,
/// 4,400,000 nano-dollars) at 09:10:00, 09:11:40 and 09:18:20: the
/// prompt-cache advice, next to the fixture's four kinds.
fn all_kinds() -> Vec<CallEvent> {
    let (mut events, _) = read_call_events(&fixture("calls.jsonl")).unwrap();
    let one = events
        .iter()
        .find(|e| e.tags.feature.as_deref() == Some("faq"))
        .unwrap()
        .clone();
    for (i, t) in [0i64, 100, 500].into_iter().enumerate() {
        let mut e = one.clone();
        // 2025-03-04T09:10:00Z
        e.timestamp = tollgate_cost::Timestamp::from_unix_ms(1_741_079_400_000 + t * 1000);
        e.request_id = format!("s{i}");
        e.tags.feature = Some("support".into());
        e.attributes.insert("feature", serde_json::json!("support"));
        e.attributes
            .insert("system_tokens", serde_json::json!(4000));
        e.fingerprint.system = Some(tollgate_cost::Hash128(7));
        e.fingerprint.messages = Some(tollgate_cost::Hash128(1000 + i as u128));
        e.usage = tollgate_cost::Usage::new(5000, 100);
        e.cost_nanos = 5000 * 800 + 100 * 4000;
        events.push(e);
    }
    events.sort_by_key(|e| e.timestamp.unix_ms());
    events
}

#[test]
fn replay_with_each_advised_rule_reproduces_its_estimate() {
    let events = all_kinds();
    let mut jsonl = String::new();
    for e in &events {
        jsonl += &serde_json::to_string(e).unwrap();
        jsonl.push('\n');
    }
    let trace = read_bytes(
        "all.jsonl",
        jsonl.as_bytes(),
        Format::Events,
        Default::default(),
    )
    .unwrap();
    let base = replay(&policy(""), &trace, &ReplayOptions::default()).unwrap();
    assert_eq!(base.projected_nanos, base.baseline_nanos);
    let mut kinds = Vec::new();
    for a in advise(&events).advice {
        let rule = a.rule.unwrap();
        let with = policy(&rule);
        let r = replay(&with, &trace, &ReplayOptions::default()).unwrap();
        // Exactly, to the nano-dollar, for every kind.
        assert_eq!(
            base.projected_nanos - r.projected_nanos,
            a.saving_nanos,
            "{rule}"
        );
        kinds.push((a.kind, a.saving_nanos));
    }
    assert_eq!(
        kinds,
        [
            (AdviceKind::Batch, 12_000_000),
            (AdviceKind::OutputCap, 4_000_000),
            (AdviceKind::Retries, 1_401_600),
            // the first call writes 4,000 tokens (premium 200 each), the
            // second reads them (720 each saved), the third comes after
            // the 5 minutes and writes again
            (AdviceKind::PromptCache, 4000 * 720 - 2 * 4000 * 200),
            (AdviceKind::ResponseCache, 840_000),
        ]
    );
}

/// Replays `trace` under `policy`: the report, and the `agent` calls'
/// (attempts, input tokens, cost) in trace order.
fn replay_agent(
    policy: &tollgate_engine::CompiledPolicy,
    trace: &tollgate_analysis::Trace,
) -> (tollgate_analysis::Report, Vec<(u32, u64, u64)>) {
    let mut attempts = Vec::new();
    let mut sink = |e: &CallEvent| -> Result<(), String> {
        if e.tags.feature.as_deref() == Some("agent") {
            attempts.push((e.attempts, e.usage.input_tokens, e.cost_nanos));
        }
        Ok(())
    };
    let r = tollgate_analysis::replay_emitting(
        policy,
        trace,
        &ReplayOptions::default(),
        Some(&mut sink as tollgate_analysis::EventSink<'_>),
    )
    .unwrap();
    (r, attempts)
}

#[test]
fn replay_cuts_attempts_beyond_the_limit_and_says_so() {
    // The two retried `agent` calls (3 and 2 attempts, 1,000 + 100 tokens
    // each) under `max_attempts = 2`: the 3-attempt call keeps 2/3 of its
    // tokens (666 + 66), the 2-attempt one is within the limit.
    let trace = read_path(&fixture("calls.jsonl"), None, Default::default()).unwrap();
    let base = replay(&policy(""), &trace, &ReplayOptions::default()).unwrap();
    let with =
        policy("[[limit]]\nname = \"two\"\nwhen = 'feature == \"agent\"'\nmax_attempts = 2\n");
    let (r, attempts) = replay_agent(&with, &trace);
    assert_eq!(r.attempts_cut, 1);
    assert_eq!(
        base.projected_nanos - r.projected_nanos,
        1_200_000 - (666 * 800 + 66 * 4000)
    );
    assert_eq!(
        attempts,
        [
            (2, 666, 666 * 800 + 66 * 4000),
            (1, 1000, 1_200_000),
            (2, 1000, 1_200_000)
        ]
    );
    assert!(r
        .to_text()
        .contains("; attempts cut to the new max_attempts: 1\n"));
}

#[test]
fn replay_stops_retries_beyond_the_retry_budget_and_says_so() {
    // The `agent` calls in trace order: 3 attempts, 1, 2 (1,000 + 100
    // tokens, 1,200,000 nano-dollars each). The first may retry (no spend
    // yet): retries 1.2M of 1.2M; the second adds 1.2M to the total. At
    // the third, retries are 50% of the spend: a 10% budget stops them
    // (one attempt's share, 500 + 50 tokens), a 50% one lets them run.
    let trace = read_path(&fixture("calls.jsonl"), None, Default::default()).unwrap();
    let base = replay(&policy(""), &trace, &ReplayOptions::default()).unwrap();
    let limit = |pct: u32| {
        policy(&format!(
            "[[limit]]\nname = \"budget\"\nwhen = 'feature == \"agent\"'\nretry_budget_pct = {pct}\n"
        ))
    };
    let (r, attempts) = replay_agent(&limit(10), &trace);
    assert_eq!(r.retry_budget_cut, 1);
    assert_eq!(r.attempts_cut, 0);
    assert_eq!(
        attempts,
        [
            (3, 1000, 1_200_000),
            (1, 1000, 1_200_000),
            (1, 500, 500 * 800 + 50 * 4000)
        ]
    );
    assert_eq!(
        base.projected_nanos - r.projected_nanos,
        1_200_000 - (500 * 800 + 50 * 4000)
    );
    assert!(r
        .to_text()
        .contains("; retries stopped by retry_budget_pct: 1\n"));
    let lenient = replay(&limit(50), &trace, &ReplayOptions::default()).unwrap();
    assert_eq!(lenient.retry_budget_cut, 0);
    assert_eq!(lenient.projected_nanos, base.projected_nanos);
}

#[test]
fn a_recorded_prompt_cache_split_is_kept_and_a_policy_replays_itself_exactly() {
    // The `support` calls recorded as run under the prompt-cache rule
    // (first wrote, the others read or wrote as Bedrock said): replay of
    // that policy keeps the recorded usage, so it costs what was recorded.
    let mut events = all_kinds();
    let mut text = String::new();
    for e in events.iter_mut() {
        if e.tags.feature.as_deref() == Some("support") {
            e.rules.prompt_cache = Some("pc".into());
        }
        text += &serde_json::to_string(e).unwrap();
        text.push('\n');
    }
    let trace = read_bytes(
        "pc.jsonl",
        text.as_bytes(),
        Format::Events,
        Default::default(),
    )
    .unwrap();
    let with = policy(
        "[[prompt_cache]]\nname = \"pc\"\nwhen = 'feature == \"support\"'\npoints = [\"system\"]\nttl = \"5m\"\n",
    );
    let r = replay(&with, &trace, &ReplayOptions::default()).unwrap();
    assert_eq!(r.projected_nanos, r.baseline_nanos);
    assert_eq!(r.prompt_cache.reading, 0);
    // Without the recorded rule, the same policy simulates: one read.
    let trace = read_bytes(
        "pc.jsonl",
        text.replace("\"prompt_cache\":\"pc\"", "\"prompt_cache\":null")
            .as_bytes(),
        Format::Events,
        Default::default(),
    )
    .unwrap();
    let r = replay(&with, &trace, &ReplayOptions::default()).unwrap();
    assert_eq!(r.prompt_cache.reading, 1);
    assert_eq!(r.prompt_cache.eligible, 3);
    assert_eq!(
        r.baseline_nanos - r.projected_nanos,
        4000 * 720 - 2 * 4000 * 200
    );
    assert!(r
        .to_text()
        .contains("prompt cache: simulated (system prompts); 3 requests"));
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
        e.usage.input_tokens = 5000;
        e.fingerprint.system = Some(tollgate_cost::Hash128(7));
        e.attributes
            .insert("system_tokens", serde_json::json!(4000));
    }
    let r = advise(&events);
    assert_eq!(r.advice.len(), 1);
    let a = &r.advice[0];
    assert_eq!(a.kind, AdviceKind::PromptCache);
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
                .insert("latency", serde_json::json!("interactive"));
            e
        })
        .collect();
    let r = advise(&day);
    assert_eq!(r.advice.len(), 1);
    assert_eq!(r.advice[0].kind, AdviceKind::Provisioned);
    assert_eq!(r.advice[0].rule, None);
    assert_eq!(
        r.advice[0].finding,
        "`us.anthropic.claude-3-5-haiku-20241022-v1:0` holds 183 tokens/min at least 16 h every day (1 days): price units for that floor with `tollgate plan provisioned` and your AWS quote"
    );
}

/// Flex is advised for on-demand calls that can wait (tagged tolerant, or
/// tool-use turns) on a model that offers flex, with the on-demand minus
/// flex price as the saving; the rule parses and replay reproduces it.
#[test]
fn flex_is_advised_for_tolerant_and_tool_use_calls_on_a_model_that_offers_it() {
    let (events, _) = read_call_events(&fixture("calls.jsonl")).unwrap();
    let base = serde_json::to_value(&events[0]).unwrap();
    let call = |id: &str, model_id: &str, attrs: serde_json::Value, tier: Option<&str>| {
        let mut v = base.clone();
        v["request_id"] = id.into();
        v["model"] = "nova".into();
        v["model_id"] = model_id.into();
        v["attributes"] = attrs;
        v["fingerprint"]["messages"] = serde_json::Value::Null;
        v["usage"]["input_tokens"] = 1000.into();
        v["usage"]["output_tokens"] = 100.into();
        if let Some(t) = tier {
            v["service_tier"] = t.into();
        }
        serde_json::from_value::<CallEvent>(v).unwrap()
    };
    const NOVA_PRO: &str = "us.amazon.nova-pro-v1:0";
    const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    let agent = |extra: serde_json::Value| {
        let mut a =
            serde_json::json!({"feature": "agent", "latency": "interactive", "has_tools": false});
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    let evs = vec![
        call(
            "tools",
            NOVA_PRO,
            agent(serde_json::json!({"has_tools": true})),
            None,
        ),
        call(
            "tolerant",
            NOVA_PRO,
            agent(serde_json::json!({"latency": "tolerant"})),
            None,
        ),
        // Neither tolerant nor a tool-use turn.
        call("interactive", NOVA_PRO, agent(serde_json::json!({})), None),
        // Already on flex.
        call(
            "flex",
            NOVA_PRO,
            agent(serde_json::json!({"has_tools": true})),
            Some("flex"),
        ),
        // Haiku 3.5 offers no flex.
        call(
            "haiku",
            HAIKU,
            agent(serde_json::json!({"has_tools": true})),
            None,
        ),
    ];
    let r = advise(&evs);
    let flex: Vec<_> = r
        .advice
        .iter()
        .filter(|a| a.kind == AdviceKind::Flex)
        .collect();
    assert_eq!(flex.len(), 1, "{:?}", r.advice);
    // Nova Pro: 1,000 x (800 - 400) + 100 x (3,200 - 1,600) per call, two calls.
    assert_eq!(flex[0].daily_saving_nanos, 2 * (1000 * 400 + 100 * 1600));
    assert_eq!(flex[0].feature.as_deref(), Some("agent"));
    let rule = flex[0].rule.clone().unwrap();
    assert_eq!(
        rule,
        "[[route]]\nname = \"advised-flex-agent-nova\"\nwhen = 'feature == \"agent\" && (latency == \"tolerant\" || has_tools)'\nmodel = \"nova\"\nservice_tier = \"flex\"\n"
    );
    let policy = format!(
        "[policy]\nname = \"p\"\ndefault_model = \"nova\"\n\n[attributes]\nfeature = \"string\"\nlatency = \"string\"\nhas_tools = \"bool\"\n\n[models.nova]\nid = \"{NOVA_PRO}\"\n\n{rule}"
    );
    let loaded = tollgate_lang::load_str("p.toml", &policy, &Default::default())
        .unwrap_or_else(|e| panic!("{}\n{policy}", e.render()));
    let routes: Vec<_> = loaded
        .policy
        .routes
        .iter()
        .map(|r| r.then.service_tier)
        .collect();
    assert_eq!(routes, [Some(tollgate_lang::Tier::Flex)]);
}
