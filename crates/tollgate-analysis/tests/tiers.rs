//! The tiers table on `fixtures/spend.jsonl` (41 calls; see `tests/spend.rs`
//! for the costs) joined to `fixtures/evals.jsonl`.
//!
//! Latencies (ms), sorted, with the nearest ranks ceil(0.5 n) and ceil(0.95 n):
//! - sonnet/support (15): 1850 1900 1990 2000 2050 2100 2150 [2200] 2250 2300
//!   2400 2500 2600 3100 [5200]: ranks 8 and 15.
//! - haiku/kb-answer (12): 580 615 640 655 690 [700] 720 730 760 810 900
//!   [1450]: ranks 6 and 12.
//! - sonnet/- (5, no use_case tag): 2800 3000 [3100] 3400 [3900]: ranks 3, 5.
//! - haiku/faq (9): 380 390 395 400 [410] 420 430 450 [2000]: ranks 5 and 9.
//!
//! Cost per 1,000 calls: support 393,225,000 x 1000 / 15 = 26,215,000,000;
//! kb-answer 176,000,000 x 1000 / 12 = 14,666,666,666.7 -> 14,666,666,667;
//! search 222,000,000 x 1000 / 5 = 44,400,000,000; faq 27,000,000 x 1000 / 9
//! = 3,000,000,000 nano-dollars.
//!
//! Scores: support 1.0, 0.75, 1.0, 0.75 -> 0.875; kb-answer 0.5, 0.75, 0.25
//! -> 0.5; faq 1.0, 1.0 -> 1.0. Lines 10-12 of the evals are skipped (a
//! string score, 1.5, a repeated id); `req-06-chat-6` (its event is the torn
//! last line) and `req-00-kb-1` match no event.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tollgate_analysis::Evals;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn with_evals() -> tollgate_analysis::TiersReport {
    let evals = Evals::read_path(&fixture("evals.jsonl")).unwrap();
    tollgate_analysis::read_tiers(&[fixture("spend.jsonl")], Some(evals)).unwrap()
}

#[test]
fn json_has_scores_nearest_rank_latencies_and_cost_per_1k() {
    let expected = concat!(
        r#"{"tiers":["#,
        r#"{"model":"haiku","use_case":"faq","requests":9,"scored":2,"mean_score":1.0,"p50_latency_ms":410,"p95_latency_ms":2000,"cost_per_1k_usd":3.0},"#,
        r#"{"model":"haiku","use_case":"kb-answer","requests":12,"scored":3,"mean_score":0.5,"p50_latency_ms":700,"p95_latency_ms":1450,"cost_per_1k_usd":14.666666667},"#,
        r#"{"model":"sonnet","use_case":"-","requests":5,"scored":0,"mean_score":null,"p50_latency_ms":3100,"p95_latency_ms":3900,"cost_per_1k_usd":44.4},"#,
        r#"{"model":"sonnet","use_case":"support","requests":15,"scored":4,"mean_score":0.875,"p50_latency_ms":2200,"p95_latency_ms":5200,"cost_per_1k_usd":26.215}"#,
        r#"]}"#
    );
    let t = with_evals();
    assert_eq!(t.to_json().to_string(), expected);
    let per_1k: Vec<u64> = t.rows.iter().map(|r| r.cost_per_1k_nanos).collect();
    assert_eq!(
        per_1k,
        vec![
            3_000_000_000,
            14_666_666_667,
            44_400_000_000,
            26_215_000_000
        ]
    );
}

#[test]
fn bad_eval_lines_are_skipped_and_unmatched_records_counted() {
    let t = with_evals();
    assert_eq!(t.eval_records, Some(11));
    assert_eq!(t.unmatched_evals, 2);
    let name = fixture("evals.jsonl").display().to_string();
    let got: Vec<String> = t.skipped_evals.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            format!(
                "{name}:10: skipped: not an eval record: invalid type: string \"good\", expected f64 (column 47)"
            ),
            format!("{name}:11: skipped: score 1.5 of `req-03-chat-2` is outside 0.0 to 1.0"),
            format!("{name}:12: skipped: `req-01-chat-1` was already scored on line 1"),
        ]
    );
    let lines: Vec<usize> = t.skipped_events.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![14, 43]);
}

#[test]
fn text_table_is_exact() {
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
    assert_eq!(with_evals().to_text(), expected);
}

#[test]
fn without_evals_no_row_is_scored() {
    let t = tollgate_analysis::read_tiers(&[fixture("spend.jsonl")], None).unwrap();
    assert!(t
        .rows
        .iter()
        .all(|r| r.scored == 0 && r.mean_score.is_none()));
    assert_eq!(t.eval_records, None);
    assert!(t
        .to_text()
        .contains("no eval records (--evals FILE adds mean scores)\n"));
}

#[test]
fn evals_from_bytes_tolerate_a_bom_crlf_and_blank_lines() {
    let text = b"\xef\xbb\xbf{\"request_id\":\"a\",\"score\":0.25}\r\n\r\n{\"request_id\":\"b\",\"score\":0}";
    let e = Evals::read("mem.jsonl", &text[..]).unwrap();
    assert_eq!((e.len(), e.skipped.len()), (2, 0));
}
