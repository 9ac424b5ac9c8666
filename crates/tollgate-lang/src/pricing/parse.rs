//! Reading the price-table TOML, key by key, so every error names the model
//! and the key.

use super::{
    region, CacheSites, Entry, LongContext, PicosPerToken, PriceError, Prices, Regional,
    TierPrices, MAX_PROFILE_MARKUP_PCT,
};
use crate::diag::did_you_mean;

const INPUT: &str = "input_per_mtok";
const OUTPUT: &str = "output_per_mtok";
const CACHE_WRITE_5M: &str = "cache_write_5m_per_mtok";
const CACHE_WRITE_1H: &str = "cache_write_1h_per_mtok";
const CACHE_READ: &str = "cache_read_per_mtok";
const BATCH_INPUT: &str = "batch_input_per_mtok";
const BATCH_OUTPUT: &str = "batch_output_per_mtok";
const LC_THRESHOLD: &str = "long_context_threshold_tokens";
const LC_INPUT: &str = "long_context_input_per_mtok";
const LC_OUTPUT: &str = "long_context_output_per_mtok";
const FLEX_INPUT: &str = "flex_input_per_mtok";
const FLEX_OUTPUT: &str = "flex_output_per_mtok";
const PRIORITY_INPUT: &str = "priority_input_per_mtok";
const PRIORITY_OUTPUT: &str = "priority_output_per_mtok";
const RESERVED_INPUT: &str = "reserved_input_per_mtok";
const RESERVED_OUTPUT: &str = "reserved_output_per_mtok";
const LATENCY_INPUT: &str = "latency_optimized_input_per_mtok";
const LATENCY_OUTPUT: &str = "latency_optimized_output_per_mtok";
const CACHE_MIN: &str = "prompt_cache_min_tokens";
const MAX_OUTPUT: &str = "max_output_tokens";
const CONTEXT_WINDOW: &str = "context_window";
const CACHE_SITES: &str = "cache_sites";
const REGIONS: &str = "regions";
const REGIONAL: &str = "regional";
const MARKUP: &str = "profile_markup_pct";
const SOURCE: &str = "source";
const AS_OF: &str = "as_of";
const VERIFIED: &str = "verified";

/// The price keys a regional block may give (and must give exactly when the
/// model's own prices give them), in table order.
pub(super) const PRICE_KEYS: &[&str] = &[
    INPUT,
    OUTPUT,
    CACHE_WRITE_5M,
    CACHE_WRITE_1H,
    CACHE_READ,
    BATCH_INPUT,
    BATCH_OUTPUT,
    LC_INPUT,
    LC_OUTPUT,
    FLEX_INPUT,
    FLEX_OUTPUT,
    PRIORITY_INPUT,
    PRIORITY_OUTPUT,
    RESERVED_INPUT,
    RESERVED_OUTPUT,
    LATENCY_INPUT,
    LATENCY_OUTPUT,
];

/// Price keys a regional block may leave out: not offered in its regions.
const OPTIONAL_IN_REGION: &[&str] = &[
    BATCH_INPUT,
    BATCH_OUTPUT,
    FLEX_INPUT,
    FLEX_OUTPUT,
    PRIORITY_INPUT,
    PRIORITY_OUTPUT,
    RESERVED_INPUT,
    RESERVED_OUTPUT,
    LATENCY_INPUT,
    LATENCY_OUTPUT,
];

/// Every key a model table may hold besides the price keys.
const FACT_KEYS: &[&str] = &[
    LC_THRESHOLD,
    CACHE_MIN,
    MAX_OUTPUT,
    CONTEXT_WINDOW,
    CACHE_SITES,
    REGIONS,
    REGIONAL,
    MARKUP,
    SOURCE,
    AS_OF,
    VERIFIED,
];

/// Keys a regional block may hold besides the price keys.
const REGIONAL_KEYS: &[&str] = &[REGIONS, MARKUP, SOURCE, AS_OF];

