//! Learned routers: the model file a `[routers.NAME]` table names, and the
//! scorer that turns a prompt into the `NAME.gain` and `NAME.gain_per_usd`
//! attributes rules read.
//!
//! A router is a linear model over hashed text features, small enough to
//! score on the request path: the application's own eval records say how
//! much quality the strong model adds over the weak one per prompt, and
//! `tollgate route-train` fits these weights to predict it. The scorer
//! lives here, in the rules language crate, because the loader validates
//! the file, and the gate and the offline analysis score with it; the
//! engine never scores (`decide()` reads the attributes like any other).
//!
//! # Features
//!
//! The text is read as bytes, ASCII letters lowercased and runs of ASCII
//! white space folded into one space:
//!
//! - **word 1-grams and 2-grams**: a word is a run of ASCII letters and
//!   digits or non-ASCII bytes;
//! - **character 3-, 4- and 5-grams** of the folded byte stream;
//! - **lengths**: `ln(1 + characters)` and `ln(1 + words)`.
//!
//! Each n-gram is hashed (FNV-1a, then the splitmix64 finalizer) to one of
//! `2^hash_bits` buckets and a sign (+1 or -1, which keeps collisions from
//! biasing a bucket). A family's (words', characters') contributions are
//! summed and divided by the square root of the family's n-gram count, so
//! a long prompt does not score higher for being long. Scoring walks the
//! text once and never allocates: the only state is a 64-bit window of the
//! last bytes and the previous word's hash.
//!
//! # Outputs (heads)
//!
//! | head | predicts |
//! |---|---|
//! | 0 | quality the strong model adds over the weak one, `strong - weak` on a 0 to 1 scale |
//! | 1 | `ln(1 + output tokens)` of the strong model |
//! | 2 | `ln(1 + output tokens)` of the weak model |
//!
//! From them [`RouterModel::score`] derives the extra dollars the strong
//! model costs for this prompt (input tokens estimated as
//! `ceil(bytes / 4)`, priced with the prices stored in the file) and the
//! gain per extra dollar. When the strong model is predicted to cost no
//! more than the weak one, the extra is taken as [`MIN_EXTRA_USD`], so the
//! ratio is large and has the gain's sign.
//!
//! # File format, version 1
//!
//! Little-endian throughout.
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `TGROUTER` |
//! | 8 | 4 | format version, `u32` = 1 |
//! | 12 | 4 | `hash_bits`, `u32`, 8 to 24 |
//! | 16 | 4 | heads, `u32` = 3 |
//! | 20 | 4 | note length in bytes, `u32`, at most 65,536 |
//! | 24 | 32 | prices, 4 x `f64`, USD per million tokens: strong input, strong output, weak input, weak output |
//! | 56 | 12 | bias, 3 x `f32` (one per head) |
//! | 68 | 24 | length weights, 2 x 3 `f32` (`ln(1 + characters)` then `ln(1 + words)`, each per head) |
//! | 92 | note | UTF-8 note (how the model was trained) |
//! | ... | 12 x 2^`hash_bits` | n-gram weights, `f32`, bucket-major: the 3 heads of bucket 0, then of bucket 1, ... |
//! | end - 8 | 8 | xxh3-64 of every byte before it |
//!
//! A model of `hash_bits` = 13 (8,192 buckets, 24,576 weights) takes
//! 98,404 bytes plus its note. Every weight, bias and price must be finite.

mod features;

use crate::schema::AttrId;
use crate::source::Span;
pub use features::{bucket, feature_vector, for_each_gram, Family, TextCounts};
use std::fmt;
use std::sync::Arc;

/// The file's first 8 bytes.
pub const MAGIC: &[u8; 8] = b"TGROUTER";
/// The format version this build reads and writes.
pub const VERSION: u32 = 1;
/// Outputs per bucket.
pub const HEADS: usize = 3;
/// Length features.
pub const LENGTH_FEATURES: usize = 2;
/// Smallest `hash_bits`.
pub const MIN_HASH_BITS: u32 = 8;
/// Largest `hash_bits`.
pub const MAX_HASH_BITS: u32 = 24;
/// Longest note, bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 16;
/// Bytes per estimated input token.
pub const BYTES_PER_TOKEN: u64 = 4;
/// The extra cost a ratio divides by when the strong model is predicted to
/// cost no more than the weak one.
pub const MIN_EXTRA_USD: f64 = 1e-9;
/// Shortest character n-gram.
pub const CHAR_MIN: u32 = 3;
/// Longest character n-gram.
pub const CHAR_MAX: u32 = 5;

