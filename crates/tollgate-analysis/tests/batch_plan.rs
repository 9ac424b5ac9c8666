//! `plan_batch` on hand-made call events (`fixtures/advise/calls.jsonl`,
//! all on Claude 3.5 Haiku: 800 / 4,000 nano-dollars per input / output
//! token on demand, 400 / 2,000 in batch), checked by hand and against
//! replay with the same `[[batch]]` rule.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tollgate_analysis::{compile_when, plan_batch, BatchRow, NoFlex, Selector};
use tollgate_analysis::{read_call_events, read_path};
use tollgate_analysis::{replay, ReplayOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/advise")
        .join(name)
}

fn policy(extra: &str) -> tollgate_engine::CompiledPolicy {
    let text = std::fs::read_to_string(fixture("base.toml")).unwrap() + extra;
    let l = tollgate_lang::load_str("base.toml", &text, &Default::default())
        .map_err(|e| e.render())
        .unwrap();
    tollgate_engine::compile(l.policy).unwrap()
}

const BATCH_RULE: &str = "
[[batch]]
name = \"offline\"
when = 'feature in [\"nightly\", \"essay\"]'
";

#[test]
fn when_expression_selects_the_tolerant_calls() {
    let (events, skipped) = read_call_events(&fixture("calls.jsonl")).unwrap();
    assert_eq!((events.len(), skipped), (21, 0));
    let c = policy("");
    let sel = compile_when(c.policy(), "latency == \"tolerant\"").unwrap();
    let plan = plan_batch(&c, &events, &sel);
    // 2 calls of 10,000 in + 1,000 out: 12,000,000 each on demand,
    // 4,000,000 + 2,000,000 in batch.
    let nightly = BatchRow {
        feature: "nightly".into(),
        requests: 2,
        current_nanos: 24_000_000,
        batch_nanos: 12_000_000,
        // Haiku 3.5 offers no flex: counted as recorded.
        flex_requests: 0,
        flex_nanos: 24_000_000,
    };
    assert_eq!(plan.rows, vec![nightly]);
    assert_eq!(plan.total.saving_nanos(), 12_000_000);
    assert_eq!(plan.total.flex_saving_nanos(), 0);
    assert_eq!(plan.days, 1);
    assert_eq!(
        plan.no_flex,
        vec![NoFlex {
            model: "haiku".into(),
            model_id: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
            requests: 2,
        }]
    );
}

#[test]
fn policy_batch_rules_select_and_replay_agrees() {
    let (events, _) = read_call_events(&fixture("calls.jsonl")).unwrap();
    let c = policy(BATCH_RULE);
    let plan = plan_batch(&c, &events, &Selector::Policy);
    // essay: 10 calls of 100 in, 1,000..10,000 out (55,000 in all):
    // 800,000 + 220,000,000 on demand, 400,000 + 110,000,000 in batch.
    assert_eq!(
        plan.rows,
        vec![
            BatchRow {
                feature: "essay".into(),
                requests: 10,
                current_nanos: 220_800_000,
                batch_nanos: 110_400_000,
                flex_requests: 0,
                flex_nanos: 220_800_000,
            },
            BatchRow {
                feature: "nightly".into(),
                requests: 2,
                current_nanos: 24_000_000,
                batch_nanos: 12_000_000,
                flex_requests: 0,
                flex_nanos: 24_000_000,
            },
        ]
    );
    let trace = read_path(&fixture("calls.jsonl"), None, Default::default()).unwrap();
    let base = replay(&policy(""), &trace, &ReplayOptions::default()).unwrap();
    let moved = replay(&c, &trace, &ReplayOptions::default()).unwrap();
    assert_eq!(base.projected_nanos, base.baseline_nanos);
    assert_eq!(
        base.projected_nanos - moved.projected_nanos,
        plan.total.saving_nanos()
    );
}

#[test]
fn a_badly_typed_when_is_a_located_error() {
    let c = policy("");
    let e = compile_when(c.policy(), "latency == 3").unwrap_err();
    assert!(
        e.starts_with(
            "--when:1:1: error[type-mismatch]: cannot compare `string` with `int` using `==`"
        ),
        "{e}"
    );
    let e = compile_when(c.policy(), "featur == \"x\"").unwrap_err();
    assert!(e.contains("featur"), "{e}");
}
