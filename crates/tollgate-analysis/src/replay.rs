//! Replay: every recorded request through a compiled policy, priced.
//!
//! For each request, in time order:
//!
//! 1. **Context**: the recorded attributes (call events), then the `--set`
//!    values for attributes still missing, then `input_tokens` from the data
//!    when the policy declares it and nothing else set it, and likewise
//!    `request_time` (a `timestamp`) from the request's time on the trace's
//!    clock (call events: when the call was made).
//! 2. **Decide** with the compiled engine.
//! 3. **Output cap**: a recorded output (summed over attempts) longer than the decision's effective
//!    cap is counted at the cap (and counted in [`Report::capped`]).
//! 4. **Response cache** (only where the data has content identity: call
//!    events' fingerprints, Mooncake block hashes): the decision's `[[cache]]`
//!    rule keys the request by rule, version, scope value, content and, when
//!    the rule's key names it, the model; a stored, unexpired entry on the
//!    trace's own clock serves it at no cost. A hit does not extend the
//!    entry (as `tollgate_cache::simulate_response_cache`).
//! 5. **Prompt cache** (not in batch): the decision's `[[prompt_cache]]`
//!    rule
//!    - on block hashes (Mooncake): puts a point at the end of the prompt
//!      on the routed model's cache ([`crate::prefix`]);
//!    - on call events: keeps the recorded cache split when the model is
//!      unchanged and the call was recorded with one (a non-zero split, or
//!      a `[[prompt_cache]]` rule that matched when it ran), so a policy
//!      replayed against itself stays exact. Otherwise, when the event has
//!      a system prompt (identity `fingerprint.system`, length the
//!      `system_tokens` attribute, at most the prompt), it puts one point
//!      at the end of the system prompt with the same simulation: the
//!      system prompt is one block of `system_tokens` tokens on the routed
//!      model's cache, on the trace's clock, living the rule's TTL (5
//!      minutes unless it says `1h`) from each use; a use while it lives
//!      reads it (cache-read price), any other writes it (cache-write
//!      price), and a system prompt below the model's cache minimum gets
//!      no point. The rest of the prompt stays plain input. Without a
//!      system prompt the call is priced without caching.
//! 6. **Attempts** (call events): the recorded `usage` and cost are summed
//!    over `attempts`. When the decision's `[[limit]]` allows fewer
//!    (`max_attempts`), the attempts beyond it are dropped with their
//!    share of every token count ([`kept_attempts`]: counts x kept /
//!    recorded, rounded down; attempts are assumed alike, since the event
//!    does not tell them apart). This assumes the recorded call's last
//!    attempt was the one that succeeded, so cutting attempts removes
//!    failed attempts' cost only: under the cap the call might then fail
//!    instead, which replay does not price. A limit's `retry_budget_pct`
//!    is replayed as the gate keeps it live: per feature, in trace order,
//!    a call with more than one attempt keeps them while the feature's
//!    replayed retry spend is at most that share of its replayed total
//!    spend (a feature with no spend yet may retry), and otherwise keeps
//!    one attempt's share (the gate would stop after the first failure;
//!    the same assumption as above). A weighted request (a ServeGen
//!    window) is checked once for all the requests it stands for.
//! 7. **Batch**: a matched `[[batch]]` rule prices the call at batch prices
//!    (no prompt caching in batch).
//! 8. **Price** with `tollgate_cost::price_lenient`, integer nano-dollars.
//!
//! The baseline is what the recorded calls cost (call events), or every
//! request on one model, on demand, without caching and without a cap.

mod prices;
mod retries;
mod sets;

