//! The spend spike alert (`[alerts.spend_spike]`).
//!
//! A group (a feature, by default) alerts on day `D` when its spend that
//! day reaches `factor` x the mean of the `trailing_days` days before `D`
//! **and** at least `min_daily_usd`.
//!
//! - **History.** A group alerts only once it has a full trailing window:
//!   its first recorded event must be at least `trailing_days` days before
//!   `D`. Days before a group's first event are not zeros (else every new
//!   feature would alarm on its second day); days without spend *after* its
//!   first event are zeros (a quiet weekend lowers the mean).
//! - **Once** per group per day, fleet-wide when the store is shared.
//! - **Live.** The ledger checks after every settlement, so the alert fires
//!   within the day, as soon as the running total crosses the threshold.
//!   The threshold is computed once per group and day (the trailing days no
//!   longer change) and cached.
//! - **Exact.** Money is integer nano-dollars; `factor` is honoured to
//!   three decimals: the test is `today x days x 1000 >= round(factor x
//!   1000) x sum(trailing)`, in `u128`.
//!
//! Alerts arrive through [`crate::Ledger::on_spike`] callbacks and as a
//! `WARN` `tracing` event (target `tollgate::alert`); [`SpikeAlert`] is
//! serializable for anything else.

use crate::ledger::{At, GroupKey, StoreError};
use crate::time::Day;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use tollgate_lang::Policy;

/// The alert's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeConfig {
    /// Today against the trailing mean (default 2.0).
    pub factor: f64,
    /// Days in the trailing mean (default 7).
    pub trailing_days: u32,
    /// Ignore days below this spend, nano-dollars (default $5).
    pub min_daily_nanos: u64,
    /// The dimension (attribute name, or `global`; default `feature`).
    pub group_by: String,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            factor: 2.0,
            trailing_days: 7,
            min_daily_nanos: 5 * crate::NANOS_PER_USD,
            group_by: "feature".to_owned(),
        }
    }
}

impl SpikeConfig {
    /// The policy's `[alerts.spend_spike]`, if it has one.
    pub fn from_policy(policy: &Policy) -> Option<SpikeConfig> {
        let s = policy.spend_spike()?;
        Some(SpikeConfig {
            factor: s.factor,
            trailing_days: s.trailing_days.max(1),
            min_daily_nanos: s.min_daily_nanos,
            group_by: s
                .group_by
                .map_or(crate::ledger::GLOBAL, |a| policy.schema().name(a))
                .to_owned(),
        })
    }

    fn factor_milli(&self) -> u128 {
        let f = (self.factor * 1000.0).round();
        if f.is_finite() && f > 0.0 {
            f as u128
        } else {
            0
        }
    }

    /// The smallest spend for day `day` that alerts, given the group's first
    /// day and the totals of the `trailing_days` days before `day` (oldest
    /// first). `None` when the group lacks a full window.
    pub fn threshold(&self, first_day: Option<Day>, day: Day, trailing: &[i64]) -> Option<u64> {
        let t = self.trailing_days.max(1);
        if !self.has_full_window(first_day, day) {
            return None;
        }
        let sum: u128 = trailing
            .iter()
            .map(|&n| u128::try_from(n.max(0)).unwrap_or(0))
            .sum();
        let den = u128::from(t) * 1000;
        let need = (self.factor_milli() * sum).div_ceil(den);
        let need = u64::try_from(need).unwrap_or(u64::MAX);
        // At least one nano-dollar: a day without spend never alerts.
        Some(need.max(self.min_daily_nanos).max(1))
    }

    /// Whether a group first seen on `first_day` has `trailing_days` days of
    /// history before `day`.
    pub fn has_full_window(&self, first_day: Option<Day>, day: Day) -> bool {
        let t = u64::from(self.trailing_days.max(1));
        first_day.is_some_and(|f| u64::from(f.0) + t <= u64::from(day.0))
    }

    /// Replays one group's daily totals (any order; missing days are zero
    /// after the first): the days that alert, with their alerts.
    pub fn scan(&self, group: &str, daily: &[(Day, u64)]) -> Vec<SpikeAlert> {
        let by_day: BTreeMap<Day, u64> = daily.iter().copied().collect();
        let Some(&first) = by_day.keys().next() else {
            return Vec::new();
        };
        let t = self.trailing_days.max(1);
        let mut out = Vec::new();
        for (&day, &spend) in &by_day {
            let trailing: Vec<i64> = (1..=t)
                .rev()
                .map(|back| {
                    let d = day.minus(back);
                    by_day.get(&d).map_or(0, |&n| crate::ledger::to_i64(n))
                })
                .collect();
            if let Some(th) = self.threshold(Some(first), day, &trailing) {
                if spend >= th {
                    out.push(SpikeAlert::new(
                        self,
                        group,
                        day,
                        crate::ledger::to_i64(spend),
                        &trailing,
                        th,
                    ));
                }
            }
        }
        out
    }
}

