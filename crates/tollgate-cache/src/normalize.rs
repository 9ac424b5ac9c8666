//! `normalize = "whitespace"`: prompts that differ only in formatting share
//! a key.
//!
//! The normal form trims the text and collapses every run of white space
//! (Unicode `White_Space`, as [`char::is_whitespace`]) to one U+0020 space.
//! Case, punctuation and everything else are kept: they can change the
//! answer. Keys stream the normal form into the hasher as stretches of the
//! original text ([`normal_runs`]) after its length ([`whitespace_len`]), so
//! it is never built as a string; [`whitespace`] builds it for tests and
//! tools.
//!
//! ASCII text (the common case) takes a fast path: a counting pass in
//! 64-byte chunks with narrow counters for the length, then whole
//! already-normal stretches (words separated by one space) found with a
//! simple scan. The general path walks characters. Measured on a 4 KiB
//! prompt: about 4.5 µs for the key with normalisation against 0.3 µs
//! without, down from 22 µs word by word; it is opt-in.

/// The words of `t`: its maximal runs of non-white-space characters (the
/// same as [`str::split_whitespace`], with a byte-at-a-time fast path for
/// ASCII). The tests check [`word_spans`] through it.
#[cfg(test)]
fn words(t: &str) -> impl Iterator<Item = &str> + '_ {
    word_spans(t).filter_map(|(a, b)| t.get(a..b))
}

/// Byte ranges `(start, end)` of the words of `t`.
pub fn word_spans(t: &str) -> Spans<'_> {
    Spans { s: t, pos: 0 }
}

/// Iterator of [`word_spans`].
#[derive(Debug, Clone)]
pub struct Spans<'a> {
    s: &'a str,
    pos: usize,
}

impl Spans<'_> {
    /// Is there white space at `pos`, and how long is the character there?
    #[inline]
    fn at(&self, pos: usize) -> Option<(bool, usize)> {
        let b = *self.s.as_bytes().get(pos)?;
        if b < 0x80 {
            return Some((matches!(b, b'\t'..=b'\r' | b' '), 1));
        }
        let c = self.s.get(pos..)?.chars().next()?;
        Some((c.is_whitespace(), c.len_utf8()))
    }
}

impl Iterator for Spans<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        while let Some((true, n)) = self.at(self.pos) {
            self.pos += n;
        }
        let start = self.pos;
        while let Some((false, n)) = self.at(self.pos) {
            self.pos += n;
        }
        (self.pos > start).then_some((start, self.pos))
    }
}

/// The normal form of `t` as slices of `t` to join with single spaces:
/// maximal stretches that are already normal (words separated by one ASCII
/// space). Prose is mostly normal already, so this yields a few long slices
/// rather than one per word.
pub fn normal_runs(t: &str) -> Runs<'_> {
    if t.is_ascii() {
        let b = t.as_bytes();
        let start = b.iter().position(|&x| !ascii_ws(x)).unwrap_or(b.len());
        let end = b
            .iter()
            .rposition(|&x| !ascii_ws(x))
            .map_or(start, |e| e + 1);
        Runs::Ascii {
            t: t.get(start..end).unwrap_or_default(),
            pos: 0,
        }
    } else {
        Runs::General {
            t,
            spans: word_spans(t),
            next: None,
        }
    }
}

/// Iterator of [`normal_runs`].
#[derive(Debug, Clone)]
pub enum Runs<'a> {
    /// Trimmed ASCII text and the scan position.
    Ascii {
        /// The text, trimmed.
        t: &'a str,
        /// Where the next stretch starts.
        pos: usize,
    },
    /// Any text, word by word.
    General {
        /// The text.
        t: &'a str,
        /// Its words.
        spans: Spans<'a>,
        /// A word read ahead.
        next: Option<(usize, usize)>,
    },
}

