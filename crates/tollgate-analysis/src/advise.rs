//! Advice from recorded call events: concrete rules to add, ranked by the
//! daily saving each would have brought on the calls read.
//!
//! | finding | rule advised | estimate | replay reproduces it |
//! |---|---|---|---|
//! | the same system + messages fingerprints again within [`CACHE_TTL_S`] | `[[cache]]` for the feature, `key = ["system", "messages"]`, global scope, that TTL | the recorded cost of every call an entry stored at a miss would have served (hits do not extend entries) | yes, exactly |
//! | a feature whose output tokens are at least [`OUTPUT_RATIO`] x its prompt tokens | `[[limit]]` with `max_output_tokens` = the feature's 90th-percentile output (nearest rank) | on-demand price of the tokens above the cap | yes, exactly |
//! | calls tagged `latency = "tolerant"` | `[[batch]]` for the feature and that tag | on-demand minus batch price ([`crate::batch_plan`]) | yes, exactly |
//! | a feature with at least [`RETRY_SHARE_PCT`]% of its spend in calls that took more than one attempt | `[[limit]]` with `max_attempts = 1` | per retried call, the on-demand price of its tokens minus that of one attempt's share of them ([`crate::replay::kept_attempts`]: attempts assumed alike, the last one the success) | yes, exactly |
//! | calls that share a system prompt (fingerprint) of at least the model's cache minimum (`system_tokens` attribute), recorded without a cache split or prompt-cache rule | `[[prompt_cache]]` on the system prompt, 5 minutes | tokens read at the cache-read price instead of the input price, minus the write premium, Bedrock's TTL refreshed on each read | yes, exactly |
//! | on-demand calls at the default tier, on a model whose price entry offers flex, tagged `latency = "tolerant"` or tool-use turns (`has_tools`): an agent can wait seconds per turn | `[[route]]` for the feature, those calls and that model, `service_tier = "flex"` | on-demand minus flex price of the recorded usage | replay prices the advised route at flex |
//! | at least one full day of traffic on a model | none: `tollgate plan provisioned` with your AWS quote | the floor it would cover; no saving without unit terms | - |
//!
//! Prices are each call's recorded model's, from the shipped price table by
//! model id. Rules match on the `feature` attribute (and `latency` for
//! batch), which the policy must declare. Daily = total / distinct UTC days
//! of the calls.

use crate::batch_plan::{batch_cost, days_of, prices_of};
use crate::replay::kept_attempts;
use crate::report::{group, money, usd};
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tollgate_cost::{price_lenient, CacheOutcome, CallEvent, Mode, Name, Usage};
use tollgate_lang::Tier;

/// TTL of the advised response cache, seconds.
pub const CACHE_TTL_S: u64 = 600;
/// Output / prompt tokens from which an output cap is advised.
pub const OUTPUT_RATIO: u64 = 4;
/// Share of a feature's spend in retried calls from which a retry limit is advised.
pub const RETRY_SHARE_PCT: u128 = 20;

/// What kind of advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[[cache]]`.
    ResponseCache,
    /// `[[prompt_cache]]`.
    PromptCache,
    /// `[[limit]] max_output_tokens`.
    OutputCap,
    /// `[[limit]] max_attempts`.
    Retries,
    /// `[[batch]]`.
    Batch,
    /// `[[route]] service_tier = "flex"`.
    Flex,
    /// Provisioned throughput.
    Provisioned,
}

impl Kind {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ResponseCache => "response-cache",
            Kind::PromptCache => "prompt-cache",
            Kind::OutputCap => "output-cap",
            Kind::Retries => "retries",
            Kind::Batch => "batch",
            Kind::Flex => "flex",
            Kind::Provisioned => "provisioned",
        }
    }
}

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// Kind.
    pub kind: Kind,
    /// Feature it applies to (`None`: a model-wide finding).
    pub feature: Option<String>,
    /// What was found, one line.
    pub finding: String,
    /// Saving over the calls read, nano-dollars.
    pub saving_nanos: u128,
    /// Saving per day, nano-dollars.
    pub daily_saving_nanos: u128,
    /// The TOML rule to add (parses with `tollgate_lang::load_str` in a
    /// policy declaring `feature`, `latency` and `system_tokens` as needed).
    pub rule: Option<String>,
}

