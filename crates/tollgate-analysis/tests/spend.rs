//! The daily spend report on `fixtures/spend.jsonl`: 41 real-priced calls
//! over six UTC days (2026-11-01..06), a log line mixed in (line 14) and a
//! torn last line (43). Costs, per call (Sonnet 4 $3 / $15, Haiku 3.5
//! $0.80 / $4 per million input / output tokens):
//!
//! | feature | model | calls per day | nano-dollars per day |
//! |---|---|---|---|
//! | chat | sonnet | 4000/800 + 5210/1003 tokens | 24,000,000 + 30,675,000 = 54,675,000; on the 6th 2 x 54,675,000 + 10,500,000 (2000/300) = 119,850,000 |
//! | kb | haiku | 2 x 12000/1500 | 2 x 15,600,000 = 31,200,000; none on the 3rd; on the 6th 3 x 15,600,000 + 4,400,000 (3000/500) = 51,200,000 |
//! | search | sonnet | first seen on the 5th | 36,000,000 (6000/1200); on the 6th 4 x 46,500,000 (8000/1500) = 186,000,000 |
//! | faq | haiku | 2500/250 | 3,000,000; on the 6th 4 x 3,000,000 = 12,000,000 |
//!
//! With `fixtures/spike.toml` (factor 2, 3 days, floor $0.05):
//! - chat on the 6th: trailing sum 3 x 54,675,000 = 164,025,000, threshold
//!   ceil(2 x 164,025,000 / 3) = 109,350,000 <= 119,850,000: fires.
//! - kb on the 6th: trailing 0 + 31,200,000 + 31,200,000 (the quiet 3rd counts
//!   as zero), 2 x mean = 41,600,000, raised to the floor 50,000,000 <=
//!   51,200,000: fires (with the 3rd left out the mean would be 31,200,000
//!   and the threshold 62,400,000: no alert).
//! - search on the 6th: first seen the day before, no full window: no alert
//!   (counting the days before as zeros would give a threshold of 50,000,000
//!   against 186,000,000).
//! - faq on the 6th: 4x its mean, under the floor: no alert.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tollgate_analysis::to_html;
use tollgate_analysis::SpendReport;
use tollgate_cost::{Day, SpikeConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_config() -> SpikeConfig {
    let loaded = tollgate_lang::load_path(&fixture("spike.toml"), &Default::default())
        .unwrap_or_else(|e| panic!("{}", e.render()));
    SpikeConfig::from_policy(&loaded.policy).unwrap()
}

fn report(cfg: SpikeConfig) -> SpendReport {
    tollgate_analysis::read_spend(&[fixture("spend.jsonl")], cfg).unwrap()
}

fn day(d: u32) -> Day {
    Day::from_ymd(2026, 11, d).unwrap()
}

#[test]
fn fixture_policy_sets_the_spike_rule() {
    let cfg = fixture_config();
    assert_eq!(cfg.factor, 2.0);
    assert_eq!(cfg.trailing_days, 3);
    assert_eq!(cfg.min_daily_nanos, 50_000_000);
    assert_eq!(cfg.group_by, "feature");
}

#[test]
fn json_sums_nano_dollars_per_day_and_feature() {
    let r = report(fixture_config());
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
        r#"{"group":"kb","day":"2026-11-06","spend_usd":0.0512,"trailing_mean_usd":0.0208}]}"#
    );
    assert_eq!(r.to_json().to_string(), expected);
    assert_eq!(r.events, 41);
    let nanos: u64 = r.cells.values().map(|c| c.nanos).sum();
    // 3 x 88,875,000 + 57,675,000 + 124,875,000 + 369,050,000.
    assert_eq!(nanos, 818_225_000);
}

#[test]
fn spike_fires_for_chat_and_for_kb_whose_quiet_day_counts_as_zero() {
    let r = report(fixture_config());
    let got: Vec<(String, Day, u64, u64, u64)> = r
        .alerts
        .iter()
        .map(|a| {
            (
                a.group.clone(),
                a.day,
                a.spend_nanos,
                a.trailing_mean_nanos,
                a.threshold_nanos,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("chat".into(), day(6), 119_850_000, 54_675_000, 109_350_000),
            ("kb".into(), day(6), 51_200_000, 20_800_000, 50_000_000),
        ]
    );
    let kb = r.versus(Some("kb"), day(6)).unwrap();
    assert_eq!(kb.trailing_sum, Some(62_400_000));
    assert_eq!(r.versus(Some("kb"), day(3)).unwrap().nanos, 0);
}

#[test]
fn new_feature_does_not_alert_without_a_full_window() {
    // Even with no floor at all, `search` (first seen on the 5th) cannot
    // alert on the 6th: the days before its first event are not zeros.
    let cfg = SpikeConfig {
        min_daily_nanos: 0,
        ..fixture_config()
    };
    let r = report(cfg);
    assert!(
        !r.alerts.iter().any(|a| a.group == "search"),
        "{:?}",
        r.alerts
    );
    assert_eq!(r.versus(Some("search"), day(4)), None);
    let v = r.versus(Some("search"), day(6)).unwrap();
    assert_eq!((v.nanos, v.trailing_sum), (186_000_000, None));
    // Without the floor, faq's 4x day alerts too: the floor was what held it.
    let groups: Vec<&str> = r.alerts.iter().map(|a| a.group.as_str()).collect();
    assert_eq!(groups, vec!["chat", "faq", "kb"]);
}

#[test]
fn malformed_and_truncated_lines_are_skipped_with_their_line_numbers() {
    let r = report(fixture_config());
    let name = fixture("spend.jsonl").display().to_string();
    let got: Vec<String> = r.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            format!("{name}:14: skipped: not a call event: missing field `version` (column 104)"),
            format!(
                "{name}:43: skipped: truncated last line (no newline): EOF while parsing a string (column 180)"
            ),
        ]
    );
}

