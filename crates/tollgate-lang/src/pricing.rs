//! The Bedrock price table: its format, the built-in copy and lookups.
//!
//! Prices are written in USD per million tokens with at most three decimals
//! and held as integer nano-dollars (1e-9 USD) per token, so that
//! `tokens x price` is exact.
//!
//! Why nano-dollars: the cheapest list prices (Nova Micro, $0.035 per Mtok)
//! are fractions of a micro-dollar per token, and floats drift when millions
//! of calls are summed into a budget. Every price Bedrock lists with up to
//! three decimals per Mtok is a whole number of nano-dollars per token, and a
//! u64 of nano-dollars holds 18 billion USD. A price with a fourth decimal is
//! refused, never rounded, so the table cannot quietly disagree with itself.
//!
//! The table format is documented at the top of `rules/pricing/bedrock.toml`.
//! It is read as a generic TOML table and checked key by key (rather than
//! deserialized with serde) so that every error names the model id and key.

use crate::diag::did_you_mean;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Nano-dollars per token.
pub type NanosPerToken = u64;

/// The long-context tier: above the threshold, other prices apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongContext {
    /// Input tokens above which the tier applies.
    pub threshold_tokens: u64,
    /// Input price in the tier.
    pub input: NanosPerToken,
    /// Output price in the tier.
    pub output: NanosPerToken,
}

/// One model's prices, in nano-dollars per token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prices {
    /// Uncached input.
    pub input: NanosPerToken,
    /// Output.
    pub output: NanosPerToken,
    /// Cache write with the 5-minute TTL.
    pub cache_write_5m: Option<NanosPerToken>,
    /// Cache write with the 1-hour TTL.
    pub cache_write_1h: Option<NanosPerToken>,
    /// Cache read.
    pub cache_read: Option<NanosPerToken>,
    /// Batch input.
    pub batch_input: Option<NanosPerToken>,
    /// Batch output.
    pub batch_output: Option<NanosPerToken>,
    /// Minimum prefix for a prompt-cache point.
    pub prompt_cache_min_tokens: Option<u32>,
    /// Long-context tier.
    pub long_context: Option<LongContext>,
    /// Where the prices come from.
    pub source: Option<String>,
    /// When they were read.
    pub as_of: Option<String>,
}

/// The price table compiled into the binary: `rules/pricing/bedrock.toml`, read through the crate's `pricing/bedrock.toml` link so a packaged crate carries it.
pub const BUILTIN_TOML: &str = include_str!("../pricing/bedrock.toml");

/// The largest accepted price, in USD per million tokens.
pub const MAX_USD_PER_MTOK: f64 = 1_000_000.0;

/// The largest accepted `profile_markup_pct`.
pub const MAX_PROFILE_MARKUP_PCT: u32 = 1000;

/// Cross-region inference-profile prefixes, longest first where they share a
/// start (`us-gov.` before `us.`).
pub const PROFILE_PREFIXES: &[&str] = &[
    "us-gov.", "us.", "eu.", "apac.", "au.", "jp.", "ca.", "global.",
];

/// The profile prefix whose prices never carry a markup.
const GLOBAL_PREFIX: &str = "global.";

const INPUT: &str = "input_per_mtok";
const OUTPUT: &str = "output_per_mtok";
const CACHE_WRITE_5M: &str = "cache_write_5m_per_mtok";
const CACHE_WRITE_1H: &str = "cache_write_1h_per_mtok";
const CACHE_READ: &str = "cache_read_per_mtok";
const BATCH_INPUT: &str = "batch_input_per_mtok";
const BATCH_OUTPUT: &str = "batch_output_per_mtok";
const CACHE_MIN: &str = "prompt_cache_min_tokens";
const LC_THRESHOLD: &str = "long_context_threshold_tokens";
const LC_INPUT: &str = "long_context_input_per_mtok";
const LC_OUTPUT: &str = "long_context_output_per_mtok";
const MARKUP: &str = "profile_markup_pct";
const SOURCE: &str = "source";
const AS_OF: &str = "as_of";

/// Every key a model table may hold.
const MODEL_KEYS: &[&str] = &[
    INPUT,
    OUTPUT,
    CACHE_WRITE_5M,
    CACHE_WRITE_1H,
    CACHE_READ,
    BATCH_INPUT,
    BATCH_OUTPUT,
    CACHE_MIN,
    LC_THRESHOLD,
    LC_INPUT,
    LC_OUTPUT,
    MARKUP,
    SOURCE,
    AS_OF,
];

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
    /// A price has more than three decimals, so it is not a whole number of
    /// nano-dollars per token.
    #[error("price `{value}` has more than three decimals (USD per million tokens)")]
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
}

