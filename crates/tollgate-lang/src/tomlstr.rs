//! Positions inside TOML strings.
//!
//! An expression lives inside a TOML string, which may use escapes (`\"`,
//! `\u00e9`) or a multi-line form. To point a diagnostic at the exact token
//! in the file, this module re-decodes the raw string token and records, for
//! every decoded byte, the file offset it came from.

/// Decode the raw TOML string token starting at `start` in `src`, returning
/// the decoded text and, for each decoded byte plus one past the end, its
/// file offset. `None` if the token is not a string this decoder knows.
pub fn decode(src: &str, start: usize, end: usize) -> Option<(String, Vec<u32>)> {
    let raw = src.get(start..end)?;
    let (quote, multi) = if raw.starts_with("\"\"\"") {
        ('"', true)
    } else if raw.starts_with("'''") {
        ('\'', true)
    } else if raw.starts_with('"') {
        ('"', false)
    } else if raw.starts_with('\'') {
        ('\'', false)
    } else {
        return None;
    };
    let q = if multi { 3 } else { 1 };
    let body_start = start + q;
    let body = src.get(body_start..end.checked_sub(q)?)?;
    if quote == '\'' && !multi && body.is_ascii() {
        // A one-line literal string of ASCII text: no escapes, each byte
        // comes from its own offset.
        let offs = (body_start..=body_start + body.len())
            .map(|o| o as u32)
            .collect();
        return Some((body.to_string(), offs));
    }
    let mut out = String::new();
    let mut offs: Vec<u32> = Vec::new();
    let mut chars = body.char_indices().peekable();
    // A newline right after the opening delimiter of a multi-line string is trimmed.
    if multi {
        if body.starts_with("\r\n") {
            chars.next();
            chars.next();
        } else if body.starts_with('\n') {
            chars.next();
        }
    }
    let push = |out: &mut String, offs: &mut Vec<u32>, c: char, at: usize| {
        let before = out.len();
        out.push(c);
        for _ in before..out.len() {
            offs.push(at as u32);
        }
    };
    while let Some((i, c)) = chars.next() {
        let at = body_start + i;
        if quote == '\'' || c != '\\' {
            push(&mut out, &mut offs, c, at);
            continue;
        }
        let (_, e) = chars.next()?;
        let decoded = match e {
            'b' => '\u{08}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{0C}',
            'r' => '\r',
            'e' => '\u{1B}',
            '"' => '"',
            '\\' => '\\',
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut code = 0u32;
                for _ in 0..n {
                    let (_, d) = chars.next()?;
                    code = code * 16 + d.to_digit(16)?;
                }
                char::from_u32(code)?
            }
            c if multi && (c == '\n' || c == '\r' || c == ' ' || c == '\t') => {
                // Line-ending backslash: skip all white space and newlines.
                while let Some((_, w)) = chars.peek() {
                    if w.is_whitespace() {
                        chars.next();
                    } else {
                        break;
                    }
                }
                continue;
            }
            _ => return None,
        };
        push(&mut out, &mut offs, decoded, at);
    }
    offs.push(end.checked_sub(q)? as u32);
    Some((out, offs))
}