const HEADER_BYTES: usize = 92;

/// Prices the file was trained with, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RouterPrices {
    /// Strong model, input.
    pub strong_input: f64,
    /// Strong model, output.
    pub strong_output: f64,
    /// Weak model, input.
    pub weak_input: f64,
    /// Weak model, output.
    pub weak_output: f64,
}

/// A loaded router model.
#[derive(Clone, PartialEq)]
pub struct RouterModel {
    hash_bits: u32,
    prices: RouterPrices,
    bias: [f32; HEADS],
    length: [[f32; HEADS]; LENGTH_FEATURES],
    note: String,
    weights: Vec<f32>,
}

impl fmt::Debug for RouterModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterModel")
            .field("hash_bits", &self.hash_bits)
            .field("prices", &self.prices)
            .field("bias", &self.bias)
            .field("note", &self.note)
            .finish_non_exhaustive()
    }
}

/// What a router predicts for one prompt.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RouterScore {
    /// Predicted quality the strong model adds (`NAME.gain`).
    pub gain: f64,
    /// Predicted output tokens of the strong model.
    pub strong_output_tokens: f64,
    /// Predicted output tokens of the weak model.
    pub weak_output_tokens: f64,
    /// Predicted extra dollars of the strong model.
    pub extra_usd: f64,
    /// `gain / max(extra_usd, MIN_EXTRA_USD)` (`NAME.gain_per_usd`).
    pub gain_per_usd: f64,
}

/// Why a model file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterModelError {
    /// Not a router model.
    #[error("not a tollgate router model (it does not start with `TGROUTER`)")]
    Magic,
    /// Another format version.
    #[error("router model format version {0}, this build reads version {VERSION}")]
    Version(u32),
    /// A header field out of range.
    #[error("router model header: {0}")]
    Header(String),
    /// The file's length does not match its header.
    #[error("router model is {found} bytes, its header describes {expected}")]
    Length {
        /// From the header.
        expected: usize,
        /// On disk.
        found: usize,
    },
    /// The checksum does not match.
    #[error("router model checksum mismatch (the file is damaged or was edited)")]
    Checksum,
    /// A weight, bias or price is NaN or infinite.
    #[error("router model holds a non-finite number ({0})")]
    NonFinite(&'static str),
}

fn ln_tokens(x: f64) -> f64 {
    // Predictions of ln(1 + tokens), kept to a sane range.
    x.clamp(0.0, 16.0).exp_m1()
}

