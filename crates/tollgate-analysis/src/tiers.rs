//! The tiers table: cost, quality and latency per model tier and use case,
//! the figures a routing decision is argued with ("Haiku answers `extract`
//! as well as Sonnet at a fifth of the price").
//!
//! A row is a model alias (the event's `model`: the tier that served) and a
//! use case (`tags.use_case`, `-` when absent). Every recorded call counts,
//! whatever its status: errors, cancelled streams, cache hits and budget
//! rejections are what the application paid and waited for on that route.
//!
//! - **Quality**: the mean of the eval scores joined to the row's calls on
//!   `request_id`, with `scored`, the number of calls that had one.
//! - **Latency**: p50 and p95 of `latency_ms`, nearest-rank: the value at
//!   rank `ceil(p / 100 x n)` of the sorted latencies (an observed value,
//!   never interpolated).
//! - **Cost**: per 1,000 calls, summed in integer nano-dollars and divided
//!   once (`round(sum x 1000 / n)`), then shown in USD.
//!
//! # Eval records
//!
//! JSON Lines, one object per scored request, other members ignored:
//!
//! ```json
//! {"request_id": "req-0001", "score": 0.85}
//! ```
//!
//! `score` is a number from 0.0 to 1.0. A line that is not such an object,
//! or that repeats a `request_id` already scored, is skipped with a warning
//! naming its file and line. Records whose `request_id` matches no event are
//! counted as unmatched.

use crate::events::{for_each_in_files, SkippedLine, NONE};
use crate::input::ReadError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use tollgate_cost::{nanos_to_usd, CallEvent};

/// One eval record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct EvalRecord {
    request_id: String,
    score: f64,
}

/// Eval scores by request id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evals {
    /// Score and whether an event matched it, per request id.
    scores: HashMap<String, (f64, bool)>,
    /// Lines that were not eval records.
    pub skipped: Vec<SkippedLine>,
}

