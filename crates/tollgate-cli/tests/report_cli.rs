//! `tollgate report` and `tollgate tiers` end to end: the built binary on
//! the hand-computed fixtures of `tollgate-analysis` (see its
//! `tests/spend.rs` and `tests/tiers.rs` for every figure), run from the
//! fixture folder so the file names in warnings are exact.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tollgate-analysis/tests/fixtures")
}

fn tollgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .current_dir(fixtures())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const EVENT_WARNINGS: &str = "\
warning: spend.jsonl:14: skipped: not a call event: missing field `version` (column 104)
warning: spend.jsonl:43: skipped: truncated last line (no newline): EOF while parsing a string (column 180)
";

#[test]
fn report_json_is_one_object_and_bad_lines_are_warned_with_their_line() {
    let out = tollgate(&["report", "--rules", "spike.toml", "--json", "spend.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = concat!(
        r#"{"daily":["#,
        r#"{"day":"2026-11-01","group":"chat","cost_usd":0.054675,"requests":2},"#,
        r#"{"day":"2026-11-01","group":"faq","cost_usd":0.003,"requests":1},"#,
        r#"{"day":"2026-11-01","group":"kb","cost_usd":0.0312,"requests":2},"#,
        r#"{"day":"2026-11-02","group":"chat","cost_usd":0.054675,"requests":2},"#,
        r#"{"day":"2026-11-02","group":"faq","cost_usd":0.003,"requests":1},"#,
        r#"{"day":"2026-11-02","group":"kb","cost_usd":0.0312,"requests":2},"#,
        r#"{"day":"2026-11-03","group":"chat","cost_usd":0.054675,"requests":2},"#,
        r#"{"day":"2026-11-03","group":"faq","cost_usd":0.003,"requests":1},"#,
        r#"{"day":"2026-11-04","group":"chat","cost_usd":0.054675,"requests":2},"#,
        r#"{"day":"2026-11-04","group":"faq","cost_usd":0.003,"requests":1},"#,
        r#"{"day":"2026-11-04","group":"kb","cost_usd":0.0312,"requests":2},"#,
        r#"{"day":"2026-11-05","group":"chat","cost_usd":0.054675,"requests":2},"#,
        r#"{"day":"2026-11-05","group":"faq","cost_usd":0.003,"requests":1},"#,
        r#"{"day":"2026-11-05","group":"kb","cost_usd":0.0312,"requests":2},"#,
        r#"{"day":"2026-11-05","group":"search","cost_usd":0.036,"requests":1},"#,
        r#"{"day":"2026-11-06","group":"chat","cost_usd":0.11985,"requests":5},"#,
        r#"{"day":"2026-11-06","group":"faq","cost_usd":0.012,"requests":4},"#,
        r#"{"day":"2026-11-06","group":"kb","cost_usd":0.0512,"requests":4},"#,
        r#"{"day":"2026-11-06","group":"search","cost_usd":0.186,"requests":4}],"#,
        r#""alerts":["#,
        r#"{"group":"chat","day":"2026-11-06","spend_usd":0.11985,"trailing_mean_usd":0.054675},"#,
        r#"{"group":"kb","day":"2026-11-06","spend_usd":0.0512,"trailing_mean_usd":0.0208}],"#,
        r#""region":"us-east-1","pricing":{"region":"us-east-1","region_default":true,"#,
        r#""events_without_region":41,"recorded_cost_nanos":818225000,"repriced_cost_nanos":818225000,"#,
        r#""without_region_recorded_cost_nanos":818225000,"without_region_repriced_cost_nanos":818225000,"#,
        r#""recorded_cost_usd":0.818225,"repriced_cost_usd":0.818225,"#,
        r#""kept_recorded":0,"kept_recorded_models":[]}}"#,
        "\n"
    );
    assert_eq!(text(&out.stdout), expected);
    assert_eq!(
        text(&out.stderr),
        format!("{EVENT_WARNINGS}warning: 2 lines skipped\n")
    );
}

#[test]
fn report_text_table_with_the_policy_spike_settings() {
    let out = tollgate(&["report", "--rules", "spike.toml", "spend.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = "\
daily cost by feature (USD, UTC days); change = spend vs the trailing 3-day mean
day               chat  change           faq  change            kb  change        search  change         total  change
2026-11-01      0.0547  -             0.0030  -             0.0312  -                  -  -             0.0889  -
2026-11-02      0.0547  -             0.0030  -             0.0312  -                  -  -             0.0889  -
2026-11-03      0.0547  -             0.0030  -             0.0000  -                  -  -             0.0577  -
2026-11-04      0.0547  0%            0.0030  0%            0.0312  +50%               -  -             0.0889  +13%
2026-11-05      0.0547  0%            0.0030  0%            0.0312  +50%          0.0360  -             0.1249  +59%
2026-11-06      0.1198  +119% *       0.0120  +300%         0.0512  +146% *       0.1860  -             0.3690  +308%
41 events, 6 days, 4 features, $0.8182 in all
-: no events yet (the group's history starts later) or no full 3-day window for a change
*: spend spike: the day reached 2x the trailing 3-day mean and at least $0.05 (group_by = feature)
alerts: 2
  2026-11-06  chat  $0.1198 vs trailing mean $0.0547 (2.19x)
  2026-11-06  kb    $0.0512 vs trailing mean $0.0208 (2.46x)
skipped: 2 lines that were not call events (listed on stderr)
prices: each call's recorded source region; us-east-1 (default) for calls that record none (41 of 41)
cost: $0.818225 re-priced with today's price table, equal to the recorded cost_nanos sum
";
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn report_without_rules_uses_the_default_week_and_five_dollars() {
    let out = tollgate(&["report", "--json", "spend.jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["alerts"], serde_json::json!([]));
    assert_eq!(v["daily"].as_array().map(Vec::len), Some(19));
    let out = tollgate(&["report", "spend.jsonl"]);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(
        "daily cost by feature (USD, UTC days); change = spend vs the trailing 7-day mean\n"
    ));
    assert!(stdout.contains(
        "*: spend spike: the day reached 2x the trailing 7-day mean and at least $5.00 (group_by = feature)\nalerts: none\n"
    ));
}

#[test]
fn tiers_json_and_warnings() {
    let out = tollgate(&["tiers", "--evals", "evals.jsonl", "--json", "spend.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = concat!(
        r#"{"tiers":["#,
        r#"{"model":"haiku","use_case":"faq","requests":9,"scored":2,"mean_score":1.0,"p50_latency_ms":410,"p95_latency_ms":2000,"cost_per_1k_usd":3.0},"#,
        r#"{"model":"haiku","use_case":"kb-answer","requests":12,"scored":3,"mean_score":0.5,"p50_latency_ms":700,"p95_latency_ms":1450,"cost_per_1k_usd":14.666666667},"#,
        r#"{"model":"sonnet","use_case":"-","requests":5,"scored":0,"mean_score":null,"p50_latency_ms":3100,"p95_latency_ms":3900,"cost_per_1k_usd":44.4},"#,
        r#"{"model":"sonnet","use_case":"support","requests":15,"scored":4,"mean_score":0.875,"p50_latency_ms":2200,"p95_latency_ms":5200,"cost_per_1k_usd":26.215}"#,
        "]}\n"
    );
    assert_eq!(text(&out.stdout), expected);
    let expected_err = format!(
        "\
warning: evals.jsonl:10: skipped: not an eval record: invalid type: string \"good\", expected f64 (column 47)
warning: evals.jsonl:11: skipped: score 1.5 of `req-03-chat-2` is outside 0.0 to 1.0
warning: evals.jsonl:12: skipped: `req-01-chat-1` was already scored on line 1
{EVENT_WARNINGS}warning: 5 lines skipped
warning: 2 eval records matched no event
"
    );
    assert_eq!(text(&out.stderr), expected_err);
}

#[test]
fn tiers_text_table() {
    let out = tollgate(&["tiers", "--evals", "evals.jsonl", "spend.jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    let expected = "\
model   use case   requests  scored  mean score    p50 ms    p95 ms    USD per 1k
haiku   faq               9       2       1.000       410      2000        3.0000
haiku   kb-answer        12       3       0.500       700      1450       14.6667
sonnet  -                 5       0           -      3100      3900       44.4000
sonnet  support          15       4       0.875      2200      5200       26.2150
41 events; latency percentiles are nearest-rank (an observed value at rank ceil(p/100 x n))
eval records: 11, 2 matched no event
skipped: 5 lines (listed on stderr)
";
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn unreadable_or_eventless_input_is_an_error() {
    let out = tollgate(&["report", "missing.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: cannot read `missing.jsonl`: "),
        "{}",
        text(&out.stderr)
    );
    let out = tollgate(&["tiers", "evals.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "warning: evals.jsonl:1: skipped: not a call event: missing field `version`"
        ),
        "{err}"
    );
    assert!(
        err.ends_with("warning: 14 lines skipped\nerror: no call events in the files\n"),
        "{err}"
    );
}
