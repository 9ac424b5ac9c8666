//! The [`Decision`]: which rule decided each section, the model, the
//! effective output cap. It is a small `Copy` value of indices, so deciding
//! never allocates; names and JSON come from the policy on demand.

use crate::context::{Context, Slot};
use crate::eval;
use serde_json::{json, Value as J};
use tollgate_lang::ModelIdx;
use tollgate_lang::{BudgetAction, Policy, Scope, Section};
use tollgate_lang::{Latency, Tier};

/// Index of a rule within its section: handed out by deciding (a
/// [`Decision`]) and explaining, valid for that policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleIdx(pub(crate) u32);

impl RuleIdx {
    /// As a `usize`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The position as a `u32`. Indices come from deciding or explaining a
    /// policy only: one is valid for the policy that gave it out.
    #[inline]
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Everything decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The `[[route]]` rule that matched (`None`: the default model serves).
    pub route: Option<RuleIdx>,
    /// The model that serves.
    pub model: ModelIdx,
    /// The effective output cap (the smallest of the request's own, the
    /// route's, the limit's and the model's).
    pub max_output_tokens: Option<u32>,
    /// The route's `service_tier` (`None`: the request's own is sent).
    pub service_tier: Option<Tier>,
    /// The route's `latency` (`None`: the request's own is sent).
    pub latency: Option<Latency>,
    /// `[[cache]]`
    pub cache: Option<RuleIdx>,
    /// `[[prompt_cache]]`
    pub prompt_cache: Option<RuleIdx>,
    /// `[[batch]]`
    pub batch: Option<RuleIdx>,
    /// `[[limit]]`
    pub limit: Option<RuleIdx>,
    /// `[[budget]]`
    pub budget: Option<RuleIdx>,
}

