//! [`EventBuilder`]: a [`CallEvent`] from the decision, the context and
//! what the call reported, with the process-wide [`EventOptions`]. Tags
//! come from the request's attributes unless given, redacted attributes are
//! left out, and the cost is priced here, once.

use super::{CacheOutcome, CallEvent, CancelReason, Operation, Status, Tags, EVENT_VERSION};
use crate::attributes::Attributes;
use crate::cost::{price_lenient, Mode};
use crate::fingerprint::Fingerprint;
use crate::name::{EventNames, Name};
use crate::rules::Rules;
use crate::slot_role::{SlotRole, TagValues, TAG_ATTRIBUTES};
use crate::time::Timestamp;
use crate::usage::Usage;
use serde_json::Value;
use std::sync::Arc;
use tollgate_engine::{Context, Decision, Slot, StrList};
use tollgate_lang::ModelIdx;
use tollgate_lang::Policy;
use tollgate_lang::Prices;

/// What every event of a process shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventOptions {
    /// The `app` tag when the request has no `app` attribute.
    pub app: Option<Name>,
    /// Record the prompt text (off by default; privacy).
    pub record_prompt_text: bool,
    /// Record the response text (off by default; privacy).
    pub record_response_text: bool,
}

/// Builds a [`CallEvent`] from a policy, its decision, the request context
/// and the call's outcome. Defaults: now, the decided model, `batch` mode
/// when a `[[batch]]` rule matched (else `realtime`), status `ok`, one
/// attempt, cache `miss` when a `[[cache]]` rule matched (else `bypass`),
/// zero usage, no fingerprint.
#[derive(Debug)]
pub struct EventBuilder<'b, 'c> {
    policy: &'b Policy,
    decision: &'b Decision,
    ctx: &'b Context<'c>,
    options: Option<&'b EventOptions>,
    names: Option<Arc<EventNames>>,
    timestamp: Option<Timestamp>,
    request_id: String,
    served: Option<ModelIdx>,
    downgraded_from: Option<ModelIdx>,
    response_model_id: Option<String>,
    prices: Option<&'b Prices>,
    region: Option<Name>,
    service_tier: Option<tollgate_lang::Tier>,
    latency: Option<tollgate_lang::Latency>,
    operation: Operation,
    mode: Option<Mode>,
    status: Status,
    error_type: Option<String>,
    attempts: u32,
    cache: Option<CacheOutcome>,
    usage: Usage,
    usage_estimated: bool,
    latency_ms: u64,
    cost_avoided_nanos: u64,
    cancel_reason: Option<CancelReason>,
    fingerprint: Fingerprint,
    prompt_text: Option<&'b str>,
    response_text: Option<&'b str>,
    tags: Tags,
}

impl<'b, 'c> EventBuilder<'b, 'c> {
    #[inline]
    pub(super) fn new(policy: &'b Policy, decision: &'b Decision, ctx: &'b Context<'c>) -> Self {
        EventBuilder {
            policy,
            decision,
            ctx,
            options: None,
            names: None,
            timestamp: None,
            request_id: String::new(),
            served: None,
            downgraded_from: None,
            response_model_id: None,
            prices: None,
            region: None,
            service_tier: None,
            latency: None,
            operation: Operation::Chat,
            mode: None,
            status: Status::Ok,
            error_type: None,
            attempts: 1,
            cache: None,
            usage: Usage::default(),
            usage_estimated: false,
            latency_ms: 0,
            cost_avoided_nanos: 0,
            cancel_reason: None,
            fingerprint: Fingerprint::default(),
            prompt_text: None,
            response_text: None,
            tags: Tags::default(),
        }
    }

    /// Process-wide options (app tag, text capture).
    #[inline]
    pub fn options(mut self, o: &'b EventOptions) -> Self {
        self.options = Some(o);
        self
    }

    /// The policy's names, shared rather than copied into the event (see
    /// [`crate::EventNamesCache`]). Ignored when they are another policy's.
    #[inline]
    pub fn names(mut self, n: Arc<EventNames>) -> Self {
        self.names = Some(n);
        self
    }

    /// When the call started (default: now).
    #[inline]
    pub fn timestamp(mut self, t: Timestamp) -> Self {
        self.timestamp = Some(t);
        self
    }

