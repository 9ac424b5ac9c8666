//! The Bedrock price table: its format, the built-in copy and lookups.
//!
//! Prices are written in USD per million tokens with at most six decimals
//! and held as integer pico-dollars (1e-12 USD) per token
//! ([`PicosPerToken`]), so that `tokens x price` is exact; see
//! [`money`] for why. A price with a seventh decimal is refused, never
//! rounded, so the table cannot quietly disagree with itself.
//!
//! Beside the prices, each entry holds the model facts a gateway needs to
//! plan a call: maximum output tokens, context window, prompt-cache minimum
//! per checkpoint, the request sites that take cache points, the TTLs
//! offered, batch availability, the service tiers offered with their prices,
//! latency-optimized prices, and the long-context tier.
//!
//! Prices differ by source region (Bedrock bills a call at the rate of the
//! region the client called) and by service tier. [`PriceTable::resolve`]
//! takes both; [`PriceTable::lookup`] is the region-less shortcut that
//! prices a profile at its home region ([`region::home_region`]).
//!
//! The table format is documented at the top of `rules/pricing/bedrock.toml`.
//! It is read as a generic TOML table and checked key by key (rather than
//! deserialized with serde) so that every error names the model id and key.

pub mod money;
mod parse;
pub mod region;

use crate::diag::did_you_mean;
pub use money::{picos_to_nanos_half_up, PicosPerToken, MAX_USD_PER_MTOK};
pub use region::{DEFAULT_REGION, PROFILE_PREFIXES};
use std::collections::HashMap;
use std::sync::OnceLock;

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
    fn raised(&self, pct: u32) -> Prices {
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

/// The price table compiled into the binary: `rules/pricing/bedrock.toml`, read through the crate's `pricing/bedrock.toml` link so a packaged crate carries it.
pub const BUILTIN_TOML: &str = include_str!("../pricing/bedrock.toml");

/// The largest accepted `profile_markup_pct`.
pub const MAX_PROFILE_MARKUP_PCT: u32 = 1000;

/// A price or price table that was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    /// A price is NaN or infinite.
    #[error("price `{value}` is not a finite number")]
    NotFinite {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// A price is below zero.
    #[error("price `{value}` is negative")]
    Negative {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// A price is above [`MAX_USD_PER_MTOK`].
    #[error("price `{value}` is above the ceiling of 1000000 USD per million tokens")]
    TooLarge {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// A price has more than six decimals, so it is not a whole number of
    /// pico-dollars per token.
    #[error("price `{value}` has more than six decimals (USD per million tokens)")]
    TooPrecise {
        /// The price, USD per million tokens.
        value: f64,
    },
    /// The text is not valid TOML.
    #[error("invalid price table at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column in characters, 0 when unknown.
        column: usize,
        /// The TOML parser's message.
        message: String,
    },
    /// A top-level key other than `models`.
    #[error(
        "unknown top-level key `{key}` in the price table (expected `[models.\"ID\"]` tables)"
    )]
    UnknownTopLevelKey {
        /// The key.
        key: String,
    },
    /// `models`, or one model, is not a table.
    #[error("`{what}` must be a table")]
    NotATable {
        /// `models` or `models."ID"`.
        what: String,
    },
    /// A model table holds a key the format does not know.
    #[error("unknown key `{key}` in model `{model}`{}", help_suffix(.help))]
    UnknownKey {
        /// Model id.
        model: String,
        /// The unknown key.
        key: String,
        /// "did you mean `x`?" when a known key is close.
        help: Option<String>,
    },
    /// A required key is missing.
    #[error("model `{model}` lacks `{key}`")]
    MissingKey {
        /// Model id.
        model: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key holds a value of the wrong type.
    #[error("`{key}` of model `{model}` must be {expected}, not {found}")]
    WrongType {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// What the key takes.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A price key holds a price that cannot be used.
    #[error("`{key}` of model `{model}`: {reason}")]
    InvalidPrice {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// Why the price was refused.
        reason: Box<PriceError>,
    },
    /// An integer key is out of its range.
    #[error("`{key}` of model `{model}` is `{value}`, outside {min}..={max}")]
    OutOfRange {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// The value found.
        value: i64,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// Some but not all of the long-context keys are given.
    #[error("model `{model}` gives `{given}` without `{missing}` (the long-context tier needs all three keys)")]
    IncompleteLongContext {
        /// Model id.
        model: String,
        /// A key that is present.
        given: &'static str,
        /// A key that is absent.
        missing: &'static str,
    },
    /// A tier's input price without its output price, or the reverse.
    #[error("model `{model}` gives `{given}` without `{missing}` (a tier needs both prices)")]
    IncompleteTier {
        /// Model id.
        model: String,
        /// The key that is present.
        given: &'static str,
        /// The key that is absent.
        missing: &'static str,
    },
    /// A list value is not one of the accepted words.
    #[error("`{key}` of model `{model}` holds `{value}`, expected {expected}")]
    BadListValue {
        /// Model id.
        model: String,
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// What the list takes.
        expected: &'static str,
    },
    /// A `[[models."ID".regional]]` block does not price the same things as
    /// the model's own prices.
    #[error("regional prices for `{regions}` of model `{model}` {} `{key}`, which the model's own prices {}", if *.has { "give" } else { "lack" }, if *.has { "do not" } else { "give" })]
    RegionalKeysDiffer {
        /// Model id.
        model: String,
        /// The block's regions, comma-separated.
        regions: String,
        /// The key.
        key: &'static str,
        /// Whether the block has the key (and the model not).
        has: bool,
    },
    /// A region is priced twice in one model.
    #[error("model `{model}` prices region `{region}` twice")]
    DuplicateRegion {
        /// Model id.
        model: String,
        /// The region or pattern.
        region: String,
    },
}

fn help_suffix(help: &Option<String>) -> String {
    help.as_ref()
        .map_or_else(String::new, |h| format!(" ({h})"))
}

/// Why a model id has no price for a region and tier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The id names no model of the table.
    #[error("unknown model id `{id}`{}", help_suffix(.help))]
    UnknownModel {
        /// The id as given.
        id: String,
        /// "did you mean `x`?" when a known id is close.
        help: Option<String>,
    },
    /// A geographic profile called from a region outside its geography.
    #[error(
        "profile `{prefix}` cannot be called from `{region}`: it takes calls from {geography}"
    )]
    WrongGeography {
        /// The profile prefix.
        prefix: &'static str,
        /// The region asked for.
        region: String,
        /// The regions the profile accepts.
        geography: &'static str,
    },
    /// The model has no price for the region.
    #[error("model `{id}` has no price in `{region}` (priced in: {priced})")]
    NoRegionPrice {
        /// The base model id.
        id: String,
        /// The region asked for.
        region: String,
        /// The regions it is priced in.
        priced: String,
    },
    /// The model has no latency-optimized price.
    #[error("model `{id}` has no latency-optimized price")]
    NoLatencyOptimized {
        /// The model id.
        id: String,
    },
    /// The model does not offer the tier (or, for `reserved`, has no price).
    #[error("model `{id}` has no `{}` tier price (offered: {offered})", .tier.name())]
    TierNotOffered {
        /// The base model id.
        id: String,
        /// The tier asked for.
        tier: Tier,
        /// The tiers it offers.
        offered: String,
    },
}

