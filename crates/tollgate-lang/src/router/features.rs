//! The router's features: word 1- and 2-grams and character 3- to 5-grams
//! hashed with a sign into `2^hash_bits` buckets, and two lengths (see the
//! parent module's doc). One walk over the text, no allocation.

use super::{CHAR_MAX, CHAR_MIN, LENGTH_FEATURES};

/// Feature family of an n-gram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Word 1- and 2-grams.
    Word,
    /// Character 3- to 5-grams.
    Char,
}

/// Counts a walk over a text produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextCounts {
    /// Bytes of the text.
    pub bytes: u64,
    /// Characters (Unicode scalar values).
    pub chars: u64,
    /// Words.
    pub words: u64,
    /// Word n-grams visited.
    pub word_grams: u64,
    /// Character n-grams visited.
    pub char_grams: u64,
}

impl TextCounts {
    /// The length features: `ln(1 + characters)`, `ln(1 + words)`.
    pub fn lengths(&self) -> [f64; LENGTH_FEATURES] {
        [(self.chars as f64).ln_1p(), (self.words as f64).ln_1p()]
    }

    /// The scale of a family's n-grams: `1 / sqrt(count)` (1 when none).
    pub fn scale(&self, family: Family) -> f64 {
        let n = match family {
            Family::Word => self.word_grams,
            Family::Char => self.char_grams,
        };
        1.0 / (n.max(1) as f64).sqrt()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

fn mix(mut x: u64) -> u64 {
    // splitmix64 finalizer
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Walks a text's n-grams: `f(family, hash)` per n-gram, in text order
/// (a word's 1-gram, then its 2-gram with the previous word, when the word
/// ends; character n-grams as each byte arrives, shortest first).
/// Allocation-free.
pub fn for_each_gram(text: &str, mut f: impl FnMut(Family, u64)) -> TextCounts {
    let mut c = TextCounts {
        bytes: text.len() as u64,
        ..TextCounts::default()
    };
    let mut window: u64 = 0;
    let mut filled: u32 = 0;
    let mut last_space = true;
    let mut word: u64 = FNV_OFFSET;
    let mut in_word = false;
    let mut prev_word: Option<u64> = None;
    let mut end_word = |word: u64, c: &mut TextCounts, f: &mut dyn FnMut(Family, u64)| {
        f(Family::Word, mix(word ^ 0x5751));
        c.word_grams += 1;
        if let Some(p) = prev_word {
            f(Family::Word, mix(p.rotate_left(23) ^ word ^ 0x5752));
            c.word_grams += 1;
        }
        prev_word = Some(word);
        c.words += 1;
    };
    for &raw in text.as_bytes() {
        if raw & 0xc0 != 0x80 {
            c.chars += 1;
        }
        let b = if raw.is_ascii_whitespace() {
            b' '
        } else {
            raw.to_ascii_lowercase()
        };
        if is_word_byte(b) {
            word = (word ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            in_word = true;
        } else if in_word {
            end_word(word, &mut c, &mut f);
            word = FNV_OFFSET;
            in_word = false;
        }
        if b == b' ' && last_space {
            continue;
        }
        last_space = b == b' ';
        window = (window << 8) | u64::from(b);
        filled = (filled + 1).min(8);
        for n in CHAR_MIN..=CHAR_MAX {
            if filled >= n {
                let gram = window & ((1u64 << (8 * n)) - 1);
                f(Family::Char, mix(gram ^ (u64::from(n) << 56)));
                c.char_grams += 1;
            }
        }
    }
    if in_word {
        end_word(word, &mut c, &mut f);
    }
    c
}

/// The bucket and sign of an n-gram hash under `hash_bits`.
pub fn bucket(hash: u64, hash_bits: u32) -> (usize, f32) {
    let b = (hash >> (64 - hash_bits.clamp(1, 63))) as usize;
    (b, if hash & 1 == 1 { 1.0 } else { -1.0 })
}

/// A text as a sparse feature vector (for training): `(bucket, value)`
/// sorted by bucket, duplicates summed, and the length features.
/// [`RouterModel::score`](crate::RouterModel::score) computes the same dot product without building it.
pub fn feature_vector(text: &str, hash_bits: u32) -> (Vec<(u32, f32)>, [f64; LENGTH_FEATURES]) {
    let mut raw: Vec<(u32, Family, f32)> = Vec::new();
    let counts = for_each_gram(text, |fam, h| {
        let (b, s) = bucket(h, hash_bits);
        raw.push((b as u32, fam, s));
    });
    let (ws, cs) = (
        counts.scale(Family::Word) as f32,
        counts.scale(Family::Char) as f32,
    );
    let mut v: Vec<(u32, f32)> = raw
        .into_iter()
        .map(|(b, fam, s)| (b, s * if fam == Family::Word { ws } else { cs }))
        .collect();
    v.sort_by_key(|(b, _)| *b);
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(v.len());
    for (b, x) in v {
        match out.last_mut() {
            Some((lb, lx)) if *lb == b => *lx += x,
            _ => out.push((b, x)),
        }
    }
    (out, counts.lengths())
}
