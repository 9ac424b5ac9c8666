//! What a call's decision resolves to: the [`Plan`] (models in fallback
//! order with their service tiers, attempts, retry budget, cache points)
//! and each attempt's changes for its own model ([`Plan::changes`]).

use crate::attrs::Estimate;
use crate::error::GateError;
use crate::gate::Gate;
use crate::request::ChatRequest;
use crate::retry::{Rule, DEFAULT_MAX_ATTEMPTS};
use crate::sdk::{AttemptChanges, Override};
use smallvec::SmallVec;
use std::time::Duration;
use tollgate_cache::{PromptCachePlanner, PromptTtl};
use tollgate_cost::{EventNames, Name};
use tollgate_engine::{Context, Decision, Live};
use tollgate_lang::{CachePointSite, CacheSites, Latency, Model, ModelIdx, Policy, Tier};

/// What the decision says about one call, resolved to ids and numbers.
pub(crate) struct Plan {
    decision: Decision,
    /// The model of each place in the fallback order: the route's model,
    /// then its fallbacks (inline: routes name a few). A model stands
    /// twice when its `flex` place is followed by its default-tier retry.
    models: SmallVec<[ModelIdx; 4]>,
    /// The service tier each place sends.
    tiers: SmallVec<[Override<Tier>; 4]>,
    /// The service tier and latency option the application's own request
    /// asks for (`serviceTier`, `performanceConfig`), read once.
    own: (Option<Tier>, Option<Latency>),
    /// Places entered only after a throttle on the place before (see
    /// `retry::Rule::throttle_only`).
    throttle_only: SmallVec<[bool; 4]>,
    max_attempts: u32,
    retry_budget_pct: Option<f64>,
    /// The cache points the planner chose (for the decision's model; each
    /// attempt keeps those its own model supports).
    sites: Vec<CachePointSite>,
    prompt_ttl: PromptTtl,
    prompt_rule: Option<String>,
    estimate: Estimate,
}

impl Plan {
    /// What the attempt on `self.models[idx]` changes in the request:
    /// its model id, the decision's cap clamped to that model's maximum
    /// output, and only the cache points and TTL it supports (none on a
    /// model without prompt caching). Every fact is the model's price-table
    /// entry's: `max_output_tokens` (unless the policy sets its own),
    /// `cache_sites` (Nova: none after the tools) and the 1-hour write price.
    pub(crate) fn changes<'a>(
        &'a self,
        policy: &Policy,
        model_id: &'a str,
        idx: usize,
    ) -> AttemptChanges<'a> {
        let model = policy.model(self.model_at(idx));
        let max_out = model.and_then(max_output_of);
        let max_tokens = match (self.decision.max_output_tokens, max_out) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, _) => a,
        };
        let offered = model.map(cache_sites_of).unwrap_or_default();
        let sites: SmallVec<[CachePointSite; 3]> = self
            .sites
            .iter()
            .copied()
            .filter(|s| match s {
                CachePointSite::System => offered.system,
                CachePointSite::Messages => offered.messages,
                CachePointSite::Tools => offered.tools,
            })
            .collect();
        AttemptChanges {
            model_id,
            max_tokens,
            sites,
            ttl: self.ttl_for(policy, idx),
            strip_cache_points: offered.is_empty(),
            service_tier: self.tiers.get(idx).copied().unwrap_or_default(),
            latency: latency_for(self.decision.latency, self.own.1, model),
        }
    }

    /// The latency option the attempt on `self.models[idx]` asks for:
    /// the route's where that model offers it, else the request's own
    /// where that model offers it (`None`: no `performanceConfig`,
    /// standard latency).
    pub(crate) fn latency_sent(&self, policy: &Policy, idx: usize) -> Option<Latency> {
        let model = policy.model(self.model_at(idx));
        match latency_for(self.decision.latency, self.own.1, model) {
            Override::Set(l) => Some(l),
            Override::Unset => None,
            Override::Keep => self.own.1,
        }
    }

    /// The decision as the budget prices it: the service tier and latency
    /// the first attempt asks for (the route's, else the request's own;
    /// the ledger prices them where the model's entry offers them).
    pub(crate) fn priced_decision(&self) -> Decision {
        let mut d = self.decision;
        d.service_tier = d.service_tier.or(self.own.0);
        d.latency = d.latency.or(self.own.1);
        d
    }

    /// Sets the places of the fallback order from `models` (the route's
    /// model, then its fallbacks): each at the route's service tier where
    /// that model's price-table entry prices the tier, else at the default
    /// tier; a `flex` place is followed by the same model at the default
    /// tier, entered only after a throttle, unless the route sets
    /// `tier_fallback = false`. A route without `service_tier` leaves the
    /// request's own tier on every place whose model offers it; a model
    /// that does not gets the default tier (Bedrock would refuse the
    /// request).
    pub(crate) fn set_models(&mut self, policy: &Policy, models: &[ModelIdx]) {
        let d = &self.decision;
        let tier_fallback = d
            .route
            .and_then(|r| policy.routes.get(r.index()))
            .is_none_or(|r| r.then.tier_fallback);
        self.models.clear();
        self.tiers.clear();
        self.throttle_only.clear();
        for &m in models {
            let tier = tier_for(d.service_tier, self.own.0, policy.model(m));
            self.models.push(m);
            self.tiers.push(tier);
            self.throttle_only.push(false);
            if tier == Override::Set(Tier::Flex) && tier_fallback {
                self.models.push(m);
                self.tiers.push(Override::Unset);
                self.throttle_only.push(true);
            }
        }
    }

    /// The model of the attempt on `self.models[idx]`.
    pub(crate) fn model_at(&self, idx: usize) -> ModelIdx {
        self.models.get(idx).copied().unwrap_or(self.decision.model)
    }

    /// The TTL the attempt on `self.models[idx]` writes at (for pricing
    /// and the planner): the planned one when that model's price table
    /// entry prices it, else the 5-minute TTL.
    pub(crate) fn ttl_for(&self, policy: &Policy, idx: usize) -> PromptTtl {
        match self.prompt_ttl {
            PromptTtl::OneHour
                if policy
                    .model(self.model_at(idx))
                    .is_some_and(|m| m.prices.cache_ttls().1) =>
            {
                PromptTtl::OneHour
            }
            _ => PromptTtl::FiveMinutes,
        }
    }
}