/// All recommendations, best first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdviceReport {
    /// Calls read.
    pub calls: u64,
    /// Distinct UTC days.
    pub days: u64,
    /// Ranked by daily saving (ties: kind, then feature).
    pub advice: Vec<Advice>,
}

/// A string as a TOML string: literal (`'...'`, as rule files write
/// expressions) when it can be, else basic with escapes.
fn toml_str(s: &str) -> String {
    if !s.contains('\'') && !s.chars().any(char::is_control) {
        return format!("'{s}'");
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string as a CEL literal.
fn cel_str(s: &str) -> String {
    let mut out = String::new();
    let _ = tollgate_lang::__private::quote(s, &mut out);
    out
}

/// A rule-name slug of a feature.
fn slug(s: &str) -> String {
    let x: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if x.is_empty() {
        "none".into()
    } else {
        x
    }
}

/// The `feature` attribute a rule can match on.
fn feature_attr(ev: &CallEvent) -> Option<&str> {
    ev.attributes.get("feature").and_then(|v| v.as_str())
}

fn on_demand(ev: &CallEvent, out: u64, region: &str) -> Option<u128> {
    let prices = prices_of(None, ev, region)?;
    let u = Usage::new(ev.usage.total_input_tokens(), out);
    Some(u128::from(
        price_lenient(&prices, &u, Mode::Realtime).0.total_nanos,
    ))
}

#[derive(Default)]
struct Feature<'e> {
    calls: Vec<&'e CallEvent>,
}

/// Advises on call events (see the module docs); `events` in time order.
pub fn advise(events: &[CallEvent]) -> AdviceReport {
    advise_in(events, tollgate_lang::DEFAULT_REGION)
}

/// [`advise`] with calls that record no source region priced at `region`
/// (calls that record one are priced at theirs).
pub fn advise_in(events: &[CallEvent], region: &str) -> AdviceReport {
    let days = days_of(events);
    let mut features: BTreeMap<&str, Feature<'_>> = BTreeMap::new();
    for ev in events {
        if let Some(f) = feature_attr(ev) {
            features.entry(f).or_default().calls.push(ev);
        }
    }
    let mut advice = Vec::new();
    let mut push = |kind, feature: &str, finding: String, saving: u128, rule: String| {
        if saving > 0 {
            advice.push(Advice {
                kind,
                feature: Some(feature.to_owned()),
                finding,
                saving_nanos: saving,
                daily_saving_nanos: saving / u128::from(days),
                rule: Some(rule),
            });
        }
    };
    for (name, f) in &features {
        let when_feature = format!("feature == {}", cel_str(name));
        let live: Vec<&CallEvent> = f
            .calls
            .iter()
            .copied()
            .filter(|e| e.cache != CacheOutcome::Hit)
            .collect();

        // Response cache, as replay keys it: (system, messages) content.
        let mut alive: FxHashMap<(u128, u128), u64> = FxHashMap::default();
        let (mut hits, mut saving) = (0u64, 0u128);
        for ev in &live {
            let Some(m) = ev.fingerprint.messages else {
                continue;
            };
            let key = (ev.fingerprint.system.map_or(0, |s| s.0), m.0);
            let at = u64::try_from(ev.timestamp.unix_ms()).unwrap_or(0);
            match alive.get(&key) {
                Some(&exp) if at < exp => {
                    hits += 1;
                    saving += u128::from(ev.cost_nanos);
                }
                _ => {
                    alive.insert(key, at.saturating_add(CACHE_TTL_S * 1000));
                }
            }
        }
        push(
            Kind::ResponseCache,
            name,
            format!(
                "{} of {} calls repeat a prompt seen in the {} minutes before",
                group(hits),
                group(live.len() as u64),
                CACHE_TTL_S / 60
            ),
            saving,
            format!(
                "[[cache]]\nname = \"advised-cache-{}\"\nwhen = {}\nkey = [\"system\", \"messages\"]\nscope = \"global\"\nttl = \"{}m\"\n",
                slug(name),
                toml_str(&when_feature),
                CACHE_TTL_S / 60
            ),
        );

        // Output cap.
        let input: u64 = live.iter().map(|e| e.usage.total_input_tokens()).sum();
        let output: u64 = live.iter().map(|e| e.usage.output_tokens).sum();
        if !live.is_empty() && output >= OUTPUT_RATIO.saturating_mul(input) {
            let mut outs: Vec<u64> = live.iter().map(|e| e.usage.output_tokens).collect();
            outs.sort_unstable();
            let rank = (outs.len() * 9).div_ceil(10).max(1);
            let cap = outs.get(rank - 1).copied().unwrap_or(0);
            let saving: u128 = live
                .iter()
                .filter(|e| e.usage.output_tokens > cap)
                .filter_map(|e| {
                    Some(on_demand(e, e.usage.output_tokens, region)? - on_demand(e, cap, region)?)
                })
                .sum();
            let capped = live.iter().filter(|e| e.usage.output_tokens > cap).count();
            push(
                Kind::OutputCap,
                name,
                format!(
                    "{} output tokens for {} prompt tokens; a cap at the 90th percentile ({}) shortens {} of {} calls",
                    group(output),
                    group(input),
                    group(cap),
                    group(capped as u64),
                    group(live.len() as u64)
                ),
                saving,
                format!(
                    "[[limit]]\nname = \"advised-cap-{}\"\nwhen = {}\nmax_output_tokens = {cap}\n",
                    slug(name),
                    toml_str(&when_feature)
                ),
            );
        }

        // Retries.
        let spend: u128 = live.iter().map(|e| u128::from(e.cost_nanos)).sum();
        let retried: u128 = live
            .iter()
            .filter(|e| e.attempts > 1)
            .map(|e| u128::from(e.cost_nanos))
            .sum();
        if spend > 0 && retried * 100 >= spend * RETRY_SHARE_PCT {
            let saving: u128 = live
                .iter()
                .filter(|e| e.attempts > 1)
                .filter_map(|e| {
                    let prices = prices_of(None, e, region)?;
                    let u = Usage::new(e.usage.total_input_tokens(), e.usage.output_tokens);
                    let all = price_lenient(&prices, &u, Mode::Realtime).0.total_nanos;
                    let first =
                        price_lenient(&prices, &kept_attempts(u, 1, e.attempts), Mode::Realtime)
                            .0
                            .total_nanos;
                    Some(u128::from(all.saturating_sub(first)))
                })
                .sum();
            push(
                Kind::Retries,
                name,
                format!(
                    "{:.0}% of the spend is in calls that took more than one attempt",
                    retried as f64 / spend as f64 * 100.0
                ),
                saving,
                format!(
                    "[[limit]]\nname = \"advised-retries-{}\"\nwhen = {}\nmax_attempts = 1\n",
                    slug(name),
                    toml_str(&when_feature)
                ),
            );
        }

        // Batch: calls tagged latency-tolerant.
        let tolerant: Vec<&CallEvent> = live
            .iter()
            .copied()
            .filter(|e| e.mode != Mode::Batch)
            .filter(|e| e.attributes.get("latency").and_then(|v| v.as_str()) == Some("tolerant"))
            .collect();
        let saving: u128 = tolerant
            .iter()
            .filter_map(|e| {
                let b = batch_cost(&prices_of(None, e, region)?, e)?;
                Some(u128::from(e.cost_nanos).saturating_sub(u128::from(b)))
            })
            .sum();
        push(
            Kind::Batch,
            name,
            format!(
                "{} calls are tagged latency = \"tolerant\" and ran on demand",
                group(tolerant.len() as u64)
            ),
            saving,
            format!(
                "[[batch]]\nname = \"advised-batch-{}\"\nwhen = {}\n",
                slug(name),
                toml_str(&format!("{when_feature} && latency == \"tolerant\""))
            ),
        );

        for (finding, saving, rule) in flex_advice(name, &when_feature, &live, region) {
            push(Kind::Flex, name, finding, saving, rule);
        }

        // Prompt cache on a shared system prompt (needs `system_tokens`).
        let mut last: FxHashMap<(Name, u128), u64> = FxHashMap::default();
        let (mut reads, mut saving) = (0u64, 0i128);
        for ev in &live {
            let (Some(sys), Some(tokens)) = (
                ev.fingerprint.system,
                ev.attributes.get("system_tokens").and_then(|v| v.as_u64()),
            ) else {
                continue;
            };
            let tokens = tokens.min(ev.usage.total_input_tokens());
            if ev.usage.cache_read_input_tokens > 0
                || ev.usage.cache_write_input_tokens > 0
                || ev.rules.prompt_cache.is_some()
            {
                continue;
            }
            let Some(p) = prices_of(None, ev, region) else {
                continue;
            };
            let (Some(read), Some(write)) = (p.cache_read, p.cache_write_5m) else {
                continue;
            };
            if tokens < p.prompt_cache_min_tokens.map_or(1024, u64::from) {
                continue;
            }
            let at = u64::try_from(ev.timestamp.unix_ms()).unwrap_or(0);
            let key = (ev.model_id.clone(), sys.0);
            let t = i128::from(tokens);
            match last.get(&key) {
                Some(&exp) if at < exp => {
                    reads += 1;
                    saving += t * (i128::from(p.input.picos()) - i128::from(read.picos()));
                }
                _ => saving -= t * (i128::from(write.picos()) - i128::from(p.input.picos())),
            }
            last.insert(key, at.saturating_add(300_000));
        }
        push(
            Kind::PromptCache,
            name,
            format!(
                "{} calls would read a shared system prompt from Bedrock's prompt cache",
                group(reads)
            ),
            // Picos -> nanos, rounded once, half up.
            u128::try_from(saving).map_or(0, |s| (s + 500) / 1000),
            format!(
                "[[prompt_cache]]\nname = \"advised-prompt-cache-{}\"\nwhen = {}\npoints = [\"system\"]\nttl = \"5m\"\n",
                slug(name),
                toml_str(&when_feature)
            ),
        );
    }

    // Provisioned throughput: the floor per model, when a full day is there.
    let mut by_model: BTreeMap<&str, crate::trace::Trace> = BTreeMap::new();
    let start = events.first().map_or(0, |e| e.timestamp.unix_ms());
    for ev in events {
        by_model
            .entry(ev.model_id.as_str())
            .or_default()
            .requests
            .push(crate::trace::TraceRequest {
                at_ms: u64::try_from(ev.timestamp.unix_ms().saturating_sub(start)).unwrap_or(0),
                count: 1,
                input_tokens: ev.usage.total_input_tokens(),
                output_tokens: ev.usage.output_tokens,
                content: None,
                blocks_start: 0,
                blocks_len: 0,
                call: None,
            });
    }
    for (model, trace) in &by_model {
        let Some(prices) = tollgate_lang::PriceTable::builtin()
            .resolve(model, region, tollgate_lang::Tier::Default)
            .ok()
            .or_else(|| tollgate_lang::PriceTable::builtin().lookup(model))
        else {
            continue;
        };
        let terms = crate::capacity::UnitTerms {
            tokens_per_minute: 1,
            nanos_per_hour: 0,
        };
        if let Ok(plan) = crate::capacity::plan_provisioned(trace, &prices, terms) {
            if plan.days >= 1 && plan.floor_tpm > 0 {
                advice.push(Advice {
                    kind: Kind::Provisioned,
                    feature: None,
                    finding: format!(
                        "`{model}` holds {} tokens/min at least 16 h every day ({} days): price units for that floor with `tollgate plan provisioned` and your AWS quote",
                        group(plan.floor_tpm),
                        plan.days
                    ),
                    saving_nanos: 0,
                    daily_saving_nanos: 0,
                    rule: None,
                });
            }
        }
    }
    advice.sort_by(|a, b| {
        b.daily_saving_nanos
            .cmp(&a.daily_saving_nanos)
            .then_with(|| a.kind.name().cmp(b.kind.name()))
            .then_with(|| a.feature.cmp(&b.feature))
    });
    AdviceReport {
        calls: events.len() as u64,
        days,
        advice,
    }
}

/// USD with 4 decimals below $100 (a small sample's savings are cents).
fn dollars(nanos: u128) -> String {
    if nanos < 100_000_000_000 {
        format!("${:.4}", usd(nanos))
    } else {
        money(nanos)
    }
}

impl AdviceReport {
    /// The advice as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} calls over {} day{}; {} recommendation{}, largest daily saving first\n",
            group(self.calls),
            self.days,
            if self.days == 1 { "" } else { "s" },
            self.advice.len(),
            if self.advice.len() == 1 { "" } else { "s" }
        );
        for (i, a) in self.advice.iter().enumerate() {
            s += &format!(
                "\n{}. {} {}: {}/day ({} over the calls read)\n   {}\n",
                i + 1,
                a.kind.name(),
                a.feature
                    .as_deref()
                    .map_or(String::new(), |f| format!("`{f}`")),
                dollars(a.daily_saving_nanos),
                dollars(a.saving_nanos),
                a.finding
            );
            if let Some(r) = &a.rule {
                for line in r.lines() {
                    s += &format!("   {line}\n");
                }
            }
        }
        s
    }

    /// The advice as one JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "calls": self.calls,
            "days": self.days,
            "advice": self.advice.iter().map(|a| json!({
                "kind": a.kind.name(),
                "feature": a.feature,
                "finding": a.finding,
                "daily_saving_usd": usd(a.daily_saving_nanos),
                "saving_usd": usd(a.saving_nanos),
                "daily_saving_nanos": u64::try_from(a.daily_saving_nanos).unwrap_or(u64::MAX),
                "saving_nanos": u64::try_from(a.saving_nanos).unwrap_or(u64::MAX),
                "rule": a.rule,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Whether a recorded call can wait seconds: tagged `latency = "tolerant"`
/// (`.0`) or a tool-use turn (`has_tools`, `.1`).
fn can_wait(e: &CallEvent) -> (bool, bool) {
    (
        e.attributes.get("latency").and_then(|v| v.as_str()) == Some("tolerant"),
        e.attributes.get("has_tools").and_then(|v| v.as_bool()) == Some(true),
    )
}

/// Flex advice of one feature, one per model alias: its on-demand calls at
/// the default tier that can wait ([`can_wait`]) on a model whose price
/// entry offers flex, saving the on-demand minus the flex price of their
/// usage. Items: (finding, saving, rule).
fn flex_advice(
    feature: &str,
    when_feature: &str,
    live: &[&CallEvent],
    region: &str,
) -> Vec<(String, u128, String)> {
    let mut by_model: BTreeMap<&str, (u64, u128, bool, bool)> = BTreeMap::new();
    for e in live {
        let (tolerant, tools) = can_wait(e);
        if !(tolerant || tools)
            || !matches!(e.mode, Mode::Realtime | Mode::Stream)
            || e.service_tier.is_some_and(|t| t != Tier::Default)
        {
            continue;
        }
        let Some(prices) = prices_of(None, e, region) else {
            continue;
        };
        let Some(flex) = prices.at_tier(Tier::Flex) else {
            continue;
        };
        let on_demand = price_lenient(&prices, &e.usage, Mode::Realtime)
            .0
            .total_nanos;
        let at_flex = price_lenient(&flex, &e.usage, Mode::Realtime).0.total_nanos;
        let m = by_model.entry(e.model.as_str()).or_default();
        m.0 += 1;
        m.1 += u128::from(on_demand.saturating_sub(at_flex));
        m.2 |= tolerant;
        m.3 |= tools;
    }
    by_model
        .into_iter()
        .map(|(alias, (calls, saving, tolerant, tools))| {
            let why = match (tolerant, tools) {
                (true, true) => "latency == \"tolerant\" || has_tools",
                (true, false) => "latency == \"tolerant\"",
                _ => "has_tools",
            };
            let finding = format!(
                "{} on-demand calls on `{alias}` can wait seconds ({}) and the model offers flex",
                group(calls),
                match (tolerant, tools) {
                    (true, true) => "tagged latency = \"tolerant\", or tool-use turns",
                    (true, false) => "tagged latency = \"tolerant\"",
                    _ => "tool-use turns",
                }
            );
            let rule = format!(
                "[[route]]\nname = \"advised-flex-{}-{}\"\nwhen = {}\nmodel = {}\nservice_tier = \"flex\"\n",
                slug(feature),
                slug(alias),
                toml_str(&format!("{when_feature} && ({why})")),
                toml_str_basic(alias)
            );
            (finding, saving, rule)
        })
        .collect()
}

/// A string as a basic (double-quoted) TOML string.
fn toml_str_basic(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
