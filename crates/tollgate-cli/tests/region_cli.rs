//! `--region` on `plan batch` and `advise`: calls that record no source
//! region are priced at it (default us-east-1); calls that record one keep
//! theirs. Two Nova Micro calls of 1,000,000 input and 100,000 output
//! tokens, recorded at $0.049 each (the us-east-1 on-demand price).
//! Batch: us-east-1 $0.0175 / $0.07 per Mtok = $0.0245 a call;
//! eu-west-1 $0.023 / $0.092 = $0.0322 a call.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    p.to_str().unwrap().to_owned()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn plan(region: &[&str], events: &str) -> String {
    let rules = fixture("nova-policy.toml");
    let events = fixture(events);
    let mut args = vec!["plan", "batch", "--rules", &rules];
    args.extend_from_slice(region);
    args.extend_from_slice(&["--when", "latency == \"tolerant\"", &events]);
    run(&args)
}

#[test]
fn plan_batch_prices_calls_without_a_region_at_the_default_region() {
    assert_eq!(
        plan(&[], "nova-nightly.jsonl"),
        "2 calls over 1 day; moved to batch: those selected by `latency == \"tolerant\"`

feature                 requests      current        batch       saving  saving%         flex  flex saving  saving%
nightly                        2        $0.10        $0.05        $0.05    50.0%            -            -        -
total                          2        $0.10        $0.05        $0.05    50.0%            -            -        -
per day: $0.05 saved
note: no flex tier on micro (amazon.nova-micro-v1:0): its 2 calls count as recorded under flex
prices: each call's recorded source region; us-east-1 (default) for calls that record none
"
    );
}

#[test]
fn plan_batch_in_an_eu_region_prices_nova_at_the_eu_rate() {
    assert_eq!(
        plan(&["--region", "eu-west-1"], "nova-nightly.jsonl"),
        "2 calls over 1 day; moved to batch: those selected by `latency == \"tolerant\"`

feature                 requests      current        batch       saving  saving%         flex  flex saving  saving%
nightly                        2        $0.10        $0.06        $0.03    34.3%            -            -        -
total                          2        $0.10        $0.06        $0.03    34.3%            -            -        -
per day: $0.03 saved
note: no flex tier on micro (amazon.nova-micro-v1:0): its 2 calls count as recorded under flex
prices: each call's recorded source region; eu-west-1 for calls that record none
"
    );
    let rules = fixture("nova-policy.toml");
    let events = fixture("nova-nightly.jsonl");
    let v: serde_json::Value = serde_json::from_str(&run(&[
        "plan",
        "batch",
        "--json",
        "--rules",
        &rules,
        "--region",
        "eu-west-1",
        "--when",
        "latency == \"tolerant\"",
        &events,
    ]))
    .unwrap();
    assert_eq!(v["region"], "eu-west-1");
    assert_eq!(v["total"]["current_nanos"], 98_000_000);
    assert_eq!(v["total"]["batch_nanos"], 64_400_000);
    assert_eq!(v["total"]["saving_nanos"], 33_600_000);
}

#[test]
fn a_recorded_region_wins_over_the_flag() {
    let out = plan(&["--region", "eu-west-1"], "nova-nightly-us-east-1.jsonl");
    assert!(
        out.contains(
            "nightly                        2        $0.10        $0.05        $0.05    50.0%            -            -        -\n"
        ),
        "{out}"
    );
}

#[test]
fn advise_prices_the_batch_saving_at_the_region() {
    let events = fixture("nova-nightly.jsonl");
    let head = |region: &[&str]| {
        let mut args = vec!["advise"];
        args.extend_from_slice(region);
        args.push(&events);
        run(&args)
    };
    assert_eq!(
        head(&[]),
        "2 calls over 1 day; 1 recommendation, largest daily saving first

1. batch `nightly`: $0.0490/day ($0.0490 over the calls read)
   2 calls are tagged latency = \"tolerant\" and ran on demand
   [[batch]]
   name = \"advised-batch-nightly\"
   when = 'feature == \"nightly\" && latency == \"tolerant\"'
prices: each call's recorded source region; us-east-1 (default) for calls that record none
"
    );
    assert_eq!(
        head(&["--region", "eu-west-1"]),
        "2 calls over 1 day; 1 recommendation, largest daily saving first

1. batch `nightly`: $0.0336/day ($0.0336 over the calls read)
   2 calls are tagged latency = \"tolerant\" and ran on demand
   [[batch]]
   name = \"advised-batch-nightly\"
   when = 'feature == \"nightly\" && latency == \"tolerant\"'
prices: each call's recorded source region; eu-west-1 for calls that record none
"
    );
    let v: serde_json::Value = serde_json::from_str(&run(&[
        "advise",
        "--json",
        "--region",
        "eu-west-1",
        &events,
    ]))
    .unwrap();
    assert_eq!(v["region"], "eu-west-1");
    assert_eq!(v["advice"][0]["saving_nanos"], 33_600_000);
}