use crate::prefix::{PrefixCaches, PrefixStep};
use crate::report::{PromptTally, Report, ResponseTally, Row};
use crate::trace::Trace;
use prices::*;
use retries::*;
pub use retries::{emitted_event_count, kept_attempts};
use rustc_hash::FxHashMap;
pub use sets::parse_sets;
use sets::*;
use std::io::IsTerminal;
use tollgate_cost::retry_share_within;
use tollgate_cost::{price_lenient, CacheOutcome, CacheTtl, CallEvent, Mode, Timestamp, Usage};
use tollgate_engine::{CompiledPolicy, Context, Owned, Request, Slot};
use tollgate_lang::{AttrId, Elem, Type};
use tollgate_lang::{KeyField, Scope};
use tollgate_lang::{Latency, Tier};
use xxhash_rust::xxh3::Xxh3;

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// `ATTR=VALUE` pairs for attributes the data lacks.
    pub set: Vec<(String, String)>,
    /// Price the baseline as every request on this model alias.
    pub baseline_model: Option<String>,
    /// Show a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Source region of the calls that record none (default us-east-1);
    /// a call that records its region is priced at that region.
    pub region: Option<String>,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// `--set` names an attribute the policy does not declare.
    #[error("`--set {0}`: the policy declares no attribute `{0}`")]
    UnknownAttribute(String),
    /// `--set` value of the wrong type.
    #[error("`--set {name}={value}`: `{name}` is {ty}, and `{value}` is not")]
    BadValue {
        /// Attribute.
        name: String,
        /// Value given.
        value: String,
        /// Declared type.
        ty: Type,
    },
    /// `--set` without `=`.
    #[error("`--set {0}`: expected ATTR=VALUE")]
    NoEquals(String),
    /// The baseline alias is not a model of the policy.
    #[error("`--baseline-model {0}` is not a model of the policy (models: {1})")]
    UnknownModel(String, String),
    /// The data names no model and no baseline model was given.
    #[error(
        "the data has no model: pass `--baseline-model ALIAS` (e.g. the policy's default, `{0}`)"
    )]
    NeedBaseline(String),
    /// The event callback failed.
    #[error("writing events: {0}")]
    Emit(String),
}

/// Per-request progress, every this many requests.
const PROGRESS_EVERY: usize = 1 << 16;
/// Inputs shorter than this get no progress bar.
const PROGRESS_MIN: usize = 200_000;

/// Replays a trace through a policy (see the module docs).
pub fn replay(
    policy: &CompiledPolicy,
    trace: &Trace,
    opts: &ReplayOptions,
) -> Result<Report, ReplayError> {
    replay_emitting(policy, trace, opts, None)
}

/// The projected call events' receiver.
pub type EventSink<'s> = &'s mut dyn FnMut(&CallEvent) -> Result<(), String>;

