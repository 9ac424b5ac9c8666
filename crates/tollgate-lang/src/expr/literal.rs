//! Literal decoding with CEL's rules: integers range-checked (decimal and
//! hex), floats finite, strings with their escapes, raw and triple-quoted
//! forms.

use super::parse::SyntaxError;
use std::ops::Range;

pub(super) fn int_literal(
    text: &str,
    negative: bool,
    span: Range<usize>,
) -> Result<i64, SyntaxError> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (text, 10),
    };
    let magnitude = u128::from_str_radix(digits, radix).ok();
    let value = magnitude.and_then(|m| {
        let m = i128::try_from(m).ok()?;
        i64::try_from(if negative { -m } else { m }).ok()
    });
    value.ok_or_else(|| {
        SyntaxError::new(
            "int-overflow",
            span,
            format!(
                "integer literal `{}{text}` does not fit in a signed 64-bit integer",
                if negative { "-" } else { "" }
            ),
        )
        .help("integers range from -9223372036854775808 to 9223372036854775807; write a float (`1e20`) for larger numbers")
    })
}

pub(super) fn float_literal(text: &str, span: Range<usize>) -> Result<f64, SyntaxError> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(SyntaxError::new(
            "float-overflow",
            span,
            format!("float literal `{text}` is out of range"),
        )
        .help("floats are IEEE 754 doubles")),
    }
}

/// Decode a CEL string literal (with its quotes and optional `r` prefix).
/// `base` is the literal's offset in the expression, for error spans.
pub fn decode_string(lit: &str, base: usize) -> Result<String, SyntaxError> {
    let (raw, body_start) = match lit.as_bytes().first() {
        Some(b'r' | b'R') => (true, 1),
        _ => (false, 0),
    };
    let rest = lit.get(body_start..).unwrap_or("");
    let q = if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
        3
    } else {
        1
    };
    let body = rest.get(q..rest.len().saturating_sub(q)).unwrap_or("");
    if raw {
        return Ok(body.to_string());
    }
    let off = base + body_start + q;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = |len: usize, what: &str| {
            SyntaxError::new(
                "bad-escape",
                off + i..off + i + len,
                format!("invalid escape sequence {what}"),
            )
            .help("valid escapes: \\n \\r \\t \\\\ \\\" \\' \\` \\? \\a \\b \\f \\v \\xHH \\uHHHH \\UHHHHHHHH \\ooo")
        };
        let Some((_, e)) = chars.next() else {
            return Err(bad(1, "`\\` at the end of the string"));
        };
        let simple = match e {
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0C}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{0B}'),
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            '`' => Some('`'),
            '?' => Some('?'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (count, radix) = match e {
            'x' | 'X' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='3' => (2, 8),
            _ => return Err(bad(1 + e.len_utf8(), &format!("`\\{e}`"))),
        };
        let mut digits = String::new();
        if radix == 8 {
            digits.push(e);
        }
        for _ in 0..count {
            match chars.peek() {
                Some((_, d)) if d.is_digit(radix) => {
                    digits.push(*d);
                    chars.next();
                }
                _ => return Err(bad(2 + digits.len(), &format!("`\\{e}{digits}`"))),
            }
        }
        let code = u32::from_str_radix(&digits, radix).unwrap_or(u32::MAX);
        match char::from_u32(code) {
            Some(ch) => out.push(ch),
            None => {
                return Err(bad(
                    2 + count,
                    &format!("`\\{e}{digits}`: not a Unicode scalar value"),
                ))
            }
        }
    }
    Ok(out)
}