/// Prices that differ in some source regions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Regional {
    /// Region names or `prefix-*` patterns.
    regions: Vec<String>,
    prices: Prices,
    /// Overrides the model's `profile_markup_pct` in these regions.
    profile_markup_pct: Option<u32>,
}

/// One model's row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: String,
    prices: Prices,
    /// The regions the model's own prices cover; `None`: every commercial
    /// region no regional block names.
    regions: Option<Vec<String>>,
    regional: Vec<Regional>,
    profile_markup_pct: u32,
}

impl Entry {
    /// The prices of a source region and the markup a geographic profile adds there.
    fn in_region(&self, region: &str) -> Option<(&Prices, u32)> {
        let best = self
            .regional
            .iter()
            .filter_map(|r| {
                let rank = r
                    .regions
                    .iter()
                    .filter_map(|p| region::pattern_rank(p, region))
                    .max()?;
                Some((rank, r))
            })
            .max_by_key(|(rank, _)| *rank);
        let own = match &self.regions {
            Some(list) => list
                .iter()
                .filter_map(|p| region::pattern_rank(p, region))
                .max(),
            None => (!region::is_govcloud(region)).then_some(0),
        };
        match (best, own) {
            (Some((rank, r)), own) if own.is_none_or(|o| rank > o) => Some((
                &r.prices,
                r.profile_markup_pct.unwrap_or(self.profile_markup_pct),
            )),
            (_, Some(_)) => Some((&self.prices, self.profile_markup_pct)),
            _ => None,
        }
    }