/// [`replay`], handing each projected call event to `emit`.
pub fn replay_emitting(
    compiled: &CompiledPolicy,
    trace: &Trace,
    opts: &ReplayOptions,
    mut emit: Option<EventSink<'_>>,
) -> Result<Report, ReplayError> {
    let p = compiled.policy();
    let schema = &p.schema();
    let mut sets: Vec<(AttrId, Owned)> = Vec::new();
    for (name, value) in &opts.set {
        let id = schema
            .id(name)
            .ok_or_else(|| ReplayError::UnknownAttribute(name.clone()))?;
        let ty = schema.get(id).map(|d| d.ty).unwrap_or(Type::String);
        sets.push((id, owned_value(name, ty, value)?));
    }
    let default_alias = p
        .model(p.default_model())
        .map(|m| m.alias.clone())
        .unwrap_or_default();
    let baseline_prices = match &opts.baseline_model {
        Some(alias) => {
            let m = p
                .model_by_alias(alias)
                .and_then(|i| p.model(i))
                .ok_or_else(|| {
                    let all: Vec<&str> = p.models().iter().map(|m| m.alias.as_str()).collect();
                    ReplayError::UnknownModel(alias.clone(), all.join(", "))
                })?;
            Some(m)
        }
        None if trace.has_model() => None,
        None => return Err(ReplayError::NeedBaseline(default_alias)),
    };
    let mut notes = trace.notes.clone();
    let requests: Vec<Option<Request>> = trace
        .calls
        .iter()
        .map(|c| Request::from_map(schema, &c.attributes).ok())
        .collect();
    let bad_attrs = requests.iter().filter(|r| r.is_none()).count();
    if bad_attrs > 0 {
        notes.push(format!(
            "{bad_attrs} recorded calls had attributes of the wrong type for this policy and were replayed without them"
        ));
    }
    let input_id = schema
        .id("input_tokens")
        .filter(|&id| schema.get(id).is_some_and(|d| d.ty == Type::Int));
    let feature_id = schema.id("feature");
    // `request_time`, when declared as a timestamp: the request's time on
    // the trace's clock (call events: when the call was made).
    let time_id = schema
        .id("request_time")
        .filter(|&id| schema.get(id).is_some_and(|d| d.ty == Type::Timestamp));

    let mut report = Report::new(p, trace);
    report.baseline = match &opts.baseline_model {
        Some(a) => {
            format!("every request on `{a}`, on demand, no caching, recorded output lengths")
        }
        None => "the recorded calls' own cost".to_owned(),
    };
    let mut by_rule: Vec<Row> = std::iter::once("(default model)")
        .chain(p.routes.iter().map(|r| r.name.as_str()))
        .map(Row::named)
        .collect();
    let mut by_model: Vec<Row> = p.models().iter().map(|m| Row::named(&m.alias)).collect();
    let mut by_feature: Vec<Row> = Vec::new();
    let mut feature_index: FxHashMap<String, usize> = FxHashMap::default();
    let mut rc_map: FxHashMap<u128, (u64, u64)> = FxHashMap::default();
    let mut retry_budget = RetrySpend::default();
    let mut prefix = PrefixCaches::new();
    let mut system_prompts = PrefixCaches::new();
    let mut rc = ResponseTally {
        simulated: trace.has_content_identity(),
        ..ResponseTally::default()
    };
    let mut pc = PromptTally {
        simulated: trace.has_blocks() || trace.has_system_prompts(),
        from_blocks: trace.has_blocks(),
        ..PromptTally::default()
    };

    let bar =
        (opts.progress && trace.requests.len() >= PROGRESS_MIN && std::io::stderr().is_terminal())
            .then(|| indicatif::ProgressBar::new(trace.requests.len() as u64));
    let default_region = opts
        .region
        .as_deref()
        .unwrap_or(tollgate_lang::DEFAULT_REGION);
    let mut region_prices = RegionPrices::new(p, default_region);
    let mut ctx = Context::new(schema);
    for (i, r) in trace.requests.iter().enumerate() {
        if let Some(b) = &bar {
            if i.is_multiple_of(PROGRESS_EVERY) {
                b.set_position(i as u64);
            }
        }
        let n = r.count;
        let call = r.call.and_then(|c| trace.calls.get(c as usize));
        ctx.clear();
        if let Some(Some(req)) = r.call.and_then(|c| requests.get(c as usize)) {
            req.fill(&mut ctx);
        }
        for (id, v) in &sets {
            if matches!(ctx.get(*id), Slot::Missing) {
                let _ = ctx.set(*id, v.slot());
            }
        }
        // Learned routers score the prompt, where the trace recorded one.
        if let Some(p) = call
            .and_then(|c| c.attributes.get("prompt"))
            .and_then(serde_json::Value::as_str)
        {
            tollgate_engine::score_routers(compiled.policy(), &mut ctx, p);
        }
        if let Some(id) = input_id {
            if matches!(ctx.get(id), Slot::Missing) {
                ctx.set_int(id, i64::try_from(r.input_tokens).unwrap_or(i64::MAX));
            }
        }
        if let Some(id) = time_id {
            if matches!(ctx.get(id), Slot::Missing) {
                let ms = i64::try_from(r.at_ms).unwrap_or(i64::MAX);
                let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
                if let Some(t) = tollgate_lang::Timestamp::new(ms.div_euclid(1000), nanos) {
                    ctx.set_timestamp(id, t);
                }
            }
        }
        let d = compiled.decide(&ctx);

        // Baseline.
        let call_region = call.and_then(|c| c.region.as_deref());
        let base = match (baseline_prices, call) {
            (Some(m), _) => {
                let idx = p.model_by_alias(&m.alias).map_or(usize::MAX, |i| i.index());
                price_lenient(
                    region_prices.get(m, idx, call_region, (Tier::Default, false)),
                    &Usage::new(r.input_tokens, r.output_tokens),
                    Mode::Realtime,
                )
                .0
                .total_nanos
            }
            (None, Some(c)) => c.cost_nanos,
            (None, None) => 0,
        };
        let base = u128::from(base) * u128::from(n);

        let Some(model) = p.model(d.model) else {
            continue;
        };
        let prices = region_prices.get(model, d.model.index(), call_region, tier_of(model, &d));
        let mut out = r.output_tokens;
        if let Some(cap) = d.max_output_tokens {
            if out > u64::from(cap) {
                out = u64::from(cap);
                report.capped += n;
            }
        }
        let batch = d.batch.is_some();
        let mode = if batch { Mode::Batch } else { Mode::Realtime };

        // Response cache.
        let mut store_key = None;
        let mut cache_outcome = CacheOutcome::Bypass;
        if let (Some(ci), Some(content)) = (d.cache, r.content) {
            if let Some(rule) = p.caches.get(ci.index()) {
                let mut h = Xxh3::new();
                h.update(&ci.get().to_le_bytes());
                h.update(&rule.then.version.to_le_bytes());
                if let Scope::Attr(a) = rule.then.scope {
                    if let Slot::Str(s) = ctx.get(a) {
                        h.update(&(s.len() as u64).to_le_bytes());
                        h.update(s.as_bytes());
                    }
                }
                h.update(&content.to_le_bytes());
                if rule.then.key.contains(&KeyField::Model) {
                    h.update(model.id.as_bytes());
                }
                let key = h.digest128();
                rc.eligible += n;
                match rc_map.get(&key) {
                    Some(&(expires, cost)) if r.at_ms < expires => {
                        rc.hits += n;
                        rc.avoided_nanos += u128::from(cost) * u128::from(n);
                        report.add(
                            &mut by_rule,
                            &mut by_model,
                            d.route.map_or(0, |x| x.index() + 1),
                            d.model.index(),
                            base,
                            0,
                            n,
                        );
                        feature_row(&mut by_feature, &mut feature_index, &ctx, feature_id)
                            .add(base, 0, n);
                        if let Some(emit) = emit.as_mut() {
                            let ev = CallEvent::builder(p, &d, &ctx)
                                .timestamp(Timestamp::from_unix_ms(
                                    i64::try_from(r.at_ms).unwrap_or(i64::MAX),
                                ))
                                .request_id(format!("replay-{i}"))
                                .mode(mode)
                                .attempts(0)
                                .cache(CacheOutcome::Hit)
                                .cost_avoided_nanos(cost)
                                .fingerprint(call.map(|c| c.fingerprint).unwrap_or_default())
                                .build();
                            emit_expanded(emit, ev, r, i)?;
                        }
                        continue;
                    }
                    _ => {
                        store_key = Some((
                            key,
                            r.at_ms.saturating_add(rule.then.ttl_s.saturating_mul(1000)),
                        ));
                        cache_outcome = CacheOutcome::Miss;
                    }
                }
            }
        }

        // Prompt cache.
        let mut usage = Usage::new(r.input_tokens, out);
        if let (false, Some(pci)) = (batch, d.prompt_cache) {
            let ttl_s = p
                .prompt_caches
                .get(pci.index())
                .map_or(300, |x| x.then.ttl_s);
            let ttl = CacheTtl::from_secs(ttl_s);
            let write_price = match ttl {
                CacheTtl::OneHour => prices.cache_write_1h,
                CacheTtl::FiveMinutes => prices.cache_write_5m,
            };
            // Both simulations need a write and a read price, and share
            // the model's minimum prefix.
            let priced = write_price.is_some() && prices.cache_read.is_some();
            let min = model
                .prompt_cache_min_tokens
                .or(prices.prompt_cache_min_tokens)
                .map_or(1024, u64::from);
            if r.blocks_len > 0 {
                pc.eligible += n;
                if priced {
                    let step = prefix.step(
                        d.model.index(),
                        r.at_ms,
                        r.input_tokens,
                        trace.blocks_of(r),
                        trace.block_tokens,
                        ttl_s.saturating_mul(1000),
                        min,
                    );
                    apply_step(&mut usage, &mut pc, step, r.input_tokens, ttl, n);
                } else {
                    pc.no_prices += n;
                }
            } else if let Some(c) = call {
                let same_model = c.model == model.alias;
                let recorded_split =
                    c.usage.cache_read_input_tokens > 0 || c.usage.cache_write_input_tokens > 0;
                match c.system_prompt() {
                    // The recorded outcome stands: the call ran with prompt
                    // caching on this model.
                    _ if same_model && (recorded_split || c.prompt_cache_rule) => {
                        usage = c.usage;
                        usage.output_tokens = out;
                    }
                    Some((sys, sys_tokens)) => {
                        pc.eligible += n;
                        if priced {
                            // One block: the whole system prompt, its
                            // identity folded to the block id's 64 bits.
                            let block = (sys as u64) ^ ((sys >> 64) as u64);
                            let step = system_prompts.step(
                                d.model.index(),
                                r.at_ms,
                                sys_tokens,
                                &[block],
                                sys_tokens,
                                ttl_s.saturating_mul(1000),
                                min,
                            );
                            apply_step(&mut usage, &mut pc, step, r.input_tokens, ttl, n);
                        } else {
                            pc.no_prices += n;
                        }
                    }
                    None if same_model => {
                        usage = c.usage;
                        usage.output_tokens = out;
                    }
                    None => {}
                }
            }
        }

        // Attempts: the new limit's `max_attempts` drops the recorded
        // attempts beyond it, with their share of the tokens.
        let recorded_attempts = call.map_or(1, |c| c.attempts.max(1));
        let max_attempts = d
            .limit
            .and_then(|l| p.limits.get(l.index()))
            .and_then(|l| l.then.max_attempts)
            .map(|m| m.max(1));
        let attempts = match max_attempts {
            Some(m) if m < recorded_attempts => {
                usage = kept_attempts(usage, m, recorded_attempts);
                report.attempts_cut += n;
                m
            }
            _ => recorded_attempts,
        };
        // Retry budget, as the gate keeps it live: per feature, in trace
        // order, a call retries only while the feature's retry spend is at
        // most `retry_budget_pct` of its total spend; otherwise it keeps
        // one attempt's share.
        let retry_pct = d
            .limit
            .and_then(|l| p.limits.get(l.index()))
            .and_then(|l| l.then.retry_budget_pct);
        let feature_name = match feature_id.map(|f| ctx.get(f)) {
            Some(Slot::Str(s)) => s,
            _ => "",
        };
        let attempts = match retry_pct {
            Some(pct) if attempts > 1 && !retry_budget.allows(feature_name, pct) => {
                usage = kept_attempts(usage, 1, attempts);
                report.retry_budget_cut += n;
                1
            }
            _ => attempts,
        };
        let (cost, err) = price_lenient(prices, &usage, mode);
        if retry_pct.is_some() {
            retry_budget.record(
                feature_name,
                u128::from(cost.total_nanos) * u128::from(n),
                attempts > 1,
            );
        }
        if err.is_some() {
            report.price_errors += n;
        }
        let cost_n = u128::from(cost.total_nanos) * u128::from(n);
        if batch {
            report.batch += n;
        }
        if let Some((key, expires)) = store_key {
            rc_map.insert(key, (expires, cost.total_nanos));
        }
        report.add(
            &mut by_rule,
            &mut by_model,
            d.route.map_or(0, |x| x.index() + 1),
            d.model.index(),
            base,
            cost_n,
            n,
        );
        feature_row(&mut by_feature, &mut feature_index, &ctx, feature_id).add(base, cost_n, n);
        if let Some(emit) = emit.as_mut() {
            let mut b = CallEvent::builder(p, &d, &ctx)
                .timestamp(Timestamp::from_unix_ms(
                    i64::try_from(r.at_ms).unwrap_or(i64::MAX),
                ))
                .request_id(format!("replay-{i}"))
                .region(call_region.unwrap_or(default_region))
                .usage(usage)
                .mode(mode)
                .attempts(attempts)
                .cache(cache_outcome)
                .fingerprint(call.map(|c| c.fingerprint).unwrap_or_default());
            // Billed at the rule's tier and latency, as the projection is.
            let (tier, optimized) = tier_of(model, &d);
            if tier != Tier::Default {
                b = b.service_tier(tier);
            }
            if optimized {
                b = b.latency(Latency::Optimized);
            }
            let ev = b.build();
            emit_expanded(emit, ev, r, i)?;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    report.response_cache = rc;
    report.prompt_cache = pc;
    report.by_rule = by_rule.into_iter().filter(|r| r.requests > 0).collect();
    report.by_model = by_model.into_iter().filter(|r| r.requests > 0).collect();
    by_feature.sort_by(|a, b| a.name.cmp(&b.name));
    report.by_feature = by_feature;
    report.notes = notes;
    Ok(report)
}

fn feature_row<'r>(
    rows: &'r mut Vec<Row>,
    index: &mut FxHashMap<String, usize>,
    ctx: &Context<'_>,
    feature: Option<AttrId>,
) -> &'r mut Row {
    let name = match feature.map(|f| ctx.get(f)) {
        Some(Slot::Str(s)) => s,
        _ => "(none)",
    };
    let i = match index.get(name) {
        Some(&i) => i,
        None => {
            rows.push(Row::named(name));
            index.insert(name.to_owned(), rows.len() - 1);
            rows.len() - 1
        }
    };
    // INVARIANT: `i` indexes `rows` (pushed above or earlier).
    let len = rows.len();
    &mut rows[i.min(len - 1)]
}
