//! Retries owned by tollgate, not the SDK.
//!
//! The SDK's retry loop is invisible from outside: it cannot count the
//! attempts into the call event, cannot move a throttled call to the
//! route's `fallback` model, and shares one token bucket across every
//! client in the process. So the gate builds its client with retries
//! disabled and runs this loop itself: which errors are retried, how long
//! to wait (exponential backoff with full jitter, so synchronised clients
//! spread out), and the per-feature retry budget (`retry_budget_pct`) that
//! stops a retry storm from multiplying a feature's spend.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;

/// Attempts when the matched `[[limit]]` sets no `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Backoff between attempts: `min(max, initial * 2^(n-1))`, fully jittered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Before the first retry (before jitter).
    pub initial: Duration,
    /// The most any wait may be.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// No waiting at all (tests).
    pub fn none() -> Backoff {
        Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
        }
    }

    /// The wait before retry number `retry` (1 = the first retry): a
    /// uniform draw in `[0, min(max, initial * 2^(retry-1))]`.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        let ceiling = self.initial.saturating_mul(1u32 << exp).min(self.max);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// How an error bears on the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Retry; on the route's next fallback model if there is one.
    RetryFallback,
    /// Retry the same model.
    Retry,
    /// Give up.
    Fatal,
}

/// Classifies a Bedrock error code. Throttling and model-not-ready move
/// to the fallback model (the model is saturated or cold); service
/// unavailable, internal errors and model timeouts are retried as they
/// are. Everything else (validation, access, not found, model errors) would
/// fail again.
pub fn classify(code: &str) -> Class {
    match code {
        "ThrottlingException" | "ModelNotReadyException" | "TooManyRequestsException" => {
            Class::RetryFallback
        }
        "ServiceUnavailableException" | "InternalServerException" | "ModelTimeoutException" => {
            Class::Retry
        }
        _ => Class::Fatal,
    }
}

/// Classifies an HTTP error status that came without a Bedrock error code,
/// as the SDK's own retry does: 429 is throttling, 500, 502, 503 and 504
/// are transient; any other status would fail again.
pub fn classify_status(status: u16) -> Class {
    match status {
        429 => Class::RetryFallback,
        500 | 502 | 503 | 504 => Class::Retry,
        _ => Class::Fatal,
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Spend {
    total: u64,
    retries: u64,
}

/// Retry spend against total spend per feature, in this process, over
/// the calls whose limit sets a `retry_budget_pct` (the gate records only
/// those: the others have no budget to check, and skip the lock).
///
/// A retry is allowed while the feature's retry spend is at most
/// `retry_budget_pct` percent of its total spend (a fresh feature, with no
/// spend yet, may retry). "Retry spend" is the cost of every attempt after
/// a call's first.
#[derive(Debug, Default)]
pub struct RetryBudget {
    by_feature: Mutex<HashMap<String, Spend, foldhash::fast::RandomState>>,
}

impl RetryBudget {
    /// Records one attempt's cost.
    pub fn record(&self, feature: &str, nanos: u64, is_retry: bool) {
        let mut m = self.by_feature.lock();
        // Look up before inserting: `entry` would allocate the key on
        // every call, and a feature is almost always already there.
        let add = |s: &mut Spend| {
            s.total = s.total.saturating_add(nanos);
            if is_retry {
                s.retries = s.retries.saturating_add(nanos);
            }
        };
        match m.get_mut(feature) {
            Some(s) => add(s),
            None => add(m.entry(feature.to_string()).or_default()),
        }
    }

    /// May this feature retry under `pct`?
    pub fn allows(&self, feature: &str, pct: f64) -> bool {
        let m = self.by_feature.lock();
        m.get(feature).is_none_or(|s| {
            tollgate_cost::budget::retry_share_within(s.retries.into(), s.total.into(), pct)
        })
    }

    /// `(retry spend, total spend)` of a feature, nano-dollars.
    pub fn spend(&self, feature: &str) -> (u64, u64) {
        let m = self.by_feature.lock();
        m.get(feature).map_or((0, 0), |s| (s.retries, s.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_jittered_under_the_exponential_ceiling() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(25),
        };
        for _ in 0..100 {
            assert!(b.delay(1) <= Duration::from_millis(10));
            assert!(b.delay(2) <= Duration::from_millis(20));
            assert!(b.delay(5) <= Duration::from_millis(25));
        }
        assert_eq!(Backoff::none().delay(3), Duration::ZERO);
    }

    #[test]
    fn throttling_falls_back_and_validation_is_fatal() {
        assert_eq!(classify("ThrottlingException"), Class::RetryFallback);
        assert_eq!(classify("ModelNotReadyException"), Class::RetryFallback);
        assert_eq!(classify("ServiceUnavailableException"), Class::Retry);
        assert_eq!(classify("ModelTimeoutException"), Class::Retry);
        assert_eq!(classify("ValidationException"), Class::Fatal);
        assert_eq!(classify_status(429), Class::RetryFallback);
        assert_eq!(classify_status(503), Class::Retry);
        assert_eq!(classify_status(504), Class::Retry);
        assert_eq!(classify_status(501), Class::Fatal);
        assert_eq!(classify_status(403), Class::Fatal);
    }

    #[test]
    fn retry_budget_stops_when_retries_exceed_the_share() {
        let b = RetryBudget::default();
        assert!(b.allows("chat", 10.0));
        b.record("chat", 1000, false);
        b.record("chat", 100, true);
        assert!(b.allows("chat", 10.0));
        b.record("chat", 50, true);
        assert!(!b.allows("chat", 10.0));
        assert_eq!(b.spend("chat"), (150, 1150));
    }
}
