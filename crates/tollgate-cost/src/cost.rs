//! Exact price math: a call's [`Usage`] times a model's [`Prices`], in
//! integer pico-dollars, rounded once to nano-dollars.
//!
//! ```text
//! cost = input_tokens              x input price       (batch: batch input price)
//!      + output_tokens             x output price      (batch: batch output price)
//!      + 5-minute cache writes     x cache_write_5m price
//!      + 1-hour cache writes       x cache_write_1h price
//!      + cache_read_input_tokens   x cache_read price
//! ```
//!
//! Every price is a whole number of pico-dollars (1e-12 USD) per token (the
//! price table refuses anything finer), so each product is exact. The
//! products are summed exactly in `u128` pico-dollars and the sum is rounded
//! **once, half up**, to the nano-dollars of `total_nanos` (and of an
//! event's `cost_nanos`): the figure is within half a nano-dollar of the
//! exact cost, and ledgers sum these rounded figures, so a sum of `n` calls
//! is within `n / 2` nano-dollars of the exact sum. Each component figure
//! (`input_nanos`, ...) is rounded the same way on its own, so components
//! may differ from the total by the rounding of each (under one nano-dollar
//! per component). A total above `u64` nano-dollars (18 billion USD) is an
//! error, never a wrap or a panic.
//!
//! **Region, tier, regional profile markup.** [`PriceTable::resolve`]
//! already picks the source region's prices, applies a model's
//! `profile_markup_pct` and the service tier; this module never applies
//! them again.
//!
//! **Long-context tier.** When the whole prompt (uncached + cache read +
//! cache write, [`Usage::total_input_tokens`]) is *above* the model's
//! `long_context_threshold_tokens`, the tier's input and output prices
//! replace the base ones. The table lists only those two, so the other
//! input-side prices (cache writes, cache reads, batch input) are scaled by
//! the tier's input ratio and batch output by its output ratio, rounded half
//! up to a whole pico-dollar: Anthropic's cache and batch multipliers apply
//! on top of the long-context rate (Sonnet 4: 3.00 -> 6.00 input, so a
//! 5-minute write 3.75 -> 7.50, a read 0.30 -> 0.60).
//!
//! **Missing prices.** A component with tokens but no price is an error in
//! [`price`]: pricing it at zero is the bug that made gateways bill cache
//! reads at $0 (LiteLLM #29145). [`price_lenient`] (what call events use, so
//! recording never fails) prices it at the uncached input price instead
//! (batch: at the on-demand price) and returns the error beside the figure.
//!
//! [`PriceTable::resolve`]: tollgate_lang::PriceTable::resolve

use crate::usage::Usage;
use serde::{Deserialize, Serialize};
use tollgate_lang::{picos_to_nanos_half_up, PicosPerToken, Prices};

/// How the call was served; batch inference has its own prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Converse / InvokeModel, one response.
    #[default]
    Realtime,
    /// ConverseStream.
    Stream,
    /// Batch inference (about 50% off).
    Batch,
    /// An embeddings call (InvokeModel on an embedding model; input only).
    Embedding,
}

impl Mode {
    /// The mode a decision implies when the caller does not say:
    /// `batch` when a `[[batch]]` rule matched, else `realtime`.
    pub fn decided(d: &tollgate_engine::Decision) -> Mode {
        if d.batch.is_some() {
            Mode::Batch
        } else {
            Mode::Realtime
        }
    }

    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Realtime => "realtime",
            Mode::Stream => "stream",
            Mode::Batch => "batch",
            Mode::Embedding => "embedding",
        }
    }
}

/// One priced part of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// Uncached input.
    Input,
    /// Output.
    Output,
    /// Cache writes with the 5-minute TTL.
    CacheWrite5m,
    /// Cache writes with the 1-hour TTL.
    CacheWrite1h,
    /// Cache reads.
    CacheRead,
    /// Batch input.
    BatchInput,
    /// Batch output.
    BatchOutput,
}

impl Component {
    /// The price-table key that holds this component's price.
    pub fn price_key(self) -> &'static str {
        match self {
            Component::Input => "input_per_mtok",
            Component::Output => "output_per_mtok",
            Component::CacheWrite5m => "cache_write_5m_per_mtok",
            Component::CacheWrite1h => "cache_write_1h_per_mtok",
            Component::CacheRead => "cache_read_per_mtok",
            Component::BatchInput => "batch_input_per_mtok",
            Component::BatchOutput => "batch_output_per_mtok",
        }
    }
}

/// Why a call could not be priced exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// Tokens of a component the model has no price for.
    #[error("the model has no `{}` price but the call used those tokens", .0.price_key())]
    MissingPrice(Component),
    /// The cost does not fit in `u64` nano-dollars (18 billion USD): the
    /// usage or the prices are corrupt.
    #[error("the cost of the call does not fit in 64-bit nano-dollars")]
    Overflow,
}

/// What a call cost, per component, in nano-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Uncached input (batch input in batch mode).
    pub input_nanos: u64,
    /// Output (batch output in batch mode).
    pub output_nanos: u64,
    /// Cache writes, 5-minute TTL.
    pub cache_write_5m_nanos: u64,
    /// Cache writes, 1-hour TTL.
    pub cache_write_1h_nanos: u64,
    /// Cache reads.
    pub cache_read_nanos: u64,
    /// The sum of the above.
    pub total_nanos: u64,
    /// The long-context tier's prices applied.
    pub long_context: bool,
}

impl CostBreakdown {
    /// The total in USD, for display.
    pub fn total_usd(&self) -> f64 {
        crate::nanos_to_usd(self.total_nanos)
    }
}

