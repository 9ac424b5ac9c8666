//! One model's prices and planning facts ([`Prices`]), the service tiers
//! and latency options ([`Tier`], [`Latency`]) and the request sites that
//! take cache points ([`CacheSites`]).

use super::money::PicosPerToken;

/// The long-context tier: above the threshold, other prices apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongContext {
    /// Input tokens above which the tier applies.
    pub threshold_tokens: u64,
    /// Input price in the tier.
    pub input: PicosPerToken,
    /// Output price in the tier.
    pub output: PicosPerToken,
}

/// The input and output prices of a service tier or latency option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPrices {
    /// Uncached input.
    pub input: PicosPerToken,
    /// Output.
    pub output: PicosPerToken,
}

/// A Bedrock service tier (`serviceTier.type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Standard on-demand (`default`).
    #[default]
    Default,
    /// Discounted, served after the other tiers.
    Flex,
    /// At a premium, served first.
    Priority,
    /// Reserved capacity: no public per-token price.
    Reserved,
}

impl Tier {
    /// Every tier, in Bedrock's order of cost.
    pub const ALL: [Tier; 4] = [Tier::Default, Tier::Flex, Tier::Priority, Tier::Reserved];

    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Default => "default",
            Tier::Flex => "flex",
            Tier::Priority => "priority",
            Tier::Reserved => "reserved",
        }
    }

    /// The tier of an API name (`standard` is accepted for `default`).
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "default" | "standard" => Some(Tier::Default),
            "flex" => Some(Tier::Flex),
            "priority" => Some(Tier::Priority),
            "reserved" => Some(Tier::Reserved),
            _ => None,
        }
    }
}

/// Bedrock's latency option (`performanceConfig.latency`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Latency {
    /// Standard inference (`standard`).
    #[default]
    Standard,
    /// Latency-optimized inference (`optimized`), where the model offers it.
    Optimized,
}

impl Latency {
    /// Both options.
    pub const ALL: [Latency; 2] = [Latency::Standard, Latency::Optimized];

    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            Latency::Standard => "standard",
            Latency::Optimized => "optimized",
        }
    }

    /// The option of an API name.
    pub fn parse(s: &str) -> Option<Latency> {
        match s {
            "standard" => Some(Latency::Standard),
            "optimized" => Some(Latency::Optimized),
            _ => None,
        }
    }
}

/// Where a request may place prompt-cache points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheSites {
    /// In the system prompt.
    pub system: bool,
    /// In messages.
    pub messages: bool,
    /// After tool definitions.
    pub tools: bool,
}

impl CacheSites {
    /// Every site.
    pub const ALL: CacheSites = CacheSites {
        system: true,
        messages: true,
        tools: true,
    };

    /// Whether no site takes a cache point.
    pub fn is_empty(self) -> bool {
        !(self.system || self.messages || self.tools)
    }

    /// The site names, in request order.
    pub fn names(self) -> Vec<&'static str> {
        [
            ("system", self.system),
            ("messages", self.messages),
            ("tools", self.tools),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect()
    }
}

/// One model's prices and facts, in pico-dollars per token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prices {
    /// Uncached input.
    pub input: PicosPerToken,
    /// Output.
    pub output: PicosPerToken,
    /// Cache write with the 5-minute TTL.
    pub cache_write_5m: Option<PicosPerToken>,
    /// Cache write with the 1-hour TTL.
    pub cache_write_1h: Option<PicosPerToken>,
    /// Cache read.
    pub cache_read: Option<PicosPerToken>,
    /// Batch input.
    pub batch_input: Option<PicosPerToken>,
    /// Batch output.
    pub batch_output: Option<PicosPerToken>,
    /// Minimum prefix for a prompt-cache point.
    pub prompt_cache_min_tokens: Option<u32>,
    /// Long-context tier.
    pub long_context: Option<LongContext>,
    /// The flex service tier's prices, when offered.
    pub flex: Option<TierPrices>,
    /// The priority service tier's prices, when offered.
    pub priority: Option<TierPrices>,
    /// The reserved tier's prices: never public, only from a user's table.
    pub reserved: Option<TierPrices>,
    /// Latency-optimized inference prices, when offered.
    pub latency_optimized: Option<TierPrices>,
    /// The most output tokens a call may produce.
    pub max_output_tokens: Option<u32>,
    /// Input plus output tokens the model accepts.
    pub context_window: Option<u32>,
    /// Where requests may place cache points (empty: no prompt caching).
    pub cache_sites: CacheSites,
    /// Where the prices come from (shared: pricing a call clones `Prices`
    /// without allocating).
    pub source: Option<std::sync::Arc<str>>,
    /// When they were read.
    pub as_of: Option<std::sync::Arc<str>>,
    /// Some figure of the entry is confirmed by no source (`verified = false`).
    pub unverified: bool,
}