/// The entries of a price table, in file order.
pub(super) fn entries(text: &str) -> Result<Vec<Entry>, PriceError> {
    let root: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let mut out = Vec::new();
    for (key, value) in root {
        if key != "models" {
            return Err(PriceError::UnknownTopLevelKey { key });
        }
        let toml::Value::Table(models) = value else {
            return Err(PriceError::NotATable {
                what: "models".to_owned(),
            });
        };
        for (id, model) in models {
            let toml::Value::Table(model) = model else {
                return Err(PriceError::NotATable {
                    what: format!("models.\"{id}\""),
                });
            };
            out.push(parse_model(id, &model)?);
        }
    }
    Ok(out)
}

fn syntax_error(text: &str, e: &toml::de::Error) -> PriceError {
    let (line, column) =
        e.span()
            .and_then(|span| text.get(..span.start))
            .map_or((0, 0), |before| {
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
                (before.matches('\n').count() + 1, column)
            });
    PriceError::Syntax {
        line,
        column,
        message: e.message().trim_end().to_owned(),
    }
}

fn unknown_key(id: &str, t: &toml::Table, allowed: &[&[&str]]) -> Result<(), PriceError> {
    let known = || allowed.iter().flat_map(|k| k.iter().copied());
    match t.keys().find(|k| !known().any(|a| a == k.as_str())) {
        Some(key) => Err(PriceError::UnknownKey {
            help: did_you_mean(key, known()),
            model: id.to_owned(),
            key: key.clone(),
        }),
        None => Ok(()),
    }
}

/// One `[models."ID"]` table, checked.
fn parse_model(id: String, t: &toml::Table) -> Result<Entry, PriceError> {
    unknown_key(&id, t, &[PRICE_KEYS, FACT_KEYS])?;
    let m = ModelReader { id: &id, t };
    let threshold = m.int(LC_THRESHOLD, 1, i64::MAX)?;
    let mut prices = m.prices(threshold)?;
    // INVARIANT: `int` checked the ranges, so the casts are exact.
    let u32_key = |key| -> Result<Option<u32>, PriceError> {
        Ok(m.int(key, 1, i64::from(u32::MAX))?.map(|n| n as u32))
    };
    prices.prompt_cache_min_tokens = u32_key(CACHE_MIN)?;
    prices.max_output_tokens = u32_key(MAX_OUTPUT)?;
    prices.context_window = u32_key(CONTEXT_WINDOW)?;
    prices.cache_sites = match m.words(CACHE_SITES, "`system`, `messages` or `tools`", |w| {
        matches!(w, "system" | "messages" | "tools")
    })? {
        Some(list) => CacheSites {
            system: list.iter().any(|w| w == "system"),
            messages: list.iter().any(|w| w == "messages"),
            tools: list.iter().any(|w| w == "tools"),
        },
        None if prices.cache_read.is_some() => CacheSites::ALL,
        None => CacheSites::default(),
    };
    prices.source = m.string(SOURCE)?.map(Into::into);
    prices.as_of = m.string(AS_OF)?.map(Into::into);
    prices.unverified = !m.boolean(VERIFIED)?.unwrap_or(true);
    // INVARIANT: `int` checked the range, so the cast is exact.
    let profile_markup_pct = m
        .int(MARKUP, 0, i64::from(MAX_PROFILE_MARKUP_PCT))?
        .map_or(0, |n| n as u32);
    let regions = m.words(
        REGIONS,
        "a region name such as `eu-west-1` or `eu-*`",
        region::valid_pattern,
    )?;
    let regional = match t.get(REGIONAL) {
        None => Vec::new(),
        Some(toml::Value::Array(blocks)) => blocks
            .iter()
            .map(|b| parse_regional(&id, b, t, &prices, threshold))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(m.wrong_type(REGIONAL, "an array of tables", other)),
    };
    check_regions_unique(&id, regions.as_deref(), &regional)?;
    Ok(Entry {
        id,
        prices,
        regions,
        regional,
        profile_markup_pct,
    })
}

