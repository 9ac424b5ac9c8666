//! Provisioned throughput at the traffic floor: how many model units to
//! buy, and what a month costs three ways.
//!
//! 1. Token throughput per hour (prompt + output tokens, averaged over the
//!    hour: bursts inside an hour are not modelled).
//! 2. Each full day's **floor** is the rate held in at least 16 of its 24
//!    hours (its 16th-highest hour); the plan takes the lowest daily floor,
//!    so the units bought are busy at least 16 hours every day.
//! 3. Units = floor / tokens-per-minute of one unit, rounded down.
//! 4. A 30-day month (720 h), scaled from the trace's hours: units x
//!    hourly price around the clock, plus every token above the units'
//!    capacity in each hour at on-demand prices ("spill"); against all
//!    on-demand, and against units bought for the peak hour.
//!
//! Bedrock publishes neither a model unit's throughput nor (for most base
//! models) its hourly price, so both are inputs, stated in the output.
//!
//! Hours count from the UTC midnight before the first request, so a trace
//! on a relative clock (ServeGen, Mooncake: 0 is its start) and one on
//! real dates (Azure, call events) measure the same way.

use crate::trace::Trace;
use serde_json::{json, Value};
use tollgate_cost::{price_lenient, Mode, Usage};
use tollgate_lang::Prices;

/// One model unit, as the caller's AWS quote states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitTerms {
    /// Tokens (prompt + output) per minute one unit serves.
    pub tokens_per_minute: u64,
    /// Price of one unit per hour, nano-dollars.
    pub nanos_per_hour: u64,
}

/// Hours in the month the plan prices.
pub const MONTH_HOURS: u64 = 720;

/// Hours a day the floor must be held.
pub const FLOOR_HOURS: usize = 16;

/// The plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedPlan {
    /// Hours of traffic measured.
    pub hours: u64,
    /// Full days measured.
    pub days: u64,
    /// Lowest daily floor, tokens per minute.
    pub floor_tpm: u64,
    /// Median daily floor, tokens per minute.
    pub median_floor_tpm: u64,
    /// Peak hour, tokens per minute.
    pub peak_tpm: u64,
    /// Units at the floor.
    pub floor_units: u64,
    /// Units for the peak.
    pub peak_units: u64,
    /// Hours whose traffic is zero (gaps), reported.
    pub zero_hours: u64,
    /// A month all on demand, nano-dollars.
    pub on_demand_month_nanos: u128,
    /// A month at the floor: units, nano-dollars.
    pub floor_units_month_nanos: u128,
    /// A month at the floor: on-demand spill, nano-dollars.
    pub floor_spill_month_nanos: u128,
    /// A month with units for the peak, nano-dollars.
    pub peak_month_nanos: u128,
    /// The unit terms used.
    pub terms: UnitTerms,
}

/// The longest span a plan measures: ten years of hours.
pub const MAX_PLAN_HOURS: u64 = 10 * 366 * 24;

/// Why there is no plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The trace has no requests.
    #[error("no traffic in the files")]
    NoTraffic,
    /// The first and last requests are too far apart (a stray timestamp).
    #[error("the traffic spans {hours} hours, more than the {MAX_PLAN_HOURS} a plan measures (a stray timestamp?)")]
    TooLong {
        /// Hours from the first request's UTC midnight to the last request.
        hours: u64,
    },
}

