//! Recorded call events priced again with today's price table, at the
//! source region each call records (a call that records none, such as a
//! version-1 event, at a default region: `--region`, else us-east-1).
//!
//! A call is priced the way the gate priced it, with the same inputs the
//! event records: its tokens ([`CallEvent::usage`]), its mode (batch has
//! its own prices), its service tier and its latency option. The prices
//! come from:
//!
//! - a prompt router's invoked model (`response_model_id`): the table's
//!   row for that id at its home region, as the gate prices it;
//! - else the policy's model of the recorded alias, when its id is the
//!   recorded `model_id`: [`call_prices`] over the policy's table (an
//!   inline-priced model keeps its own prices in every region; a region,
//!   tier or latency the table does not price falls back to the model's
//!   own prices, as the gate does);
//! - else the table (the policy's, or the built-in one without a policy)
//!   by the recorded `model_id`, resolved for the region and tier.
//!
//! An event none of these prices (a model id the table does not know, or
//! one not priced in its region) keeps its recorded `cost_nanos` and is
//! counted, with its model id, so a report can say so.
//!
//! A rejected or cached call records no tokens and so re-prices to 0, as
//! it was recorded.

use crate::spend_html::exact_usd;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use tollgate_cost::{price_lenient, CallEvent};
use tollgate_lang::Policy;
use tollgate_lang::{call_prices, Latency, PriceTable, Prices, Tier, DEFAULT_REGION};

/// What a call's prices depend on, besides the policy and table.
type Key = (String, String, Option<String>, String, Tier, bool);

/// Prices events again; see the module docs.
#[derive(Debug)]
pub struct Repricer<'p> {
    policy: Option<&'p Policy>,
    table: &'p PriceTable,
    region: String,
    cache: FxHashMap<Key, Option<Prices>>,
    summary: RepriceSummary,
}

/// What re-pricing did, for the report's note.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepriceSummary {
    /// The region of calls that record none.
    pub region: String,
    /// `region` is the default (no `--region` was given).
    pub region_is_default: bool,
    /// Events read.
    pub events: u64,
    /// Events that record no source region (priced at `region`).
    pub without_region: u64,
    /// The recorded `cost_nanos`, summed.
    pub recorded_nanos: u64,
    /// The re-priced cost, summed (kept events at their recorded cost).
    pub repriced_nanos: u64,
    /// `recorded_nanos` of the events that record no region.
    pub without_region_recorded_nanos: u64,
    /// `repriced_nanos` of the events that record no region.
    pub without_region_repriced_nanos: u64,
    /// Events the table could not price, which keep their recorded cost.
    pub kept: u64,
    /// Their model ids, sorted.
    pub kept_models: BTreeSet<String>,
}

impl<'p> Repricer<'p> {
    /// Prices with `policy`'s models and table (without a policy, the
    /// built-in table); calls that record no region at `region` (`None`:
    /// us-east-1, the default).
    pub fn new(policy: Option<&'p Policy>, region: Option<&str>) -> Repricer<'p> {
        let table: &'p PriceTable = match policy {
            Some(p) => p.price_table(),
            None => PriceTable::builtin(),
        };
        let r = region.unwrap_or(DEFAULT_REGION).to_owned();
        Repricer {
            policy,
            table,
            summary: RepriceSummary {
                region: r.clone(),
                region_is_default: region.is_none(),
                ..RepriceSummary::default()
            },
            region: r,
            cache: FxHashMap::default(),
        }
    }

    /// The event's cost at today's prices, nano-dollars (its recorded cost
    /// when the table cannot price it); counted in the summary.
    pub fn cost(&mut self, ev: &CallEvent) -> u64 {
        let prices = self.prices(ev);
        let s = &mut self.summary;
        let nanos = match prices {
            Some(p) => price_lenient(&p, &ev.usage, ev.mode).0.total_nanos,
            None => {
                s.kept += 1;
                s.kept_models.insert(ev.model_id.to_string());
                ev.cost_nanos
            }
        };
        s.events += 1;
        s.recorded_nanos = s.recorded_nanos.saturating_add(ev.cost_nanos);
        s.repriced_nanos = s.repriced_nanos.saturating_add(nanos);
        if ev.region.is_none() {
            s.without_region += 1;
            s.without_region_recorded_nanos = s
                .without_region_recorded_nanos
                .saturating_add(ev.cost_nanos);
            s.without_region_repriced_nanos = s.without_region_repriced_nanos.saturating_add(nanos);
        }
        nanos
    }

    /// The summary so far.
    pub fn summary(&self) -> &RepriceSummary {
        &self.summary
    }

    /// The summary, consuming the repricer.
    pub fn into_summary(self) -> RepriceSummary {
        self.summary
    }

