//! The strings extension functions (`lowerAscii`, `replace`, `split`,
//! `indexOf`, ...), shared by the reference interpreter and the compiled
//! engine so both give the same answer by construction. They follow
//! cel-go's strings extension: indexes count code points; `None` is an
//! error value.
//!
//! - `charAt(i)`: the code point at `i`; `""` at the end; outside
//!   `[0, size]` an error.
//! - `indexOf(t, from)`: the first occurrence at or after `from`, `-1` when
//!   none or when `from` is past the end; an empty `t` gives `from`; a
//!   negative `from` is an error. `lastIndexOf(t, from)` looks backwards
//!   from `from` (default: the last code point; an empty `t` gives the
//!   size) with the same rules, so `"".lastIndexOf("a")` is an error, as in
//!   cel-go.
//! - `substring(start, end)`: code points `[start, end)`; `start > end` or
//!   an index outside `[0, size]` is an error.
//! - `trim()`: white space (Unicode's `White_Space`, as Go's `TrimSpace`)
//!   removed from both ends.
//! - `replace(old, new, n)`: the first `n` occurrences (all when `n < 0`),
//!   left to right, as Go's `strings.Replace`; an empty `old` matches
//!   before every code point and at the end.
//! - `split(sep, n)`: Go's `strings.SplitN`: at most `n` pieces (all when
//!   `n < 0`, none when `n == 0`), the last holding the rest; an empty
//!   `sep` splits into code points.
//! - `join(sep)`: the elements with `sep` between them.
//!
//! The functions that return parts of their input borrow it; the ones that
//! build text write into any [`fmt::Write`], so the compiled engine can
//! write into scratch space.

use std::fmt;

fn count(s: &str) -> i64 {
    s.chars().count() as i64
}

/// Byte offset of code point `k` (`s.len()` at the end).
fn byte_of(s: &str, k: i64) -> usize {
    usize::try_from(k)
        .ok()
        .and_then(|k| s.char_indices().nth(k).map(|(b, _)| b))
        .unwrap_or(s.len())
}

/// `s.charAt(i)`.
pub fn char_at(s: &str, i: i64) -> Option<&str> {
    if i < 0 || i > count(s) {
        return None;
    }
    let b = byte_of(s, i);
    let len = s.get(b..)?.chars().next().map_or(0, char::len_utf8);
    s.get(b..b + len)
}

/// `s.indexOf(sub, from)` (`from` is 0 in the one-argument form).
pub fn index_of(s: &str, sub: &str, from: i64) -> Option<i64> {
    if sub.is_empty() {
        return Some(from);
    }
    if from < 0 {
        return None;
    }
    if from >= count(s) {
        return Some(-1);
    }
    let start = byte_of(s, from);
    let rest = s.get(start..)?;
    Some(match rest.find(sub) {
        Some(b) => from + count(rest.get(..b)?),
        None => -1,
    })
}

/// `s.lastIndexOf(sub)` (`from` is `None`) or `s.lastIndexOf(sub, from)`.
pub fn last_index_of(s: &str, sub: &str, from: Option<i64>) -> Option<i64> {
    let n = count(s);
    if sub.is_empty() {
        return Some(from.unwrap_or(n));
    }
    let from = from.unwrap_or(n - 1);
    if from < 0 {
        return None;
    }
    if from >= n {
        return Some(-1);
    }
    let last_start = from.min(n - count(sub));
    let mut found = -1;
    for (i, (b, _)) in s.char_indices().enumerate() {
        let i = i as i64;
        if i > last_start {
            break;
        }
        if s.get(b..).is_some_and(|r| r.starts_with(sub)) {
            found = i;
        }
    }
    Some(found)
}

/// `s.substring(start)` (`end` is `None`) or `s.substring(start, end)`.
pub fn substring(s: &str, start: i64, end: Option<i64>) -> Option<&str> {
    let n = count(s);
    let end_cp = end.unwrap_or(n);
    if start > end_cp || start < 0 || start > n || end_cp < 0 || end_cp > n {
        return None;
    }
    s.get(byte_of(s, start)..byte_of(s, end_cp))
}

/// `s.trim()`.
pub fn trim(s: &str) -> &str {
    s.trim()
}

/// `s.lowerAscii()` (`upper` false) or `s.upperAscii()`.
pub fn write_ascii_case(s: &str, upper: bool, out: &mut impl fmt::Write) -> fmt::Result {
    for c in s.chars() {
        out.write_char(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        })?;
    }
    Ok(())
}

