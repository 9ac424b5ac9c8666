//! `tollgate replay` end to end: the built binary on the tiny Azure fixture
//! (CRLF, no final newline, 7 fractional digits), exact JSON numbers.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tollgate-analysis/tests/fixtures")
        .join(name)
}

fn replay(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("replay")
        .arg("--rules")
        .arg(fixture("policy.toml"))
        .args(["--set", "feature=chat", "--baseline-model", "big", "--json"])
        .args(extra)
        .arg(fixture("azure.csv"))
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("one JSON object: {e}"))
}

#[test]
fn replay_json_prints_the_exact_hand_computed_costs() {
    let v = replay(&[]);
    assert_eq!(v["requests"], 3);
    assert_eq!(v["baseline_nanos"], 11_500_000);
    assert_eq!(v["projected_nanos"], 4_500_000);
    assert_eq!(v["baseline_usd"], 0.0115);
    assert_eq!(v["projected_usd"], 0.0045);
    assert_eq!(v["savings_pct"], 7_000_000.0 / 11_500_000.0 * 100.0);
    assert_eq!(v["capped_outputs"], 1);
    assert_eq!(v["response_cache"]["simulated"], false);
}

#[test]
fn replay_diff_against_itself_is_zero_and_events_are_written() {
    let events =
        std::env::temp_dir().join(format!("tollgate-replay-cli-{}.jsonl", std::process::id()));
    let policy = fixture("policy.toml");
    let v = replay(&[
        "--diff",
        policy.to_str().unwrap_or_default(),
        "--emit-events",
        events.to_str().unwrap_or_default(),
    ]);
    assert_eq!(v["diff"]["delta_nanos"], 0.0);
    assert_eq!(v["diff"]["projected_nanos"], 4_500_000);
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    let _ = std::fs::remove_file(&events);
    let costs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .map(|e| e["cost_nanos"].as_u64().unwrap_or(0))
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(costs, vec![1_200_000, 2_400_000, 900_000]);
}
