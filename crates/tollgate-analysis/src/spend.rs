//! The daily spend report: recorded call events summed per UTC day and group
//! (a feature, by default), each day set against the group's trailing mean,
//! and the days the spend spike alert fires.
//!
//! The alert is `tollgate_cost`'s own rule, [`SpikeConfig::scan`], run over
//! the recorded days: the same factor, window and floor as the live ledger,
//! the same "no alert before a full trailing window of history" (days before
//! a group's first event are not zeros; quiet days after it are). Reading it
//! here rather than re-deriving it keeps the report and the pager in
//! agreement.
//!
//! Money is summed in integer nano-dollars (`cost_nanos`, never the rounded
//! `cost_usd`); USD appears only on output. Built with a [`Repricer`]
//! ([`read_repriced`], what `tollgate report` does), each event counts at
//! today's prices at its recorded source region instead of its recorded
//! `cost_nanos`, and the report states the region used and both totals
//! ([`SpendReport::pricing`]). A day belongs to the UTC day of the call's
//! `timestamp` (its start), like the ledger's.
//!
//! Output: [`SpendReport::to_text`] (the terminal table),
//! [`SpendReport::to_json`] (`{"daily": [...], "alerts": [...]}`) and
//! [`crate::spend_html::to_html`] (a self-contained page with a chart).

use crate::events::{for_each_in_files, group_value, SkippedLine};
use crate::input::ReadError;
use crate::reprice::{RepriceSummary, Repricer};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use tollgate_cost::{nanos_to_usd, CallEvent, Day, SpikeAlert, SpikeConfig};

/// Longest run of calendar days the table lists one by one; a wider span
/// (a stray timestamp from 1970, say) lists only the days with events.
pub const MAX_SPAN_DAYS: u32 = 400;

/// One group's spend on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cell {
    /// Nano-dollars.
    pub nanos: u64,
    /// Calls recorded (every status: a rejected or cached call costs 0).
    pub requests: u64,
}

/// What the events cost per day and group, and the alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendReport {
    /// The alert's settings; `group_by` is the report's dimension.
    pub spike: SpikeConfig,
    /// Groups, sorted.
    pub groups: Vec<String>,
    /// The table's rows: every day from the first to the last event (only
    /// the days with events when that span exceeds [`MAX_SPAN_DAYS`]).
    pub days: Vec<Day>,
    /// Spend per (day, group), only where the group has events that day.
    pub cells: BTreeMap<(Day, String), Cell>,
    /// Alerts, by day then group.
    pub alerts: Vec<SpikeAlert>,
    /// Events read.
    pub events: u64,
    /// Lines that were not events.
    pub skipped: Vec<SkippedLine>,
    /// How the events were re-priced; `None`: at their recorded `cost_nanos`.
    pub pricing: Option<RepriceSummary>,
}

/// Sums events as they are read.
#[derive(Debug)]
pub struct SpendBuilder<'p> {
    spike: SpikeConfig,
    cells: BTreeMap<(Day, String), Cell>,
    events: u64,
    repricer: Option<Repricer<'p>>,
}