/// Per-token rates after mode and tier are applied; `None` = not offered.
#[derive(Debug, Clone, Copy)]
struct Rates {
    input: Option<PicosPerToken>,
    output: Option<PicosPerToken>,
    write_5m: Option<PicosPerToken>,
    write_1h: Option<PicosPerToken>,
    read: Option<PicosPerToken>,
    long_context: bool,
}

fn rates(prices: &Prices, usage: &Usage, mode: Mode) -> Rates {
    let batch = mode == Mode::Batch;
    let mut r = Rates {
        input: if batch {
            prices.batch_input
        } else {
            Some(prices.input)
        },
        output: if batch {
            prices.batch_output
        } else {
            Some(prices.output)
        },
        write_5m: prices.cache_write_5m,
        write_1h: prices.cache_write_1h,
        read: prices.cache_read,
        long_context: false,
    };
    let Some(lc) = &prices.long_context else {
        return r;
    };
    if usage.total_input_tokens() <= lc.threshold_tokens {
        return r;
    }
    let up_in = |p: PicosPerToken| p.scale(lc.input.picos(), prices.input.picos());
    let up_out = |p: PicosPerToken| p.scale(lc.output.picos(), prices.output.picos());
    r.input = if batch {
        r.input.map(up_in)
    } else {
        Some(lc.input)
    };
    r.output = if batch {
        r.output.map(up_out)
    } else {
        Some(lc.output)
    };
    r.write_5m = r.write_5m.map(up_in);
    r.write_1h = r.write_1h.map(up_in);
    r.read = r.read.map(up_in);
    r.long_context = true;
    r
}

/// Prices a call exactly; an error when a used component has no price or
/// the total overflows.
pub fn price(prices: &Prices, usage: &Usage, mode: Mode) -> Result<CostBreakdown, CostError> {
    let r = rates(prices, usage, mode);
    let part =
        |tokens: u64, rate: Option<PicosPerToken>, c: Component| -> Result<u128, CostError> {
            if tokens == 0 {
                return Ok(0);
            }
            Ok(rate.ok_or(CostError::MissingPrice(c))?.cost_picos(tokens))
        };
    let (in_c, out_c) = if mode == Mode::Batch {
        (Component::BatchInput, Component::BatchOutput)
    } else {
        (Component::Input, Component::Output)
    };
    let picos = [
        part(usage.input_tokens, r.input, in_c)?,
        part(usage.output_tokens, r.output, out_c)?,
        part(
            usage.cache_write_5m_input_tokens(),
            r.write_5m,
            Component::CacheWrite5m,
        )?,
        part(
            usage.cache_write_1h_tokens(),
            r.write_1h,
            Component::CacheWrite1h,
        )?,
        part(usage.cache_read_input_tokens, r.read, Component::CacheRead)?,
    ];
    // Each part is a product of two u64s, so it fits u128; the sum is checked.
    let total = picos
        .iter()
        .try_fold(0u128, |acc, &x| acc.checked_add(x))
        .ok_or(CostError::Overflow)?;
    // `(total + 500) / 1000 > u64::MAX`, without a 128-bit division.
    const MAX_PICOS: u128 = u64::MAX as u128 * 1000 + 499;
    if total > MAX_PICOS {
        return Err(CostError::Overflow);
    }
    let [input, output, write_5m, write_1h, read] = picos.map(picos_to_nanos_half_up);
    Ok(CostBreakdown {
        input_nanos: input,
        output_nanos: output,
        cache_write_5m_nanos: write_5m,
        cache_write_1h_nanos: write_1h,
        cache_read_nanos: read,
        total_nanos: picos_to_nanos_half_up(total),
        long_context: r.long_context,
    })
}

/// Prices a call, never failing: a component without a price is priced at
/// the uncached input price (batch: at the on-demand price), an overflow
/// saturates; the first such problem is returned beside the figure.
pub fn price_lenient(
    prices: &Prices,
    usage: &Usage,
    mode: Mode,
) -> (CostBreakdown, Option<CostError>) {
    match price(prices, usage, mode) {
        Ok(b) => return (b, None),
        Err(CostError::Overflow) => {}
        Err(e @ CostError::MissingPrice(_)) => {
            let patched = fill_missing(prices, mode);
            // Batch without batch prices is priced on demand.
            let patched_mode = if patched.batch_input.is_none() || patched.batch_output.is_none() {
                Mode::Realtime
            } else {
                mode
            };
            if let Ok(b) = price(&patched, usage, patched_mode) {
                return (b, Some(e));
            }
        }
    }
    let saturated = CostBreakdown {
        total_nanos: u64::MAX,
        ..CostBreakdown::default()
    };
    (saturated, Some(CostError::Overflow))
}

fn fill_missing(prices: &Prices, mode: Mode) -> Prices {
    let mut p = prices.clone();
    let input = if mode == Mode::Batch {
        p.batch_input.unwrap_or(p.input)
    } else {
        p.input
    };
    p.cache_write_5m = p.cache_write_5m.or(Some(input));
    p.cache_write_1h = p.cache_write_1h.or(Some(input));
    p.cache_read = p.cache_read.or(Some(input));
    p
}

/// A worst-case estimate before the call: every input token uncached, the
/// whole output cap used.
pub fn estimate(prices: &Prices, input_tokens: u64, max_output_tokens: u64, mode: Mode) -> u64 {
    let usage = Usage::new(input_tokens, max_output_tokens);
    price_lenient(prices, &usage, mode).0.total_nanos
}