    fn priced_regions(&self) -> String {
        let mut list: Vec<&str> = match &self.regions {
            Some(l) => l.iter().map(String::as_str).collect(),
            None => vec!["every commercial region"],
        };
        for r in &self.regional {
            list.extend(r.regions.iter().map(String::as_str));
        }
        list.join(", ")
    }
}

/// Bedrock prices by model id, in the order the table lists them.
///
/// Build one with [`PriceTable::parse`] or take the built-in copy with
/// [`PriceTable::builtin`]; [`PriceTable::resolve`] prices a model id as
/// Bedrock accepts it in a source region and tier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
}

impl PriceTable {
    /// Parses a price table in the format of `rules/pricing/bedrock.toml`.
    pub fn parse(text: &str) -> Result<PriceTable, PriceError> {
        let mut table = PriceTable::default();
        for entry in parse::entries(text)? {
            table.insert(entry);
        }
        Ok(table)
    }

    /// The built-in table (`rules/pricing/bedrock.toml`, compiled in), parsed
    /// once. Never panics: were the embedded file unparsable, this would be an
    /// empty table (a unit test proves it parses).
    pub fn builtin() -> &'static PriceTable {
        Self::builtin_arc()
    }

    /// The built-in table, shared: policies that use it hold this one copy.
    pub fn builtin_shared() -> std::sync::Arc<PriceTable> {
        std::sync::Arc::clone(Self::builtin_arc())
    }

    fn builtin_arc() -> &'static std::sync::Arc<PriceTable> {
        static BUILTIN: OnceLock<std::sync::Arc<PriceTable>> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            std::sync::Arc::new(PriceTable::parse(BUILTIN_TOML).unwrap_or_default())
        })
    }

    /// The prices a call with `model_id` is billed at from source region
    /// `region` in service tier `tier`.
    ///
    /// `model_id` is a base model id, a cross-region profile id (`us.ID`,
    /// `global.ID`, ...) or an ARN (`...:foundation-model/ID`,
    /// `...:inference-profile/PREFIX.ID`). Lookup order: the exact id (an
    /// override table may list a profile id), else the id without its
    /// profile prefix, whose geography must contain `region`; then the
    /// region's prices (an exact region beats a `prefix-*` pattern, which
    /// beats the model's own prices); then the model's regional-endpoint
    /// premium (`profile_markup_pct`) for a geographic prefix, never for
    /// `global.`; then the tier.
    pub fn resolve(&self, model_id: &str, region: &str, tier: Tier) -> Result<Prices, LookupError> {
        let id = region::strip_arn(model_id);
        let (prefix, entry) = match self.entry(id) {
            Some(e) => (None, e),
            None => {
                let found = region::split_profile_prefix(id)
                    .and_then(|(p, base)| self.entry(base).map(|e| (Some(p), e)));
                found.ok_or_else(|| LookupError::UnknownModel {
                    id: model_id.to_owned(),
                    help: did_you_mean(
                        region::split_profile_prefix(id).map_or(id, |(_, b)| b),
                        self.entries.iter().map(|e| e.id.as_str()),
                    ),
                })?
            }
        };
        if let Some(p) = prefix {
            if !region::in_geography(p, region) {
                return Err(LookupError::WrongGeography {
                    prefix: p,
                    region: region.to_owned(),
                    geography: region::geography_of(p),
                });
            }
        }
        let (prices, markup) =
            entry
                .in_region(region)
                .ok_or_else(|| LookupError::NoRegionPrice {
                    id: entry.id.clone(),
                    region: region.to_owned(),
                    priced: entry.priced_regions(),
                })?;
        let pct = match prefix {
            Some(p) if p != region::GLOBAL_PREFIX => markup,
            _ => 0,
        };
        let raised = prices.raised(pct);
        raised
            .at_tier(tier)
            .ok_or_else(|| LookupError::TierNotOffered {
                id: entry.id.clone(),
                tier,
                offered: raised
                    .tiers_offered()
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Default-tier prices for a model id at its home region: us-east-1, or
    /// for a geographic profile outside the US, that geography's first
    /// region ([`region::home_region`]). `None` when the model is unknown or
    /// not priced there.
    pub fn lookup(&self, model_id: &str) -> Option<Prices> {
        self.resolve(model_id, self.home_region(model_id), Tier::Default)
            .ok()
    }

    /// The region [`PriceTable::lookup`] prices `model_id` at: its inference
    /// profile's home region, or the default region.
    pub fn home_region(&self, model_id: &str) -> &'static str {
        let id = region::strip_arn(model_id);
        let prefix = match self.entry(id) {
            Some(_) => None,
            None => region::split_profile_prefix(id).map(|(p, _)| p),
        };
        region::home_region(prefix)
    }

    /// The table's own row for exactly `model_id`: no prefix stripping, no
    /// markup, the model's own (not regional) prices.
    pub fn get(&self, model_id: &str) -> Option<&Prices> {
        self.entry(model_id).map(|e| &e.prices)
    }

    /// The regional-profile markup in percent declared for exactly
    /// `model_id` (0 when none is declared); `None` when the id is absent.
    pub fn profile_markup_pct(&self, model_id: &str) -> Option<u32> {
        self.entry(model_id).map(|e| e.profile_markup_pct)
    }

    /// Every model id with its own prices, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Prices)> + '_ {
        self.entries.iter().map(|e| (e.id.as_str(), &e.prices))
    }

    /// Every model id with each of its regional price blocks (region
    /// patterns and prices), in table order.
    pub fn regional(&self, model_id: &str) -> Vec<(&[String], &Prices)> {
        self.entry(model_id).map_or_else(Vec::new, |e| {
            e.regional
                .iter()
                .map(|r| (r.regions.as_slice(), &r.prices))
                .collect()
        })
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no models.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lays `overrides` over this table: a model it lists replaces this
    /// table's row in place; a new model is appended.
    pub fn override_with(&mut self, overrides: PriceTable) {
        for entry in overrides.entries {
            self.insert(entry);
        }
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).and_then(|&i| self.entries.get(i))
    }

    fn insert(&mut self, entry: Entry) {
        match self
            .by_id
            .get(&entry.id)
            .and_then(|&i| self.entries.get_mut(i))
        {
            Some(slot) => *slot = entry,
            None => {
                self.by_id.insert(entry.id.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }
}

/// The prices a call to a policy model is billed at.
///
/// `own` are the model's prices in the loaded policy (its id's home-region
/// prices, or inline prices). A model priced from `table` is re-resolved
/// for `region` and `tier`; an inline-priced model (its prices differ from
/// the table's home-region row, or the table lacks its id) keeps its prices
/// in every region, and only its tier prices apply. `latency_optimized`
/// (the response's `performanceConfig`) then selects the latency-optimized
/// prices.
pub fn call_prices(
    table: &PriceTable,
    model_id: &str,
    own: &Prices,
    region: &str,
    tier: Tier,
    latency_optimized: bool,
) -> Result<Prices, LookupError> {
    // A policy model's own prices are its home region's, at the default
    // tier (looked up there, or inline): most calls need no lookup.
    if tier == Tier::Default && !latency_optimized && region == table.home_region(model_id) {
        return Ok(own.clone());
    }
    let from_table = table.lookup(model_id).as_ref() == Some(own);
    let p = if from_table {
        table.resolve(model_id, region, tier)?
    } else {
        own.at_tier(tier)
            .ok_or_else(|| LookupError::TierNotOffered {
                id: model_id.to_owned(),
                tier,
                offered: own
                    .tiers_offered()
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?
    };
    if !latency_optimized {
        return Ok(p);
    }
    p.at_latency_optimized()
        .ok_or_else(|| LookupError::NoLatencyOptimized {
            id: model_id.to_owned(),
        })
}

/// USD per million tokens -> pico-dollars per token, exactly (see
/// [`PicosPerToken::from_usd_per_mtok`]).
pub fn usd_per_mtok_to_picos(x: f64) -> Result<PicosPerToken, PriceError> {
    PicosPerToken::from_usd_per_mtok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses() {
        assert_eq!(PriceTable::parse(BUILTIN_TOML).err(), None);
        assert!(!PriceTable::builtin().is_empty());
    }

    #[test]
    fn markup_rounds_half_up() {
        let p = Prices {
            input: PicosPerToken::from_picos(5),
            output: PicosPerToken::from_picos(15),
            ..Prices::default()
        };
        let up = p.raised(10);
        // 5 * 1.1 = 5.5 -> 6; 15 * 1.1 = 16.5 -> 17.
        assert_eq!((up.input.picos(), up.output.picos()), (6, 17));
    }
}