impl<'a> Iterator for Runs<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            Runs::Ascii { t, pos } => {
                let b = t.as_bytes();
                let start = *pos;
                if start >= b.len() {
                    return None;
                }
                let mut j = start;
                while let Some(&x) = b.get(j) {
                    let lone_space = x == b' ' && !b.get(j + 1).is_some_and(|&y| ascii_ws(y));
                    if ascii_ws(x) && !lone_space {
                        break;
                    }
                    j += 1;
                }
                let run = t.get(start..j);
                // INVARIANT: `t` is trimmed, so white space is always
                // followed by a word (or nothing is left).
                while b.get(j).is_some_and(|&x| ascii_ws(x)) {
                    j += 1;
                }
                *pos = j;
                run
            }
            Runs::General { t, spans, next } => {
                let (start, mut end) = next.take().or_else(|| spans.next())?;
                for (a, b) in spans.by_ref() {
                    if a == end + 1 && t.as_bytes().get(end) == Some(&b' ') {
                        end = b;
                    } else {
                        *next = Some((a, b));
                        break;
                    }
                }
                t.get(start..end)
            }
        }
    }
}

/// ASCII white space, as [`char::is_whitespace`] has it.
#[inline]
fn ascii_ws(b: u8) -> bool {
    (b == b' ') | (b.wrapping_sub(b'\t') < 5)
}

/// Byte length of the normal form of `t`.
pub fn whitespace_len(t: &str) -> usize {
    if !t.is_ascii() {
        let (bytes, count) =
            word_spans(t).fold((0usize, 0usize), |(b, n), (s, e)| (b + e - s, n + 1));
        return bytes + count.saturating_sub(1);
    }
    // Non-white bytes, plus one space before every word but the first:
    // count word starts in 64-byte chunks with narrow counters.
    let (mut kept, mut starts) = (0usize, 0usize);
    let mut prev_ws = true;
    for c in t.as_bytes().chunks(64) {
        let (mut k, mut s) = (0u32, 0u32);
        for &x in c {
            let w = ascii_ws(x);
            k += u32::from(!w);
            s += u32::from(prev_ws & !w);
            prev_ws = w;
        }
        kept += k as usize;
        starts += s as usize;
    }
    kept + starts.saturating_sub(1)
}

/// The normal form of `t`.
pub fn whitespace(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for (i, w) in normal_runs(t).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_collapses_runs_and_trims() {
        let t = "  Hello,\t\tworld!\r\n\n  How\u{00a0}are you?  ";
        assert_eq!(whitespace(t), "Hello, world! How are you?");
        assert_eq!(whitespace_len(t), "Hello, world! How are you?".len());
        assert_eq!(whitespace(" \n\t "), "");
        assert_eq!(whitespace_len(" \n\t "), 0);
    }

    #[test]
    fn words_agree_with_split_whitespace() {
        let samples = [
            "",
            " ",
            "a",
            " a b ",
            "\u{0b}x\u{0c}y\u{1c}z",
            "caf\u{e9}\u{2003}na\u{ef}ve\u{3000}\u{85}end\u{a0}",
            "tabs\tand\r\nnewlines\n\n",
            "\u{1f600} emoji\u{2028}line",
        ];
        for s in samples {
            let ours: Vec<&str> = words(s).collect();
            let std: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(ours, std, "{s:?}");
            assert_eq!(whitespace(s), std.join(" "), "{s:?}");
            assert_eq!(whitespace_len(s), std.join(" ").len(), "{s:?}");
        }
        let runs: Vec<&str> = normal_runs("  one two  three\nfour five ").collect();
        assert_eq!(runs, ["one two", "three", "four five"]);
        // Every char below U+3001, alone and between letters.
        for c in (0u32..0x3001).filter_map(char::from_u32) {
            let s = format!("a{c}b{c}");
            assert_eq!(
                words(&s).collect::<Vec<_>>(),
                s.split_whitespace().collect::<Vec<_>>(),
                "{c:?}"
            );
        }
    }
}
