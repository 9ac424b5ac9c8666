//! Retries owned by tollgate, not the SDK: one rule, one loop (`run`),
//! shared by Converse, ConverseStream (up to its first event),
//! embeddings and batch job submission.
//!
//! The SDK's retry loop is invisible from outside: it cannot count the
//! attempts into the call event, cannot move a throttled call to the
//! route's `fallback` model, and shares one token bucket across every
//! client in the process. So the gate builds its client with retries
//! disabled and runs this loop itself: which errors are retried and on
//! which model ([`classify`]), how long to wait (exponential backoff with
//! full jitter, so synchronised clients spread out, and never less than a
//! `Retry-After` / `x-amz-retry-after` header asks), how long one attempt
//! may take ([`Timeouts`]), and the per-feature retry budget
//! (`retry_budget_pct`) that stops a retry storm from multiplying a
//! feature's spend.

use crate::error::GateError;
use crate::sdk::Failure;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// Attempts when the matched `[[limit]]` sets no `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Backoff between attempts: `min(max, initial * 2^(n-1))`, fully
/// jittered, and never less than the wait a `Retry-After` or
/// `x-amz-retry-after` header of the failed attempt asks for (up to
/// `retry_after_cap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Before the first retry (before jitter).
    pub initial: Duration,
    /// The most any jittered wait may be.
    pub max: Duration,
    /// The most a `Retry-After` / `x-amz-retry-after` header can make the
    /// gate wait (a longer ask is waited this long).
    pub retry_after_cap: Duration,
}

/// [`Backoff::retry_after_cap`] by default: 20 seconds.
pub const DEFAULT_RETRY_AFTER_CAP: Duration = Duration::from_secs(20);

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
        }
    }
}

impl Backoff {
    /// No jittered waiting (tests); a `Retry-After` header is still
    /// honoured, up to the default cap.
    pub fn none() -> Backoff {
        Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
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

    /// The wait before retry number `retry` after a failure whose
    /// response asked for `retry_after`: the jittered delay, or the
    /// header's wait (capped) when that is longer.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let asked = retry_after.map_or(Duration::ZERO, |d| d.min(self.retry_after_cap));
        self.delay(retry).max(asked)
    }
}

/// How long one attempt may take before the gate gives up on it (and,
/// as for a transport error, retries the same model).
///
/// A timed-out Converse attempt or a stream that sent no first event may
/// already have been billed by Bedrock; the gate retries it anyway, as it
/// does a dropped connection: an answer is worth more than the risk of
/// paying twice for one attempt. Set a limit to `Duration::MAX` to turn it
/// off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A Converse, InvokeModel (embeddings) or CreateModelInvocationJob
    /// attempt, from sending to the whole response. Default 300 s: a long
    /// answer (tens of thousands of output tokens) takes minutes.
    pub attempt: Duration,
    /// A ConverseStream attempt, from sending to its first event.
    /// Default 60 s.
    pub first_event: Duration,
    /// Between two events of a stream, once the first has arrived (a
    /// stall past it ends the stream with [`GateError::Timeout`]; it is
    /// not retried, part of the answer is delivered). Default 60 s.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            attempt: Duration::from_secs(300),
            first_event: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

/// How an error bears on the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Retry on the next model in the fallback order (the same model when
    /// none is left): the model is saturated, unavailable or cold.
    RetryFallback,
    /// Retry the same model first: once in place, then (failing the same
    /// way again) on the next model in the fallback order.
    Retry,
    /// Give up: it would fail again.
    Fatal,
}

/// Classifies a Bedrock error code. Throttling, service unavailable and
/// model-not-ready move to the next fallback model; internal errors,
/// model timeouts and model errors (a stream's model error before its
/// first event too) retry the same model first. Everything else
/// (validation, access denied, not found, quota) would fail again.
pub fn classify(code: &str) -> Class {
    match code {
        "ThrottlingException"
        | "TooManyRequestsException"
        | "ServiceUnavailableException"
        | "ModelNotReadyException" => Class::RetryFallback,
        "InternalServerException"
        | "ModelTimeoutException"
        | "ModelErrorException"
        | "ModelStreamErrorException" => Class::Retry,
        _ => Class::Fatal,
    }
}

/// Classifies an HTTP error status that came without a Bedrock error code,
/// as the SDK's own retry does: 429 is throttling and 503 unavailability
/// (next fallback model), 500, 502 and 504 are transient (same model
/// first); any other status would fail again.
pub fn classify_status(status: u16) -> Class {
    match status {
        429 | 503 => Class::RetryFallback,
        500 | 502 | 504 => Class::Retry,
        _ => Class::Fatal,
    }
}

/// The class of an attempt's failure: Bedrock's code or the bare
/// status; a dropped connection and a per-attempt timeout retry the same
/// model first; an unreadable answer or a request the SDK could not build
/// is not retried.
pub fn class_of(f: &Failure) -> Class {
    match f {
        Failure::Service { code, .. } => classify(code),
        Failure::Status { status, .. } => classify_status(*status),
        Failure::Transport(_) | Failure::Timeout(_) => Class::Retry,
        Failure::Malformed(_) | Failure::Request(_) => Class::Fatal,
    }
}