impl RouterModel {
    /// A model from its parts; `weights` holds `HEADS x 2^hash_bits` values,
    /// bucket-major.
    pub fn new(
        hash_bits: u32,
        prices: RouterPrices,
        bias: [f32; HEADS],
        length: [[f32; HEADS]; LENGTH_FEATURES],
        weights: Vec<f32>,
        note: &str,
    ) -> Result<RouterModel, RouterModelError> {
        if !(MIN_HASH_BITS..=MAX_HASH_BITS).contains(&hash_bits) {
            return Err(RouterModelError::Header(format!(
                "hash_bits {hash_bits} is outside {MIN_HASH_BITS} to {MAX_HASH_BITS}"
            )));
        }
        let expected = HEADS << hash_bits;
        if weights.len() != expected {
            return Err(RouterModelError::Header(format!(
                "{} weights for {expected} slots",
                weights.len()
            )));
        }
        if note.len() > MAX_NOTE_BYTES {
            return Err(RouterModelError::Header(format!(
                "the note is {} bytes, more than {MAX_NOTE_BYTES}",
                note.len()
            )));
        }
        let p = [
            prices.strong_input,
            prices.strong_output,
            prices.weak_input,
            prices.weak_output,
        ];
        if p.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(RouterModelError::NonFinite("prices"));
        }
        if bias
            .iter()
            .chain(length.iter().flatten())
            .any(|x| !x.is_finite())
        {
            return Err(RouterModelError::NonFinite("bias or length weights"));
        }
        if weights.iter().any(|x| !x.is_finite()) {
            return Err(RouterModelError::NonFinite("n-gram weights"));
        }
        Ok(RouterModel {
            hash_bits,
            prices,
            bias,
            length,
            note: note.to_owned(),
            weights,
        })
    }

    /// Bits of the bucket index.
    pub fn hash_bits(&self) -> u32 {
        self.hash_bits
    }

    /// Buckets (`2^hash_bits`).
    pub fn buckets(&self) -> usize {
        1 << self.hash_bits
    }

    /// Weights in all (n-gram, length and bias).
    pub fn weight_count(&self) -> usize {
        self.weights.len() + HEADS * (LENGTH_FEATURES + 1)
    }

    /// The stored prices.
    pub fn prices(&self) -> RouterPrices {
        self.prices
    }

    /// How the model was trained, as the trainer wrote it.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Size of the file this model writes, bytes.
    pub fn file_size(&self) -> usize {
        HEADER_BYTES + self.note.len() + 4 * self.weights.len() + 8
    }

    /// Raw head outputs for a text: `[gain, ln(1 + strong tokens),
    /// ln(1 + weak tokens)]`, and the walk's counts. Allocation-free.
    pub fn heads(&self, text: &str) -> ([f64; HEADS], TextCounts) {
        let mut word = [0f32; HEADS];
        let mut chr = [0f32; HEADS];
        let bits = self.hash_bits;
        let w = self.weights.as_slice();
        let counts = for_each_gram(text, |fam, h| {
            let (b, s) = bucket(h, bits);
            let acc = if fam == Family::Word {
                &mut word
            } else {
                &mut chr
            };
            if let Some(ws) = w.get(b * HEADS..b * HEADS + HEADS) {
                for (a, x) in acc.iter_mut().zip(ws) {
                    *a += s * x;
                }
            }
        });
        let (ws, cs) = (counts.scale(Family::Word), counts.scale(Family::Char));
        let lengths = counts.lengths();
        let mut out = [0f64; HEADS];
        for (k, o) in out.iter_mut().enumerate() {
            let mut v = f64::from(self.bias.get(k).copied().unwrap_or(0.0));
            v += f64::from(word.get(k).copied().unwrap_or(0.0)) * ws;
            v += f64::from(chr.get(k).copied().unwrap_or(0.0)) * cs;
            for (l, x) in self.length.iter().zip(lengths) {
                v += f64::from(l.get(k).copied().unwrap_or(0.0)) * x;
            }
            *o = v;
        }
        (out, counts)
    }

    /// Scores a prompt (see the module docs). Allocation-free.
    pub fn score(&self, text: &str) -> RouterScore {
        let (h, counts) = self.heads(text);
        self.score_heads(h, counts.bytes)
    }

    /// The score from head outputs and the prompt's length in bytes.
    pub fn score_heads(&self, h: [f64; HEADS], bytes: u64) -> RouterScore {
        let [gain, s, w] = h;
        let strong_output_tokens = ln_tokens(s);
        let weak_output_tokens = ln_tokens(w);
        let input = bytes.div_ceil(BYTES_PER_TOKEN) as f64;
        let p = &self.prices;
        let extra_usd = (input * (p.strong_input - p.weak_input)
            + strong_output_tokens * p.strong_output
            - weak_output_tokens * p.weak_output)
            / 1e6;
        RouterScore {
            gain,
            strong_output_tokens,
            weak_output_tokens,
            extra_usd,
            gain_per_usd: gain / extra_usd.max(MIN_EXTRA_USD),
        }
    }

    /// The file's bytes (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.file_size());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&self.hash_bits.to_le_bytes());
        b.extend_from_slice(&(HEADS as u32).to_le_bytes());
        b.extend_from_slice(&(self.note.len() as u32).to_le_bytes());
        let p = &self.prices;
        for x in [p.strong_input, p.strong_output, p.weak_input, p.weak_output] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        for x in self.bias.iter().chain(self.length.iter().flatten()) {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(self.note.as_bytes());
        for x in &self.weights {
            b.extend_from_slice(&x.to_le_bytes());
        }
        let sum = xxhash_rust::xxh3::xxh3_64(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    /// Reads a model file's bytes, checking everything.
    pub fn from_bytes(bytes: &[u8]) -> Result<RouterModel, RouterModelError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8) != Some(MAGIC.as_slice()) {
            return Err(RouterModelError::Magic);
        }
        let short = || RouterModelError::Header("the file ends inside the header".into());
        let version = r.u32().ok_or_else(short)?;
        if version != VERSION {
            return Err(RouterModelError::Version(version));
        }
        let hash_bits = r.u32().ok_or_else(short)?;
        if !(MIN_HASH_BITS..=MAX_HASH_BITS).contains(&hash_bits) {
            return Err(RouterModelError::Header(format!(
                "hash_bits {hash_bits} is outside {MIN_HASH_BITS} to {MAX_HASH_BITS}"
            )));
        }
        let heads = r.u32().ok_or_else(short)?;
        if heads as usize != HEADS {
            return Err(RouterModelError::Header(format!(
                "{heads} heads, version {VERSION} has {HEADS}"
            )));
        }
        let note_len = r.u32().ok_or_else(short)? as usize;
        if note_len > MAX_NOTE_BYTES {
            return Err(RouterModelError::Header(format!(
                "a note of {note_len} bytes, more than {MAX_NOTE_BYTES}"
            )));
        }
        let n = HEADS << hash_bits;
        let expected = HEADER_BYTES + note_len + 4 * n + 8;
        if bytes.len() != expected {
            return Err(RouterModelError::Length {
                expected,
                found: bytes.len(),
            });
        }
        let body = bytes.get(..expected - 8).unwrap_or_default();
        let stored = bytes
            .get(expected - 8..)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_le_bytes);
        if stored != Some(xxhash_rust::xxh3::xxh3_64(body)) {
            return Err(RouterModelError::Checksum);
        }
        let mut p = [0f64; 4];
        for x in &mut p {
            *x = r.f64().ok_or_else(short)?;
        }
        let mut bias = [0f32; HEADS];
        for x in &mut bias {
            *x = r.f32().ok_or_else(short)?;
        }
        let mut length = [[0f32; HEADS]; LENGTH_FEATURES];
        for x in length.iter_mut().flatten() {
            *x = r.f32().ok_or_else(short)?;
        }
        let note = r
            .take(note_len)
            .and_then(|s| std::str::from_utf8(s).ok())
            .ok_or_else(|| RouterModelError::Header("the note is not UTF-8".into()))?;
        let mut weights = Vec::with_capacity(n);
        for _ in 0..n {
            weights.push(r.f32().ok_or_else(short)?);
        }
        let [strong_input, strong_output, weak_input, weak_output] = p;
        RouterModel::new(
            hash_bits,
            RouterPrices {
                strong_input,
                strong_output,
                weak_input,
                weak_output,
            },
            bias,
            length,
            weights,
            note,
        )
    }
}

