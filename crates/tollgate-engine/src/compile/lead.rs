//! A pre-check for `matches()` with a pattern anchored at the start of
//! the text (`^...`, outside multi-line mode): the bytes a match can begin
//! with, read from the pattern's syntax tree once, when the policy
//! compiles. A text whose first byte is not one of them (or an empty text,
//! when the pattern cannot match empty) cannot match, and the regex is not
//! run: the regex crate spends a few hundred instructions to find that out
//! even when the first byte already fails.
//!
//! The set is a superset: a Unicode range contributes every leading byte
//! between those of its ends (UTF-8 keeps the order of code points), so a
//! text that passes the check is still matched by the regex.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// The bytes a match of an anchored pattern can begin with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lead([u64; 4]);

impl Lead {
    /// The check for a pattern, when it has one: the pattern is anchored
    /// at the start of the text and every match is at least one byte long.
    pub(crate) fn of(pattern: &str) -> Option<Lead> {
        // The regex crate's defaults (Unicode, UTF-8), as `RegexBuilder`.
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        if !hir.properties().look_set_prefix().contains(Look::Start) {
            return None;
        }
        let mut lead = Lead([0; 4]);
        let nullable = lead.add_first(&hir);
        (!nullable).then_some(lead)
    }

    /// Can a match begin at the start of `s`?
    #[inline]
    pub(crate) fn admits(&self, s: &str) -> bool {
        match s.as_bytes().first() {
            Some(b) => self
                .0
                .get((*b >> 6) as usize)
                .is_some_and(|w| w >> (b & 63) & 1 == 1),
            None => false,
        }
    }

    fn add_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            if let Some(w) = self.0.get_mut((b >> 6) as usize) {
                *w |= 1 << (b & 63);
            }
        }
    }

    /// Add the bytes a match of `h` can begin with; `true` when `h` can
    /// match the empty string (then what follows it can begin a match too).
    fn add_first(&mut self, h: &Hir) -> bool {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => true,
            HirKind::Literal(l) => match l.0.first() {
                Some(b) => {
                    self.add_range(*b, *b);
                    false
                }
                None => true,
            },
            HirKind::Class(Class::Unicode(c)) => {
                let first = |ch: char| {
                    let mut buf = [0u8; 4];
                    ch.encode_utf8(&mut buf)
                        .as_bytes()
                        .first()
                        .copied()
                        .unwrap_or(0)
                };
                for r in c.ranges() {
                    self.add_range(first(r.start()), first(r.end()));
                }
                false
            }
            HirKind::Class(Class::Bytes(c)) => {
                for r in c.ranges() {
                    self.add_range(r.start(), r.end());
                }
                false
            }
            HirKind::Repetition(r) => {
                let nullable = self.add_first(&r.sub);
                nullable || r.min == 0
            }
            HirKind::Capture(c) => self.add_first(&c.sub),
            HirKind::Concat(items) => {
                for x in items {
                    if !self.add_first(x) {
                        return false;
                    }
                }
                true
            }
            HirKind::Alternation(items) => {
                let mut nullable = false;
                for x in items {
                    nullable |= self.add_first(x);
                }
                nullable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::Lead;

    #[test]
    fn only_anchored_patterns_that_cannot_match_empty_get_a_check() {
        assert!(Lead::of("^(?i)(summar|classif)y3").is_some());
        assert!(Lead::of(r"\A[0-9]+").is_some());
        assert!(Lead::of("(?i)summar").is_none());
        assert!(Lead::of("(?m)^summar").is_none());
        assert!(Lead::of("^a|b").is_none());
        assert!(Lead::of("^a*").is_none());
        assert!(Lead::of("^$").is_none());
        assert!(Lead::of("^(").is_none());
    }

    #[test]
    fn the_check_admits_exactly_the_possible_first_bytes() {
        let l = Lead::of("^(?i)(summar|classif)y3").unwrap();
        let admitted: Vec<u8> = (0u8..=255)
            .filter(|b| l.0[(b >> 6) as usize] >> (b & 63) & 1 == 1)
            .collect();
        // s, S, c, C and the lead byte of U+017F (long s, which folds to s).
        assert_eq!(admitted, vec![b'C', b'S', b'c', b's', 0xC5]);
        assert!(!l.admits("please summarize"));
        assert!(!l.admits(""));
        assert!(l.admits("Summary3"));
        assert!(l.admits("ſummary3"));
        let l = Lead::of(r"^\b[é-ü]x").unwrap();
        assert!(l.admits("éx"));
        assert!(!l.admits("ex"));
    }

    #[test]
    fn a_rejected_text_never_matches() {
        let patterns = [
            "^(?i)(summar|classif)y3",
            r"^\d{2,}",
            "^(a?b)+c",
            "^(?:x|)y",
            r"^[^a]",
            r"^\p{Greek}+",
            "^(?s).",
            r"^\bfoo",
            "^(?i)k",
        ];
        let texts = [
            "",
            "a",
            "b",
            "c",
            "abc",
            "bc",
            "y",
            "xy",
            "12",
            "1",
            "α",
            "Ωmega",
            "foo",
            " foo",
            "K",
            "k",
            "\u{212A}",
            "Summary3",
            "ſummary3",
            "classify3",
            "\n",
            "é",
        ];
        for p in patterns {
            let re = regex::Regex::new(p).unwrap();
            let lead = Lead::of(p).unwrap_or_else(|| panic!("{p} has a check"));
            for t in texts {
                if re.is_match(t) {
                    assert!(lead.admits(t), "{p} matches {t:?} but the check rejects it");
                }
            }
        }
    }
}