impl<'p> SpendBuilder<'p> {
    /// An empty report grouped by `spike.group_by`, summing the recorded
    /// `cost_nanos`.
    pub fn new(spike: SpikeConfig) -> SpendBuilder<'p> {
        SpendBuilder {
            spike,
            cells: BTreeMap::new(),
            events: 0,
            repricer: None,
        }
    }

    /// An empty report that sums each event at `repricer`'s prices.
    pub fn repriced(spike: SpikeConfig, repricer: Repricer<'p>) -> SpendBuilder<'p> {
        SpendBuilder {
            repricer: Some(repricer),
            ..SpendBuilder::new(spike)
        }
    }

    /// Counts one event.
    pub fn add(&mut self, ev: &CallEvent) {
        let nanos = match &mut self.repricer {
            Some(r) => r.cost(ev),
            None => ev.cost_nanos,
        };
        let group = group_value(ev, &self.spike.group_by);
        let cell = self.cells.entry((ev.timestamp.day(), group)).or_default();
        cell.nanos = cell.nanos.saturating_add(nanos);
        cell.requests += 1;
        self.events += 1;
    }

    /// The report, with the lines the reader skipped.
    pub fn finish(self, skipped: Vec<SkippedLine>) -> SpendReport {
        let groups: Vec<String> = self
            .cells
            .keys()
            .map(|(_, g)| g.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut alerts: Vec<SpikeAlert> = groups
            .iter()
            .flat_map(|g| {
                let daily: Vec<(Day, u64)> = self
                    .cells
                    .iter()
                    .filter(|((_, cg), _)| cg == g)
                    .map(|((d, _), c)| (*d, c.nanos))
                    .collect();
                self.spike.scan(g, &daily)
            })
            .collect();
        alerts.sort_by(|a, b| (a.day, &a.group).cmp(&(b.day, &b.group)));
        let with_events: BTreeSet<Day> = self.cells.keys().map(|(d, _)| *d).collect();
        let days = match (with_events.first(), with_events.last()) {
            (Some(&first), Some(&last)) if last.0 - first.0 < MAX_SPAN_DAYS => {
                (first.0..=last.0).map(Day).collect()
            }
            _ => with_events.into_iter().collect(),
        };
        SpendReport {
            spike: self.spike,
            groups,
            days,
            cells: self.cells,
            alerts,
            events: self.events,
            skipped,
            pricing: self.repricer.map(Repricer::into_summary),
        }
    }
}

/// Reads event files into a report at their recorded `cost_nanos` (bad
/// lines skipped and listed).
pub fn read<P: AsRef<Path>>(paths: &[P], spike: SpikeConfig) -> Result<SpendReport, ReadError> {
    let mut b = SpendBuilder::new(spike);
    let skipped = for_each_in_files(paths, |ev| b.add(&ev))?;
    Ok(b.finish(skipped))
}

/// Reads event files into a report, each event re-priced by `repricer`
/// (bad lines skipped and listed).
pub fn read_repriced<P: AsRef<Path>>(
    paths: &[P],
    spike: SpikeConfig,
    repricer: Repricer<'_>,
) -> Result<SpendReport, ReadError> {
    let mut b = SpendBuilder::repriced(spike, repricer);
    let skipped = for_each_in_files(paths, |ev| b.add(&ev))?;
    Ok(b.finish(skipped))
}

/// A day's spend against the trailing mean, as the alert sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versus {
    /// The day's spend, nano-dollars (0 on a quiet day after the first).
    pub nanos: u64,
    /// The sum of the `trailing_days` days before; `None` without a full
    /// window of history.
    pub trailing_sum: Option<u128>,
}

impl Versus {
    /// `(spend - mean) / mean` in percent; `None` without history or with a
    /// zero mean.
    pub fn change_pct(&self, trailing_days: u32) -> Option<f64> {
        let sum = self.trailing_sum.filter(|&s| s > 0)?;
        let t = f64::from(trailing_days.max(1));
        Some((self.nanos as f64 * t - sum as f64) / sum as f64 * 100.0)
    }
}

impl SpendReport {
    /// All spend in the report, nano-dollars.
    pub fn total_nanos(&self) -> u64 {
        self.cells
            .values()
            .fold(0u64, |acc, c| acc.saturating_add(c.nanos))
    }

    /// The days a group has events, oldest first, with their spend.
    fn series(&self, group: Option<&str>) -> BTreeMap<Day, u64> {
        let mut out = BTreeMap::new();
        for ((d, g), c) in &self.cells {
            if group.is_none_or(|want| want == g) {
                let e: &mut u64 = out.entry(*d).or_default();
                *e = e.saturating_add(c.nanos);
            }
        }
        out
    }

