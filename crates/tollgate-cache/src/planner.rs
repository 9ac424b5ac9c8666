//! The prompt-cache planner: where Bedrock cache points go, and whether
//! they pay.
//!
//! Bedrock reads a prompt in the order tools -> system -> messages and
//! caches the prefix that ends at a cache point. A `[[prompt_cache]]` rule
//! names the sites that may get a point; the planner places one at the end
//! of each named site (at most [`MAX_CACHE_POINTS`], Bedrock's limit) when
//! both tests pass:
//!
//! 1. **Minimum.** The cached prefix (every token before the point) reaches
//!    the model's minimum: its `prompt_cache_min_tokens` (policy model, else
//!    price table, else [`PlannerConfig::default_min_tokens`]). Bedrock
//!    ignores a shorter point, so it would be a wasted slot.
//! 2. **Money.** For the `Δ` tokens a point adds beyond the previous
//!    point, writing costs `Δ·(write − input)` more than sending them
//!    uncached, once per write, and every reuse reads them for
//!    `Δ·(input − read)` less. With `r` reads expected per write, the point
//!    pays when
//!
//!    ```text
//!    r · (input − read) > write − input        (prices per token, nano-dollars)
//!    break-even r* = (write − input) / (input − read)
//!    ```
//!
//!    `write` is the model's 5-minute or 1-hour cache-write price (the
//!    rule's TTL), `read` its cache-read price, `input` its input price, all
//!    from [`Prices`](tollgate_lang::Prices) (Claude list prices
//!    give r* = 0.25/0.9 = 0.28 for 5 minutes and 1/0.9 = 1.11 for 1 hour;
//!    Nova, which charges no write premium, pays at any r > 0). `Δ` cancels,
//!    so the test is one verdict per rule and model; each placed point
//!    reports its own premium and expected saving in nano-dollars.
//!
//! **Expected reuse** `r` is learnt per (rule, model) from what Bedrock
//! reports after each call ([`PromptCachePlanner::observe`]): cache-read
//! tokens over cache-write tokens, a token-weighted count of reads per
//! write. Before there is history, the rule's `expected_reuse` (else
//! [`PlannerConfig::default_expected_reuse`]) stands in, as a prior worth
//! [`PlannerConfig::prior_weight_tokens`] written tokens:
//!
//! ```text
//! r = (read_tokens + prior · W0) / (write_tokens + W0)
//! ```
//!
//! "Recent": both sums are halved whenever `write_tokens` passes
//! [`PlannerConfig::window_write_tokens`]. A rule that stops paying stops
//! getting points, and then stops producing evidence; so every
//! [`PlannerConfig::probe_every`]-th losing plan places its points anyway
//! (`Plan::probe`), which keeps the estimate honest if traffic changes.

use crate::entry::Usage;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use tollgate_engine::Decision;
use tollgate_lang::{CachePointSite, Model, Policy, PromptCache};

/// Bedrock's limit of cache points per request.
pub const MAX_CACHE_POINTS: usize = 4;

/// Minimum prefix assumed for a model that declares none (Bedrock's
/// smallest documented minimum).
pub const DEFAULT_MIN_TOKENS: u32 = 1024;

/// Sites in prompt order.
const ORDER: [CachePointSite; 3] = [
    CachePointSite::Tools,
    CachePointSite::System,
    CachePointSite::Messages,
];

/// Token counts of a request's prompt, per site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segments {
    /// Tool definitions.
    pub tools: u32,
    /// System prompt.
    pub system: u32,
    /// The conversation so far.
    pub messages: u32,
}

impl Segments {
    fn of(&self, s: CachePointSite) -> u64 {
        u64::from(match s {
            CachePointSite::Tools => self.tools,
            CachePointSite::System => self.system,
            CachePointSite::Messages => self.messages,
        })
    }
}

/// Bedrock's two prompt-cache lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptTtl {
    /// `5m`, the default.
    FiveMinutes,
    /// `1h`.
    OneHour,
}

impl PromptTtl {
    /// From a rule's `ttl_s` (3600 and above: one hour; else five minutes).
    pub fn from_secs(s: u64) -> PromptTtl {
        if s >= 3600 {
            PromptTtl::OneHour
        } else {
            PromptTtl::FiveMinutes
        }
    }

    /// Seconds.
    pub fn secs(self) -> u64 {
        match self {
            PromptTtl::FiveMinutes => 300,
            PromptTtl::OneHour => 3600,
        }
    }

    /// The value Bedrock's `cachePoint.ttl` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptTtl::FiveMinutes => "5m",
            PromptTtl::OneHour => "1h",
        }
    }
}

