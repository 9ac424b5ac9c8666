//! Replay re-decides a learned-router policy on recorded calls. The gate
//! never records a prompt (it is always redacted), but it records the
//! router's outputs (`NAME.gain`, `NAME.gain_per_usd`) it decided on; replay
//! reads them back as attributes, so a new threshold is priced on last
//! week's scores without the prompts. The model file is the shipped one
//! (`rules/routers/routellm.model`), beside the policy as a user's would be.
//!
//! Prices, nano-dollars per token: strong (Claude Sonnet 4) 3,000 in /
//! 15,000 out; weak (Claude 3.5 Haiku) 800 in / 4,000 out.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use tollgate_analysis::{read_bytes, ServeGenTokens};
use tollgate_analysis::{replay, Format, ReplayOptions};
use tollgate_cost::{CallEvent, Timestamp, Usage};
use tollgate_engine::score_routers;
use tollgate_engine::{compile, CompiledPolicy, Context};
use tollgate_lang::RouterModel;
use tollgate_lang::{load_path, LoadOptions};

const HARD: &str = "Natalia sold clips to 48 of her friends in April, and then she sold \
half as many clips in May. How many clips did Natalia sell altogether in April and May? \
Show each step of the calculation.";
const EASY: &str = "Say hello.";

fn shipped_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules/routers/routellm.model")
}

/// A policy with the shipped router and one rule: the strong model at or
/// above `threshold` gain per dollar (`name` keeps the files apart).
fn policy(name: &str, threshold: f64) -> CompiledPolicy {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-router");
    std::fs::create_dir_all(dir.join("routers")).unwrap();
    std::fs::copy(shipped_model(), dir.join("routers/routellm.model")).unwrap();
    let text = format!(
        r#"
[policy]
name = "{name}"
default_model = "weak"

[attributes]
feature = "string"

[routers.routellm]
model = "routers/routellm.model"

[models.strong]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"
[models.weak]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[[route]]
name = "learned"
when = 'routellm.gain_per_usd >= {threshold:?}'
model = "strong"
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    let loaded = load_path(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    compile(loaded.policy).unwrap_or_else(|e| panic!("{e}"))
}

/// Two calls recorded as the gate records them: each prompt scored, the
/// decision taken, 1,000 input and 100 output tokens served.
fn recorded(p: &CompiledPolicy) -> (Vec<u8>, Vec<String>) {
    let pol = p.policy();
    let mut out = Vec::new();
    let mut models = Vec::new();
    for (i, prompt) in [HARD, EASY].into_iter().enumerate() {
        let mut ctx = Context::new(pol.schema());
        score_routers(pol, &mut ctx, prompt);
        let d = p.decide(&ctx);
        models.push(pol.models()[d.model.index()].alias.to_string());
        let ev = CallEvent::builder(pol, &d, &ctx)
            .served_model(d.model)
            .timestamp(Timestamp::from_unix_ms(1_800_000_000_000 + 1000 * i as i64))
            .usage(Usage::new(1000, 100))
            .build();
        ev.write_json_line(&mut out).unwrap();
    }
    (out, models)
}

#[test]
fn replay_re_decides_a_learned_threshold_on_the_recorded_scores() {
    let model = RouterModel::from_bytes(&std::fs::read(shipped_model()).unwrap()).unwrap();
    let (hard, easy) = (
        model.score(HARD).gain_per_usd,
        model.score(EASY).gain_per_usd,
    );
    assert!(hard > easy, "the router ranks the hard prompt higher");

    // Recorded under a threshold above both scores: both calls on weak.
    let before = policy("before", hard + 1.0);
    let (bytes, models) = recorded(&before);
    assert_eq!(models, ["weak", "weak"]);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("\"routellm.gain_per_usd\""), "{text}");
    assert!(!text.contains(HARD) && !text.contains(EASY), "{text}");

    let trace = read_bytes(
        "events.jsonl",
        &bytes,
        Format::Events,
        ServeGenTokens::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trace.requests.len(), 2);
    let opts = ReplayOptions {
        set: Vec::new(),
        baseline_model: None,
        progress: false,
        region: None,
    };

    // Weak: 1000 x 800 + 100 x 4,000 = 1,200,000 per call.
    let same = replay(&before, &trace, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (same.baseline_nanos, same.projected_nanos),
        (2_400_000, 2_400_000)
    );

    // A threshold between the two scores moves only the hard prompt to
    // strong: 1000 x 3,000 + 100 x 15,000 = 4,500,000.
    let after = policy("after", (hard + easy) / 2.0);
    let moved = replay(&after, &trace, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (moved.baseline_nanos, moved.projected_nanos),
        (2_400_000, 4_500_000 + 1_200_000)
    );

    // Below both: both on strong.
    let all = policy("all", easy - 1.0);
    let strong = replay(&all, &trace, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(strong.projected_nanos, 9_000_000);
}
