//! What a replay found, as text and as JSON.
//!
//! Money is summed in `u128` nano-dollars (ServeGen windows weigh up to
//! hundreds of thousands of requests each); USD figures are for display.

use crate::trace::Trace;
use serde_json::{json, Value};
use tollgate_lang::Policy;

/// Nano-dollars as USD, for display.
pub fn usd(nanos: u128) -> f64 {
    nanos as f64 / 1e9
}

/// `(baseline - projected) / baseline`, as a percentage (0 when the
/// baseline is 0; negative when the policy costs more).
pub fn savings_pct(baseline: u128, projected: u128) -> f64 {
    if baseline == 0 {
        return 0.0;
    }
    (baseline as f64 - projected as f64) / baseline as f64 * 100.0
}

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    /// Rule, feature or model name.
    pub name: String,
    /// Requests.
    pub requests: u64,
    /// Their baseline cost, nano-dollars.
    pub baseline_nanos: u128,
    /// Their projected cost, nano-dollars.
    pub projected_nanos: u128,
}

impl Row {
    /// An empty row.
    pub fn named(name: &str) -> Row {
        Row {
            name: name.to_owned(),
            ..Row::default()
        }
    }

    /// Counts `n` requests.
    pub fn add(&mut self, baseline: u128, projected: u128, n: u64) {
        self.requests = self.requests.saturating_add(n);
        self.baseline_nanos += baseline;
        self.projected_nanos += projected;
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "requests": self.requests,
            "baseline_usd": usd(self.baseline_nanos),
            "projected_usd": usd(self.projected_nanos),
            "projected_nanos": u64::try_from(self.projected_nanos).unwrap_or(u64::MAX),
        })
    }
}

/// The response-cache simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseTally {
    /// The data had content identity, so the cache was simulated.
    pub simulated: bool,
    /// Requests a `[[cache]]` rule matched (with content identity).
    pub eligible: u64,
    /// Served from the cache.
    pub hits: u64,
    /// What the hits avoided, nano-dollars.
    pub avoided_nanos: u128,
}

/// The prompt-cache simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromptTally {
    /// The data had block hashes or call events' system prompts
    /// (`fingerprint.system` + `system_tokens`), so prompt caching was
    /// simulated.
    pub simulated: bool,
    /// Simulated from block hashes (else from system prompts).
    pub from_blocks: bool,
    /// Requests a `[[prompt_cache]]` rule matched and the cache was
    /// simulated for (block hashes, or a system prompt).
    pub eligible: u64,
    /// Of those, on a model without cache prices.
    pub no_prices: u64,
    /// Requests that got a cache point.
    pub with_point: u64,
    /// Requests that read a cached prefix.
    pub reading: u64,
    /// Prompt tokens of the simulated requests.
    pub input_tokens: u128,
    /// Tokens read from the cache.
    pub read_tokens: u128,
    /// Tokens written to the cache.
    pub write_tokens: u128,
}