    /// A group's (or, with `None`, all groups') spend on `day` against its
    /// trailing mean; `None` before its first event.
    pub fn versus(&self, group: Option<&str>, day: Day) -> Option<Versus> {
        self.versus_in(&self.series(group), day)
    }

    fn versus_in(&self, series: &BTreeMap<Day, u64>, day: Day) -> Option<Versus> {
        let first = *series.keys().next()?;
        if day < first {
            return None;
        }
        let t = self.spike.trailing_days.max(1);
        let trailing_sum = self.spike.has_full_window(Some(first), day).then(|| {
            (1..=t)
                .map(|back| u128::from(series.get(&day.minus(back)).copied().unwrap_or(0)))
                .sum()
        });
        Some(Versus {
            nanos: series.get(&day).copied().unwrap_or(0),
            trailing_sum,
        })
    }

    /// Whether `group` alerted on `day`.
    pub fn is_spike(&self, group: &str, day: Day) -> bool {
        self.alerts.iter().any(|a| a.day == day && a.group == group)
    }

    /// All groups' spend on `day`, nano-dollars.
    pub fn day_total(&self, day: Day) -> u64 {
        self.cells
            .range((day, String::new())..)
            .take_while(|((d, _), _)| *d == day)
            .fold(0u64, |acc, (_, c)| acc.saturating_add(c.nanos))
    }