/// A placed cache point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// After this site.
    pub site: CachePointSite,
    /// Tokens before the point (the cached prefix).
    pub prefix_tokens: u64,
    /// Tokens this point adds beyond the previous one (`Δ`).
    pub new_tokens: u64,
    /// Extra cost of writing them once, nano-dollars: `Δ·(write − input)`.
    pub write_premium_nanos: i64,
    /// Expected saving from reuse per write, nano-dollars:
    /// `r·Δ·(input − read)`.
    pub expected_saving_nanos: f64,
}

/// Why a named site got no point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SkipReason {
    /// The site adds no tokens beyond the previous point.
    Empty,
    /// The prefix is shorter than the model's minimum.
    BelowMinimum {
        /// Tokens before the point.
        prefix_tokens: u64,
        /// The model's minimum.
        min_tokens: u32,
    },
    /// Expected reuse does not beat the write premium.
    LosesMoney,
    /// The model has no prompt-cache prices for the rule's TTL.
    NoCachePrices,
    /// Bedrock's four points are used.
    TooMany,
}

/// A named site without a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Skipped {
    /// The site.
    pub site: CachePointSite,
    /// Why.
    pub reason: SkipReason,
}

/// Where the reuse estimate came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Economics {
    /// Input price, nano-dollars per token.
    pub input_nanos: u64,
    /// Cache-write price for the TTL.
    pub write_nanos: u64,
    /// Cache-read price.
    pub read_nanos: u64,
    /// `r`: expected reads per write.
    pub expected_reuse: f64,
    /// `r*`: the reuse at which a point breaks even (infinite when reads
    /// save nothing).
    pub break_even_reuse: f64,
    /// Cache-read tokens observed for this rule and model (decayed).
    pub observed_read_tokens: u64,
    /// Cache-write tokens observed (decayed).
    pub observed_write_tokens: u64,
}

/// The planner's answer for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Points, in prompt order.
    pub points: Vec<Point>,
    /// Named sites that got none, in prompt order.
    pub skipped: Vec<Skipped>,
    /// The points' TTL.
    pub ttl: PromptTtl,
    /// The prices and reuse behind the verdict (`None` without cache prices).
    pub economics: Option<Economics>,
    /// Points placed although they lose money, to keep measuring reuse.
    pub probe: bool,
}

/// Settings of a [`PromptCachePlanner`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannerConfig {
    /// Reuse assumed for a rule without `expected_reuse`, before history.
    pub default_expected_reuse: f64,
    /// Weight of the prior, in written tokens (`W0`).
    pub prior_weight_tokens: u64,
    /// Observed sums halve when written tokens pass this.
    pub window_write_tokens: u64,
    /// Every n-th losing plan places its points anyway; 0 = never.
    pub probe_every: u32,
    /// Minimum prefix for a model that declares none.
    pub default_min_tokens: u32,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            default_expected_reuse: 2.0,
            prior_weight_tokens: 50_000,
            window_write_tokens: 20_000_000,
            probe_every: 20,
            default_min_tokens: DEFAULT_MIN_TOKENS,
        }
    }
}

/// Reuse history by (rule name, model id).
type HistoryMap = HashMap<(String, String), Arc<Mutex<History>>>;

#[derive(Default)]
struct History {
    read_tokens: u64,
    write_tokens: u64,
    losing_plans: u64,
}

/// Places prompt-cache points and learns reuse per (rule, model).
#[derive(Default)]
pub struct PromptCachePlanner {
    cfg: PlannerConfig,
    history: RwLock<HistoryMap>,
}

impl PromptCachePlanner {
    /// A planner without history.
    pub fn new(cfg: PlannerConfig) -> PromptCachePlanner {
        PromptCachePlanner {
            cfg,
            history: RwLock::new(HashMap::new()),
        }
    }

    fn history(&self, rule: &str, model_id: &str) -> Arc<Mutex<History>> {
        let key = (rule.to_string(), model_id.to_string());
        if let Some(h) = self.history.read().get(&key) {
            return Arc::clone(h);
        }
        Arc::clone(self.history.write().entry(key).or_default())
    }

    /// Records what Bedrock reported for a call planned under `rule`.
    pub fn observe(&self, rule: &str, model_id: &str, usage: &Usage) {
        if usage.cache_read == 0 && usage.cache_write == 0 {
            return;
        }
        let h = self.history(rule, model_id);
        let mut h = h.lock();
        h.read_tokens = h.read_tokens.saturating_add(usage.cache_read);
        h.write_tokens = h.write_tokens.saturating_add(usage.cache_write);
        if h.write_tokens > self.cfg.window_write_tokens {
            h.read_tokens /= 2;
            h.write_tokens /= 2;
        }
    }