impl Evals {
    /// Reads eval records (JSON Lines) from `reader`; `name` is for messages.
    pub fn read(name: &str, reader: impl BufRead) -> std::io::Result<Evals> {
        let mut evals = Evals::default();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (i, line) in reader.split(b'\n').enumerate() {
            let number = i + 1;
            let line = line?;
            let line = match (number, line.strip_prefix(b"\xef\xbb\xbf")) {
                (1, Some(rest)) => rest.to_vec(),
                _ => line,
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let skip = |reason: String| SkippedLine {
                file: name.to_owned(),
                line: number,
                reason,
            };
            let rec: EvalRecord = match serde_json::from_slice(&line) {
                Ok(r) => r,
                Err(e) => {
                    evals.skipped.push(skip(format!(
                        "not an eval record: {}",
                        crate::events::located_reason(&e.to_string())
                    )));
                    continue;
                }
            };
            if !(0.0..=1.0).contains(&rec.score) {
                evals.skipped.push(skip(format!(
                    "score {} of `{}` is outside 0.0 to 1.0",
                    rec.score, rec.request_id
                )));
                continue;
            }
            if let Some(first) = first_line.get(&rec.request_id) {
                evals.skipped.push(skip(format!(
                    "`{}` was already scored on line {first}",
                    rec.request_id
                )));
                continue;
            }
            first_line.insert(rec.request_id.clone(), number);
            evals.scores.insert(rec.request_id, (rec.score, false));
        }
        Ok(evals)
    }

    /// Reads an eval file.
    pub fn read_path(path: &Path) -> Result<Evals, ReadError> {
        let name = path.display().to_string();
        let io = |source| ReadError::Io {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        Evals::read(&name, BufReader::new(file)).map_err(io)
    }

    /// Records read (each request id once).
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Adds the records of `other` (its skipped lines too); a request id
    /// already scored keeps its first score. Returns how many of `other`'s
    /// records were ignored for that.
    pub fn extend(&mut self, other: Evals) -> usize {
        let mut repeated = 0;
        for (id, v) in other.scores {
            match self.scores.entry(id) {
                std::collections::hash_map::Entry::Occupied(_) => repeated += 1,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        self.skipped.extend(other.skipped);
        repeated
    }

    /// The score recorded for a request, if any.
    pub fn score(&self, request_id: &str) -> Option<f64> {
        self.scores.get(request_id).map(|(score, _)| *score)
    }

    /// The score of a request, marking the record as matched.
    fn take(&mut self, request_id: &str) -> Option<f64> {
        let (score, matched) = self.scores.get_mut(request_id)?;
        *matched = true;
        Some(*score)
    }

    /// Records no event matched.
    pub fn unmatched(&self) -> usize {
        self.scores.values().filter(|(_, m)| !m).count()
    }
}

#[derive(Debug, Clone, Default)]
struct Acc {
    latencies: Vec<u64>,
    nanos: u128,
    score_sum: f64,
    scored: u64,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct TierRow {
    /// Model alias.
    pub model: String,
    /// `tags.use_case`, or `-`.
    pub use_case: String,
    /// Calls.
    pub requests: u64,
    /// Calls with an eval score.
    pub scored: u64,
    /// Their mean score; `None` when none was scored.
    pub mean_score: Option<f64>,
    /// Nearest-rank median latency, ms.
    pub p50_latency_ms: u64,
    /// Nearest-rank 95th percentile latency, ms.
    pub p95_latency_ms: u64,
    /// Cost per 1,000 calls, nano-dollars (rounded half up).
    pub cost_per_1k_nanos: u64,
}

/// The table, with what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct TiersReport {
    /// Rows by model then use case.
    pub rows: Vec<TierRow>,
    /// Events read.
    pub events: u64,
    /// Eval records read (`None`: no eval file).
    pub eval_records: Option<usize>,
    /// Eval records whose `request_id` matched no event.
    pub unmatched_evals: usize,
    /// Event lines that were not events.
    pub skipped_events: Vec<SkippedLine>,
    /// Eval lines that were not records.
    pub skipped_evals: Vec<SkippedLine>,
}

/// The value at nearest rank `ceil(p / 100 x n)` of sorted `v` (0 when empty).
pub fn nearest_rank(sorted: &[u64], p: u32) -> u64 {
    let n = sorted.len() as u64;
    if n == 0 {
        return 0;
    }
    let rank = (u64::from(p) * n).div_ceil(100).clamp(1, n);
    sorted
        .get(usize::try_from(rank - 1).unwrap_or(0))
        .copied()
        .unwrap_or(0)
}

/// Sums events as they are read.
#[derive(Debug, Default)]
pub struct TiersBuilder {
    evals: Option<Evals>,
    rows: BTreeMap<(String, String), Acc>,
    events: u64,
}

impl TiersBuilder {
    /// A table joined to `evals`, if any.
    pub fn new(evals: Option<Evals>) -> TiersBuilder {
        TiersBuilder {
            evals,
            ..TiersBuilder::default()
        }
    }

    /// Counts one event.
    pub fn add(&mut self, ev: &CallEvent) {
        let use_case = ev.tags.use_case.as_deref().unwrap_or(NONE);
        let acc = self
            .rows
            .entry((ev.model.to_string(), use_case.to_owned()))
            .or_default();
        acc.latencies.push(ev.latency_ms);
        acc.nanos += u128::from(ev.cost_nanos);
        if let Some(score) = self.evals.as_mut().and_then(|e| e.take(&ev.request_id)) {
            acc.score_sum += score;
            acc.scored += 1;
        }
        self.events += 1;
    }

    /// The table.
    pub fn finish(self, skipped_events: Vec<SkippedLine>) -> TiersReport {
        let rows = self
            .rows
            .into_iter()
            .map(|((model, use_case), mut acc)| {
                acc.latencies.sort_unstable();
                let n = acc.latencies.len() as u64;
                let per_1k = if n == 0 {
                    0
                } else {
                    let n = u128::from(n);
                    (acc.nanos * 1000 + n / 2) / n
                };
                TierRow {
                    model,
                    use_case,
                    requests: n,
                    scored: acc.scored,
                    mean_score: (acc.scored > 0).then(|| acc.score_sum / acc.scored as f64),
                    p50_latency_ms: nearest_rank(&acc.latencies, 50),
                    p95_latency_ms: nearest_rank(&acc.latencies, 95),
                    cost_per_1k_nanos: u64::try_from(per_1k).unwrap_or(u64::MAX),
                }
            })
            .collect();
        let (eval_records, unmatched_evals, skipped_evals) = match self.evals {
            Some(e) => (Some(e.len()), e.unmatched(), e.skipped),
            None => (None, 0, Vec::new()),
        };
        TiersReport {
            rows,
            events: self.events,
            eval_records,
            unmatched_evals,
            skipped_events,
            skipped_evals,
        }
    }
}

/// Reads event files (and eval records) into the table.
pub fn read<P: AsRef<Path>>(paths: &[P], evals: Option<Evals>) -> Result<TiersReport, ReadError> {
    let mut b = TiersBuilder::new(evals);
    let skipped = for_each_in_files(paths, |ev| b.add(&ev))?;
    Ok(b.finish(skipped))
}

impl TiersReport {
    /// `{"tiers": [{"model", "use_case", "requests", "scored", "mean_score",
    /// "p50_latency_ms", "p95_latency_ms", "cost_per_1k_usd"}]}`;
    /// `mean_score` is `null` when no call of the row was scored.
    pub fn to_json(&self) -> Value {
        let tiers: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "model": r.model,
                    "use_case": r.use_case,
                    "requests": r.requests,
                    "scored": r.scored,
                    "mean_score": r.mean_score,
                    "p50_latency_ms": r.p50_latency_ms,
                    "p95_latency_ms": r.p95_latency_ms,
                    "cost_per_1k_usd": nanos_to_usd(r.cost_per_1k_nanos),
                })
            })
            .collect();
        json!({ "tiers": tiers })
    }

