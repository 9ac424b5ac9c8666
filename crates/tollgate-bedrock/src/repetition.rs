//! The stream guard's repetition detector.
//!
//! A model stuck in a loop bills every repeated token until `maxTokens`.
//! The detector hashes words as they stream and fires when the latest
//! n-gram occurs `repeats` times within the recent tail. Counting
//! occurrences in a window (rather than demanding back-to-back copies)
//! also catches loops whose period is longer than the n-gram. Words are
//! hashed once, so each new word costs `O(window * n)` integer compares,
//! with a window of a few dozen words: nothing next to network time.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

/// Watches streamed text for a repeating n-gram.
#[derive(Debug, Clone)]
pub struct RepetitionDetector {
    ngram: usize,
    repeats: usize,
    window: usize,
    words: VecDeque<u64>,
    partial: String,
    fired: bool,
}

fn word_hash(w: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    w.to_lowercase().hash(&mut h);
    h.finish()
}

impl RepetitionDetector {
    /// A detector for `repeats` occurrences of an `ngram`-word sequence.
    pub fn new(ngram: u32, repeats: u32) -> RepetitionDetector {
        let ngram = (ngram as usize).max(1);
        let repeats = (repeats as usize).max(2);
        RepetitionDetector {
            ngram,
            repeats,
            window: ngram * repeats * 2,
            words: VecDeque::new(),
            partial: String::new(),
            fired: false,
        }
    }

    /// Feeds streamed text; `true` once the detector has fired.
    pub fn push(&mut self, text: &str) -> bool {
        if self.fired {
            return true;
        }
        self.partial.push_str(text);
        // Words end at white space; the last piece may continue in the
        // next delta, so it stays in `partial`.
        let keep_from = self
            .partial
            .char_indices()
            .rfind(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let complete: Vec<u64> = self
            .partial
            .get(..keep_from)
            .unwrap_or("")
            .split_whitespace()
            .map(word_hash)
            .collect();
        self.partial = self.partial.get(keep_from..).unwrap_or("").to_string();
        for w in complete {
            self.words.push_back(w);
            if self.words.len() > self.window {
                self.words.pop_front();
            }
            if self.check() {
                self.fired = true;
                return true;
            }
        }
        false
    }

    /// Has it fired?
    #[cfg(test)]
    pub fn fired(&self) -> bool {
        self.fired
    }

    fn check(&self) -> bool {
        let n = self.ngram;
        let len = self.words.len();
        if len < n * self.repeats {
            return false;
        }
        let at = |i: usize| self.words.get(i).copied();
        let last = len - n;
        let mut count = 0;
        for start in 0..=last {
            if (0..n).all(|k| at(start + k) == at(last + k)) {
                count += 1;
            }
        }
        count >= self.repeats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_end_at_any_white_space_multi_byte_included() {
        for space in [' ', '\u{a0}', '\u{3000}', '\u{2003}'] {
            let mut d = RepetitionDetector::new(3, 3);
            let delta = format!("buy{space}now{space}please{space}");
            let fired_at = (1..=10).find(|_| d.push(&delta));
            assert_eq!(fired_at, Some(3), "space U+{:04X}", space as u32);
        }
    }

    #[test]
    fn fires_on_a_looping_phrase_split_across_deltas() {
        let mut d = RepetitionDetector::new(3, 3);
        assert!(!d.push("the cat sat on "));
        assert!(!d.push("a mat. the cat sat on a mat. the ca"));
        assert!(d.push("t sat on a mat. "));
    }

    #[test]
    fn quiet_on_varied_text() {
        let mut d = RepetitionDetector::new(3, 3);
        let text = "one two three four five six seven eight nine ten eleven twelve ";
        assert!(!d.push(text));
        assert!(!d.push(text));
        assert!(!d.fired());
    }
}