/// One attempt of the loop: its place in the fallback order and its
/// number (1 = the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Index into the call's fallback order.
    pos: usize,
    /// Attempt number, the first is 1.
    n: u32,
}

impl Step {
    /// The attempt's place in the call's fallback order.
    pub(crate) fn pos(self) -> usize {
        self.pos
    }

    /// The attempt's number, the first is 1.
    pub(crate) fn n(self) -> u32 {
        self.n
    }
}

/// What the loop needs to know about one call.
pub(crate) struct Rule<'a> {
    /// Places in the fallback order (1: no fallback).
    places: usize,
    /// Attempts at most, the first included.
    max_attempts: u32,
    /// The feature's retry budget: `(budget, feature, retry_budget_pct)`.
    budget: Option<(&'a RetryBudget, &'a str, f64)>,
    backoff: &'a Backoff,
    /// The per-attempt time limit.
    timeout: Duration,
    /// Places entered only straight after a throttle on the place before
    /// (a flex attempt's default-tier retry on the same model): any other
    /// move skips them. Indexed by place; a missing entry is `false`.
    throttle_only: &'a [bool],
}

impl<'a> Rule<'a> {
    /// A rule over `places` (at least 1) without throttle-only places.
    pub(crate) fn new(
        places: usize,
        max_attempts: u32,
        budget: Option<(&'a RetryBudget, &'a str, f64)>,
        backoff: &'a Backoff,
        timeout: Duration,
    ) -> Rule<'a> {
        Rule {
            places: places.max(1),
            max_attempts,
            budget,
            backoff,
            timeout,
            throttle_only: &[],
        }
    }

    /// The rule with `throttle_only` places (indexed by place).
    pub(crate) fn with_throttle_only(mut self, throttle_only: &'a [bool]) -> Rule<'a> {
        self.throttle_only = throttle_only;
        self
    }
}

impl Rule<'_> {
    fn throttle_only(&self, pos: usize) -> bool {
        self.throttle_only.get(pos).copied().unwrap_or(false)
    }

    /// The next place after `pos` that any move may enter.
    fn later(&self, pos: usize) -> Option<usize> {
        (pos + 1..self.places).find(|&p| !self.throttle_only(p))
    }
}

/// The loop gave up.
#[derive(Debug)]
pub(crate) struct GaveUp {
    error: GateError,
    /// The last failure was a throttle.
    throttled: bool,
    /// The last attempt.
    step: Step,
}

impl GaveUp {
    /// The last attempt.
    pub(crate) fn step(&self) -> Step {
        self.step
    }

    /// The last failure was a throttle.
    pub(crate) fn throttled(&self) -> bool {
        self.throttled
    }

    /// The error the call fails with.
    pub(crate) fn into_error(self) -> GateError {
        self.error
    }
}

/// The retry loop every Bedrock call runs: sends attempt after attempt
/// (each under the rule's time limit) until one answers, a failure is
/// fatal, the attempts or the feature's retry budget are spent. `send`
/// sends the attempt at `step.pos` of the fallback order; the answer comes
/// back with the step that got it; `record` sees every attempt's outcome
/// (a timed-out one as [`Failure::Timeout`]).
pub(crate) async fn run<T, F, Fut>(
    rule: &Rule<'_>,
    mut send: F,
    mut record: impl FnMut(Step, Result<&T, &Failure>),
) -> Result<(T, Step), GaveUp>
where
    F: FnMut(Step) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut step = Step { pos: 0, n: 1 };
    let mut in_place = 0u32;
    loop {
        let failure = match within(rule.timeout, std::pin::pin!(send(step))).await {
            Some(Ok(v)) => {
                record(step, Ok(&v));
                return Ok((v, step));
            }
            Some(Err(f)) => f,
            None => Failure::Timeout(rule.timeout),
        };
        record(step, Err(&failure));
        let wait = rule.backoff.wait(step.n, failure.retry_after());
        step = next(rule, failure, step, &mut in_place)?;
        tokio::time::sleep(wait).await;
    }
}

