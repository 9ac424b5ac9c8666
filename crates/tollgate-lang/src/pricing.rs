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

mod error;
pub mod money;
mod parse;
mod prices;
pub mod region;

use crate::diag::did_you_mean;
pub use error::{LookupError, PriceError};
pub use money::{picos_to_nanos_half_up, PicosPerToken, MAX_USD_PER_MTOK};
pub use prices::{CacheSites, Latency, LongContext, Prices, Tier, TierPrices};
pub use region::{DEFAULT_REGION, PROFILE_PREFIXES};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The price table compiled into the binary: `rules/pricing/bedrock.toml`, read through the crate's `pricing/bedrock.toml` link so a packaged crate carries it.
pub const BUILTIN_TOML: &str = include_str!("../pricing/bedrock.toml");

/// The largest accepted `profile_markup_pct`.
pub const MAX_PROFILE_MARKUP_PCT: u32 = 1000;

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
