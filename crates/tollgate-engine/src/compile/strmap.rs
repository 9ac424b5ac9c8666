//! String constants looked up by a request's string: the keys of a string
//! switch, the set of a string predicate, a list literal of strings.
//!
//! Each key is stored with its length and two words that together hold all
//! its bytes when it has at most 16, and a lookup packs the probe the same
//! way once. Such a key equals the probe exactly when the three numbers do,
//! so the short values policies mostly hold (`"kb"`, `"pro"`,
//! `"us-east-1"`) are compared without a call to `memcmp`. Up to
//! [`LINEAR`] keys are scanned in order (cheaper than hashing); larger maps
//! are open-addressed tables, at most half full, hashed from the packed
//! words (from every byte for keys longer than 16).
//!
//! `hashbrown` with `FxHash`, the first version, spent about 80 instructions
//! per lookup (hash, probe, `memcmp` through the PLT); this spends 10 to 40.

use rustc_hash::FxHasher;
use std::hash::Hasher;

/// Maps of at most this many keys are scanned, not hashed.
const LINEAR: usize = 8;

/// A string packed for comparison: its length and two words that hold
/// every byte of a string of at most 16 bytes (overlapping loads, as in
/// rustc-hash's short-string path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe<'a> {
    lo: u64,
    hi: u64,
    len: usize,
    bytes: &'a [u8],
}

#[inline]
fn word8(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
}

#[inline]
fn word4(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .map_or(0, |w| u32::from_le_bytes(w) as u64)
}

impl<'a> Probe<'a> {
    #[inline(always)]
    pub(crate) fn new(s: &'a str) -> Probe<'a> {
        let b = s.as_bytes();
        let len = b.len();
        let (lo, hi) = if len >= 8 {
            (word8(b, 0), word8(b, len - 8))
        } else if len >= 4 {
            (word4(b, 0) | word4(b, len - 4) << 32, 0)
        } else if len > 0 {
            let at = |i: usize| b.get(i).copied().unwrap_or(0) as u64;
            (at(0) | at(len / 2) << 8 | at(len - 1) << 16, 0)
        } else {
            (0, 0)
        };
        Probe {
            lo,
            hi,
            len,
            bytes: b,
        }
    }

    #[inline]
    fn hash(&self) -> u64 {
        let h = if self.len <= 16 {
            (self.lo ^ self.hi.rotate_left(23)) ^ (self.len as u64).rotate_left(56)
        } else {
            let mut h = FxHasher::default();
            h.write(self.bytes);
            h.finish()
        };
        let m = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        m ^ (m >> 29)
    }
}

#[derive(Debug, Clone)]
struct Slot<V> {
    lo: u64,
    hi: u64,
    /// `usize::MAX` marks a free slot of a table.
    len: usize,
    key: Box<str>,
    value: V,
}

impl<V> Slot<V> {
    #[inline]
    fn matches(&self, p: &Probe<'_>) -> bool {
        self.lo == p.lo
            && self.hi == p.hi
            && self.len == p.len
            && (p.len <= 16 || *self.key.as_bytes() == *p.bytes)
    }
}

/// A map from string constants to small values.
#[derive(Debug, Clone)]
pub(crate) struct StrMap<V> {
    slots: Box<[Slot<V>]>,
    /// `capacity - 1` for a table; `0` for a list scanned in order.
    mask: usize,
}

impl<V: Copy + Default> StrMap<V> {
    /// Build from distinct keys (a repeated key keeps its first value).
    pub(crate) fn new(items: Vec<(Box<str>, V)>) -> StrMap<V> {
        let mut seen = rustc_hash::FxHashSet::default();
        let items: Vec<_> = items
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect();
        let len = items.len();
        let slot = |key: Box<str>, value: V| {
            let p = Probe::new(&key);
            Slot {
                lo: p.lo,
                hi: p.hi,
                len: p.len,
                value,
                key,
            }
        };
        if len <= LINEAR {
            return StrMap {
                slots: items.into_iter().map(|(k, v)| slot(k, v)).collect(),
                mask: 0,
            };
        }
        let cap = (len * 2).next_power_of_two();
        let mut slots: Vec<Slot<V>> = (0..cap)
            .map(|_| Slot {
                lo: 0,
                hi: 0,
                len: usize::MAX,
                key: Box::from(""),
                value: V::default(),
            })
            .collect();
        let mask = cap - 1;
        for (k, v) in items {
            let s = slot(k, v);
            let mut i = Probe::new(&s.key).hash() as usize & mask;
            // INVARIANT: the table is at most half full, so a free slot exists.
            while slots.get(i).is_some_and(|x| x.len != usize::MAX) {
                i = (i + 1) & mask;
            }
            if let Some(free) = slots.get_mut(i) {
                *free = s;
            }
        }
        StrMap {
            slots: slots.into_boxed_slice(),
            mask,
        }
    }

    /// The value of a key.
    #[inline]
    pub(crate) fn get(&self, p: &Probe<'_>) -> Option<V> {
        if self.mask == 0 {
            return self.slots.iter().find(|s| s.matches(p)).map(|s| s.value);
        }
        let mut i = p.hash() as usize & self.mask;
        for _ in 0..self.slots.len() {
            let s = self.slots.get(i)?;
            if s.len == usize::MAX {
                return None;
            }
            if s.matches(p) {
                return Some(s.value);
            }
            i = (i + 1) & self.mask;
        }
        None
    }
}

/// A set of string constants.
pub(crate) type KeySet = StrMap<()>;

impl KeySet {
    pub(crate) fn of(items: Vec<Box<str>>) -> KeySet {
        StrMap::new(items.into_iter().map(|k| (k, ())).collect())
    }

    #[inline]
    pub(crate) fn contains(&self, s: &str) -> bool {
        self.get(&Probe::new(s)).is_some()
    }
}