/// `s.replace(old, new, n)` (`n` is `-1` in the two-argument form).
pub fn write_replace(
    s: &str,
    old: &str,
    new: &str,
    n: i64,
    out: &mut impl fmt::Write,
) -> fmt::Result {
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    let mut last = 0;
    for (at, m) in s.match_indices(old).take(limit) {
        out.write_str(s.get(last..at).unwrap_or(""))?;
        out.write_str(new)?;
        last = at + m.len();
    }
    out.write_str(s.get(last..).unwrap_or(""))
}

/// `s.split(sep, n)` (`n` is `-1` in the one-argument form): calls `piece`
/// with each piece, in order.
pub fn split<'s>(s: &'s str, sep: &str, n: i64, mut piece: impl FnMut(&'s str)) {
    if n == 0 {
        return;
    }
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    if sep.is_empty() {
        // Code points, the last piece holding the rest when `n` runs out.
        for (k, (b, c)) in s.char_indices().enumerate() {
            if k + 1 == limit {
                piece(s.get(b..).unwrap_or(""));
                return;
            }
            piece(s.get(b..b + c.len_utf8()).unwrap_or(""));
        }
        return;
    }
    s.splitn(limit, sep).for_each(piece);
}

/// `xs.join(sep)` (`sep` is `""` in the form without arguments).
pub fn write_join<'s>(
    items: impl Iterator<Item = &'s str>,
    sep: &str,
    out: &mut impl fmt::Write,
) -> fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.write_str(sep)?;
        }
        out.write_str(item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pieces(s: &str, sep: &str, n: i64) -> Vec<String> {
        let mut v = Vec::new();
        split(s, sep, n, |p| v.push(p.to_string()));
        v
    }

    fn replaced(s: &str, old: &str, new: &str, n: i64) -> String {
        let mut out = String::new();
        write_replace(s, old, new, n, &mut out).unwrap();
        out
    }

    #[test]
    fn indexes_count_code_points() {
        assert_eq!(char_at("héllo", 1), Some("é"));
        assert_eq!(char_at("héllo", 5), Some(""));
        assert_eq!(char_at("héllo", 6), None);
        assert_eq!(char_at("héllo", -1), None);
        assert_eq!(index_of("héllo wörld", "ö", 0), Some(7));
        assert_eq!(index_of("abcabc", "c", 3), Some(5));
        assert_eq!(index_of("abc", "x", 0), Some(-1));
        assert_eq!(index_of("abc", "a", 3), Some(-1));
        assert_eq!(index_of("abc", "", 2), Some(2));
        assert_eq!(index_of("abc", "a", -1), None);
        assert_eq!(last_index_of("abcabc", "bc", None), Some(4));
        assert_eq!(last_index_of("abcabc", "bc", Some(3)), Some(1));
        assert_eq!(last_index_of("abc", "", None), Some(3));
        assert_eq!(last_index_of("", "a", None), None);
        assert_eq!(last_index_of("abc", "abcd", None), Some(-1));
        assert_eq!(substring("héllo", 1, Some(3)), Some("él"));
        assert_eq!(substring("héllo", 5, None), Some(""));
        assert_eq!(substring("héllo", 3, Some(2)), None);
        assert_eq!(substring("héllo", 0, Some(6)), None);
    }

    #[test]
    fn split_and_replace_follow_go() {
        assert_eq!(pieces("a,b,,c", ",", -1), ["a", "b", "", "c"]);
        assert_eq!(pieces("a,b,c", ",", 2), ["a", "b,c"]);
        assert_eq!(pieces("a,b,c", ",", 0), Vec::<String>::new());
        assert_eq!(pieces("", ",", -1), [""]);
        assert_eq!(pieces("héy", "", -1), ["h", "é", "y"]);
        assert_eq!(pieces("héy", "", 2), ["h", "éy"]);
        assert_eq!(pieces("", "", -1), Vec::<String>::new());
        assert_eq!(replaced("aaa", "a", "b", -1), "bbb");
        assert_eq!(replaced("aaa", "a", "b", 2), "bba");
        assert_eq!(replaced("aaa", "a", "b", 0), "aaa");
        assert_eq!(replaced("ab", "", "-", -1), "-a-b-");
        assert_eq!(trim("\u{a0} x \t\n"), "x");
        let mut s = String::new();
        write_ascii_case("ÀbC", false, &mut s).unwrap();
        assert_eq!(s, "Àbc");
    }
}