/// What an attempt on `model` sends as `serviceTier` for the route's
/// `tier`: the tier when the model's price-table entry prices it; else
/// (and for `default`) none, which Bedrock serves at the default tier.
/// When the route sets none, the request's `own` tier is kept, unless it
/// is `flex` or `priority` and the model's entry does not price it (then
/// none: Bedrock refuses a tier the model does not offer). A `reserved`
/// tier is kept: a reservation is the account's, not in the price table.
fn tier_for(tier: Option<Tier>, own: Option<Tier>, model: Option<&Model>) -> Override<Tier> {
    let offered = |t: Tier| model.is_some_and(|m| m.prices.offers_tier(t));
    match tier {
        None => match own {
            Some(t @ (Tier::Flex | Tier::Priority)) if !offered(t) => Override::Unset,
            _ => Override::Keep,
        },
        Some(Tier::Default) => Override::Unset,
        Some(t) if offered(t) => Override::Set(t),
        Some(_) => Override::Unset,
    }
}

/// As [`tier_for`], for `performanceConfig.latency`: `optimized` (the
/// route's or the request's own) only to a model whose price-table entry
/// has latency-optimized prices.
fn latency_for(
    latency: Option<Latency>,
    own: Option<Latency>,
    model: Option<&Model>,
) -> Override<Latency> {
    let offered = |l: Latency| model.is_some_and(|m| m.prices.offers_latency(l));
    match latency {
        None => match own {
            Some(l) if !offered(l) => Override::Unset,
            _ => Override::Keep,
        },
        Some(Latency::Standard) => Override::Unset,
        Some(l) if offered(l) => Override::Set(l),
        Some(_) => Override::Unset,
    }
}