/// One `[[models."ID".regional]]` block: the same price keys as the model.
fn parse_regional(
    id: &str,
    block: &toml::Value,
    model: &toml::Table,
    own: &Prices,
    threshold: Option<i64>,
) -> Result<Regional, PriceError> {
    let toml::Value::Table(t) = block else {
        return Err(PriceError::NotATable {
            what: format!("models.\"{id}\".regional"),
        });
    };
    unknown_key(id, t, &[PRICE_KEYS, REGIONAL_KEYS])?;
    let r = ModelReader { id, t };
    let regions = r
        .words(
            REGIONS,
            "a region name such as `eu-west-1` or `eu-*`",
            region::valid_pattern,
        )?
        .filter(|l| !l.is_empty())
        .ok_or_else(|| r.missing(REGIONS))?;
    for &key in PRICE_KEYS {
        let (has, own_has) = (t.contains_key(key), model.contains_key(key));
        // Batch, tiers and latency-optimized inference are offered in some
        // regions only, so a block may leave them out (not offered there);
        // every other price the model has, the block must give.
        let may_omit = !has && own_has && OPTIONAL_IN_REGION.contains(&key);
        if has != own_has && !may_omit {
            return Err(PriceError::RegionalKeysDiffer {
                model: id.to_owned(),
                regions: regions.join(", "),
                key,
                has,
            });
        }
    }
    let mut prices = r.prices(threshold)?;
    // Facts are the model's; only prices vary by region.
    prices.prompt_cache_min_tokens = own.prompt_cache_min_tokens;
    prices.max_output_tokens = own.max_output_tokens;
    prices.context_window = own.context_window;
    prices.cache_sites = own.cache_sites;
    prices.unverified = own.unverified;
    prices.source = r
        .string(SOURCE)?
        .map(Into::into)
        .or_else(|| own.source.clone());
    prices.as_of = r
        .string(AS_OF)?
        .map(Into::into)
        .or_else(|| own.as_of.clone());
    // INVARIANT: `int` checked the range, so the cast is exact.
    let profile_markup_pct = r
        .int(MARKUP, 0, i64::from(MAX_PROFILE_MARKUP_PCT))?
        .map(|n| n as u32);
    Ok(Regional {
        regions,
        prices,
        profile_markup_pct,
    })
}

fn check_regions_unique(
    id: &str,
    own: Option<&[String]>,
    regional: &[Regional],
) -> Result<(), PriceError> {
    let mut seen = std::collections::HashSet::new();
    let all = own
        .into_iter()
        .flatten()
        .chain(regional.iter().flat_map(|r| r.regions.iter()));
    for r in all {
        if !seen.insert(r.as_str()) {
            return Err(PriceError::DuplicateRegion {
                model: id.to_owned(),
                region: r.clone(),
            });
        }
    }
    Ok(())
}

/// Typed reads of one model table's keys.
struct ModelReader<'a> {
    id: &'a str,
    t: &'a toml::Table,
}

