//! `tollgate plan provisioned` end to end on a hand-made one-day Mooncake
//! file: 8 hours of 600 prompt tokens, 15 of 6,000, one (20:00) of 12,000,
//! one request an hour, priced on the fixture policy's `big` model (2,000
//! nano-dollars per prompt token).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn analysis_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tollgate-analysis/tests/fixtures")
        .join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn plan(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["plan", "provisioned", "--rules"])
        .arg(analysis_fixture("policy.toml"))
        .args([
            "--model",
            "big",
            "--unit-tokens-per-minute",
            "50",
            "--unit-usd-per-hour",
            "1",
        ])
        .args(extra)
        .arg(fixture("one-day.jsonl"))
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// Hand computation: tokens per minute are 10 (8 h), 100 (15 h), 200 (1 h):
// the 16th-highest hour is 100, so 2 units of 50; the peak needs 4.
// On demand: 106,800 tokens x 2,000 nanos = $0.2136 a day, x 30 = $6.41.
// Spill: 2 units serve 6,000 tokens an hour; only 20:00 (12,000) spills,
// half its $0.024, x 30 = $0.36.
#[test]
fn plan_provisioned_prints_the_hand_computed_plan() {
    assert_eq!(
        plan(&[]),
        "measured 24 h (1 full days, 0 h with no traffic)
floor (rate held >= 16 h every day): 100 tokens/min (median day 100); peak hour 200 tokens/min
one unit: 50 tokens/min at $1.00/h (your quote; Bedrock does not publish them)
recommended: 2 units at the floor (4 for the peak)
a 30-day month:
  all on demand                      $6.41
  floor units + spill            $1,440.36  ($1,440.00 units + $0.36 on-demand spill)
  units for the peak             $2,880.00
prices: on demand in us-east-1 (default)
"
    );
}

#[test]
fn plan_provisioned_json_has_the_exact_figures() {
    let v: serde_json::Value = serde_json::from_str(&plan(&["--json"])).unwrap();
    assert_eq!(v["floor_tokens_per_minute"], 100);
    assert_eq!(v["peak_tokens_per_minute"], 200);
    assert_eq!(v["recommended_units"], 2);
    assert_eq!(v["peak_units"], 4);
    assert_eq!(v["month_on_demand_usd"], 6.408);
    assert_eq!(v["month_floor_spill_usd"], 0.36);
    assert_eq!(v["month_floor_usd"], 1440.36);
    assert_eq!(v["model"], "big");
}

fn advise_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tollgate-analysis/tests/fixtures/advise")
        .join(name)
}

#[test]
fn plan_batch_prints_the_hand_computed_saving() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["plan", "batch", "--rules"])
        .arg(advise_fixture("base.toml"))
        .args(["--when", "latency == \"tolerant\""])
        .arg(advise_fixture("calls.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "21 calls over 1 day; moved to batch: those selected by `latency == \"tolerant\"`

feature                 requests      current        batch       saving  saving%         flex  flex saving  saving%
nightly                        2        $0.02        $0.01        $0.01    50.0%            -            -        -
total                          2        $0.02        $0.01        $0.01    50.0%            -            -        -
per day: $0.01 saved
note: no flex tier on haiku (us.anthropic.claude-3-5-haiku-20241022-v1:0): its 2 calls count as recorded under flex
prices: each call's recorded source region; us-east-1 (default) for calls that record none
"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["plan", "batch", "--json", "--rules"])
        .arg(advise_fixture("base.toml"))
        .args(["--when", "latency == \"tolerant\""])
        .arg(advise_fixture("calls.jsonl"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"]["current_nanos"], 24_000_000);
    assert_eq!(v["total"]["batch_nanos"], 12_000_000);
    assert_eq!(v["by_feature"][0]["feature"], "nightly");
}

// `fixtures/flex-calls.jsonl` under `fixtures/flex-policy.toml`'s batch rule
// (agent and summaries; the chat call is not selected), by hand:
// agent, Nova Pro ($0.80 / $3.20 per Mtok, cache read $0.20; batch and flex
// $0.40 / $1.60, flex cache read $0.10): two calls of 1M in and 100k out,
// the second also reading 2M cached tokens. Recorded $1.12 + $1.52 = $2.64;
// batch (no caching: cached tokens at the input price) $0.56 + $1.36 =
// $1.92; flex $0.56 + $0.76 = $1.32.
// summaries, Claude 3.5 Haiku ($0.80 / $4.00, batch $0.40 / $2.00, no
// flex): two calls of 1M in and 100k out. Recorded $2.40, batch $1.20,
// flex: none, as recorded ($2.40).
#[test]
fn plan_batch_shows_flex_beside_batch() {
    let run = |json: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["plan", "batch", "--rules"])
            .arg(fixture("flex-policy.toml"))
            .args(json)
            .arg(fixture("flex-calls.jsonl"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        run(&[]),
        "5 calls over 1 day; moved to batch: those selected by the policy's [[batch]] rules

feature                 requests      current        batch       saving  saving%         flex  flex saving  saving%
agent                          2        $2.64        $1.92        $0.72    27.3%        $1.32        $1.32    50.0%
summaries                      2        $2.40        $1.20        $1.20    50.0%            -            -        -
total                          4        $5.04        $3.12        $1.92    38.1%        $3.72        $1.32    26.2%
per day: $1.92 saved
per day at flex instead: $1.32 saved
note: no flex tier on haiku (us.anthropic.claude-3-5-haiku-20241022-v1:0): its 2 calls count as recorded under flex
prices: each call's recorded source region; us-east-1 (default) for calls that record none
"
    );
    let v: serde_json::Value = serde_json::from_str(&run(&["--json"])).unwrap();
    let agent = &v["by_feature"][0];
    assert_eq!(agent["feature"], "agent");
    assert_eq!(agent["current_nanos"], 2_640_000_000u64);
    assert_eq!(agent["batch_nanos"], 1_920_000_000u64);
    assert_eq!(agent["flex_requests"], 2);
    assert_eq!(agent["flex_nanos"], 1_320_000_000u64);
    assert_eq!(agent["flex_saving_nanos"], 1_320_000_000u64);
    assert_eq!(agent["flex_saving_pct"], 50.0);
    let summaries = &v["by_feature"][1];
    assert_eq!(summaries["flex_requests"], 0);
    assert_eq!(summaries["flex_nanos"], serde_json::Value::Null);
    assert_eq!(summaries["flex_usd"], serde_json::Value::Null);
    assert_eq!(v["total"]["flex_nanos"], 3_720_000_000u64);
    assert_eq!(v["total"]["flex_saving_nanos"], 1_320_000_000u64);
    assert_eq!(v["daily_flex_saving_usd"], 1.32);
    assert_eq!(
        v["no_flex"],
        serde_json::json!([{
            "model": "haiku",
            "model_id": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "requests": 2
        }])
    );
}