/// The service tier and latency option the application's request asks
/// for (a value this crate's SDK does not know: none).
fn own_tier_and_latency(req: &ChatRequest) -> (Option<Tier>, Option<Latency>) {
    let input = req.input();
    (
        input
            .service_tier()
            .and_then(|t| Tier::parse(t.r#type().as_str())),
        input
            .performance_config()
            .and_then(|pc| Latency::parse(pc.latency().as_str())),
    )
}

/// Where a model takes cache points: its price-table entry's sites; a
/// model priced inline with a cache-read price takes them everywhere.
fn cache_sites_of(m: &Model) -> CacheSites {
    let sites = m.prices.cache_sites();
    if sites.is_empty() && m.prices.cache_read.is_some() {
        CacheSites::ALL
    } else {
        sites
    }
}

/// A model's maximum output tokens: the policy's own figure for it, else
/// the price table's.
fn max_output_of(m: &Model) -> Option<u32> {
    m.max_output_tokens.or(m.prices.max_output_tokens())
}

impl Plan {
    /// Decides and resolves everything the call needs.
    pub(crate) fn decide(
        planner: &PromptCachePlanner,
        policy: &Policy,
        live: &Live,
        ctx: &Context<'_>,
        req: &ChatRequest,
        estimate: Estimate,
    ) -> Result<Plan, GateError> {
        let mut decision = live.decide(ctx);
        // The request's own cap applies even when the policy does not
        // declare `requested_max_tokens` (the engine reads it only then).
        decision.max_output_tokens = match (decision.max_output_tokens, req.requested_max_tokens())
        {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        policy
            .model(decision.model)
            .ok_or(GateError::NoModel(decision.model.index()))?;
        let mut models: SmallVec<[ModelIdx; 4]> = smallvec::smallvec![decision.model];
        if let Some(r) = decision.route.and_then(|r| policy.routes.get(r.index())) {
            models.extend(
                r.then
                    .fallback
                    .iter()
                    .copied()
                    .filter(|m| policy.model(*m).is_some()),
            );
        }
        let (max_attempts, retry_budget_pct) = limit_of(policy, &decision);
        let prompt = planner.plan_decision(policy, &decision, estimate.segments());
        let sites: Vec<CachePointSite> = prompt
            .as_ref()
            .map(|p| p.points.iter().map(|pt| pt.site).collect())
            .unwrap_or_default();
        let prompt_ttl = prompt.as_ref().map_or(PromptTtl::FiveMinutes, |p| p.ttl);
        let prompt_rule = decision
            .prompt_cache
            .and_then(|r| policy.prompt_caches.get(r.index()))
            .map(|r| r.name.clone());
        let mut plan = Plan {
            decision,
            models: SmallVec::new(),
            tiers: SmallVec::new(),
            own: own_tier_and_latency(req),
            throttle_only: SmallVec::new(),
            max_attempts,
            retry_budget_pct,
            sites,
            prompt_ttl,
            prompt_rule,
            estimate,
        };
        plan.set_models(policy, &models);
        Ok(plan)
    }

    /// The decision.
    pub(crate) fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The request's token estimate.
    pub(crate) fn estimate(&self) -> &Estimate {
        &self.estimate
    }

    /// The decision's `[[prompt_cache]]` rule, by name.
    pub(crate) fn prompt_rule(&self) -> Option<&str> {
        self.prompt_rule.as_deref()
    }

    /// The limit's `retry_budget_pct`.
    pub(crate) fn retry_budget_pct(&self) -> Option<f64> {
        self.retry_budget_pct
    }

    /// The retry rule of the call's attempts: its places in fallback
    /// order (with the throttle-only ones), the limit's attempts and retry
    /// budget, each attempt limited to `timeout`.
    pub(crate) fn retry_rule<'a>(
        &'a self,
        gate: &'a Gate,
        feature: &'a str,
        timeout: Duration,
    ) -> Rule<'a> {
        gate.retry_rule(
            self.models.len(),
            self.max_attempts,
            self.retry_budget_pct,
            feature,
            timeout,
        )
        .with_throttle_only(&self.throttle_only)
    }
}

/// `max_attempts` and `retry_budget_pct` of the decision's `[[limit]]`
/// (the defaults without one).
pub(crate) fn limit_of(policy: &Policy, d: &Decision) -> (u32, Option<f64>) {
    let limit = d.limit.and_then(|l| policy.limits.get(l.index()));
    let max_attempts = limit
        .and_then(|l| l.then.max_attempts)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS)
        .max(1);
    (max_attempts, limit.and_then(|l| l.then.retry_budget_pct))
}

/// A model's id, shared from the policy's names when they have it.
pub(crate) fn model_id_of(names: &EventNames, policy: &Policy, m: ModelIdx) -> Name {
    match names.model(m) {
        Some((_, id)) => id.clone(),
        None => policy
            .model(m)
            .map(|m| Name::from(&m.id))
            .unwrap_or_default(),
    }
}