    /// The terminal table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mw = self
            .rows
            .iter()
            .map(|r| r.model.chars().count())
            .chain([5])
            .max()
            .unwrap_or(5);
        let uw = self
            .rows
            .iter()
            .map(|r| r.use_case.chars().count())
            .chain([8])
            .max()
            .unwrap_or(8);
        let _ = writeln!(
            out,
            "{:<mw$}  {:<uw$}  {:>8}  {:>6}  {:>10}  {:>8}  {:>8}  {:>12}",
            "model",
            "use case",
            "requests",
            "scored",
            "mean score",
            "p50 ms",
            "p95 ms",
            "USD per 1k"
        );
        for r in &self.rows {
            let score = r.mean_score.map_or("-".to_owned(), |s| format!("{s:.3}"));
            let _ = writeln!(
                out,
                "{:<mw$}  {:<uw$}  {:>8}  {:>6}  {:>10}  {:>8}  {:>8}  {:>12.4}",
                r.model,
                r.use_case,
                r.requests,
                r.scored,
                score,
                r.p50_latency_ms,
                r.p95_latency_ms,
                nanos_to_usd(r.cost_per_1k_nanos)
            );
        }
        let _ = writeln!(
            out,
            "{} events; latency percentiles are nearest-rank (an observed value at rank ceil(p/100 x n))",
            self.events
        );
        match self.eval_records {
            None => {
                let _ = writeln!(out, "no eval records (--evals FILE adds mean scores)");
            }
            Some(n) => {
                let _ = writeln!(
                    out,
                    "eval records: {n}, {} matched no event",
                    self.unmatched_evals
                );
            }
        }
        let skipped = self.skipped_events.len() + self.skipped_evals.len();
        if skipped > 0 {
            let _ = writeln!(
                out,
                "skipped: {skipped} line{} (listed on stderr)",
                if skipped == 1 { "" } else { "s" }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_observed_values() {
        let v: Vec<u64> = (1..=20).map(|i| i * 10).collect();
        assert_eq!(nearest_rank(&v, 50), 100);
        assert_eq!(nearest_rank(&v, 95), 190);
        assert_eq!(nearest_rank(&[7], 95), 7);
        assert_eq!(nearest_rank(&[1, 2, 3], 50), 2);
        assert_eq!(nearest_rank(&[], 50), 0);
    }
}
