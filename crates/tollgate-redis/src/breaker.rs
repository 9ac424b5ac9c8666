//! The circuit breaker every store of a [`Redis`](crate::Redis) handle
//! shares (see the crate doc for its rules).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The circuit breaker: consecutive faults trip it; while open every call
/// is refused at once. When the back-off ends it is half-open: one call at
/// a time goes through as the probe and every other call is refused as if
/// it were open, until the probe's result closes the breaker (an answer)
/// or trips it again (a fault).
pub(crate) struct Breaker {
    failures: AtomicU32,
    /// End of the back-off, nanoseconds after `epoch` (0: closed).
    open_until: AtomicU64,
    /// The half-open probe in flight: its number (0: none).
    probe: AtomicU64,
    /// Numbers handed to probes so far.
    probes: AtomicU64,
    epoch: Instant,
    trip_after: u32,
    backoff: Duration,
}

/// A call the breaker let through; a probe's place is given back when it
/// is dropped, settled or not (a cancelled probe leaves the breaker
/// half-open, and the next call probes).
#[must_use]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    /// This call's probe number (0: not a probe; the breaker was closed).
    pub(crate) probe: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe != 0 {
            // Only our own number: a later probe's place is not ours.
            let _ = self.breaker.probe.compare_exchange(
                self.probe,
                0,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
}

impl Breaker {
    pub(crate) fn new(trip_after: u32, backoff: Duration) -> Breaker {
        Breaker {
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probe: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            epoch: Instant::now(),
            trip_after: trip_after.max(1),
            backoff,
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether a call now would be refused: the back-off is running, or
    /// it ended and a probe is in flight.
    pub(crate) fn open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && (self.now_ns() < until || self.probe.load(Ordering::Acquire) != 0)
    }

    /// Lets a call through (`Some`), or refuses it (`None`): while the
    /// back-off runs, and while half-open unless it is the one probe.
    pub(crate) fn admit(&self) -> Option<Permit<'_>> {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Some(Permit {
                breaker: self,
                probe: 0,
            });
        }
        if self.now_ns() < until {
            return None;
        }
        let n = self
            .probes
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            .max(1);
        self.probe
            .compare_exchange(0, n, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let permit = Permit {
            breaker: self,
            probe: n,
        };
        // The previous probe may have settled between the two loads: a
        // breaker it tripped again refuses, one it closed admits freely.
        match self.open_until.load(Ordering::Acquire) {
            0 => Some(Permit {
                breaker: self,
                probe: 0,
            }),
            again if self.now_ns() < again => None,
            _ => Some(permit),
        }
    }

    pub(crate) fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.open_until.load(Ordering::Acquire) != 0 {
            self.open_until.store(0, Ordering::Release);
        }
    }

    /// Counts a fault; `true` when it trips the breaker.
    pub(crate) fn fault(&self) -> bool {
        let f = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if f < self.trip_after {
            return false;
        }
        let backoff = u64::try_from(self.backoff.as_nanos()).unwrap_or(u64::MAX);
        let until = self.now_ns().saturating_add(backoff).max(1);
        self.open_until.store(until, Ordering::Release);
        true
    }
}