    /// `{"daily": [{"day", "group", "cost_usd", "requests"}], "alerts":
    /// [{"group", "day", "spend_usd", "trailing_mean_usd"}]}`, by day then
    /// group; only (day, group) pairs with events are listed. A re-priced
    /// report adds `"region"` (for calls that record none) and `"pricing"`
    /// ([`RepriceSummary::to_json`]).
    pub fn to_json(&self) -> Value {
        let daily: Vec<Value> = self
            .cells
            .iter()
            .map(|((d, g), c)| {
                json!({
                    "day": d.to_string(),
                    "group": g,
                    "cost_usd": nanos_to_usd(c.nanos),
                    "requests": c.requests,
                })
            })
            .collect();
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "group": a.group,
                    "day": a.day.to_string(),
                    "spend_usd": a.spend_usd,
                    "trailing_mean_usd": a.trailing_mean_usd,
                })
            })
            .collect();
        let mut v = json!({ "daily": daily, "alerts": alerts });
        if let (Some(p), Some(o)) = (&self.pricing, v.as_object_mut()) {
            o.insert("region".into(), p.region.clone().into());
            o.insert("pricing".into(), p.to_json());
        }
        v
    }

    /// The rows of the table: per day, per group then the total, the two
    /// cells (spend, change vs the trailing mean with the spike mark).
    pub fn rows(&self) -> Vec<Row> {
        let series: Vec<BTreeMap<Day, u64>> =
            self.groups.iter().map(|g| self.series(Some(g))).collect();
        let all = self.series(None);
        self.days
            .iter()
            .map(|&day| {
                let mut cells: Vec<RowCell> = self
                    .groups
                    .iter()
                    .zip(&series)
                    .map(|(g, s)| self.row_cell(s, day, self.is_spike(g, day)))
                    .collect();
                cells.push(self.row_cell(&all, day, false));
                Row { day, cells }
            })
            .collect()
    }

    fn row_cell(&self, series: &BTreeMap<Day, u64>, day: Day, spike: bool) -> RowCell {
        let v = self.versus_in(series, day);
        RowCell {
            spend: v.map(|v| v.nanos),
            change_pct: v.and_then(|v| v.change_pct(self.spike.trailing_days)),
            spike,
        }
    }

    /// The terminal table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let t = self.spike.trailing_days;
        let _ = writeln!(
            out,
            "daily cost by {} (USD, UTC days); change = spend vs the trailing {t}-day mean",
            self.spike.group_by
        );
        let mut names: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        names.push("total");
        let widths: Vec<usize> = names.iter().map(|n| n.chars().count().max(10)).collect();
        let mut header = format!("{:<10}", "day");
        for (n, w) in names.iter().zip(&widths) {
            let _ = write!(header, "  {n:>w$}  {:<8}", "change");
        }
        let _ = writeln!(out, "{}", header.trim_end());
        for row in self.rows() {
            let mut line = row.day.to_string();
            for (c, w) in row.cells.iter().zip(&widths) {
                let spend = c
                    .spend
                    .map_or("-".to_owned(), |n| format!("{:.4}", nanos_to_usd(n)));
                let mark = if c.spike { " *" } else { "" };
                let change = format!("{}{mark}", pct(c.change_pct));
                let _ = write!(line, "  {spend:>w$}  {change:<8}");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        let total = self.total_nanos();
        let _ = writeln!(
            out,
            "{} events, {} day{}, {} {}{}, ${:.4} in all",
            self.events,
            self.days.len(),
            if self.days.len() == 1 { "" } else { "s" },
            self.groups.len(),
            self.spike.group_by,
            if self.groups.len() == 1 { "" } else { "s" },
            nanos_to_usd(total)
        );
        let _ = writeln!(
            out,
            "-: no events yet (the group's history starts later) or no full {t}-day window for a change"
        );
        let _ = writeln!(out, "{}", self.legend());
        if self.alerts.is_empty() {
            let _ = writeln!(out, "alerts: none");
        } else {
            let _ = writeln!(out, "alerts: {}", self.alerts.len());
            let gw = self
                .alerts
                .iter()
                .map(|a| a.group.chars().count())
                .max()
                .unwrap_or(0);
            for a in &self.alerts {
                let _ = writeln!(out, "  {}", alert_line(a, gw));
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(
                out,
                "skipped: {} line{} that {} not call events (listed on stderr)",
                self.skipped.len(),
                if self.skipped.len() == 1 { "" } else { "s" },
                if self.skipped.len() == 1 {
                    "was"
                } else {
                    "were"
                }
            );
        }
        for line in self.pricing.iter().flat_map(RepriceSummary::note) {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    /// What `*` means, with the settings.
    pub fn legend(&self) -> String {
        let s = &self.spike;
        format!(
            "*: spend spike: the day reached {}x the trailing {}-day mean and at least ${:.2} (group_by = {})",
            s.factor,
            s.trailing_days,
            nanos_to_usd(s.min_daily_nanos),
            s.group_by
        )
    }
}

/// One alert, for reading, the group padded to `group_width`.
pub fn alert_line(a: &SpikeAlert, group_width: usize) -> String {
    let ratio = if a.trailing_mean_nanos > 0 {
        format!(
            " ({:.2}x)",
            a.spend_nanos as f64 / a.trailing_mean_nanos as f64
        )
    } else {
        String::new()
    };
    format!(
        "{}  {:<group_width$}  ${:.4} vs trailing mean ${:.4}{ratio}",
        a.day,
        a.group,
        nanos_to_usd(a.spend_nanos),
        nanos_to_usd(a.trailing_mean_nanos)
    )
}

/// `+200%`, `-35%`, `0%`, or `-` for none.
pub fn pct(p: Option<f64>) -> String {
    match p {
        None => "-".to_owned(),
        Some(p) => {
            let r = p.round();
            if r > 0.0 {
                format!("+{r:.0}%")
            } else if r == 0.0 {
                "0%".to_owned()
            } else {
                format!("{r:.0}%")
            }
        }
    }
}

/// One day of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The day.
    pub day: Day,
    /// One per group, in [`SpendReport::groups`] order, then the total.
    pub cells: Vec<RowCell>,
}

/// One group's figures on one day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowCell {
    /// Nano-dollars; `None` before the group's first event.
    pub spend: Option<u64>,
    /// Change vs the trailing mean, percent.
    pub change_pct: Option<f64>,
    /// The spike alert fired.
    pub spike: bool,
}