/// `fut`'s output, or `None` when `limit` passes first. Unlike
/// `tokio::time::timeout`, which takes the future by value and moves it
/// into its own, the attempt (the SDK's send future: several KiB) is
/// pinned where it is built and never copied. The timer is polled outside
/// tokio's cooperative budget, so an attempt that spends the task's budget
/// cannot hold its own timeout back.
async fn within<F: Future>(limit: Duration, mut fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut sleep = std::pin::pin!(tokio::task::unconstrained(tokio::time::sleep(limit)));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        sleep.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// The step after a failed one, or the error to give up with.
fn next(rule: &Rule<'_>, failure: Failure, step: Step, in_place: &mut u32) -> Result<Step, GaveUp> {
    if let Some((budget, feature, _)) = rule.budget {
        budget.record(feature, 0, step.n > 1);
    }
    let class = class_of(&failure);
    let budget_ok = rule
        .budget
        .is_none_or(|(b, feature, pct)| b.allows(feature, pct));
    let throttled = failure.is_throttling();
    if class == Class::Fatal || step.n >= rule.max_attempts || !budget_ok {
        let error = match rule.budget {
            Some((_, feature, _)) if class != Class::Fatal && step.n < rule.max_attempts => {
                GateError::RetryBudget {
                    feature: feature.to_string(),
                    code: failure.code().into_owned(),
                }
            }
            _ => failure.into_error(step.n),
        };
        return Err(GaveUp {
            error,
            throttled,
            step,
        });
    }
    let later = rule.later(step.pos);
    let pos = match class {
        Class::RetryFallback => {
            let tier_retry = (step.pos + 1 < rule.places && rule.throttle_only(step.pos + 1))
                .then_some(step.pos + 1)
                .filter(|_| throttled);
            tier_retry.or(later).unwrap_or(step.pos)
        }
        _ if *in_place == 0 => step.pos,
        _ => later.unwrap_or(step.pos),
    };
    *in_place = if pos == step.pos { *in_place + 1 } else { 0 };
    Ok(Step { pos, n: step.n + 1 })
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
            tollgate_cost::retry_share_within(s.retries.into(), s.total.into(), pct)
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
            retry_after_cap: Duration::from_millis(40),
        };
        for _ in 0..100 {
            assert!(b.delay(1) <= Duration::from_millis(10));
            assert!(b.delay(2) <= Duration::from_millis(20));
            assert!(b.delay(5) <= Duration::from_millis(25));
        }
        assert_eq!(Backoff::none().delay(3), Duration::ZERO);
        assert_eq!(
            Backoff::none().wait(1, Some(Duration::from_millis(30))),
            Duration::from_millis(30)
        );
        assert!(b.wait(1, Some(Duration::from_secs(9))) == Duration::from_millis(40));
    }

    #[test]
    fn throttling_falls_back_and_validation_is_fatal() {
        assert_eq!(classify("ThrottlingException"), Class::RetryFallback);
        assert_eq!(classify("ModelNotReadyException"), Class::RetryFallback);
        assert_eq!(
            classify("ServiceUnavailableException"),
            Class::RetryFallback
        );
        assert_eq!(classify("InternalServerException"), Class::Retry);
        assert_eq!(classify("ModelErrorException"), Class::Retry);
        assert_eq!(classify("AccessDeniedException"), Class::Fatal);
        assert_eq!(classify("ModelTimeoutException"), Class::Retry);
        assert_eq!(classify("ValidationException"), Class::Fatal);
        assert_eq!(classify_status(429), Class::RetryFallback);
        assert_eq!(classify_status(503), Class::RetryFallback);
        assert_eq!(classify_status(500), Class::Retry);
        assert_eq!(classify_status(504), Class::Retry);
        assert_eq!(classify_status(501), Class::Fatal);
        assert_eq!(classify_status(403), Class::Fatal);
    }

    fn rule<'a>(places: usize, throttle_only: &'a [bool], backoff: &'a Backoff) -> Rule<'a> {
        Rule {
            places,
            max_attempts: 10,
            budget: None,
            backoff,
            timeout: Duration::from_secs(1),
            throttle_only,
        }
    }

    fn service(code: &str) -> Failure {
        Failure::Service {
            code: code.into(),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn a_throttle_only_place_is_entered_only_after_a_throttle_on_the_place_before() {
        let b = Backoff::none();
        // A@flex, A@default (throttle only), B.
        let r = rule(3, &[false, true, false], &b);
        let at = |pos, n| Step { pos, n };
        let go = |f: Failure, s: Step| {
            let mut in_place = 0;
            next(&r, f, s, &mut in_place).map(|s| s.pos).ok()
        };
        assert_eq!(go(service("ThrottlingException"), at(0, 1)), Some(1));
        assert_eq!(
            go(service("ServiceUnavailableException"), at(0, 1)),
            Some(2)
        );
        assert_eq!(go(service("ModelNotReadyException"), at(0, 1)), Some(2));
        assert_eq!(go(service("ThrottlingException"), at(1, 2)), Some(2));
        // Last place: the same model again.
        assert_eq!(go(service("ThrottlingException"), at(2, 3)), Some(2));
        // A retry in place, then on to the next place any move may enter.
        let mut in_place = 1;
        let s = next(
            &r,
            service("InternalServerException"),
            at(0, 2),
            &mut in_place,
        );
        assert_eq!(s.map(|s| s.pos).ok(), Some(2));
        // Without throttle-only places, a throttle moves to the next place.
        let plain = rule(3, &[], &b);
        let mut in_place = 0;
        let s = next(
            &plain,
            service("ThrottlingException"),
            at(0, 1),
            &mut in_place,
        );
        assert_eq!(s.map(|s| s.pos).ok(), Some(1));
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
