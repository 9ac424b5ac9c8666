//! `tollgate advise` end to end on the hand-made call events of
//! tollgate-analysis's tests (estimates computed by hand there).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn advise(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("advise")
        .args(extra)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tollgate-analysis/tests/fixtures/advise/calls.jsonl"),
        )
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn advise_prints_ranked_rules_with_their_daily_saving() {
    let text = advise(&[]);
    assert!(
        text.starts_with(
            "21 calls over 1 day; 4 recommendations, largest daily saving first

1. batch `nightly`: $0.0120/day ($0.0120 over the calls read)
   2 calls are tagged latency = \"tolerant\" and ran on demand
   [[batch]]
   name = \"advised-batch-nightly\"
   when = 'feature == \"nightly\" && latency == \"tolerant\"'

2. output-cap `essay`: $0.0040/day ($0.0040 over the calls read)
   55,000 output tokens for 1,000 prompt tokens; a cap at the 90th percentile (9,000) shortens 1 of 10 calls
"
        ),
        "{text}"
    );
}

#[test]
fn advise_json_lists_the_exact_estimates() {
    let v: serde_json::Value = serde_json::from_str(&advise(&["--json"])).unwrap();
    let got: Vec<(String, u64)> = v["advice"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                a["daily_saving_nanos"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("batch".to_owned(), 12_000_000),
            ("output-cap".to_owned(), 4_000_000),
            ("retries".to_owned(), 1_401_600),
            ("response-cache".to_owned(), 840_000),
        ]
    );
}