    /// The request id.
    #[inline]
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = id.into();
        self
    }

    /// The model that actually served (a fallback or a budget downgrade);
    /// priced with its own prices.
    #[inline]
    pub fn served_model(mut self, m: ModelIdx) -> Self {
        self.served = Some(m);
        self
    }

    /// The alias the decision chose before a budget downgrade.
    #[inline]
    pub fn downgraded_from(mut self, m: ModelIdx) -> Self {
        self.downgraded_from = Some(m);
        self
    }

    /// The model a prompt router invoked (`trace.promptRouter.invokedModelId`).
    #[inline]
    pub fn response_model_id(mut self, id: impl Into<String>) -> Self {
        self.response_model_id = Some(id.into());
        self
    }

    /// Price with these prices instead of the served model's (e.g. the
    /// router's invoked model, looked up in the price table).
    #[inline]
    pub fn prices(mut self, p: &'b Prices) -> Self {
        self.prices = Some(p);
        self
    }

    /// The call's source region: the served model is priced at its rate
    /// (unless [`prices`](Self::prices) gave prices) and the event records it.
    #[inline]
    pub fn region(mut self, r: impl Into<Name>) -> Self {
        self.region = Some(r.into());
        self
    }

    /// The service tier the response reports: the call is billed at it.
    #[inline]
    pub fn service_tier(mut self, t: tollgate_lang::Tier) -> Self {
        self.service_tier = Some(t);
        self
    }

    /// The latency option the call was served at (`performanceConfig`):
    /// recorded, and `optimized` is billed at latency-optimized prices.
    #[inline]
    pub fn latency(mut self, l: tollgate_lang::Latency) -> Self {
        self.latency = Some(l);
        self
    }

    /// The response reports latency-optimized inference (`true`) or
    /// standard latency: [`latency`](Self::latency) by a flag.
    #[inline]
    pub fn latency_optimized(self, on: bool) -> Self {
        self.latency(if on {
            tollgate_lang::Latency::Optimized
        } else {
            tollgate_lang::Latency::Standard
        })
    }

    /// The operation (default `chat`).
    #[inline]
    pub fn operation(mut self, o: Operation) -> Self {
        self.operation = o;
        self
    }

    /// How the call was served.
    #[inline]
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = Some(m);
        self
    }

    /// How the call ended.
    #[inline]
    pub fn status(mut self, s: Status) -> Self {
        self.status = s;
        self
    }

    /// The error type, for `status = error`.
    #[inline]
    pub fn error_type(mut self, e: impl Into<String>) -> Self {
        self.error_type = Some(e.into());
        self
    }

    /// Attempts made.
    #[inline]
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n;
        self
    }

    /// What the response cache did.
    #[inline]
    pub fn cache(mut self, c: CacheOutcome) -> Self {
        self.cache = Some(c);
        self
    }

    /// Tokens used, summed over attempts.
    #[inline]
    pub fn usage(mut self, u: Usage) -> Self {
        self.usage = u;
        self
    }

    /// Marks the usage as the gate's estimate (no usage metadata arrived).
    #[inline]
    pub fn usage_estimated(mut self, estimated: bool) -> Self {
        self.usage_estimated = estimated;
        self
    }

    /// Wall time, milliseconds.
    #[inline]
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }

    /// What a cache hit saved, nano-dollars.
    #[inline]
    pub fn cost_avoided_nanos(mut self, n: u64) -> Self {
        self.cost_avoided_nanos = n;
        self
    }

    /// Why a stream was cancelled.
    #[inline]
    pub fn cancel_reason(mut self, r: CancelReason) -> Self {
        self.cancel_reason = Some(r);
        self
    }

    /// Fingerprints of the prompt.
    #[inline]
    pub fn fingerprint(mut self, f: Fingerprint) -> Self {
        self.fingerprint = f;
        self
    }

    /// The prompt and response text. Kept only when the options opt in.
    #[inline]
    pub fn text(mut self, prompt: &'b str, response: &'b str) -> Self {
        self.prompt_text = Some(prompt);
        self.response_text = Some(response);
        self
    }

    /// Overrides tags taken from attributes (fields left `None` keep them).
    #[inline]
    pub fn tags(mut self, t: Tags) -> Self {
        self.tags = t;
        self
    }

    /// The event.
    pub fn build(self) -> CallEvent {
        let p = self.policy;
        let d = self.decision;
        let served = self.served.unwrap_or(d.model);
        let model = p.model(served);
        let default_prices = Prices::default();
        let prices = self
            .prices
            .or(model.map(|m| &m.prices))
            .unwrap_or(&default_prices);
        let mode = self.mode.unwrap_or_else(|| Mode::decided(d));
        // Region, tier and latency re-price a policy model from the policy's
        // table; a price that does not exist there is a `cost_error`, and
        // the call is priced at the model's own prices.
        let mut lookup_error = None;
        let optimized = self.latency == Some(tollgate_lang::Latency::Optimized);
        let names = self
            .names
            .as_deref()
            .filter(|n| n.is_for(p, self.ctx.schema()));
        // In the model's home region (known from `names` without a table
        // lookup) a default-tier call costs the model's own prices.
        let away = match (
            self.region.as_deref(),
            names.and_then(|n| n.home_region(served)),
        ) {
            (None, _) => false,
            (Some(r), Some(home)) => r != home,
            (Some(_), None) => true,
        };
        let resolved = match (self.prices, model) {
            (None, Some(m))
                if away
                    || self
                        .service_tier
                        .is_some_and(|t| t != tollgate_lang::Tier::Default)
                    || optimized =>
            {
                match tollgate_lang::call_prices(
                    p.price_table(),
                    &m.id,
                    &m.prices,
                    self.region
                        .as_deref()
                        .unwrap_or(tollgate_lang::DEFAULT_REGION),
                    self.service_tier.unwrap_or_default(),
                    optimized,
                ) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        lookup_error = Some(e.to_string());
                        None
                    }
                }
            }
            _ => None,
        };
        let prices = resolved.as_ref().unwrap_or(prices);
        let (cost, cost_error) = price_lenient(prices, &self.usage, mode);
        let cost_error = lookup_error.or_else(|| cost_error.map(|e| e.to_string()));
        let (attributes, redacted, tag_values) = attributes_named(p, self.ctx, names);
        let (model_alias, model_id) = match names.and_then(|n| n.model(served)) {
            Some((alias, id)) => (alias.clone(), id.clone()),
            None => match model {
                Some(m) => (Name::from(&m.alias), Name::from(&m.id)),
                None => (Name::default(), Name::default()),
            },
        };
        let downgraded_from = self.downgraded_from.and_then(|m| match names {
            Some(n) => n.model(m).map(|(alias, _)| alias.clone()),
            None => p.model(m).map(|m| Name::from(&m.alias)),
        });
        let tags = merge_tags(self.tags, tag_values, self.options);
        let (record_prompt, record_response) = self.options.map_or((false, false), |o| {
            (o.record_prompt_text, o.record_response_text)
        });
        CallEvent {
            version: EVENT_VERSION,
            timestamp: self.timestamp.unwrap_or_else(Timestamp::now),
            request_id: self.request_id,
            policy: names.map_or_else(|| Name::from(p.name()), |n| n.policy().clone()),
            policy_hash: names
                .map_or_else(|| Name::from(p.hash_hex()), |n| n.policy_hash().clone()),
            rules: names.map_or_else(|| Rules::of(p, d), |n| n.rules(d)),
            tags,
            model: model_alias,
            model_id,
            response_model_id: self.response_model_id,
            region: self.region,
            service_tier: self.service_tier,
            latency: self.latency,
            downgraded_from,
            operation: self.operation,
            mode,
            status: self.status,
            error_type: self.error_type,
            attempts: self.attempts,
            cache: self.cache.unwrap_or(if d.cache.is_some() {
                CacheOutcome::Miss
            } else {
                CacheOutcome::Bypass
            }),
            max_output_tokens: d.max_output_tokens,
            usage: self.usage,
            usage_estimated: self.usage_estimated,
            latency_ms: self.latency_ms,
            cost_usd: crate::nanos_to_usd(cost.total_nanos),
            cost_nanos: cost.total_nanos,
            cost_breakdown: cost,
            cost_avoided_usd: crate::nanos_to_usd(self.cost_avoided_nanos),
            cost_avoided_nanos: self.cost_avoided_nanos,
            cancel_reason: self.cancel_reason,
            cost_error,
            attributes,
            redacted,
            fingerprint: self.fingerprint,
            prompt_text: self
                .prompt_text
                .filter(|_| record_prompt)
                .map(str::to_owned),
            response_text: self
                .response_text
                .filter(|_| record_response)
                .map(str::to_owned),
        }
    }
}