fn replay(extra: &[&str], events: &str) -> String {
    let rules = fixture("nova-policy.toml");
    let events = fixture(events);
    let mut args = vec!["replay", "--rules", &rules];
    args.extend_from_slice(extra);
    args.push(&events);
    run(&args)
}

// On demand: us-east-1 $0.035 / $0.14 per Mtok = $0.049 a call;
// eu-west-1 $0.046 / $0.184 = $0.0644 a call.
#[test]
fn replay_prices_calls_without_a_region_at_the_region() {
    let us = replay(&[], "nova-nightly.jsonl");
    assert!(us.contains("projected           $0.10\n"), "{us}");
    assert!(us.ends_with(
        "prices: each call's recorded source region; us-east-1 (default) for calls that record none\n"
    ));
    let eu = replay(&["--region", "eu-west-1"], "nova-nightly.jsonl");
    assert!(eu.contains("projected           $0.13\n"), "{eu}");
    assert!(eu.ends_with(
        "prices: each call's recorded source region; eu-west-1 for calls that record none\n"
    ));
    let v: serde_json::Value = serde_json::from_str(&replay(
        &["--json", "--region", "eu-west-1"],
        "nova-nightly.jsonl",
    ))
    .unwrap();
    assert_eq!(v["region"], "eu-west-1");
    assert_eq!(v["baseline_nanos"], 98_000_000);
    assert_eq!(v["projected_nanos"], 128_800_000);
    // Calls that record us-east-1 stay at its price.
    let v: serde_json::Value = serde_json::from_str(&replay(
        &["--json", "--region", "eu-west-1"],
        "nova-nightly-us-east-1.jsonl",
    ))
    .unwrap();
    assert_eq!(v["projected_nanos"], 98_000_000);
}

#[test]
fn replay_emitted_events_record_the_region_that_priced_them() {
    let dir = std::env::temp_dir().join(format!("tollgate-region-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.jsonl");
    replay(
        &[
            "--region",
            "eu-west-1",
            "--emit-events",
            out.to_str().unwrap(),
        ],
        "nova-nightly.jsonl",
    );
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let costs: Vec<(String, u64)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["region"].as_str().unwrap().to_owned(),
                v["cost_nanos"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        costs,
        vec![
            ("eu-west-1".to_owned(), 64_400_000),
            ("eu-west-1".to_owned(), 64_400_000)
        ]
    );
}

// `plan provisioned` prices the on-demand traffic in one region: the
// Mooncake day holds 106,800 prompt tokens, x 30 days = 3,204,000 tokens,
// at Nova Micro's $0.035 (us-east-1) or $0.046 (eu-west-1) per Mtok.
#[test]
fn plan_provisioned_prices_on_demand_at_the_region() {
    let rules = fixture("nova-policy.toml");
    let trace = fixture("one-day.jsonl");
    let month = |region: &str| {
        let v: serde_json::Value = serde_json::from_str(&run(&[
            "plan",
            "provisioned",
            "--json",
            "--rules",
            &rules,
            "--model",
            "micro",
            "--unit-tokens-per-minute",
            "50",
            "--unit-usd-per-hour",
            "1",
            "--region",
            region,
            &trace,
        ]))
        .unwrap();
        assert_eq!(v["region"], region);
        v["month_on_demand_usd"].as_f64().unwrap()
    };
    assert_eq!(month("us-east-1"), 0.11214);
    assert_eq!(month("eu-west-1"), 0.147384);
}
