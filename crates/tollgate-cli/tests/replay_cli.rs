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

fn run_servegen(extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("replay")
        .arg("--rules")
        .arg(fixture("policy.toml"))
        .args(["--set", "feature=chat", "--baseline-model", "big", "--json"])
        .args(extra)
        .arg(fixture("servegen.csv"))
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"))
}

// The ServeGen fixture: 0.5 req/s in window 0 (300 requests), 0 in window
// 600, 0.01 req/s in window 1200 (6 requests). Each request: 1,000 prompt
// tokens and 250 output tokens, capped at 100 by `chat-small` on `small`:
// 1,000 x 1,000 + 100 x 4,000 = 1,400,000 nanos.
#[test]
fn replay_emits_one_event_per_servegen_request_spread_over_its_window() {
    let events = std::env::temp_dir().join(format!(
        "tollgate-replay-servegen-{}.jsonl",
        std::process::id()
    ));
    let out = run_servegen(&["--emit-events", events.to_str().unwrap_or_default()]);
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    let _ = std::fs::remove_file(&events);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["requests"], 306);
    assert_eq!(v["projected_nanos"], 306 * 1_400_000);
    let evs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evs.len(), 306);
    let total: u64 = evs.iter().map(|e| e["cost_nanos"].as_u64().unwrap()).sum();
    assert_eq!(total, 306 * 1_400_000);
    assert_eq!(evs[0]["timestamp"], "1970-01-01T00:00:00.000Z");
    assert_eq!(evs[1]["timestamp"], "1970-01-01T00:00:02.000Z");
    assert_eq!(evs[299]["timestamp"], "1970-01-01T00:09:58.000Z");
    assert_eq!(evs[300]["timestamp"], "1970-01-01T00:20:00.000Z");
    assert_eq!(evs[305]["timestamp"], "1970-01-01T00:28:20.000Z");
    assert_eq!(evs[305]["request_id"], "replay-2-5");
    assert_eq!(evs[305]["tags"]["feature"], "chat");
}

#[test]
fn replay_refuses_to_emit_more_events_than_the_limit() {
    let events = std::env::temp_dir().join(format!(
        "tollgate-replay-limit-{}.jsonl",
        std::process::id()
    ));
    let out = run_servegen(&[
        "--emit-events",
        events.to_str().unwrap_or_default(),
        "--emit-limit",
        "305",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!events.exists());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: `--emit-events` would write 306 events (one per request; ServeGen windows expand to round(rate x 600) each), more than `--emit-limit 305`: replay fewer files or raise the limit\n"
    );
}

#[test]
fn replay_start_moves_a_relative_clock_to_a_date() {
    let events = std::env::temp_dir().join(format!(
        "tollgate-replay-start-{}.jsonl",
        std::process::id()
    ));
    let out = run_servegen(&[
        "--start",
        "2026-11-02",
        "--emit-events",
        events.to_str().unwrap_or_default(),
    ]);
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    let _ = std::fs::remove_file(&events);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stamps: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["timestamp"].to_string())
        .collect();
    assert_eq!(stamps.len(), 306);
    assert_eq!(stamps[0], "\"2026-11-02T00:00:00.000Z\"");
    assert_eq!(stamps[305], "\"2026-11-02T00:28:20.000Z\"");
}

#[test]
fn replay_start_refuses_traces_with_real_timestamps() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["replay", "--rules"])
        .arg(fixture("policy.toml"))
        .args(["--baseline-model", "big", "--start", "2026-11-02"])
        .arg(fixture("azure.csv"))
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.ends_with("is azure data with real timestamps\n"),
        "stderr: {err}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["replay", "--rules"])
        .arg(fixture("policy.toml"))
        .args(["--baseline-model", "big", "--start", "2026-13-02"])
        .arg(fixture("servegen.csv"))
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: `--start 2026-13-02`: expected a date YYYY-MM-DD, 1970 or later\n"
    );
}

/// A policy that routes by the time of day in `zone` (the prices of the
/// fixture policy).
fn off_peak_policy(zone: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("policy.toml")).unwrap();
    let head = text.split("[[route]]").next().unwrap_or_default();
    let text = format!(
        "{}\n[[route]]\nname = \"off-peak\"\nwhen = 'request_time.getHours(\"{zone}\") < 6 || request_time.getDayOfWeek(\"{zone}\") in [0, 6]'\nmodel = \"small\"\n",
        head.replace(
            "input_tokens = \"int\"",
            "input_tokens = \"int\"\nrequest_time = \"timestamp\""
        )
    );
    let path = std::env::temp_dir().join(format!(
        "tollgate-off-peak-{}-{}.toml",
        zone.replace('/', "-"),
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

// The Azure fixture's three calls are on Thursday 2023-11-16 at 18:17 UTC:
// 03:17 on Friday in Tokyo (off-peak), 19:17 in Berlin (peak).
#[test]
fn replay_fills_request_time_from_the_trace_and_prices_an_off_peak_rule() {
    let run = |zone: &str, events: Option<&Path>| {
        let policy = off_peak_policy(zone);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        cmd.arg("replay")
            .arg("--rules")
            .arg(&policy)
            .args(["--baseline-model", "big", "--json"]);
        if let Some(e) = events {
            cmd.arg("--emit-events").arg(e);
        }
        let out = cmd.arg(fixture("azure.csv")).output().unwrap();
        let _ = std::fs::remove_file(&policy);
        assert!(
            out.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let events = std::env::temp_dir().join(format!(
        "tollgate-replay-off-peak-{}.jsonl",
        std::process::id()
    ));
    // Every call on `small`: (1,000 x 1,000 + 50 x 4,000) + (2,000 x 1,000
    // + 300 x 4,000) + (500 x 1,000 + 100 x 4,000).
    let tokyo = run("Asia/Tokyo", Some(&events));
    assert_eq!(tokyo["baseline_nanos"], 11_500_000);
    assert_eq!(tokyo["projected_nanos"], 5_300_000);
    // Peak hours in Berlin: every call stays on `big`, as the baseline.
    let berlin = run("Europe/Berlin", None);
    assert_eq!(berlin["projected_nanos"], 11_500_000);
    // The projected events record the time each call was decided at.
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    let _ = std::fs::remove_file(&events);
    let times: Vec<String> = text
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            e["attributes"]["request_time"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        times,
        [
            "2023-11-16T18:17:03.979Z",
            "2023-11-16T18:17:04Z",
            "2023-11-16T18:17:05.123Z"
        ]
    );
}