/// The context's present attributes as JSON, minus the redacted ones, and
/// the names of the redacted ones that were present; taking the names and slot roles from `names` (which
/// are `ctx`'s schema's) when given; also the unredacted string values
/// that can fill tags.
fn attributes_named<'c>(
    policy: &Policy,
    ctx: &Context<'c>,
    names: Option<&EventNames>,
) -> (Attributes, Vec<Name>, TagValues<'c>) {
    let schema = ctx.schema();
    let mut out = Attributes::with_capacity(schema.len().min(16));
    let mut redacted = Vec::new();
    let mut tags: TagValues<'c> = [None; TAG_ATTRIBUTES.len()];
    for (i, (id, def)) in schema.iter().enumerate() {
        let slot = ctx.get(id);
        if matches!(slot, Slot::Missing) {
            continue;
        }
        let (name, role) = match names.and_then(|n| n.slot(i)) {
            Some((name, role)) => (name.clone(), role),
            None => (Name::from(&def.name), SlotRole::of(policy, id, &def.name)),
        };
        // Redaction is decided before the value is copied: the `prompt`
        // attribute is the whole last message.
        if role.redacted {
            redacted.push(name);
            continue;
        }
        if let (Some(t), Slot::Str(s)) = (role.tag, slot) {
            if let Some(f) = tags.get_mut(usize::from(t)) {
                *f = Some(s);
            }
        }
        let Some(value) = slot_json(slot) else {
            continue;
        };
        // One value per schema slot: the names are distinct.
        out.push_distinct(name, value);
    }
    (out, redacted, tags)
}