impl ModelReader<'_> {
    /// The price keys of a model table or regional block.
    fn prices(&self, threshold: Option<i64>) -> Result<Prices, PriceError> {
        let input = self.price(INPUT)?.ok_or_else(|| self.missing(INPUT))?;
        let output = self.price(OUTPUT)?.ok_or_else(|| self.missing(OUTPUT))?;
        let long_context = match (threshold, self.price(LC_INPUT)?, self.price(LC_OUTPUT)?) {
            (None, None, None) => None,
            // INVARIANT: `int` checked the range 1..=i64::MAX, so the cast is exact.
            (Some(threshold), Some(input), Some(output)) => Some(LongContext {
                threshold_tokens: threshold as u64,
                input,
                output,
            }),
            (threshold, lc_input, lc_output) => {
                let keys = [
                    (LC_THRESHOLD, threshold.is_some()),
                    (LC_INPUT, lc_input.is_some()),
                    (LC_OUTPUT, lc_output.is_some()),
                ];
                let first = |present: bool| {
                    keys.iter()
                        .find(|&&(_, p)| p == present)
                        .map_or(LC_THRESHOLD, |&(k, _)| k)
                };
                return Err(PriceError::IncompleteLongContext {
                    model: self.id.to_owned(),
                    given: first(true),
                    missing: first(false),
                });
            }
        };
        Ok(Prices {
            input,
            output,
            cache_write_5m: self.price(CACHE_WRITE_5M)?,
            cache_write_1h: self.price(CACHE_WRITE_1H)?,
            cache_read: self.price(CACHE_READ)?,
            batch_input: self.price(BATCH_INPUT)?,
            batch_output: self.price(BATCH_OUTPUT)?,
            long_context,
            flex: self.tier(FLEX_INPUT, FLEX_OUTPUT)?,
            priority: self.tier(PRIORITY_INPUT, PRIORITY_OUTPUT)?,
            reserved: self.tier(RESERVED_INPUT, RESERVED_OUTPUT)?,
            latency_optimized: self.tier(LATENCY_INPUT, LATENCY_OUTPUT)?,
            ..Prices::default()
        })
    }

    fn tier(
        &self,
        in_key: &'static str,
        out_key: &'static str,
    ) -> Result<Option<TierPrices>, PriceError> {
        match (self.price(in_key)?, self.price(out_key)?) {
            (None, None) => Ok(None),
            (Some(input), Some(output)) => Ok(Some(TierPrices { input, output })),
            (Some(_), None) => Err(PriceError::IncompleteTier {
                model: self.id.to_owned(),
                given: in_key,
                missing: out_key,
            }),
            (None, Some(_)) => Err(PriceError::IncompleteTier {
                model: self.id.to_owned(),
                given: out_key,
                missing: in_key,
            }),
        }
    }

    fn price(&self, key: &'static str) -> Result<Option<PicosPerToken>, PriceError> {
        let usd = match self.t.get(key) {
            None => return Ok(None),
            Some(toml::Value::Float(f)) => *f,
            // INVARIANT: prices are at most 1e6, far inside f64's exact integers;
            // larger integers are refused by the conversion as too large.
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(other) => return Err(self.wrong_type(key, "a number", other)),
        };
        PicosPerToken::from_usd_per_mtok(usd)
            .map(Some)
            .map_err(|reason| PriceError::InvalidPrice {
                model: self.id.to_owned(),
                key,
                reason: Box::new(reason),
            })
    }

    fn int(&self, key: &'static str, min: i64, max: i64) -> Result<Option<i64>, PriceError> {
        match self.t.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if (min..=max).contains(i) => Ok(Some(*i)),
            Some(toml::Value::Integer(i)) => Err(PriceError::OutOfRange {
                model: self.id.to_owned(),
                key,
                value: *i,
                min,
                max,
            }),
            Some(other) => Err(self.wrong_type(key, "an integer", other)),
        }
    }

    fn string(&self, key: &'static str) -> Result<Option<String>, PriceError> {
        match self.t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    fn boolean(&self, key: &'static str) -> Result<Option<bool>, PriceError> {
        match self.t.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(key, "a boolean", other)),
        }
    }

    /// A list of strings, each accepted by `ok`.
    fn words(
        &self,
        key: &'static str,
        expected: &'static str,
        ok: impl Fn(&str) -> bool,
    ) -> Result<Option<Vec<String>>, PriceError> {
        let list = match self.t.get(key) {
            None => return Ok(None),
            Some(toml::Value::Array(list)) => list,
            Some(other) => return Err(self.wrong_type(key, "an array of strings", other)),
        };
        let mut out = Vec::with_capacity(list.len());
        for v in list {
            let toml::Value::String(s) = v else {
                return Err(self.wrong_type(key, "an array of strings", v));
            };
            if !ok(s) {
                return Err(PriceError::BadListValue {
                    model: self.id.to_owned(),
                    key,
                    value: s.clone(),
                    expected,
                });
            }
            out.push(s.clone());
        }
        Ok(Some(out))
    }

    fn missing(&self, key: &'static str) -> PriceError {
        PriceError::MissingKey {
            model: self.id.to_owned(),
            key,
        }
    }

    fn wrong_type(
        &self,
        key: &'static str,
        expected: &'static str,
        found: &toml::Value,
    ) -> PriceError {
        PriceError::WrongType {
            model: self.id.to_owned(),
            key,
            expected,
            found: match found {
                toml::Value::String(_) => "a string",
                toml::Value::Integer(_) => "an integer",
                toml::Value::Float(_) => "a float",
                toml::Value::Boolean(_) => "a boolean",
                toml::Value::Datetime(_) => "a datetime",
                toml::Value::Array(_) => "an array",
                toml::Value::Table(_) => "a table",
            },
        }
    }
}