    fn prices(&mut self, ev: &CallEvent) -> Option<Prices> {
        let region = ev.region.as_deref().unwrap_or(&self.region);
        let tier = ev.service_tier.unwrap_or_default();
        let optimized = ev.latency == Some(Latency::Optimized);
        let key: Key = (
            ev.model.to_string(),
            ev.model_id.to_string(),
            ev.response_model_id.clone(),
            region.to_owned(),
            tier,
            optimized,
        );
        if let Some(p) = self.cache.get(&key) {
            return p.clone();
        }
        let p = self.resolve(ev, region, tier, optimized);
        self.cache.insert(key, p.clone());
        p
    }

    fn resolve(&self, ev: &CallEvent, region: &str, tier: Tier, optimized: bool) -> Option<Prices> {
        if let Some(p) = ev
            .response_model_id
            .as_deref()
            .and_then(|id| self.table.lookup(id))
        {
            return Some(p);
        }
        let model = self.policy.and_then(|p| {
            p.model_by_alias(&ev.model)
                .and_then(|m| p.model(m))
                .filter(|m| m.id == *ev.model_id)
        });
        if let Some(m) = model {
            return Some(
                call_prices(self.table, &m.id, &m.prices, region, tier, optimized)
                    .unwrap_or_else(|_| m.prices.clone()),
            );
        }
        let p = self.table.resolve(&ev.model_id, region, tier).ok()?;
        if optimized {
            p.at_latency_optimized()
        } else {
            Some(p)
        }
    }
}

impl RepriceSummary {
    /// The lines the text report ends with: the region used, and how the
    /// re-priced total compares with the recorded one (split by whether
    /// the calls record their region when it differs).
    pub fn note(&self) -> Vec<String> {
        let region = format!(
            "{}{}",
            self.region,
            if self.region_is_default {
                " (default)"
            } else {
                ""
            }
        );
        let mut lines = vec![format!(
            "prices: each call's recorded source region; {region} for calls that record none ({} of {})",
            self.without_region, self.events
        )];
        if self.repriced_nanos == self.recorded_nanos {
            lines.push(format!(
                "cost: ${} re-priced with today's price table, equal to the recorded cost_nanos sum",
                exact_usd(self.repriced_nanos)
            ));
        } else {
            lines.push(format!(
                "cost: ${} re-priced with today's price table; ${} recorded (the cost_nanos sum)",
                exact_usd(self.repriced_nanos),
                exact_usd(self.recorded_nanos)
            ));
            let with = (
                self.events - self.without_region,
                self.repriced_nanos - self.without_region_repriced_nanos,
                self.recorded_nanos - self.without_region_recorded_nanos,
            );
            if with.0 > 0 && with.1 != with.2 {
                lines.push(format!(
                    "  calls that record their region ({}): ${} re-priced, ${} recorded: prices changed since the calls were recorded",
                    events(with.0),
                    exact_usd(with.1),
                    exact_usd(with.2)
                ));
            }
            if self.without_region_repriced_nanos != self.without_region_recorded_nanos {
                lines.push(format!(
                    "  calls that record none ({}, at {region}): ${} re-priced, ${} recorded: priced then at another region or at older prices",
                    events(self.without_region),
                    exact_usd(self.without_region_repriced_nanos),
                    exact_usd(self.without_region_recorded_nanos)
                ));
            }
        }
        if self.kept > 0 {
            lines.push(format!(
                "cost: {} kept {} recorded cost: the price table has no price at {} region for {}",
                events(self.kept),
                if self.kept == 1 { "its" } else { "their" },
                if self.kept == 1 { "its" } else { "their" },
                self.kept_models
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        lines
    }

    /// `{"region", "region_default", "events_without_region",
    /// "recorded_cost_nanos", "repriced_cost_nanos",
    /// "without_region_recorded_cost_nanos",
    /// "without_region_repriced_cost_nanos", "recorded_cost_usd",
    /// "repriced_cost_usd", "kept_recorded", "kept_recorded_models"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "region": self.region,
            "region_default": self.region_is_default,
            "events_without_region": self.without_region,
            "recorded_cost_nanos": self.recorded_nanos,
            "repriced_cost_nanos": self.repriced_nanos,
            "without_region_recorded_cost_nanos": self.without_region_recorded_nanos,
            "without_region_repriced_cost_nanos": self.without_region_repriced_nanos,
            "recorded_cost_usd": tollgate_cost::nanos_to_usd(self.recorded_nanos),
            "repriced_cost_usd": tollgate_cost::nanos_to_usd(self.repriced_nanos),
            "kept_recorded": self.kept,
            "kept_recorded_models": self.kept_models.iter().collect::<Vec<_>>(),
        })
    }
}

/// `1 event`, `2 events`.
fn events(n: u64) -> String {
    format!("{n} event{}", if n == 1 { "" } else { "s" })
}
