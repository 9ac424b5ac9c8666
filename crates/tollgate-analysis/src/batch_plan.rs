//! The batch plan: what recorded calls would have cost at batch prices.
//!
//! The traffic moved is what the policy's `[[batch]]` rules select (each
//! call re-decided on its recorded attributes), or what a `--when`
//! expression over the same attributes selects. A selected call is priced
//! at its recorded model's batch prices (from the policy's model of that
//! alias, else the shipped price table by model id) with its recorded
//! token counts; batch inference has no prompt caching, so cached prompt
//! tokens count as plain input (as replay prices a batched call). Calls
//! already in batch mode and calls served from the response cache are not
//! moved; calls on a model without batch prices are counted and left out.
//!
//! Beside batch, the plan prices the same calls at the flex service tier
//! (for work that can wait seconds rather than hours): each call on a model
//! whose prices offer flex at its flex prices, with its recorded usage
//! (prompt caching is kept: flex scales the cache prices), and each call on
//! a model without flex as recorded; the models without flex are listed.

use crate::report::{group, money, savings_pct, usd};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use tollgate_cost::{price_lenient, CacheOutcome, CallEvent, Mode, Usage};
use tollgate_engine::{CompiledPolicy, Context, Request};
use tollgate_lang::{call_prices, PriceTable, Prices, Tier, DEFAULT_REGION};
use tollgate_lang::{check, parse, CheckLimits, OffsetMap, TExpr};
use tollgate_lang::{Diagnostic, Policy, SourceFile, SourceMap, Span};

/// Which calls move to batch.
#[derive(Debug, Clone)]
pub enum Selector {
    /// The policy's `[[batch]]` rules.
    Policy,
    /// An expression over the recorded attributes (type-checked against the
    /// policy's `[attributes]`).
    When(String, TExpr),
}

/// Type-checks a `--when` expression against the policy's attributes; the
/// error is the rendered diagnostics.
pub fn compile_when(policy: &Policy, expr: &str) -> Result<Selector, String> {
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new("--when", expr));
    let node = parse(expr).map_err(|e| {
        Diagnostic::error(e.code, Span::new(file, e.span.clone()), e.message.clone())
            .with_help_opt(e.help.clone())
            .render(&sources)
    })?;
    let mut diags = Vec::new();
    let map = OffsetMap::identity(file, expr.len());
    let t = check(
        &node,
        policy.schema(),
        &map,
        CheckLimits::default(),
        &mut diags,
    );
    match t {
        Some(t) if diags.iter().all(|d| !d.is_error()) => Ok(Selector::When(expr.to_owned(), t)),
        _ => Err(diags.iter().map(|d| d.render(&sources)).collect()),
    }
}

/// One feature's line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchRow {
    /// `feature` (the tag, else the attribute), or `(none)`.
    pub feature: String,
    /// Calls moved.
    pub requests: u64,
    /// What they cost as recorded, nano-dollars.
    pub current_nanos: u128,
    /// What they would cost in batch, nano-dollars.
    pub batch_nanos: u128,
    /// Calls on a model that offers flex.
    pub flex_requests: u64,
    /// What they would cost at flex where their model offers it (the
    /// others as recorded), nano-dollars.
    pub flex_nanos: u128,
}

impl BatchRow {
    /// Current minus batch, nano-dollars (0 if batch costs more).
    pub fn saving_nanos(&self) -> u128 {
        self.current_nanos.saturating_sub(self.batch_nanos)
    }

    /// Current minus flex, nano-dollars (0 if flex costs more).
    pub fn flex_saving_nanos(&self) -> u128 {
        self.current_nanos.saturating_sub(self.flex_nanos)
    }
}

/// A model of moved calls whose prices offer no flex tier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoFlex {
    /// The alias recorded.
    pub model: String,
    /// The Bedrock model id recorded.
    pub model_id: String,
    /// Moved calls on it.
    pub requests: u64,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchPlan {
    /// What selected the traffic.
    pub selector: String,
    /// Calls read.
    pub calls: u64,
    /// Distinct UTC days the calls cover.
    pub days: u64,
    /// Per feature, by name.
    pub rows: Vec<BatchRow>,
    /// All moved calls.
    pub total: BatchRow,
    /// Selected but already in batch mode.
    pub already_batch: u64,
    /// Selected but served from the response cache.
    pub cache_hits: u64,
    /// Selected but on a model without batch prices.
    pub no_batch_price: u64,
    /// The models of moved calls that offer no flex tier, by alias.
    pub no_flex: Vec<NoFlex>,
}