/// A `[routers.NAME]` table of a policy: the model it names and the two
/// float attributes its scores fill.
#[derive(Debug, Clone)]
pub struct Router {
    /// `NAME`.
    pub name: String,
    /// The model file as resolved (relative paths are relative to the
    /// policy file that names it).
    pub path: String,
    /// The loaded model.
    pub model: Arc<RouterModel>,
    /// xxh3-64 of the file's bytes (also in the policy hash).
    pub file_hash: u64,
    /// `NAME.gain`.
    pub gain: AttrId,
    /// `NAME.gain_per_usd`.
    pub gain_per_usd: AttrId,
    /// The `model` key.
    pub span: Span,
}

/// A policy hash that also covers its routers' model files: the sources'
/// hash, then each router's name and file hash, in policy order.
pub fn hash_with_routers(sources_hash: u128, routers: &[Router]) -> u128 {
    if routers.is_empty() {
        return sources_hash;
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&sources_hash.to_le_bytes());
    for r in routers {
        h.update(&(r.name.len() as u64).to_le_bytes());
        h.update(r.name.as_bytes());
        h.update(&r.file_hash.to_le_bytes());
    }
    h.digest128()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn f32(&mut self) -> Option<f32> {
        Some(f32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    fn model(bits: u32) -> RouterModel {
        let n = HEADS << bits;
        let weights: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 201) as f32 / 100.0 - 1.0)
            .collect();
        RouterModel::new(
            bits,
            RouterPrices {
                strong_input: 3.0,
                strong_output: 15.0,
                weak_input: 0.8,
                weak_output: 4.0,
            },
            [0.1, 2.0, 2.5],
            [[0.01, 0.2, 0.1], [0.02, 0.1, 0.05]],
            weights,
            "test model",
        )
        .unwrap()
    }

    #[test]
    fn walk_counts_words_and_grams() {
        let mut words = 0;
        let mut chars = 0;
        let c = for_each_gram("Hello,  World 42", |f, _| match f {
            Family::Word => words += 1,
            Family::Char => chars += 1,
        });
        // words: hello, world, 42 -> 3 unigrams + 2 bigrams
        assert_eq!((c.words, c.word_grams, words), (3, 5, 5));
        // folded stream "hello, world 42" is 15 bytes: 13 + 12 + 11 grams
        assert_eq!((c.char_grams, chars), (36, 36));
        assert_eq!((c.bytes, c.chars), (16, 16));
        let c = for_each_gram("", |_, _| {});
        assert_eq!(c, TextCounts::default());
    }

    #[test]
    fn case_and_white_space_do_not_change_the_grams() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for_each_gram("The  Cat\tsat", |f, h| a.push((f, h)));
        for_each_gram("the cat sat", |f, h| b.push((f, h)));
        assert_eq!(a, b);
    }

    #[test]
    fn score_is_the_dot_product_of_the_feature_vector() {
        let m = model(10);
        let text = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?";
        let (v, lengths) = feature_vector(text, 10);
        let (h, counts) = m.heads(text);
        for (k, got) in h.iter().enumerate() {
            let mut want = f64::from(m.bias[k]);
            for (b, x) in &v {
                want += f64::from(*x) * f64::from(m.weights[*b as usize * HEADS + k]);
            }
            for (l, x) in lengths.iter().enumerate() {
                want += f64::from(m.length[l][k]) * x;
            }
            assert!((got - want).abs() < 1e-4, "head {k}: {got} vs {want}");
        }
        assert_eq!(counts.bytes, text.len() as u64);
        let s = m.score(text);
        let input = (text.len() as f64 / 4.0).ceil();
        let so = h[1].exp_m1();
        let wo = h[2].exp_m1();
        let extra = (input * 2.2 + so * 15.0 - wo * 4.0) / 1e6;
        assert!((s.extra_usd - extra).abs() < 1e-12);
        assert_eq!(s.gain, h[0]);
        assert_eq!(s.gain_per_usd, h[0] / extra.max(MIN_EXTRA_USD));
    }

    #[test]
    fn file_round_trips_and_states_its_size() {
        let m = model(13);
        let bytes = m.to_bytes();
        assert_eq!(bytes.len(), 98_404 + "test model".len());
        assert_eq!(bytes.len(), m.file_size());
        assert_eq!(&bytes[..8], b"TGROUTER");
        let back = RouterModel::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(m.weight_count(), 24_576 + 9);
    }

    #[test]
    fn damaged_files_are_refused() {
        let bytes = model(8).to_bytes();
        assert_eq!(
            RouterModel::from_bytes(b"not a model"),
            Err(RouterModelError::Magic)
        );
        let mut v = bytes.clone();
        v[8] = 2;
        assert_eq!(
            RouterModel::from_bytes(&v),
            Err(RouterModelError::Version(2))
        );
        let mut v = bytes.clone();
        v[12] = 30;
        assert_eq!(
            RouterModel::from_bytes(&v),
            Err(RouterModelError::Header(
                "hash_bits 30 is outside 8 to 24".into()
            ))
        );
        let v = &bytes[..bytes.len() - 1];
        assert_eq!(
            RouterModel::from_bytes(v),
            Err(RouterModelError::Length {
                expected: bytes.len(),
                found: bytes.len() - 1
            })
        );
        let mut v = bytes.clone();
        let at = v.len() - 20;
        v[at] ^= 1;
        assert_eq!(RouterModel::from_bytes(&v), Err(RouterModelError::Checksum));
        let mut m = model(8);
        m.weights[3] = f32::NAN;
        let mut v = m.to_bytes();
        // a NaN written with a valid checksum is still refused
        let n = v.len();
        let sum = xxhash_rust::xxh3::xxh3_64(&v[..n - 8]);
        v[n - 8..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            RouterModel::from_bytes(&v),
            Err(RouterModelError::NonFinite("n-gram weights"))
        );
    }
}