impl Decision {
    /// The rule that decided a section.
    pub fn rule(&self, s: Section) -> Option<RuleIdx> {
        match s {
            Section::Route => self.route,
            Section::Cache => self.cache,
            Section::PromptCache => self.prompt_cache,
            Section::Batch => self.batch,
            Section::Limit => self.limit,
            Section::Budget => self.budget,
        }
    }
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The request's own output cap: the `requested_max_tokens` attribute,
/// when the policy declares it as an int and the request has a positive
/// value.
pub(crate) fn requested_cap(policy: &Policy, ctx: &Context<'_>) -> Option<u32> {
    let id = policy.schema().id("requested_max_tokens")?;
    match ctx.get(id) {
        Slot::Int(i) if i > 0 => Some(u32::try_from(i).unwrap_or(u32::MAX)),
        _ => None,
    }
}

/// The effective cap for a route rule, model and limit rule.
pub(crate) fn effective_cap(
    policy: &Policy,
    requested: Option<u32>,
    route: Option<RuleIdx>,
    model: ModelIdx,
    limit: Option<RuleIdx>,
) -> Option<u32> {
    let r = route
        .and_then(|r| policy.routes.get(r.index()))
        .and_then(|r| r.then.max_output_tokens);
    let l = limit
        .and_then(|l| policy.limits.get(l.index()))
        .and_then(|l| l.then.max_output_tokens);
    let m = policy.model(model).and_then(|m| m.max_output_tokens);
    min_opt(min_opt(requested, r), min_opt(l, m))
}

impl Decision {
    /// The output-token cap this decision puts on an attempt served by
    /// `model` (a fallback or a budget downgrade as well as the routed
    /// model): the smallest of the request's own cap
    /// (`requested_max_tokens`), the route rule's, the limit rule's and the
    /// model's maximum output; `None` when none of them sets one.
    pub fn output_cap(&self, policy: &Policy, ctx: &Context<'_>, model: ModelIdx) -> Option<u32> {
        effective_cap(
            policy,
            requested_cap(policy, ctx),
            self.route,
            model,
            self.limit,
        )
    }
}

/// Is a cache rule's scope attribute present (as a string)?
pub(crate) fn scope_present(scope: Scope, ctx: &Context<'_>) -> bool {
    match scope {
        Scope::Global => true,
        Scope::Attr(a) => matches!(ctx.get(a), Slot::Str(_)),
    }
}

fn first<T>(
    rules: &[tollgate_lang::Rule<T>],
    ctx: &Context<'_>,
    extra: impl Fn(&T) -> bool,
) -> Option<RuleIdx> {
    rules
        .iter()
        .position(|r| eval::holds(r.when.as_ref(), ctx) && extra(&r.then))
        .map(|i| RuleIdx(i as u32))
}

/// Decide with the reference interpreter: every rule in order, every
/// condition evaluated as written. The oracle for the compiled engine.
pub fn decide_reference(policy: &Policy, ctx: &Context<'_>) -> Decision {
    let route = first(&policy.routes, ctx, |_| true);
    let rule = route.and_then(|r| policy.routes.get(r.index()));
    let model = rule.map(|r| r.then.model).unwrap_or(policy.default_model());
    let limit = first(&policy.limits, ctx, |_| true);
    Decision {
        route,
        model,
        max_output_tokens: effective_cap(policy, requested_cap(policy, ctx), route, model, limit),
        service_tier: rule.and_then(|r| r.then.service_tier),
        latency: rule.and_then(|r| r.then.latency),
        cache: first(&policy.caches, ctx, |c| scope_present(c.scope, ctx)),
        prompt_cache: first(&policy.prompt_caches, ctx, |_| true),
        batch: first(&policy.batches, ctx, |_| true),
        limit,
        budget: first(&policy.budgets, ctx, |_| true),
    }
}

fn nanos_usd(n: u64) -> f64 {
    n as f64 / 1e9
}

/// The decision as the JSON object documented in docs/design.md ("Decision JSON").
pub fn to_json(policy: &Policy, d: &Decision, ctx: &Context<'_>) -> J {
    let model = policy.model(d.model);
    let route = json!({
        "rule": d.route.and_then(|r| policy.routes.get(r.index())).map(|r| r.name.as_str()),
        "model": model.map(|m| m.alias.as_str()),
        "model_id": model.map(|m| m.id.as_str()),
        "max_output_tokens": d.max_output_tokens,
        "service_tier": d.service_tier.map(Tier::name),
        "latency": d.latency.map(Latency::name),
        "fallback": d.route
            .and_then(|r| policy.routes.get(r.index()))
            .map(|r| r.then.fallback.iter().filter_map(|f| policy.model(*f)).map(|m| m.alias.clone()).collect::<Vec<_>>())
            .unwrap_or_default(),
    });
    let cache = d.cache.and_then(|c| policy.caches.get(c.index())).map(|r| {
        let (scope, value) = match r.then.scope {
            Scope::Global => ("global".to_string(), J::Null),
            Scope::Attr(a) => (
                policy.schema().name(a).to_string(),
                match ctx.get(a) {
                    Slot::Str(s) => J::String(s.to_string()),
                    _ => J::Null,
                },
            ),
        };
        json!({
            "rule": r.name,
            "scope": scope,
            "scope_value": value,
            "ttl_s": r.then.ttl_s,
            "key": r.then.key.iter().map(|k| k.name()).collect::<Vec<_>>(),
            "version": r.then.version,
        })
    });
    let prompt_cache = d
        .prompt_cache
        .and_then(|c| policy.prompt_caches.get(c.index()))
        .map(|r| {
            json!({
                "rule": r.name,
                "points": r.then.points.iter().map(|p| p.name()).collect::<Vec<_>>(),
                "ttl_s": r.then.ttl_s,
            })
        });
    let batch = d
        .batch
        .and_then(|c| policy.batches.get(c.index()))
        .map(|r| json!({ "rule": r.name }));
    let limit = d.limit.and_then(|c| policy.limits.get(c.index())).map(|r| {
        json!({
            "rule": r.name,
            "max_output_tokens": r.then.max_output_tokens,
            "max_attempts": r.then.max_attempts,
            "retry_budget_pct": r.then.retry_budget_pct,
            "cancel_on_repetition": r.then.cancel_on_repetition,
        })
    });
    let budget = d.budget.and_then(|c| policy.budgets.get(c.index())).map(|r| {
        json!({
            "rule": r.name,
            "daily_usd": nanos_usd(r.then.daily_nanos),
            "group_by": r.then.group_by.map(|g| policy.schema().name(g).to_string()),
            "action": match r.then.action {
                BudgetAction::Reject => "reject".to_string(),
                BudgetAction::Downgrade(m) => format!("downgrade:{}", policy.model(m).map(|m| m.alias.as_str()).unwrap_or("")),
            },
        })
    });
    json!({
        "policy": policy.name(),
        "hash": policy.hash_hex(),
        "route": route,
        "cache": cache,
        "prompt_cache": prompt_cache,
        "batch": batch,
        "limit": limit,
        "budget": budget,
    })
}

/// Name of the rule that decided a section, or `"none"`.
pub fn rule_name(policy: &Policy, s: Section, r: Option<RuleIdx>) -> &str {
    let Some(r) = r else { return "none" };
    let i = r.index();
    let name = match s {
        Section::Route => policy.routes.get(i).map(|r| r.name.as_str()),
        Section::Cache => policy.caches.get(i).map(|r| r.name.as_str()),
        Section::PromptCache => policy.prompt_caches.get(i).map(|r| r.name.as_str()),
        Section::Batch => policy.batches.get(i).map(|r| r.name.as_str()),
        Section::Limit => policy.limits.get(i).map(|r| r.name.as_str()),
        Section::Budget => policy.budgets.get(i).map(|r| r.name.as_str()),
    };
    name.unwrap_or("none")
}
