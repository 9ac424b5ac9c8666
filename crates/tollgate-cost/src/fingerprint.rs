//! Fingerprints: xxh3-128 of the system prompt and of the messages, so
//! repetition can be measured over recorded traffic (which system prompts
//! recur, which questions repeat) without storing any text.
//!
//! The bytes hashed are canonical and unambiguous: each piece is its length
//! as a little-endian `u64` followed by its bytes, so `["ab", "c"]` and
//! `["a", "bc"]` differ. A system prompt is its text blocks in order; the
//! messages are, per message, the role then each content piece. Non-text
//! content (an image, a tool call) is fed as whatever canonical bytes the
//! caller has for it, through [`Hasher::piece`].
//!
//! A fingerprint is not a secret-keeping device: a short, guessable prompt
//! can be confirmed by hashing a guess. Teams that need that guarantee keep
//! fingerprints off (`None`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use xxhash_rust::xxh3::Xxh3;

/// A 128-bit hash, written as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash128(pub u128);

impl fmt::Display for Hash128 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Hash128 {
    /// The 32 lowercase hex digits, without `fmt`.
    pub fn hex(self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            let nibble = (self.0 >> (124 - 4 * i)) & 0xf;
            // INVARIANT: a nibble is below 16.
            *slot = DIGITS.get(nibble as usize).copied().unwrap_or(b'0');
        }
        out
    }

    /// Reads 32 hex digits.
    pub fn parse(text: &str) -> Option<Hash128> {
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(text, 16).ok().map(Hash128)
    }
}

impl Serialize for Hash128 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        s.serialize_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for Hash128 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hash128::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not 32 hex digits")))
    }
}

/// Streaming canonical hasher (length-prefixed pieces).
#[derive(Clone)]
pub struct Hasher {
    inner: Xxh3,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher { inner: Xxh3::new() }
    }

    /// Adds one piece: its length, then its bytes.
    pub fn piece(&mut self, bytes: &[u8]) -> &mut Self {
        self.inner.update(&(bytes.len() as u64).to_le_bytes());
        self.inner.update(bytes);
        self
    }

    /// The hash of the pieces so far.
    pub fn finish(&self) -> Hash128 {
        Hash128(self.inner.digest128())
    }
}

/// The system prompt's text blocks, in order.
pub fn system<'a>(blocks: impl IntoIterator<Item = &'a str>) -> Hash128 {
    let mut h = Hasher::new();
    for b in blocks {
        h.piece(b.as_bytes());
    }
    h.finish()
}

/// The messages as `(role, text)` pairs, in order (`role` is `user` or
/// `assistant`; a message with several text blocks gives one pair per block).
pub fn messages<'a>(msgs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Hash128 {
    let mut h = Hasher::new();
    for (role, text) in msgs {
        h.piece(role.as_bytes()).piece(text.as_bytes());
    }
    h.finish()
}

/// The two fingerprints of a call; `None` where the call had no such part
/// or the caller did not compute it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fingerprint {
    /// xxh3-128 of the system prompt.
    pub system: Option<Hash128>,
    /// xxh3-128 of the messages.
    pub messages: Option<Hash128>,
}

impl Fingerprint {
    /// Both fingerprints from text: system blocks and `(role, text)` messages.
    /// An empty system prompt gives `system: None`.
    pub fn of<'a>(
        system_blocks: &[&'a str],
        msgs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Fingerprint {
        Fingerprint {
            system: (!system_blocks.is_empty()).then(|| system(system_blocks.iter().copied())),
            messages: Some(messages(msgs)),
        }
    }
}
