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

feature                 requests      current        batch       saving  saving%
nightly                        2        $0.02        $0.01        $0.01    50.0%
total                          2        $0.02        $0.01        $0.01    50.0%
per day: $0.01 saved
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
