//! Counters of a [`ResponseCache`](crate::ResponseCache).
//!
//! The counters bumped on every hit (hits, avoided cost) are striped over
//! cache-line-padded cells picked by key bits, so threads serving hits on
//! different keys do not fight over one cache line; the rest are plain
//! atomics bumped once per model call, where a contended line is noise.

use crate::cacheable::NotCached;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

const STRIPES: usize = 16;

type Padded = CachePadded<AtomicU64>;

/// A counter spread over cache lines.
#[derive(Default)]
pub(crate) struct Striped([Padded; STRIPES]);

impl Striped {
    #[inline]
    pub(crate) fn add(&self, hint: u128, n: u64) {
        // INVARIANT: STRIPES is a power of two; bits 96.. of a key pick the cell.
        let i = ((hint >> 96) as usize) & (STRIPES - 1);
        if let Some(c) = self.0.get(i) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |s, c| s.wrapping_add(c.load(Ordering::Relaxed)))
    }
}

/// Why results were not stored, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotStoredCounts {
    /// Failed calls.
    pub error: u64,
    /// Throttled calls.
    pub throttled: u64,
    /// Answers cut by `max_tokens`.
    pub truncated: u64,
    /// Flagged by a guardrail.
    pub guardrail: u64,
    /// Stopped by content filtering.
    pub content_filtered: u64,
    /// Other stop reasons.
    pub other_stop: u64,
    /// Larger than the store accepts.
    pub too_large: u64,
}

/// A snapshot of a response cache's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups served from the store.
    pub hits: u64,
    /// Lookups that found nothing (including store errors and followers).
    pub misses: u64,
    /// Misses that waited for an identical call in flight.
    pub waited: u64,
    /// Waiters served the leader's answer.
    pub shared: u64,
    /// Waiters that had to call themselves (the leader's result was not
    /// cacheable, or the wait timed out).
    pub fallbacks: u64,
    /// Results stored.
    pub stored: u64,
    /// Results not stored, by reason.
    pub not_stored: NotStoredCounts,
    /// Store `get`s that failed or timed out (served uncached).
    pub get_errors: u64,
    /// Store `put`s that failed or timed out.
    pub put_errors: u64,
    /// Cost the hits and shared answers avoided, nano-dollars.
    pub avoided_nanos: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: Striped,
    pub(crate) avoided_nanos: Striped,
    pub(crate) misses: AtomicU64,
    pub(crate) waited: AtomicU64,
    pub(crate) shared: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) stored: AtomicU64,
    not_stored: [AtomicU64; 7],
    pub(crate) get_errors: AtomicU64,
    pub(crate) put_errors: AtomicU64,
}

fn slot(r: NotCached) -> usize {
    match r {
        NotCached::Error => 0,
        NotCached::Throttled => 1,
        NotCached::Truncated => 2,
        NotCached::Guardrail => 3,
        NotCached::ContentFiltered => 4,
        NotCached::OtherStop => 5,
        NotCached::TooLarge => 6,
    }
}

pub(crate) fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn not_stored(&self, r: NotCached) {
        if let Some(a) = self.not_stored.get(slot(r)) {
            bump(a);
        }
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let ns = |r: NotCached| self.not_stored.get(slot(r)).map_or(0, l);
        CacheStats {
            hits: self.hits.sum(),
            misses: l(&self.misses),
            waited: l(&self.waited),
            shared: l(&self.shared),
            fallbacks: l(&self.fallbacks),
            stored: l(&self.stored),
            not_stored: NotStoredCounts {
                error: ns(NotCached::Error),
                throttled: ns(NotCached::Throttled),
                truncated: ns(NotCached::Truncated),
                guardrail: ns(NotCached::Guardrail),
                content_filtered: ns(NotCached::ContentFiltered),
                other_stop: ns(NotCached::OtherStop),
                too_large: ns(NotCached::TooLarge),
            },
            get_errors: l(&self.get_errors),
            put_errors: l(&self.put_errors),
            avoided_nanos: self.avoided_nanos.sum(),
        }
    }
}