#[test]
fn an_offset_timestamp_counts_on_its_utc_day() {
    // Line 5: `2026-11-02T01:15:00.000+02:00` is 2026-11-01T23:15Z.
    let r = report(fixture_config());
    let faq = r.cells.get(&(day(1), "faq".to_owned())).unwrap();
    assert_eq!((faq.nanos, faq.requests), (3_000_000, 1));
    assert_eq!(r.days, (1..=6).map(day).collect::<Vec<_>>());
}

#[test]
fn text_table_marks_spikes_and_the_change_vs_the_trailing_mean() {
    let r = report(fixture_config());
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
";
    assert_eq!(r.to_text(), expected);
}

#[test]
fn defaults_need_a_full_week_and_five_dollars() {
    let r = report(SpikeConfig::default());
    assert!(r.alerts.is_empty());
    assert!(r
        .rows()
        .iter()
        .all(|row| row.cells.iter().all(|c| c.change_pct.is_none() && !c.spike)));
    assert_eq!(r.to_json()["alerts"], serde_json::json!([]));
}

#[test]
fn group_by_another_dimension_reads_tags_then_attributes() {
    let cfg = SpikeConfig {
        group_by: "tenant".into(),
        ..fixture_config()
    };
    let r = report(cfg);
    assert_eq!(r.groups, vec!["acme", "globex", "initech"]);
    // acme = chat + search on the 6th: 119,850,000 + 186,000,000.
    assert_eq!(
        r.cells.get(&(day(6), "acme".to_owned())).unwrap().nanos,
        305_850_000
    );
    let cfg = SpikeConfig {
        group_by: "input_tokens".into(),
        ..fixture_config()
    };
    let r = report(cfg);
    assert!(r.groups.contains(&"12000".to_owned()), "{:?}", r.groups);
    let cfg = SpikeConfig {
        group_by: "global".into(),
        ..fixture_config()
    };
    assert_eq!(report(cfg).groups, vec!["global"]);
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = tag.find(&key).map(|i| i + key.len()).unwrap_or(0);
    let rest = tag.get(start..).unwrap_or("");
    rest.get(..rest.find('"').unwrap_or(0)).unwrap_or("")
}

#[test]
fn html_has_one_bar_per_day_and_feature_with_exact_totals() {
    let r = report(fixture_config());
    let html = to_html(&r);
    let bars: Vec<(String, String, String, String)> = html
        .lines()
        .filter(|l| l.starts_with("<rect class=\"bar\""))
        .map(|l| {
            (
                attr(l, "data-day").to_owned(),
                attr(l, "data-group").to_owned(),
                attr(l, "data-cost-usd").to_owned(),
                attr(l, "data-spike").to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, String)> = r.to_json()["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let (dy, g) = (d["day"].as_str().unwrap(), d["group"].as_str().unwrap());
            let spike = dy == "2026-11-06" && (g == "chat" || g == "kb");
            (
                dy.to_owned(),
                g.to_owned(),
                d["cost_usd"].to_string(),
                spike.to_string(),
            )
        })
        .collect();
    assert_eq!(bars.len(), 19);
    assert_eq!(bars, want);
    assert!(html.contains(
        r#"data-day="2026-11-06" data-group="chat" data-cost-usd="0.11985" data-cost-nanos="119850000" data-requests="5" data-spike="true"><title>2026-11-06 chat: $0.11985 (5 requests), spend spike</title>"#
    ));
    for forbidden in ["<script", "<link", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(forbidden), "{forbidden}");
    }
}

#[test]
fn html_escapes_recorded_names() {
    let mut line = std::fs::read_to_string(fixture("spend.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    line = line.replace(r#""feature":"chat""#, r#""feature":"<b>\"x\" & 'y'</b>""#);
    let mut b = tollgate_analysis::SpendBuilder::new(fixture_config());
    let skipped =
        tollgate_analysis::for_each_in_bytes("one.jsonl", line.as_bytes(), |ev| b.add(&ev))
            .unwrap();
    assert!(skipped.is_empty());
    let html = to_html(&b.finish(skipped));
    assert!(html.contains(r#"data-group="&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;""#));
    assert!(!html.contains("<b>\"x\""));
}

#[test]
fn a_span_wider_than_the_cap_lists_only_days_with_events() {
    let first = std::fs::read_to_string(fixture("spend.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let old = first.replace("2026-11-01T09:12:03.120Z", "1999-01-01T00:00:00.000Z");
    let text = format!("{old}\n{first}\n");
    let mut b = tollgate_analysis::SpendBuilder::new(fixture_config());
    let skipped =
        tollgate_analysis::for_each_in_bytes("two.jsonl", text.as_bytes(), |ev| b.add(&ev))
            .unwrap();
    let r = b.finish(skipped);
    assert_eq!(r.days, vec![Day::from_ymd(1999, 1, 1).unwrap(), day(1)]);
    assert!(r.alerts.is_empty());
    assert_eq!(r.rows().len(), 2);
}