/// The result of one replay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// `[policy] name`.
    pub policy: String,
    /// Requests replayed (ServeGen windows counted by their requests).
    pub requests: u64,
    /// What the baseline is.
    pub baseline: String,
    /// Baseline cost, nano-dollars.
    pub baseline_nanos: u128,
    /// Projected cost, nano-dollars.
    pub projected_nanos: u128,
    /// Requests whose recorded output was longer than the new cap.
    pub capped: u64,
    /// Requests whose recorded attempts exceeded the new `max_attempts`.
    pub attempts_cut: u64,
    /// Requests whose retries the replayed `retry_budget_pct` stopped.
    pub retry_budget_cut: u64,
    /// Requests priced at batch prices.
    pub batch: u64,
    /// Requests priced leniently (a price was missing).
    pub price_errors: u64,
    /// Response cache.
    pub response_cache: ResponseTally,
    /// Prompt cache.
    pub prompt_cache: PromptTally,
    /// By route rule (`(default model)` first).
    pub by_rule: Vec<Row>,
    /// By `feature` attribute.
    pub by_feature: Vec<Row>,
    /// By model.
    pub by_model: Vec<Row>,
    /// Notes from the readers and the replay.
    pub notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(p: &Policy, _trace: &Trace) -> Report {
        Report {
            policy: p.name().to_owned(),
            ..Report::default()
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one request's figures and its two breakdown rows"
    )]
    pub(crate) fn add(
        &mut self,
        by_rule: &mut [Row],
        by_model: &mut [Row],
        rule: usize,
        model: usize,
        base: u128,
        projected: u128,
        n: u64,
    ) {
        self.requests = self.requests.saturating_add(n);
        self.baseline_nanos += base;
        self.projected_nanos += projected;
        if let Some(r) = by_rule.get_mut(rule) {
            r.add(base, projected, n);
        }
        if let Some(r) = by_model.get_mut(model) {
            r.add(base, projected, n);
        }
    }

    /// Savings against the baseline, percent.
    pub fn savings_pct(&self) -> f64 {
        savings_pct(self.baseline_nanos, self.projected_nanos)
    }

    /// Response-cache hits over eligible requests.
    pub fn response_hit_rate(&self) -> f64 {
        ratio(
            self.response_cache.hits as f64,
            self.response_cache.eligible as f64,
        )
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let rc = &self.response_cache;
        let pc = &self.prompt_cache;
        json!({
            "policy": self.policy,
            "requests": self.requests,
            "baseline": self.baseline,
            "baseline_usd": usd(self.baseline_nanos),
            "projected_usd": usd(self.projected_nanos),
            "savings_pct": self.savings_pct(),
            "baseline_nanos": u64::try_from(self.baseline_nanos).unwrap_or(u64::MAX),
            "projected_nanos": u64::try_from(self.projected_nanos).unwrap_or(u64::MAX),
            "capped_outputs": self.capped,
            "attempts_cut": self.attempts_cut,
            "retry_budget_cut": self.retry_budget_cut,
            "batch_requests": self.batch,
            "priced_with_missing_prices": self.price_errors,
            "response_cache": {
                "simulated": rc.simulated,
                "eligible": rc.eligible,
                "hits": rc.hits,
                "hit_rate": self.response_hit_rate(),
                "avoided_usd": usd(rc.avoided_nanos),
            },
            "prompt_cache": {
                "simulated": pc.simulated,
                "source": if !pc.simulated { "none" } else if pc.from_blocks { "block_hashes" } else { "system_prompts" },
                "eligible": pc.eligible,
                "with_point": pc.with_point,
                "reading": pc.reading,
                "read_tokens": u64::try_from(pc.read_tokens).unwrap_or(u64::MAX),
                "write_tokens": u64::try_from(pc.write_tokens).unwrap_or(u64::MAX),
                "read_share": ratio(pc.read_tokens as f64, pc.input_tokens as f64),
            },
            "by_rule": self.by_rule.iter().map(Row::json).collect::<Vec<_>>(),
            "by_feature": self.by_feature.iter().map(Row::json).collect::<Vec<_>>(),
            "by_model": self.by_model.iter().map(Row::json).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let rc = &self.response_cache;
        let pc = &self.prompt_cache;
        s += &format!(
            "policy `{}`, {} requests\n",
            self.policy,
            group(self.requests)
        );
        s += &format!(
            "baseline   {:>14}  ({})\n",
            money(self.baseline_nanos),
            self.baseline
        );
        s += &format!("projected  {:>14}\n", money(self.projected_nanos));
        s += &format!(
            "savings    {:>13.1}%  ({})\n",
            self.savings_pct(),
            money_signed(self.baseline_nanos, self.projected_nanos)
        );
        s += &format!(
            "outputs capped at the new limit: {}; batch-priced: {}",
            group(self.capped),
            group(self.batch)
        );
        if self.attempts_cut > 0 {
            s += &format!(
                "; attempts cut to the new max_attempts: {}",
                group(self.attempts_cut)
            );
        }
        if self.retry_budget_cut > 0 {
            s += &format!(
                "; retries stopped by retry_budget_pct: {}",
                group(self.retry_budget_cut)
            );
        }
        s += "\n";
        if rc.simulated {
            s += &format!(
                "response cache: simulated (content identity in the data); {} requests matched a [[cache]] rule, {} hits ({:.1}%), {} avoided\n",
                group(rc.eligible),
                group(rc.hits),
                self.response_hit_rate() * 100.0,
                money(rc.avoided_nanos)
            );
        } else {
            s += "response cache: not simulated (the data has no content identity)\n";
        }
        if pc.simulated {
            s += &format!(
                "prompt cache: simulated ({}); {} requests matched a [[prompt_cache]] rule, {} got a cache point, {} read a cached prefix; {:.1}% of their prompt tokens read from cache\n",
                if pc.from_blocks { "block hashes" } else { "system prompts" },
                group(pc.eligible),
                group(pc.with_point),
                group(pc.reading),
                ratio(pc.read_tokens as f64, pc.input_tokens as f64) * 100.0
            );
        } else {
            s += "prompt cache: not simulated (the data has no prefix block hashes and no system prompts with `system_tokens`)\n";
        }
        if self.price_errors > 0 {
            s += &format!(
                "{} requests used a component without a price (priced as input)\n",
                group(self.price_errors)
            );
        }
        for (title, rows) in [
            ("rule", &self.by_rule),
            ("feature", &self.by_feature),
            ("model", &self.by_model),
        ] {
            s += &format!(
                "\nby {title:<20} {:>14} {:>15} {:>15} {:>8}\n",
                "requests", "baseline", "projected", "saving"
            );
            for r in rows {
                s += &format!(
                    "  {:<21} {:>14} {:>15} {:>15} {:>7.1}%\n",
                    r.name,
                    group(r.requests),
                    money(r.baseline_nanos),
                    money(r.projected_nanos),
                    savings_pct(r.baseline_nanos, r.projected_nanos)
                );
            }
        }
        for n in &self.notes {
            s += &format!("note: {n}\n");
        }
        s
    }
}

/// Policy A against policy B on the same traffic.
pub fn diff_json(a: &Report, b: &Report) -> Value {
    json!({
        "policy": b.policy,
        "projected_usd": usd(b.projected_nanos),
        "projected_nanos": u64::try_from(b.projected_nanos).unwrap_or(u64::MAX),
        "savings_pct": b.savings_pct(),
        "delta_usd": (b.projected_nanos as f64 - a.projected_nanos as f64) / 1e9,
        "delta_nanos": i128::try_from(b.projected_nanos).unwrap_or(i128::MAX) as f64 - a.projected_nanos as f64,
        "a_vs_b_pct": savings_pct(b.projected_nanos, a.projected_nanos),
    })
}

/// Policy A against policy B, as text.
pub fn diff_text(a: &Report, b: &Report) -> String {
    format!(
        "diff: `{}` projects {} ({:.1}% saving), `{}` projects {} ({:.1}% saving); A - B = {}\n",
        a.policy,
        money(a.projected_nanos),
        a.savings_pct(),
        b.policy,
        money(b.projected_nanos),
        b.savings_pct(),
        money_difference(a.projected_nanos, b.projected_nanos)
    )
}

/// `a - b` in dollars, with its sign: `$0.01`, `-$0.01`.
fn money_difference(a: u128, b: u128) -> String {
    if a >= b {
        money(a - b)
    } else {
        format!("-{}", money(b - a))
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

pub(crate) fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn money(nanos: u128) -> String {
    let cents = (nanos + 5_000_000) / 10_000_000;
    format!(
        "${}.{:02}",
        group(u64::try_from(cents / 100).unwrap_or(u64::MAX)),
        cents % 100
    )
}

fn money_signed(base: u128, projected: u128) -> String {
    if projected <= base {
        format!("saves {}", money(base - projected))
    } else {
        format!("costs {} more", money(projected - base))
    }
}
