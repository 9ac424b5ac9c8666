//! `tollgate report` re-prices every call event with today's price table at
//! the source region it records; `--region R` (default us-east-1) prices
//! the events that record none and never overrides a recorded region.
//!
//! `tests/fixtures/report-regions.jsonl`, one day, five events:
//!
//! | event | feature | region | model | tokens in / out | recorded | today |
//! |---|---|---|---|---|---|---|
//! | us-1 | nightly | us-east-1 | Nova Micro | 1,000,000 / 100,000 | $0.049 | $0.035 + $0.014 = $0.049 |
//! | eu-1 | nightly | eu-west-1 | Nova Micro | 1,000,000 / 100,000 | $0.0588 (older prices) | $0.046 + $0.0184 = $0.0644 |
//! | v1-1 | chat | none (a version-1 event) | Nova Micro | 1,000,000 / 100,000 | $0.049 | us-east-1 $0.049, eu-west-1 $0.0644 |
//! | own-1 | chat | us-east-1 | `acme.private-model-v1` (not in the table) | 1,000 / 1,000 | $0.005 | kept: $0.005 |
//! | rej-1 | chat | eu-west-1 | Nova Micro | rejected, 0 / 0 | $0 | $0 |
//!
//! Recorded in all: $0.1618. Re-priced: $0.1674 with the default region,
//! $0.1828 with `--region eu-west-1`.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

/// (exit code, stdout, stderr) of `tollgate ARGS`, run in the fixture folder.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    out
}

const TABLE_HEAD: &str = "\
daily cost by feature (USD, UTC days); change = spend vs the trailing 7-day mean
day               chat  change       nightly  change         total  change
";

const LEGEND: &str = "\
-: no events yet (the group's history starts later) or no full 7-day window for a change
*: spend spike: the day reached 2x the trailing 7-day mean and at least $5.00 (group_by = feature)
alerts: none
";

#[test]
fn events_are_repriced_at_their_recorded_region_and_the_rest_at_us_east_1() {
    let expected = format!(
        "{TABLE_HEAD}\
2025-03-04      0.0540  -             0.1134  -             0.1674  -
5 events, 1 day, 2 features, $0.1674 in all
{LEGEND}\
prices: each call's recorded source region; us-east-1 (default) for calls that record none (1 of 5)
cost: $0.1674 re-priced with today's price table; $0.1618 recorded (the cost_nanos sum)
  calls that record their region (4 events): $0.1184 re-priced, $0.1128 recorded: prices changed since the calls were recorded
cost: 1 event kept its recorded cost: the price table has no price at its region for acme.private-model-v1
"
    );
    assert_eq!(ok(&["report", "report-regions.jsonl"]), expected);
}

#[test]
fn region_prices_only_the_events_that_record_none() {
    // The v1 event moves to the eu-west-1 price; the recorded eu-west-1 and
    // us-east-1 events keep theirs (the nightly column is unchanged).
    let expected = format!(
        "{TABLE_HEAD}\
2025-03-04      0.0694  -             0.1134  -             0.1828  -
5 events, 1 day, 2 features, $0.1828 in all
{LEGEND}\
prices: each call's recorded source region; eu-west-1 for calls that record none (1 of 5)
cost: $0.1828 re-priced with today's price table; $0.1618 recorded (the cost_nanos sum)
  calls that record their region (4 events): $0.1184 re-priced, $0.1128 recorded: prices changed since the calls were recorded
  calls that record none (1 event, at eu-west-1): $0.0644 re-priced, $0.049 recorded: priced then at another region or at older prices
cost: 1 event kept its recorded cost: the price table has no price at its region for acme.private-model-v1
"
    );
    assert_eq!(
        ok(&["report", "--region", "eu-west-1", "report-regions.jsonl"]),
        expected
    );
}

#[test]
fn json_states_the_region_whether_it_is_the_default_and_both_totals() {
    let expected = concat!(
        r#"{"daily":["#,
        r#"{"day":"2025-03-04","group":"chat","cost_usd":0.054,"requests":3},"#,
        r#"{"day":"2025-03-04","group":"nightly","cost_usd":0.1134,"requests":2}],"#,
        r#""alerts":[],"region":"us-east-1","pricing":{"region":"us-east-1","region_default":true,"#,
        r#""events_without_region":1,"recorded_cost_nanos":161800000,"repriced_cost_nanos":167400000,"#,
        r#""without_region_recorded_cost_nanos":49000000,"without_region_repriced_cost_nanos":49000000,"#,
        r#""recorded_cost_usd":0.1618,"repriced_cost_usd":0.1674,"#,
        r#""kept_recorded":1,"kept_recorded_models":["acme.private-model-v1"]}}"#,
        "\n"
    );
    assert_eq!(ok(&["report", "--json", "report-regions.jsonl"]), expected);
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "report",
        "--json",
        "--region",
        "eu-west-1",
        "report-regions.jsonl",
    ]))
    .unwrap();
    assert_eq!(v["region"], "eu-west-1");
    assert_eq!(v["pricing"]["region_default"], false);
    assert_eq!(v["pricing"]["repriced_cost_nanos"], 182_800_000);
    assert_eq!(
        v["pricing"]["without_region_repriced_cost_nanos"],
        64_400_000
    );
    assert_eq!(v["pricing"]["recorded_cost_nanos"], 161_800_000);
}

#[test]
fn html_page_states_the_prices() {
    let dir = std::env::temp_dir().join(format!("tollgate-report-region-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("spend.html");
    let out = ok(&[
        "report",
        "--region",
        "eu-west-1",
        "--html",
        page.to_str().unwrap(),
        "report-regions.jsonl",
    ]);
    assert!(
        out.ends_with(&format!("html: {}\n", page.display())),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let expected = "<h2>Prices</h2>
<ul class=\"pricing\">
<li>prices: each call&#39;s recorded source region; eu-west-1 for calls that record none (1 of 5)</li>
<li>cost: $0.1828 re-priced with today&#39;s price table; $0.1618 recorded (the cost_nanos sum)</li>
<li>calls that record their region (4 events): $0.1184 re-priced, $0.1128 recorded: prices changed since the calls were recorded</li>
<li>calls that record none (1 event, at eu-west-1): $0.0644 re-priced, $0.049 recorded: priced then at another region or at older prices</li>
<li>cost: 1 event kept its recorded cost: the price table has no price at its region for acme.private-model-v1</li>
</ul>
";
    assert!(html.contains(expected), "{html}");
    assert!(html.contains(
        "<p>5 events, 1 UTC day, 2 groups, $0.1828 in all; change = spend vs the trailing 7-day mean.</p>"
    ));
}

#[test]
fn a_region_that_is_not_a_region_name_is_refused() {
    assert_eq!(
        run(&["report", "--region", "EU", "report-regions.jsonl"]),
        (
            2,
            String::new(),
            "error: `EU` is not a region name (expected e.g. `us-east-1`, `eu-west-1`)\n"
                .to_owned()
        )
    );
}