fn help_suffix(help: &Option<String>) -> String {
    help.as_ref()
        .map_or_else(String::new, |h| format!(" ({h})"))
}

/// USD per million tokens -> nano-dollars per token, exactly.
///
/// `x` must be finite, between 0 and [`MAX_USD_PER_MTOK`], and have at most
/// three decimals: `0.035 -> 35`, `0.8 -> 800`, `4.0 -> 4000`; `0.0001` is an
/// error rather than a rounded price.
pub fn usd_per_mtok_to_nanos(x: f64) -> Result<NanosPerToken, PriceError> {
    if !x.is_finite() {
        return Err(PriceError::NotFinite { value: x });
    }
    if x < 0.0 {
        return Err(PriceError::Negative { value: x });
    }
    if x > MAX_USD_PER_MTOK {
        return Err(PriceError::TooLarge { value: x });
    }
    // USD/Mtok x 1e9 nanos/USD / 1e6 tokens/Mtok = x * 1000 nanos/token.
    let nanos = (x * 1000.0).round();
    // `x` has at most three decimals exactly when it is the double nearest to
    // `nanos / 1000`; division is correctly rounded, so that double is
    // `nanos / 1000.0` and the comparison is exact, not a tolerance.
    if nanos / 1000.0 != x {
        return Err(PriceError::TooPrecise { value: x });
    }
    // INVARIANT: 0 <= nanos <= 1e9, an integer, so the cast is exact.
    Ok(nanos as NanosPerToken)
}

/// Nano-dollars per token -> USD per million tokens, for display.
pub fn nanos_to_usd_per_mtok(nanos: NanosPerToken) -> f64 {
    nanos as f64 / 1000.0
}

/// One model's row: its prices and its regional-profile markup.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: String,
    prices: Prices,
    profile_markup_pct: u32,
}

/// Bedrock prices by model id, in the order the table lists them.
///
/// Build one with [`PriceTable::parse`] or take the built-in copy with
/// [`PriceTable::builtin`]; [`PriceTable::lookup`] resolves profile ids and
/// ARNs to prices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
}

impl PriceTable {
    /// Parses a price table in the format of `rules/pricing/bedrock.toml`.
    pub fn parse(text: &str) -> Result<PriceTable, PriceError> {
        let root: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let mut table = PriceTable::default();
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
                let entry = parse_model(id, &model)?;
                table.insert(entry);
            }
        }
        Ok(table)
    }

    /// The built-in table (`rules/pricing/bedrock.toml`, compiled in), parsed
    /// once. Never panics: were the embedded file unparsable, this would be an
    /// empty table (a unit test proves it parses).
    pub fn builtin() -> &'static PriceTable {
        static BUILTIN: OnceLock<PriceTable> = OnceLock::new();
        BUILTIN.get_or_init(|| PriceTable::parse(BUILTIN_TOML).unwrap_or_default())
    }

    /// Prices for a model id as Bedrock accepts it: a base model id, a
    /// cross-region profile id (`us.ID`, `global.ID`, ...) or an ARN
    /// (`arn:aws:bedrock:REGION:ACCOUNT:foundation-model/ID`,
    /// `...:inference-profile/PREFIX.ID`).
    ///
    /// The exact id wins; else the id without its profile prefix, with the
    /// model's `profile_markup_pct` applied for a regional prefix (never for
    /// `global.`). `None` when the model is not in the table.
    pub fn lookup(&self, model_id: &str) -> Option<Prices> {
        let id = strip_arn(model_id);
        if let Some(entry) = self.entry(id) {
            return Some(entry.prices.clone());
        }
        let (prefix, base) = split_profile_prefix(id)?;
        let entry = self.entry(base)?;
        let pct = if prefix == GLOBAL_PREFIX {
            0
        } else {
            entry.profile_markup_pct
        };
        Some(with_markup(&entry.prices, pct))
    }

    /// The table's own row for exactly `model_id`: no prefix stripping, no markup.
    pub fn get(&self, model_id: &str) -> Option<&Prices> {
        self.entry(model_id).map(|e| &e.prices)
    }

    /// The regional-profile markup in percent declared for exactly
    /// `model_id` (0 when none is declared); `None` when the id is absent.
    pub fn profile_markup_pct(&self, model_id: &str) -> Option<u32> {
        self.entry(model_id).map(|e| e.profile_markup_pct)
    }

    /// Every model id with its base prices, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Prices)> + '_ {
        self.entries.iter().map(|e| (e.id.as_str(), &e.prices))
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