fn slot_json(slot: Slot<'_>) -> Option<Value> {
    Some(match slot {
        Slot::Missing => return None,
        Slot::Bool(b) => Value::Bool(b),
        Slot::Int(i) => Value::from(i),
        // JSON has no NaN or infinity: such a value is left out.
        Slot::Float(f) => Value::Number(serde_json::Number::from_f64(f)?),
        Slot::Str(s) => Value::String(s.to_owned()),
        Slot::StrList(l) => Value::Array(str_list(l)),
        Slot::IntList(l) => Value::Array(l.iter().map(|&i| Value::from(i)).collect()),
        Slot::StrMap(m) => {
            let mut obj = serde_json::Map::new();
            // The first pair of a key counts, as in rules.
            for (k, v) in m.iter() {
                obj.entry(k.to_owned())
                    .or_insert_with(|| Value::String(v.to_owned()));
            }
            Value::Object(obj)
        }
        Slot::IntMap(m) => {
            let mut obj = serde_json::Map::new();
            for (k, v) in m.iter() {
                obj.entry(k.to_owned()).or_insert_with(|| Value::from(v));
            }
            Value::Object(obj)
        }
        // RFC 3339 in UTC, as requests give it.
        Slot::Timestamp(t) => Value::String(t.to_string()),
    })
}

fn str_list(l: StrList<'_>) -> Vec<Value> {
    l.iter().map(|s| Value::String(s.to_owned())).collect()
}

/// Tags: explicit ones win, then same-named string attributes (only those
/// not redacted), then options.
fn merge_tags(explicit: Tags, found: TagValues<'_>, opts: Option<&EventOptions>) -> Tags {
    let [app, feature, user, user_id, use_case, tenant] = found;
    let owned = |s: Option<&str>| s.map(Name::from);
    Tags {
        app: explicit
            .app
            .or_else(|| owned(app))
            .or_else(|| opts.and_then(|o| o.app.clone())),
        feature: explicit.feature.or_else(|| owned(feature)),
        user: explicit.user.or_else(|| owned(user.or(user_id))),
        use_case: explicit.use_case.or_else(|| owned(use_case)),
        tenant: explicit.tenant.or_else(|| owned(tenant)),
    }
}
