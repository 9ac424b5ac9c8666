//! The money unit of the price table: integer pico-dollars per token.
//!
//! Why pico-dollars (1e-12 USD): Bedrock publishes prices per million tokens
//! with up to five or six decimals (Nova Micro's cache read is $0.00875, its
//! batch input $0.0175). `USD/Mtok x 1e12 picos/USD / 1e6 tokens/Mtok` is
//! `USD/Mtok x 1e6`, so every price with at most six decimals per million
//! tokens is a whole number of pico-dollars per token, and `tokens x price`
//! is exact in integers. A price with a seventh decimal is refused, never
//! rounded, so the table cannot quietly disagree with the page it copies.
//!
//! A newtype rather than a bare `u64` so that code written for the older
//! nano-dollar prices cannot mix the two units without a compile error.

use super::PriceError;
use std::fmt;

/// The largest accepted price, in USD per million tokens.
pub const MAX_USD_PER_MTOK: f64 = 1_000_000.0;

/// Pico-dollars per million tokens per USD-per-million-tokens: prices are
/// held as `USD/Mtok x PICOS_PER_USD_PER_MTOK` pico-dollars per token.
const SCALE: u64 = 1_000_000;

/// A per-token price in integer pico-dollars (1e-12 USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PicosPerToken(u64);

impl PicosPerToken {
    /// Zero.
    pub const ZERO: PicosPerToken = PicosPerToken(0);

    /// From pico-dollars per token.
    pub const fn from_picos(picos: u64) -> PicosPerToken {
        PicosPerToken(picos)
    }

    /// Pico-dollars per token.
    pub const fn picos(self) -> u64 {
        self.0
    }

    /// USD per million tokens -> pico-dollars per token, exactly.
    ///
    /// `x` must be finite, between 0 and [`MAX_USD_PER_MTOK`], and have at
    /// most six decimals: `0.035 -> 35_000`, `0.00875 -> 8_750`; `0.0000001`
    /// is an error rather than a rounded price.
    pub fn from_usd_per_mtok(x: f64) -> Result<PicosPerToken, PriceError> {
        if !x.is_finite() {
            return Err(PriceError::NotFinite { value: x });
        }
        if x < 0.0 {
            return Err(PriceError::Negative { value: x });
        }
        if x > MAX_USD_PER_MTOK {
            return Err(PriceError::TooLarge { value: x });
        }
        let picos = (x * SCALE as f64).round();
        // `x` has at most six decimals exactly when it is the double nearest
        // to `picos / 1e6`; `picos` is an integer below 2^53 and division is
        // correctly rounded, so that double is `picos / 1e6` and the
        // comparison is exact, not a tolerance.
        if picos / SCALE as f64 != x {
            return Err(PriceError::TooPrecise { value: x });
        }
        // INVARIANT: 0 <= picos <= 1e12, an integer, so the cast is exact.
        Ok(PicosPerToken(picos as u64))
    }

    /// USD per million tokens as the nearest double (for JSON output: the
    /// shortest decimal that reads back as this double is the exact price,
    /// since prices have at most 13 significant digits).
    pub fn usd_per_mtok(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }

    /// The nearest whole nano-dollars per token (half up), for estimates
    /// that work in nano-dollars per token; exact costs use [`cost_picos`].
    ///
    /// [`cost_picos`]: PicosPerToken::cost_picos
    pub fn nanos_rounded(self) -> u64 {
        self.0.saturating_add(500) / 1000
    }

    /// The exact cost of `tokens` tokens at this price, in pico-dollars.
    #[inline]
    pub fn cost_picos(self, tokens: u64) -> u128 {
        u128::from(self.0) * u128::from(tokens)
    }

    /// `self x num / den`, rounded half up; `self` unchanged when `den` is 0.
    pub fn scale(self, num: u64, den: u64) -> PicosPerToken {
        if den == 0 {
            return self;
        }
        let (x, num, den) = (u128::from(self.0), u128::from(num), u128::from(den));
        let scaled = (x * num + den / 2) / den;
        PicosPerToken(u64::try_from(scaled).unwrap_or(u64::MAX))
    }

    /// `self` raised by `pct` percent, rounded half up.
    pub fn raised_pct(self, pct: u32) -> PicosPerToken {
        self.scale(100 + u64::from(pct), 100)
    }
}

/// The exact decimal in USD per million tokens: `0.00875`, `3.3`, `15`.
impl fmt::Display for PicosPerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / SCALE, self.0 % SCALE);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Pico-dollars -> nano-dollars, rounded once, half up: the error is under
/// half a nano-dollar. Saturates at `u64::MAX` (18 billion USD).
#[inline]
pub fn picos_to_nanos_half_up(picos: u128) -> u64 {
    // A call's cost almost always fits 64 bits, where dividing by a constant
    // is a multiply; 128-bit division is a library call (the hot-path
    // guard's `price` figure counts the difference).
    if let Ok(small) = u64::try_from(picos) {
        if let Some(x) = small.checked_add(500) {
            return x / 1000;
        }
    }
    u64::try_from(picos.saturating_add(500) / 1000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_decimals_are_exact_and_a_seventh_is_refused() {
        let p = |x: f64| PicosPerToken::from_usd_per_mtok(x).map(PicosPerToken::picos);
        assert_eq!(p(0.035), Ok(35_000));
        assert_eq!(p(0.00875), Ok(8_750));
        assert_eq!(p(0.0175), Ok(17_500));
        assert_eq!(p(2.1875), Ok(2_187_500));
        assert_eq!(p(0.546875), Ok(546_875));
        assert_eq!(p(1_000_000.0), Ok(1_000_000_000_000));
        assert_eq!(
            p(0.0000001),
            Err(PriceError::TooPrecise { value: 0.0000001 })
        );
    }

    #[test]
    fn display_is_the_exact_decimal() {
        let s = |picos| PicosPerToken::from_picos(picos).to_string();
        assert_eq!(s(8_750), "0.00875");
        assert_eq!(s(1_100_000), "1.1");
        assert_eq!(s(15_000_000), "15");
        assert_eq!(s(0), "0");
        assert_eq!(
            PicosPerToken::from_picos(1_100_000)
                .usd_per_mtok()
                .to_string(),
            "1.1"
        );
    }

    #[test]
    fn rounding_to_nanos_is_half_up() {
        assert_eq!(picos_to_nanos_half_up(499), 0);
        assert_eq!(picos_to_nanos_half_up(500), 1);
        assert_eq!(picos_to_nanos_half_up(1_499), 1);
        assert_eq!(picos_to_nanos_half_up(u128::MAX), u64::MAX);
    }
}