/// The model id inside an ARN (the part after the last `/`); other ids unchanged.
fn strip_arn(model_id: &str) -> &str {
    if model_id.starts_with("arn:") {
        model_id.rsplit_once('/').map_or(model_id, |(_, id)| id)
    } else {
        model_id
    }
}

/// `("us.", "anthropic.x")` for `"us.anthropic.x"`; `None` without a known prefix.
fn split_profile_prefix(id: &str) -> Option<(&'static str, &str)> {
    PROFILE_PREFIXES
        .iter()
        .find_map(|&p| id.strip_prefix(p).map(|rest| (p, rest)))
        .filter(|(_, rest)| !rest.is_empty())
}

/// `prices` raised by `pct` percent, each rounded half up in nano-dollars.
fn with_markup(prices: &Prices, pct: u32) -> Prices {
    if pct == 0 {
        return prices.clone();
    }
    let up = |n: NanosPerToken| -> NanosPerToken {
        let raised = (u128::from(n) * (100 + u128::from(pct)) + 50) / 100;
        NanosPerToken::try_from(raised).unwrap_or(NanosPerToken::MAX)
    };
    Prices {
        input: up(prices.input),
        output: up(prices.output),
        cache_write_5m: prices.cache_write_5m.map(up),
        cache_write_1h: prices.cache_write_1h.map(up),
        cache_read: prices.cache_read.map(up),
        batch_input: prices.batch_input.map(up),
        batch_output: prices.batch_output.map(up),
        prompt_cache_min_tokens: prices.prompt_cache_min_tokens,
        long_context: prices.long_context.as_ref().map(|lc| LongContext {
            threshold_tokens: lc.threshold_tokens,
            input: up(lc.input),
            output: up(lc.output),
        }),
        source: prices.source.clone(),
        as_of: prices.as_of.clone(),
    }
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

/// One `[models."ID"]` table, checked.
fn parse_model(id: String, t: &toml::Table) -> Result<Entry, PriceError> {
    if let Some(key) = t.keys().find(|k| !MODEL_KEYS.contains(&k.as_str())) {
        return Err(PriceError::UnknownKey {
            help: did_you_mean(key, MODEL_KEYS.iter().copied()),
            model: id,
            key: key.clone(),
        });
    }
    let m = ModelReader { id: &id, t };
    let input = m.price(INPUT)?.ok_or_else(|| m.missing(INPUT))?;
    let output = m.price(OUTPUT)?.ok_or_else(|| m.missing(OUTPUT))?;
    let lc = (
        m.int(LC_THRESHOLD, 1, i64::MAX)?,
        m.price(LC_INPUT)?,
        m.price(LC_OUTPUT)?,
    );
    let long_context = match lc {
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
            let (given, missing) = (first(true), first(false));
            return Err(PriceError::IncompleteLongContext {
                model: id,
                given,
                missing,
            });
        }
    };
    // INVARIANT: `int` checked the ranges, so the casts are exact.
    let prompt_cache_min_tokens = m.int(CACHE_MIN, 1, i64::from(u32::MAX))?.map(|n| n as u32);
    let profile_markup_pct = m
        .int(MARKUP, 0, i64::from(MAX_PROFILE_MARKUP_PCT))?
        .map_or(0, |n| n as u32);
    let prices = Prices {
        input,
        output,
        cache_write_5m: m.price(CACHE_WRITE_5M)?,
        cache_write_1h: m.price(CACHE_WRITE_1H)?,
        cache_read: m.price(CACHE_READ)?,
        batch_input: m.price(BATCH_INPUT)?,
        batch_output: m.price(BATCH_OUTPUT)?,
        prompt_cache_min_tokens,
        long_context,
        source: m.string(SOURCE)?,
        as_of: m.string(AS_OF)?,
    };
    Ok(Entry {
        id,
        prices,
        profile_markup_pct,
    })
}

/// Typed reads of one model table's keys.
struct ModelReader<'a> {
    id: &'a str,
    t: &'a toml::Table,
}

impl ModelReader<'_> {
    fn price(&self, key: &'static str) -> Result<Option<NanosPerToken>, PriceError> {
        let usd = match self.t.get(key) {
            None => return Ok(None),
            Some(toml::Value::Float(f)) => *f,
            // INVARIANT: prices are at most 1e6, far inside f64's exact integers;
            // larger integers are refused by the conversion as too large.
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(other) => return Err(self.wrong_type(key, "a number", other)),
        };
        usd_per_mtok_to_nanos(usd)
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
            input: 5,
            output: 15,
            ..Prices::default()
        };
        let up = with_markup(&p, 10);
        // 5 * 1.1 = 5.5 -> 6; 15 * 1.1 = 16.5 -> 17.
        assert_eq!((up.input, up.output), (6, 17));
    }
}