    /// Plans the points of the `[[prompt_cache]]` rule a decision chose
    /// (`None` when none matched).
    pub fn plan_decision(&self, policy: &Policy, d: &Decision, segments: Segments) -> Option<Plan> {
        let rule = policy.prompt_caches.get(d.prompt_cache?.index())?;
        let model = policy.model(d.model)?;
        Some(self.plan(&rule.name, &rule.then, model, segments))
    }

    /// Plans the points of one rule for one request on one model.
    pub fn plan(
        &self,
        rule_name: &str,
        rule: &PromptCache,
        model: &Model,
        segments: Segments,
    ) -> Plan {
        let ttl = PromptTtl::from_secs(rule.ttl_s);
        let p = &model.prices;
        let write = match ttl {
            PromptTtl::FiveMinutes => p.cache_write_5m,
            PromptTtl::OneHour => p.cache_write_1h,
        };
        let named = |s: CachePointSite| rule.points.contains(&s);
        // Economics in nano-dollars per token, rounded to the nearest (an estimate).
        let (Some(write), Some(read)) = (
            write.map(|w| w.nanos_rounded()),
            p.cache_read.map(|r| r.nanos_rounded()),
        ) else {
            let skipped = ORDER
                .into_iter()
                .filter(|s| named(*s))
                .map(|site| Skipped {
                    site,
                    reason: SkipReason::NoCachePrices,
                })
                .collect();
            return Plan {
                points: Vec::new(),
                skipped,
                ttl,
                economics: None,
                probe: false,
            };
        };
        let input = p.input.nanos_rounded();
        let hist = self.history(rule_name, &model.id);
        let prior = rule
            .expected_reuse
            .unwrap_or(self.cfg.default_expected_reuse);
        let prior = if prior.is_finite() {
            prior.max(0.0)
        } else {
            0.0
        };
        let (reuse, pays, obs_read, obs_write, probe) = {
            let mut h = hist.lock();
            let w0 = self.cfg.prior_weight_tokens as f64;
            let denom = h.write_tokens as f64 + w0;
            let reuse = if denom > 0.0 {
                (h.read_tokens as f64 + prior * w0) / denom
            } else {
                prior
            };
            let pays = pays(reuse, input, write, read);
            let probe = !pays && {
                h.losing_plans = h.losing_plans.wrapping_add(1);
                self.cfg.probe_every > 0
                    && h.losing_plans
                        .is_multiple_of(u64::from(self.cfg.probe_every))
            };
            (reuse, pays, h.read_tokens, h.write_tokens, probe)
        };
        let saving_per_token = input as f64 - read as f64;
        let premium_per_token = write as f64 - input as f64;
        let economics = Economics {
            input_nanos: input,
            write_nanos: write,
            read_nanos: read,
            expected_reuse: reuse,
            break_even_reuse: if saving_per_token > 0.0 {
                premium_per_token / saving_per_token
            } else {
                f64::INFINITY
            },
            observed_read_tokens: obs_read,
            observed_write_tokens: obs_write,
        };
        let min = model
            .prompt_cache_min_tokens
            .or(p.prompt_cache_min_tokens)
            .unwrap_or(self.cfg.default_min_tokens);
        let mut points = Vec::new();
        let mut skipped = Vec::new();
        let (mut prefix, mut last) = (0u64, 0u64);
        for site in ORDER {
            prefix += segments.of(site);
            if !named(site) {
                continue;
            }
            let delta = prefix - last;
            let reason = if delta == 0 {
                Some(SkipReason::Empty)
            } else if prefix < u64::from(min) {
                Some(SkipReason::BelowMinimum {
                    prefix_tokens: prefix,
                    min_tokens: min,
                })
            } else if !pays && !probe {
                Some(SkipReason::LosesMoney)
            } else if points.len() >= MAX_CACHE_POINTS {
                Some(SkipReason::TooMany)
            } else {
                None
            };
            if let Some(reason) = reason {
                skipped.push(Skipped { site, reason });
                continue;
            }
            let d = i64::try_from(delta).unwrap_or(i64::MAX);
            let diff =
                i64::try_from(write).unwrap_or(i64::MAX) - i64::try_from(input).unwrap_or(i64::MAX);
            points.push(Point {
                site,
                prefix_tokens: prefix,
                new_tokens: delta,
                write_premium_nanos: d.saturating_mul(diff),
                expected_saving_nanos: reuse * delta as f64 * saving_per_token,
            });
            last = prefix;
        }
        Plan {
            points,
            skipped,
            ttl,
            economics: Some(economics),
            probe,
        }
    }
}

/// The money test: `r·(input − read) > write − input`.
fn pays(reuse: f64, input: u64, write: u64, read: u64) -> bool {
    reuse * (input as f64 - read as f64) > write as f64 - input as f64
}