/// The feature a call is counted under: the `feature` tag, else a string
/// `feature` attribute, else `(none)`.
pub fn feature_of(ev: &CallEvent) -> String {
    ev.tags
        .feature
        .as_ref()
        .map(|f| f.to_string())
        .or_else(|| {
            ev.attributes
                .get("feature")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "(none)".to_owned())
}

/// The prices of the model a call used, at the call's recorded source
/// region, else `region` (the default-tier prices): the policy's model of
/// that alias (re-priced from the policy's table, see
/// [`tollgate_lang::call_prices`]; a price missing there keeps the
/// model's own), else the shipped table by model id (a profile that cannot
/// be called from that region is priced at its home region).
pub fn prices_of(policy: Option<&Policy>, ev: &CallEvent, region: &str) -> Option<Prices> {
    prices_at(policy, ev, region, Tier::Default)
}

/// [`prices_of`] at a service tier: `None` when the model's prices do not
/// offer it.
pub fn prices_at(
    policy: Option<&Policy>,
    ev: &CallEvent,
    region: &str,
    tier: Tier,
) -> Option<Prices> {
    let region = ev.region.as_deref().unwrap_or(region);
    match policy.and_then(|p| {
        p.model_by_alias(&ev.model)
            .and_then(|m| p.model(m))
            .map(|m| (p, m))
    }) {
        Some((p, m)) => call_prices(p.price_table(), &m.id, &m.prices, region, tier, false)
            .ok()
            .or_else(|| m.prices.at_tier(tier)),
        None => {
            let table = PriceTable::builtin();
            table
                .resolve(&ev.model_id, region, tier)
                .ok()
                .or_else(|| table.lookup(&ev.model_id)?.at_tier(tier))
        }
    }
}

/// A call's flex price with its recorded usage; `None` when its model
/// offers no flex tier.
pub fn flex_cost(policy: Option<&Policy>, ev: &CallEvent, region: &str) -> Option<u64> {
    let prices = prices_at(policy, ev, region, Tier::Flex)?;
    let (c, err) = price_lenient(&prices, &ev.usage, Mode::Realtime);
    err.is_none().then_some(c.total_nanos)
}

/// Distinct UTC days of the calls (at least 1).
pub fn days_of(events: &[CallEvent]) -> u64 {
    let days: BTreeSet<i64> = events
        .iter()
        .map(|e| e.timestamp.unix_ms().div_euclid(86_400_000))
        .collect();
    (days.len() as u64).max(1)
}

/// A call's batch price with its recorded tokens (cached prompt tokens as
/// plain input); `None` without batch prices.
pub fn batch_cost(prices: &Prices, ev: &CallEvent) -> Option<u64> {
    prices.batch_input?;
    prices.batch_output?;
    let usage = Usage::new(ev.usage.total_input_tokens(), ev.usage.output_tokens);
    let (c, err) = price_lenient(prices, &usage, Mode::Batch);
    err.is_none().then_some(c.total_nanos)
}

/// Plans the move to batch (see the module docs).
pub fn plan_batch(compiled: &CompiledPolicy, events: &[CallEvent], sel: &Selector) -> BatchPlan {
    plan_batch_in(compiled, events, sel, DEFAULT_REGION)
}

/// [`plan_batch`] with calls that record no source region priced at `region`.
pub fn plan_batch_in(
    compiled: &CompiledPolicy,
    events: &[CallEvent],
    sel: &Selector,
    region: &str,
) -> BatchPlan {
    let p = compiled.policy();
    let mut plan = BatchPlan {
        selector: match sel {
            Selector::Policy => "the policy's [[batch]] rules".to_owned(),
            Selector::When(e, _) => format!("`{e}`"),
        },
        calls: events.len() as u64,
        days: days_of(events),
        ..BatchPlan::default()
    };
    // Attributes of the wrong type for this policy: decided without them.
    let requests: Vec<Option<Request>> = events
        .iter()
        .map(|ev| Request::from_map(p.schema(), &ev.attributes.to_map()).ok())
        .collect();
    let mut ctx = Context::new(p.schema());
    for (ev, req) in events.iter().zip(&requests) {
        ctx.clear();
        if let Some(req) = req {
            req.fill(&mut ctx);
        }
        let selected = match sel {
            Selector::Policy => compiled.decide(&ctx).batch.is_some(),
            Selector::When(_, t) => tollgate_engine::holds(Some(t), &ctx),
        };
        if !selected {
            continue;
        }
        if ev.mode == Mode::Batch {
            plan.already_batch += 1;
            continue;
        }
        if ev.cache == CacheOutcome::Hit {
            plan.cache_hits += 1;
            continue;
        }
        let Some(b) = prices_of(Some(p), ev, region).and_then(|pr| batch_cost(&pr, ev)) else {
            plan.no_batch_price += 1;
            continue;
        };
        let flex = flex_cost(Some(p), ev, region);
        if flex.is_none() {
            plan.count_no_flex(ev);
        }
        let row = row_of(&mut plan.rows, feature_of(ev));
        for row in row.into_iter().chain([&mut plan.total]) {
            row.requests += 1;
            row.current_nanos += u128::from(ev.cost_nanos);
            row.batch_nanos += u128::from(b);
            row.flex_requests += u64::from(flex.is_some());
            row.flex_nanos += u128::from(flex.unwrap_or(ev.cost_nanos));
        }
    }
    plan.total.feature = "total".to_owned();
    plan
}

/// The row of a feature, added in name order when new.
fn row_of(rows: &mut Vec<BatchRow>, feature: String) -> Option<&mut BatchRow> {
    let i = match rows.binary_search_by(|r| r.feature.cmp(&feature)) {
        Ok(i) => i,
        Err(i) => {
            rows.insert(
                i,
                BatchRow {
                    feature,
                    ..BatchRow::default()
                },
            );
            i
        }
    };
    rows.get_mut(i)
}

impl BatchPlan {
    /// Counts a moved call on a model without flex.
    fn count_no_flex(&mut self, ev: &CallEvent) {
        let key = (ev.model.as_str(), ev.model_id.as_str());
        let i = match self
            .no_flex
            .binary_search_by(|n| (n.model.as_str(), n.model_id.as_str()).cmp(&key))
        {
            Ok(i) => i,
            Err(i) => {
                self.no_flex.insert(
                    i,
                    NoFlex {
                        model: ev.model.to_string(),
                        model_id: ev.model_id.to_string(),
                        requests: 0,
                    },
                );
                i
            }
        };
        if let Some(n) = self.no_flex.get_mut(i) {
            n.requests += 1;
        }
    }
}

impl BatchPlan {
    /// The plan as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} calls over {} day{}; moved to batch: those selected by {}\n\n",
            group(self.calls),
            self.days,
            if self.days == 1 { "" } else { "s" },
            self.selector
        );
        s += &format!(
            "{:<22} {:>9} {:>12} {:>12} {:>12} {:>8} {:>12} {:>12} {:>8}\n",
            "feature",
            "requests",
            "current",
            "batch",
            "saving",
            "saving%",
            "flex",
            "flex saving",
            "saving%"
        );
        for r in self.rows.iter().chain([&self.total]) {
            let flex = if r.flex_requests == 0 {
                format!("{:>12} {:>12} {:>8}", "-", "-", "-")
            } else {
                format!(
                    "{:>12} {:>12} {:>7.1}%",
                    money(r.flex_nanos),
                    money(r.flex_saving_nanos()),
                    savings_pct(r.current_nanos, r.flex_nanos)
                )
            };
            s += &format!(
                "{:<22} {:>9} {:>12} {:>12} {:>12} {:>7.1}% {flex}\n",
                r.feature,
                group(r.requests),
                money(r.current_nanos),
                money(r.batch_nanos),
                money(r.saving_nanos()),
                savings_pct(r.current_nanos, r.batch_nanos)
            );
        }
        let days = u128::from(self.days.max(1));
        s += &format!(
            "per day: {} saved\n",
            money(self.total.saving_nanos() / days)
        );
        if self.total.flex_requests > 0 {
            s += &format!(
                "per day at flex instead: {} saved\n",
                money(self.total.flex_saving_nanos() / days)
            );
        }
        for n in &self.no_flex {
            s += &format!(
                "note: no flex tier on {} ({}): its {} call{} count as recorded under flex\n",
                n.model,
                n.model_id,
                group(n.requests),
                if n.requests == 1 { "" } else { "s" }
            );
        }
        for (n, what) in [
            (self.already_batch, "already in batch mode"),
            (self.cache_hits, "served from the response cache"),
            (self.no_batch_price, "on a model without batch prices"),
        ] {
            if n > 0 {
                s += &format!("note: {} selected calls left out: {what}\n", group(n));
            }
        }
        s
    }

    /// The plan as one JSON object.
    pub fn to_json(&self) -> Value {
        let nanos = |n: u128| u64::try_from(n).unwrap_or(u64::MAX);
        let row = |r: &BatchRow| {
            let flex = r.flex_requests > 0;
            json!({
                "feature": r.feature,
                "requests": r.requests,
                "current_usd": usd(r.current_nanos),
                "batch_usd": usd(r.batch_nanos),
                "saving_usd": usd(r.saving_nanos()),
                "current_nanos": nanos(r.current_nanos),
                "batch_nanos": nanos(r.batch_nanos),
                "saving_nanos": nanos(r.saving_nanos()),
                "saving_pct": savings_pct(r.current_nanos, r.batch_nanos),
                "flex_requests": r.flex_requests,
                "flex_usd": flex.then(|| usd(r.flex_nanos)),
                "flex_nanos": flex.then(|| nanos(r.flex_nanos)),
                "flex_saving_usd": flex.then(|| usd(r.flex_saving_nanos())),
                "flex_saving_nanos": flex.then(|| nanos(r.flex_saving_nanos())),
                "flex_saving_pct": flex.then(|| savings_pct(r.current_nanos, r.flex_nanos)),
            })
        };
        let days = u128::from(self.days.max(1));
        json!({
            "selector": self.selector,
            "calls": self.calls,
            "days": self.days,
            "by_feature": self.rows.iter().map(row).collect::<Vec<_>>(),
            "total": row(&self.total),
            "daily_saving_usd": usd(self.total.saving_nanos() / days),
            "daily_flex_saving_usd": (self.total.flex_requests > 0)
                .then(|| usd(self.total.flex_saving_nanos() / days)),
            "no_flex": self.no_flex.iter().map(|n| json!({
                "model": n.model,
                "model_id": n.model_id,
                "requests": n.requests,
            })).collect::<Vec<_>>(),
            "already_batch": self.already_batch,
            "cache_hits": self.cache_hits,
            "no_batch_price": self.no_batch_price,
        })
    }
}
