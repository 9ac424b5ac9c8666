//! Retries in replay: the retry budget's spend per feature, the recorded
//! attempts kept under a rule's cap, and ServeGen windows expanded into
//! per-request events.

use super::*;

/// Retry spend and total spend per feature, replayed: the gate's
/// `RetryBudget` rule (a feature with no spend yet may retry).
#[derive(Default)]
pub(super) struct RetrySpend {
    /// `(total, retries)` in nano-dollars.
    by_feature: FxHashMap<String, (u128, u128)>,
}

impl RetrySpend {
    pub(super) fn allows(&self, feature: &str, pct: f64) -> bool {
        self.by_feature
            .get(feature)
            .is_none_or(|&(total, retries)| retry_share_within(retries, total, pct))
    }

    pub(super) fn record(&mut self, feature: &str, nanos: u128, is_retry: bool) {
        let entry = match self.by_feature.get_mut(feature) {
            Some(e) => e,
            None => self.by_feature.entry(feature.to_owned()).or_default(),
        };
        entry.0 = entry.0.saturating_add(nanos);
        if is_retry {
            entry.1 = entry.1.saturating_add(nanos);
        }
    }
}

/// One prompt-cache step applied to a request's usage (the input split
/// into uncached, read and written tokens) and counted in the tally, for
/// `n` identical requests.
pub(super) fn apply_step(
    usage: &mut Usage,
    pc: &mut PromptTally,
    step: PrefixStep,
    input_tokens: u64,
    ttl: CacheTtl,
    n: u64,
) {
    usage.input_tokens = input_tokens - step.read - step.write;
    usage.cache_read_input_tokens = step.read;
    usage.cache_write_input_tokens = step.write;
    if ttl == CacheTtl::OneHour {
        usage.cache_write_1h_input_tokens = step.write;
    }
    if step.point {
        pc.with_point += n;
    }
    if step.read > 0 {
        pc.reading += n;
    }
    pc.input_tokens += u128::from(input_tokens) * u128::from(n);
    pc.read_tokens += u128::from(step.read) * u128::from(n);
    pc.write_tokens += u128::from(step.write) * u128::from(n);
}

/// The tokens of `kept` of a call's `attempts` attempts: every count of
/// `usage` (summed over the attempts) x `kept / attempts`, rounded down.
/// Attempts are assumed alike, the recorded usage not telling them apart.
pub fn kept_attempts(usage: Usage, kept: u32, attempts: u32) -> Usage {
    let part = |t: u64| {
        u64::try_from(u128::from(t) * u128::from(kept) / u128::from(attempts.max(1))).unwrap_or(t)
    };
    Usage {
        input_tokens: part(usage.input_tokens),
        output_tokens: part(usage.output_tokens),
        cache_read_input_tokens: part(usage.cache_read_input_tokens),
        cache_write_input_tokens: part(usage.cache_write_input_tokens),
        cache_write_1h_input_tokens: part(usage.cache_write_1h_input_tokens),
    }
}

/// Spacing of the expanded requests of a weighted (ServeGen) request: its
/// window.
pub(super) const WINDOW_MS: u64 = crate::input::SERVEGEN_WINDOW_S * 1000;

/// Hands one event per request `r` stands for to `emit`: a plain request is
/// one event; a weighted one (a ServeGen window of `count` requests) is
/// `count` events, identical but for their request ids (`replay-I-K`) and
/// timestamps, spread evenly over the window (`at + K x 600 s / count`),
/// so that summing `cost_nanos` per day and feature gives the replay's
/// figures exactly. A window of 0 requests emits nothing.
pub(super) fn emit_expanded(
    emit: &mut EventSink<'_>,
    mut ev: CallEvent,
    r: &crate::trace::TraceRequest,
    i: usize,
) -> Result<(), ReplayError> {
    if r.count == 1 {
        return emit(&ev).map_err(ReplayError::Emit);
    }
    for k in 0..r.count {
        let offset =
            u64::try_from(u128::from(k) * u128::from(WINDOW_MS) / u128::from(r.count)).unwrap_or(0);
        ev.timestamp = Timestamp::from_unix_ms(
            i64::try_from(r.at_ms.saturating_add(offset)).unwrap_or(i64::MAX),
        );
        ev.request_id = format!("replay-{i}-{k}");
        emit(&ev).map_err(ReplayError::Emit)?;
    }
    Ok(())
}

/// How many call events [`replay_emitting`] hands out for a trace: one per
/// request, weighted requests expanded (check it against a bound before
/// emitting: the 43 ServeGen files expand to about 1.4 billion).
pub fn emitted_event_count(trace: &Trace) -> u64 {
    trace.request_count()
}