/// A group's day passed its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeAlert {
    /// The dimension (`feature`, ...).
    pub group_by: String,
    /// The group's value (`kb`, ...).
    pub group: String,
    /// The UTC day.
    pub day: Day,
    /// Spend so far that day, nano-dollars.
    pub spend_nanos: u64,
    /// The same in USD.
    pub spend_usd: f64,
    /// The trailing mean, nano-dollars (rounded down).
    pub trailing_mean_nanos: u64,
    /// The same in USD.
    pub trailing_mean_usd: f64,
    /// The spend that triggers the alert, nano-dollars.
    pub threshold_nanos: u64,
    /// The same in USD.
    pub threshold_usd: f64,
    /// The configured factor.
    pub factor: f64,
    /// The configured window.
    pub trailing_days: u32,
}

impl SpikeAlert {
    fn new(
        cfg: &SpikeConfig,
        group: &str,
        day: Day,
        spend: i64,
        trailing: &[i64],
        threshold: u64,
    ) -> SpikeAlert {
        let t = u64::from(cfg.trailing_days.max(1));
        let sum: u64 = trailing
            .iter()
            .map(|&n| u64::try_from(n.max(0)).unwrap_or(0))
            .fold(0, u64::saturating_add);
        let mean = sum / t;
        let spend = u64::try_from(spend.max(0)).unwrap_or(0);
        SpikeAlert {
            group_by: cfg.group_by.clone(),
            group: group.to_owned(),
            day,
            spend_nanos: spend,
            spend_usd: crate::nanos_to_usd(spend),
            trailing_mean_nanos: mean,
            trailing_mean_usd: crate::nanos_to_usd(mean),
            threshold_nanos: threshold,
            threshold_usd: crate::nanos_to_usd(threshold),
            factor: cfg.factor,
            trailing_days: cfg.trailing_days,
        }
    }
}

/// Cached per group and day: the trailing totals and the threshold (`None`
/// when the group has no full window yet).
type Cached = Option<(Vec<i64>, u64)>;

/// The live check the ledger runs after each settlement.
pub(crate) struct SpikeWatch {
    cfg: SpikeConfig,
    cache: Mutex<HashMap<(String, String, Day), Cached>>,
}

impl SpikeWatch {
    pub(crate) fn new(cfg: SpikeConfig) -> SpikeWatch {
        SpikeWatch {
            cfg,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The alert, when `total` (the group's spend so far on `day`) crosses
    /// the threshold for the first time that day.
    pub(crate) async fn observe(
        &self,
        store: &At<'_>,
        key: GroupKey<'_>,
        day: Day,
        total: i64,
    ) -> Result<Option<SpikeAlert>, StoreError> {
        if key.dim != self.cfg.group_by {
            return Ok(None);
        }
        let id = (key.dim.to_owned(), key.value.to_owned(), day);
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(&id).cloned()
        };
        let entry = match cached {
            Some(c) => c,
            None => {
                let c = self.compute(store, key, day).await?;
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 100_000 {
                    cache.retain(|(_, _, d), _| *d >= day.minus(1));
                }
                cache.insert(id, c.clone());
                c
            }
        };
        let Some((trailing, threshold)) = entry else {
            return Ok(None);
        };
        if u64::try_from(total).unwrap_or(0) < threshold || !store.mark_alerted(key, day).await? {
            return Ok(None);
        }
        Ok(Some(SpikeAlert::new(
            &self.cfg, key.value, day, total, &trailing, threshold,
        )))
    }

    async fn compute(
        &self,
        store: &At<'_>,
        key: GroupKey<'_>,
        day: Day,
    ) -> Result<Cached, StoreError> {
        let t = self.cfg.trailing_days.max(1);
        let first = store.first_day(key).await?;
        if !self.cfg.has_full_window(first, day) {
            return Ok(None);
        }
        let trailing = store.totals(key, day.minus(t), t).await?;
        Ok(self
            .cfg
            .threshold(first, day, &trailing)
            .map(|th| (trailing, th)))
    }
}