impl Prices {
    /// The most output tokens a call may produce.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_output_tokens
    }

    /// Input plus output tokens the model accepts.
    pub fn context_window(&self) -> Option<u32> {
        self.context_window
    }

    /// The smallest prefix a prompt-cache checkpoint accepts.
    pub fn cache_min_tokens(&self) -> Option<u32> {
        self.prompt_cache_min_tokens
    }

    /// Where requests may place cache points.
    pub fn cache_sites(&self) -> CacheSites {
        self.cache_sites
    }

    /// Whether the 5-minute and the 1-hour cache TTLs are offered.
    pub fn cache_ttls(&self) -> (bool, bool) {
        (self.cache_write_5m.is_some(), self.cache_write_1h.is_some())
    }

    /// Whether batch inference is offered (both batch prices are known).
    pub fn batch_available(&self) -> bool {
        self.batch_input.is_some() && self.batch_output.is_some()
    }

    /// The tiers a call may be billed at: `default` plus each tier with prices.
    pub fn tiers_offered(&self) -> Vec<Tier> {
        Tier::ALL
            .into_iter()
            .filter(|&t| t == Tier::Default || self.tier_prices(t).is_some())
            .collect()
    }

    /// Whether a call may ask for `tier` (`serviceTier`): `default`
    /// always; another tier when this entry prices it.
    pub fn offers_tier(&self, tier: Tier) -> bool {
        tier == Tier::Default || self.tier_prices(tier).is_some()
    }

    /// Whether a call may ask for `latency` (`performanceConfig`):
    /// `standard` always; `optimized` when this entry prices it.
    pub fn offers_latency(&self, latency: Latency) -> bool {
        latency == Latency::Standard || self.latency_optimized.is_some()
    }

    /// The prices of a non-default tier.
    pub fn tier_prices(&self, tier: Tier) -> Option<TierPrices> {
        match tier {
            Tier::Default => Some(TierPrices {
                input: self.input,
                output: self.output,
            }),
            Tier::Flex => self.flex,
            Tier::Priority => self.priority,
            Tier::Reserved => self.reserved,
        }
    }

    /// The output tokens a budget reserves for a call capped at `cap`: the
    /// smaller of the cap and the model's maximum output; without a cap, the
    /// maximum output, else the context window (an entry with neither: `None`).
    pub fn reserve_output_tokens(&self, cap: Option<u32>) -> Option<u32> {
        let model_max = self.max_output_tokens.or(self.context_window);
        match (cap, model_max) {
            (Some(c), Some(m)) => Some(c.min(m)),
            (Some(c), None) => Some(c),
            (None, m) => m,
        }
    }

    /// These prices as billed at `tier`: the tier's input and output prices;
    /// cache and long-context prices scaled by the tier's ratio to the
    /// default prices (half up); batch prices unchanged.
    pub fn at_tier(&self, tier: Tier) -> Option<Prices> {
        if tier == Tier::Default {
            return Some(self.clone());
        }
        let t = self.tier_prices(tier)?;
        Some(self.with_rates(t))
    }

    /// These prices with latency-optimized inference (`None` when not offered).
    pub fn at_latency_optimized(&self) -> Option<Prices> {
        self.latency_optimized.map(|t| self.with_rates(t))
    }

    fn with_rates(&self, t: TierPrices) -> Prices {
        let (base_in, base_out) = (self.input.picos(), self.output.picos());
        let up_in = |p: PicosPerToken| p.scale(t.input.picos(), base_in);
        let up_out = |p: PicosPerToken| p.scale(t.output.picos(), base_out);
        Prices {
            input: t.input,
            output: t.output,
            cache_write_5m: self.cache_write_5m.map(up_in),
            cache_write_1h: self.cache_write_1h.map(up_in),
            cache_read: self.cache_read.map(up_in),
            long_context: self.long_context.as_ref().map(|lc| LongContext {
                threshold_tokens: lc.threshold_tokens,
                input: up_in(lc.input),
                output: up_out(lc.output),
            }),
            ..self.clone()
        }
    }

    /// Every price raised by `pct` percent, each rounded half up.
    pub(super) fn raised(&self, pct: u32) -> Prices {
        if pct == 0 {
            return self.clone();
        }
        let up = |p: PicosPerToken| p.raised_pct(pct);
        let tier = |t: TierPrices| TierPrices {
            input: up(t.input),
            output: up(t.output),
        };
        Prices {
            input: up(self.input),
            output: up(self.output),
            cache_write_5m: self.cache_write_5m.map(up),
            cache_write_1h: self.cache_write_1h.map(up),
            cache_read: self.cache_read.map(up),
            batch_input: self.batch_input.map(up),
            batch_output: self.batch_output.map(up),
            long_context: self.long_context.as_ref().map(|lc| LongContext {
                threshold_tokens: lc.threshold_tokens,
                input: up(lc.input),
                output: up(lc.output),
            }),
            flex: self.flex.map(tier),
            priority: self.priority.map(tier),
            reserved: self.reserved.map(tier),
            latency_optimized: self.latency_optimized.map(tier),
            ..self.clone()
        }
    }
}
