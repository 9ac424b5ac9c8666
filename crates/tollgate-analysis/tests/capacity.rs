//! `plan provisioned` on a hand-built two-day trace (one weighted request of
//! 60 prompt tokens per hour, so an hour's count is its tokens per minute),
//! and on the bundled ServeGen m-small traces.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use tollgate_analysis::{plan_provisioned, UnitTerms};
use tollgate_analysis::{read_path, ServeGenTokens};
use tollgate_analysis::{Trace, TraceRequest};
use tollgate_lang::{PicosPerToken, Prices};

fn prices() -> Prices {
    Prices {
        input: PicosPerToken::from_picos(2_000_000),
        output: PicosPerToken::from_picos(10_000_000),
        ..Prices::default()
    }
}

fn hourly(counts: &[u64]) -> Trace {
    Trace {
        requests: counts
            .iter()
            .enumerate()
            .map(|(h, &c)| TraceRequest {
                at_ms: h as u64 * 3_600_000,
                count: c,
                input_tokens: 60,
                output_tokens: 0,
                content: None,
                blocks_start: 0,
                blocks_len: 0,
                call: None,
            })
            .collect(),
        ..Trace::default()
    }
}

/// Day 0: 8 h at 10, 16 h at 100 tokens/min -> floor 100.
/// Day 1: 8 h of gap (0), 15 h at 120, 1 h at 300 -> floor 120; peak 300.
fn two_days() -> Vec<u64> {
    let mut counts = vec![10; 8];
    counts.extend([100; 16]);
    counts.extend([0; 8]);
    counts.extend([120; 15]);
    counts.push(300);
    counts
}

#[test]
fn floor_is_the_lowest_daily_rate_held_sixteen_hours_and_spill_is_priced_on_demand() {
    let counts = two_days();
    let terms = UnitTerms {
        tokens_per_minute: 50,
        nanos_per_hour: 1_000_000_000,
    };
    let p = plan_provisioned(&hourly(&counts), &prices(), terms).unwrap();
    assert_eq!((p.hours, p.days, p.zero_hours), (48, 2, 8));
    assert_eq!(
        (p.floor_tpm, p.median_floor_tpm, p.peak_tpm),
        (100, 120, 300)
    );
    assert_eq!((p.floor_units, p.peak_units), (2, 6));
    // 3,780 requests x 120,000 nanos over 48 h, x 720/48.
    assert_eq!(p.on_demand_month_nanos, 3780 * 120_000 * 15);
    // 2 units serve 6,000 tokens an hour: 15 h spill 1,200 of 7,200 tokens,
    // 1 h spills 12,000 of 18,000; x 15.
    assert_eq!(
        p.floor_spill_month_nanos,
        (15 * 2_400_000 + 24_000_000) * 15
    );
    assert_eq!(p.floor_units_month_nanos, 2 * 1_000_000_000 * 720);
    assert_eq!(p.peak_month_nanos, 6 * 1_000_000_000 * 720);
}

#[test]
fn bundled_servegen_traces_parse_with_their_gaps() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/servegen-m-small");
    let mut parts = Vec::new();
    for i in 0..43 {
        parts.push(
            read_path(
                &dir.join(format!("chunk-{i}-trace.csv")),
                None,
                ServeGenTokens::default(),
            )
            .unwrap(),
        );
    }
    assert!(parts.iter().all(|t| t.requests.len() == 2016));
    let windows = tollgate_analysis::servegen_windows(&parts);
    assert_eq!(windows.values().filter(|&&r| r == 0.0).count(), 37);
    let note = tollgate_analysis::servegen_gap_note(&windows).unwrap();
    assert!(
        note.starts_with("servegen: 37 zero-rate windows (6.2 h) in 12 runs"),
        "{note}"
    );
}

#[test]
fn a_trace_on_real_dates_is_measured_from_its_first_day_not_from_1970() {
    // The same two days as above, starting 2023-11-16T00:00:00Z, with the
    // first hour's request at 00:30 (the day is counted from midnight).
    let counts = two_days();
    let mut dated = hourly(&counts);
    let midnight = 1_700_092_800_000;
    for (h, r) in dated.requests.iter_mut().enumerate() {
        r.at_ms += midnight + if h == 0 { 1_800_000 } else { 0 };
    }
    let terms = UnitTerms {
        tokens_per_minute: 50,
        nanos_per_hour: 1_000_000_000,
    };
    let relative = plan_provisioned(&hourly(&counts), &prices(), terms).unwrap();
    let p = plan_provisioned(&dated, &prices(), terms).unwrap();
    assert_eq!((p.hours, p.days, p.zero_hours), (48, 2, 8));
    assert_eq!(p, relative);

    // A stray timestamp years away is refused, not allocated for.
    dated.requests[47].at_ms = midnight + 40 * 366 * 24 * 3_600_000;
    let err = plan_provisioned(&dated, &prices(), terms).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the traffic spans 351361 hours, more than the 87840 a plan measures (a stray timestamp?)"
    );
    assert_eq!(
        plan_provisioned(&Trace::default(), &prices(), terms).unwrap_err(),
        tollgate_analysis::PlanError::NoTraffic
    );
}
