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
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

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

/// Bytes a [`Hasher`] keeps before it starts a streaming hash.
const HEAD: usize = 256;

/// Streaming canonical hasher (length-prefixed pieces).
///
/// Short input (most single-turn chats) is collected in a buffer and
/// hashed in one shot at the end; only longer input starts xxh3's
/// streaming state, whose setup and digest cost more than hashing a short
/// prompt. Both give the same hash: xxh3 of the concatenated pieces.
#[derive(Clone)]
pub struct Hasher {
    head: [u8; HEAD],
    len: usize,
    /// Inline rather than boxed: long prompts are common, and a box would
    /// cost them an allocation.
    stream: Option<Xxh3>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher {
            head: [0; HEAD],
            len: 0,
            stream: None,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(s) = &mut self.stream {
            s.update(bytes);
            return;
        }
        let end = self.len + bytes.len();
        if let Some(dst) = self.head.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
            return;
        }
        let mut s = Xxh3::new();
        s.update(self.head.get(..self.len).unwrap_or_default());
        s.update(bytes);
        self.stream = Some(s);
    }

    /// Adds one piece: its length, then its bytes.
    pub fn piece(&mut self, bytes: &[u8]) -> &mut Self {
        self.update(&length(bytes.len()));
        self.update(bytes);
        self
    }

    /// The hash of the pieces so far.
    pub fn finish(&self) -> Hash128 {
        Hash128(match &self.stream {
            Some(s) => s.digest128(),
            None => xxh3_128(self.head.get(..self.len).unwrap_or_default()),
        })
    }
}

/// Pieces written into a buffer and hashed in one shot: the same hash as a
/// [`Hasher`] fed the same pieces.
///
/// For a caller that renders a piece's bytes itself (an agent turn's
/// canonical JSON): it writes them in place, between [`Pieces::open`] and
/// [`Pieces::close`], and reads them back there, so they are written once
/// and never copied into a streaming hasher's state; xxh3 over one slice
/// is also cheaper than xxh3's streaming state fed piece by piece.
#[derive(Debug, Clone, Default)]
pub struct Pieces {
    buf: Vec<u8>,
}

/// Bytes of the length before each piece.
const LEN: usize = std::mem::size_of::<u64>();

/// The length written before a piece of `n` bytes: a little-endian `u64`.
fn length(n: usize) -> [u8; LEN] {
    (n as u64).to_le_bytes()
}

impl Pieces {
    /// Empty, with room for `bytes` bytes of pieces.
    pub fn with_capacity(bytes: usize) -> Pieces {
        Pieces {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Adds one piece: its length, then its bytes.
    pub fn piece(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.reserve(LEN + bytes.len());
        self.buf.extend_from_slice(&length(bytes.len()));
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Starts a piece whose bytes the caller appends to the returned
    /// buffer; [`Pieces::close`] with the returned offset (where they
    /// start) ends it.
    pub fn open(&mut self) -> (&mut Vec<u8>, usize) {
        self.buf.extend_from_slice(&[0; LEN]);
        let start = self.buf.len();
        (&mut self.buf, start)
    }

    /// The bytes appended since [`Pieces::open`] returned `start`.
    pub fn opened(&self, start: usize) -> &[u8] {
        self.buf.get(start..).unwrap_or_default()
    }

    /// Ends the piece opened at `start`: its length is what was appended
    /// since.
    pub fn close(&mut self, start: usize) {
        let len = length(self.buf.len().saturating_sub(start));
        if let Some(at) = start
            .checked_sub(LEN)
            .and_then(|from| self.buf.get_mut(from..start))
        {
            at.copy_from_slice(&len);
        }
    }

    /// Drops the piece opened at `start`, length and all.
    pub fn abandon(&mut self, start: usize) {
        self.buf.truncate(start.saturating_sub(LEN));
    }

    /// The hash of the pieces so far.
    pub fn finish(&self) -> Hash128 {
        Hash128(xxh3_128(&self.buf))
    }

    /// The buffer, emptied, for other use.
    pub fn into_buf(self) -> Vec<u8> {
        let mut buf = self.buf;
        buf.clear();
        buf
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Both paths (buffered, streaming) give xxh3-128 of the canonical
    /// bytes, at every split around the buffer's size.
    #[test]
    fn buffered_and_streaming_hashes_agree() {
        let text: Vec<u8> = (0..700u32).map(|i| (i * 7 % 251) as u8).collect();
        for first in [0, 1, 100, 239, 240, 247, 248, 256, 300, 700] {
            for second in [0, 1, 7, 8, 9, 200, 500] {
                let (a, b) = (&text[..first], &text[..second]);
                let mut canonical = Vec::new();
                for piece in [a, b] {
                    canonical.extend_from_slice(&(piece.len() as u64).to_le_bytes());
                    canonical.extend_from_slice(piece);
                }
                let mut streamed = Xxh3::new();
                streamed.update(&canonical);
                let mut h = Hasher::new();
                h.piece(a).piece(b);
                assert_eq!(h.finish().0, xxh3_128(&canonical), "{first}+{second}");
                assert_eq!(h.finish().0, streamed.digest128(), "{first}+{second}");
            }
        }
    }

    /// Pieces written in place (opened, appended, closed) or whole, with
    /// an abandoned one between, hash as a [`Hasher`] fed the kept ones.
    #[test]
    fn pieces_written_in_place_hash_as_the_hasher() {
        let text: Vec<u8> = (0..700u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 8, 200, 700] {
            let mut p = Pieces::with_capacity(16);
            p.piece(b"user");
            let (buf, start) = p.open();
            buf.extend_from_slice(b"dropped");
            p.abandon(start);
            let (buf, start) = p.open();
            buf.extend_from_slice(&text[..len]);
            assert_eq!(p.opened(start), &text[..len]);
            p.close(start);
            p.piece(b"assistant");
            let mut h = Hasher::new();
            h.piece(b"user").piece(&text[..len]).piece(b"assistant");
            assert_eq!(p.finish(), h.finish(), "{len}");
        }
    }
}