/// Plans provisioned throughput for a trace priced on `prices` on demand.
pub fn plan_provisioned(
    trace: &Trace,
    prices: &Prices,
    terms: UnitTerms,
) -> Result<ProvisionedPlan, PlanError> {
    const HOUR_MS: u64 = 3_600_000;
    let first = trace.requests.iter().map(|r| r.at_ms).min();
    let last = trace.requests.iter().map(|r| r.at_ms).max();
    let (Some(first), Some(last)) = (first, last) else {
        return Err(PlanError::NoTraffic);
    };
    let origin = first - first % (24 * HOUR_MS);
    let hours = (last - origin) / HOUR_MS + 1;
    if hours > MAX_PLAN_HOURS {
        return Err(PlanError::TooLong { hours });
    }
    let mut tokens = vec![0u128; hours as usize];
    let mut cost = vec![0u128; hours as usize];
    for r in &trace.requests {
        let h = ((r.at_ms - origin) / HOUR_MS) as usize;
        let one = price_lenient(
            prices,
            &Usage::new(r.input_tokens, r.output_tokens),
            Mode::Realtime,
        )
        .0;
        if let (Some(t), Some(c)) = (tokens.get_mut(h), cost.get_mut(h)) {
            *t += u128::from(r.input_tokens + r.output_tokens) * u128::from(r.count);
            *c += u128::from(one.total_nanos) * u128::from(r.count);
        }
    }
    let tpm: Vec<u64> = tokens
        .iter()
        .map(|&t| u64::try_from(t / 60).unwrap_or(u64::MAX))
        .collect();
    let mut floors: Vec<u64> = tpm
        .chunks_exact(24)
        .filter_map(|day| {
            let mut d = day.to_vec();
            d.sort_unstable_by(|a, b| b.cmp(a));
            d.get(FLOOR_HOURS - 1).copied()
        })
        .collect();
    floors.sort_unstable();
    let floor_tpm = floors.first().copied().unwrap_or(0);
    let median_floor_tpm = floors.get(floors.len() / 2).copied().unwrap_or(0);
    let peak_tpm = tpm.iter().copied().max().unwrap_or(0);
    let per_unit = terms.tokens_per_minute.max(1);
    let floor_units = floor_tpm / per_unit;
    let peak_units = peak_tpm.div_ceil(per_unit);
    let capacity_per_hour = u128::from(floor_units) * u128::from(per_unit) * 60;
    let spill: u128 = tokens
        .iter()
        .zip(&cost)
        .filter(|(&t, _)| t > capacity_per_hour)
        .map(|(&t, &c)| c * (t - capacity_per_hour) / t)
        .sum();
    let scale = |x: u128| x * u128::from(MONTH_HOURS) / u128::from(hours);
    let unit_month =
        |n: u64| u128::from(n) * u128::from(terms.nanos_per_hour) * u128::from(MONTH_HOURS);
    Ok(ProvisionedPlan {
        hours,
        days: hours / 24,
        floor_tpm,
        median_floor_tpm,
        peak_tpm,
        floor_units,
        peak_units,
        zero_hours: tokens.iter().filter(|&&t| t == 0).count() as u64,
        on_demand_month_nanos: scale(cost.iter().sum()),
        floor_units_month_nanos: unit_month(floor_units),
        floor_spill_month_nanos: scale(spill),
        peak_month_nanos: unit_month(peak_units),
        terms,
    })
}

impl ProvisionedPlan {
    /// Floor units plus spill, nano-dollars a month.
    pub fn floor_month_nanos(&self) -> u128 {
        self.floor_units_month_nanos + self.floor_spill_month_nanos
    }

    /// The plan as one JSON object (USD for display).
    pub fn to_json(&self) -> Value {
        let usd = |n: u128| n as f64 / 1e9;
        json!({
            "hours": self.hours,
            "days": self.days,
            "zero_hours": self.zero_hours,
            "floor_tokens_per_minute": self.floor_tpm,
            "median_floor_tokens_per_minute": self.median_floor_tpm,
            "peak_tokens_per_minute": self.peak_tpm,
            "unit_tokens_per_minute": self.terms.tokens_per_minute,
            "unit_usd_per_hour": self.terms.nanos_per_hour as f64 / 1e9,
            "recommended_units": self.floor_units,
            "peak_units": self.peak_units,
            "month_on_demand_usd": usd(self.on_demand_month_nanos),
            "month_floor_usd": usd(self.floor_month_nanos()),
            "month_floor_units_usd": usd(self.floor_units_month_nanos),
            "month_floor_spill_usd": usd(self.floor_spill_month_nanos),
            "month_peak_usd": usd(self.peak_month_nanos),
        })
    }

    /// The plan as text.
    pub fn to_text(&self) -> String {
        use crate::report::{group, money};
        let mut s = format!(
            "measured {} h ({} full days, {} h with no traffic)\n",
            self.hours, self.days, self.zero_hours
        );
        s += &format!(
            "floor (rate held >= {FLOOR_HOURS} h every day): {} tokens/min (median day {}); peak hour {} tokens/min\n",
            group(self.floor_tpm),
            group(self.median_floor_tpm),
            group(self.peak_tpm)
        );
        s += &format!(
            "one unit: {} tokens/min at {}/h (your quote; Bedrock does not publish them)\n",
            group(self.terms.tokens_per_minute),
            money(u128::from(self.terms.nanos_per_hour))
        );
        s += &format!(
            "recommended: {} units at the floor ({} for the peak)\n",
            group(self.floor_units),
            group(self.peak_units)
        );
        s += "a 30-day month:\n";
        s += &format!(
            "  all on demand           {:>16}\n",
            money(self.on_demand_month_nanos)
        );
        s += &format!(
            "  floor units + spill     {:>16}  ({} units + {} on-demand spill)\n",
            money(self.floor_month_nanos()),
            money(self.floor_units_month_nanos),
            money(self.floor_spill_month_nanos)
        );
        s += &format!(
            "  units for the peak      {:>16}\n",
            money(self.peak_month_nanos)
        );
        s
    }
}
