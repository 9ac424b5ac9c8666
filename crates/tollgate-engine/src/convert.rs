//! The conversion functions' rules (`int()`, `double()`, `string()`,
//! `bool()`), shared by the reference interpreter and the compiled engine
//! so both give the same answer by construction. They follow cel-go, the
//! CEL implementation the specification's conformance tests come from:
//!
//! - `int(float)` truncates toward zero; NaN, infinities and values
//!   outside `(-2^63, 2^63)` are errors (cel-go refuses `-2^63` itself too);
//! - `int(string)` is decimal with an optional sign (Go's `ParseInt`);
//! - `double(string)` takes decimal and exponent forms and `inf`,
//!   `infinity`, `nan` in any case; a finite spelling that overflows is an
//!   error, as Go's `ParseFloat` reports it (hexadecimal floats, which Go
//!   also reads, are refused);
//! - `string(float)` writes Go's `%g` with the shortest digits that read
//!   back exactly (`1e+06`, `0.0001`, `1e-05`, `-0`, `NaN`, `+Inf`);
//! - `bool(string)` takes Go's `ParseBool` spellings: `1 t T TRUE true True`
//!   and `0 f F FALSE false False`.
//!
//! None of these allocates: `string(x)` writes into any [`fmt::Write`].

use crate::eval::TWO_POW_63;
use std::fmt;

/// `int(x)` of a float.
pub fn int_of_float(f: f64) -> Option<i64> {
    if f.is_nan() || f <= -TWO_POW_63 || f >= TWO_POW_63 {
        return None;
    }
    // In range and not NaN: the cast truncates exactly.
    Some(f as i64)
}

/// `int(x)` of a string.
pub fn int_of_str(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// `double(x)` of a string.
pub fn float_of_str(s: &str) -> Option<f64> {
    let f = s.parse::<f64>().ok()?;
    if f.is_infinite() {
        let word = s.trim_start_matches(['+', '-']);
        if !(word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity")) {
            return None;
        }
    }
    Some(f)
}

/// `bool(x)` of a string.
pub fn bool_of_str(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A fixed buffer holding the shortest exponent form of a float.
struct Buf {
    bytes: [u8; 40],
    len: usize,
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Write `string(x)` of a float: Go's `%g` with the shortest exact digits.
pub fn write_float(x: f64, out: &mut impl fmt::Write) -> fmt::Result {
    if x.is_nan() {
        return out.write_str("NaN");
    }
    if x.is_infinite() {
        return out.write_str(if x > 0.0 { "+Inf" } else { "-Inf" });
    }
    if x == 0.0 {
        return out.write_str(if x.is_sign_negative() { "-0" } else { "0" });
    }
    // Rust's `{:e}` gives the shortest digits that read back exactly, as
    // Go's shortest formatting does: `d.ddde±x`.
    let mut buf = Buf {
        bytes: [0; 40],
        len: 0,
    };
    fmt::write(&mut buf, format_args!("{:e}", x.abs()))?;
    let text =
        std::str::from_utf8(buf.bytes.get(..buf.len).unwrap_or(&[])).map_err(|_| fmt::Error)?;
    let (mantissa, exp) = text.split_once('e').ok_or(fmt::Error)?;
    let exp: i32 = exp.parse().map_err(|_| fmt::Error)?;
    let (lead, rest) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if x < 0.0 {
        out.write_char('-')?;
    }
    // Go's shortest %g uses the exponent form for decimal exponents below
    // -4 or from 6 up (its exponent limit is 6 when precision is shortest).
    if !(-4..6).contains(&exp) {
        out.write_str(lead)?;
        if !rest.is_empty() {
            out.write_char('.')?;
            out.write_str(rest)?;
        }
        let sign = if exp < 0 { '-' } else { '+' };
        return write!(out, "e{sign}{:02}", exp.unsigned_abs());
    }
    // Plain form: the digits `lead rest` with the point after `exp + 1`.
    if exp < 0 {
        out.write_str("0.")?;
        for _ in 0..(-exp - 1) {
            out.write_char('0')?;
        }
        out.write_str(lead)?;
        return out.write_str(rest);
    }
    let int_digits = exp as usize; // digits of `rest` before the point
    out.write_str(lead)?;
    if rest.len() <= int_digits {
        out.write_str(rest)?;
        for _ in rest.len()..int_digits {
            out.write_char('0')?;
        }
        Ok(())
    } else {
        let (a, b) = rest.split_at(int_digits);
        out.write_str(a)?;
        out.write_char('.')?;
        out.write_str(b)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn g(x: f64) -> String {
        let mut s = String::new();
        write_float(x, &mut s).unwrap();
        s
    }

    #[test]
    fn floats_print_as_go_g() {
        let cases = [
            (1.5, "1.5"),
            (-1.5, "-1.5"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.123456, "0.123456"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123.456, "123.456"),
            (1e100, "1e+100"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (5e-324, "5e-324"),
        ];
        for (x, want) in cases {
            assert_eq!(g(x), want, "{x:?}");
        }
    }

    #[test]
    fn strings_parse_as_go() {
        assert_eq!(int_of_str("-42"), Some(-42));
        assert_eq!(int_of_str("+7"), Some(7));
        assert_eq!(int_of_str("9223372036854775808"), None);
        assert_eq!(int_of_str("1.0"), None);
        assert_eq!(int_of_str(""), None);
        assert_eq!(float_of_str("1e3"), Some(1000.0));
        assert_eq!(float_of_str("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(float_of_str("1e400"), None);
        assert_eq!(float_of_str("x"), None);
        assert!(float_of_str("NaN").is_some_and(f64::is_nan));
        assert_eq!(bool_of_str("True"), Some(true));
        assert_eq!(bool_of_str("0"), Some(false));
        assert_eq!(bool_of_str("yes"), None);
    }

    #[test]
    fn floats_truncate_to_ints_in_range() {
        assert_eq!(int_of_float(-2.9), Some(-2));
        assert_eq!(int_of_float(2.9), Some(2));
        assert_eq!(
            int_of_float(9.223372036854775e18),
            Some(9_223_372_036_854_774_784)
        );
        assert_eq!(int_of_float(TWO_POW_63), None);
        assert_eq!(int_of_float(-TWO_POW_63), None);
        assert_eq!(int_of_float(f64::NAN), None);
        assert_eq!(int_of_float(f64::INFINITY), None);
    }
}
