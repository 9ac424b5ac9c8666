//! `[[limit]]`: output caps, retries and cancelling runaway repetition.

use super::keys::Keys;
use super::Build;
use crate::policy::{Limit, Repetition};

impl Build<'_> {
    pub(super) fn limit(&mut self, k: &mut Keys<'_, '_>) -> Option<Limit> {
        let d = &mut self.d;
        let max_output_tokens = k.u32(d, "max_output_tokens", 1);
        let max_attempts = k.u32(d, "max_attempts", 1);
        let retry_budget_pct = k.f64(d, "retry_budget_pct", 0.0, 1000.0);
        let cancel_on_repetition = k.bool(d, "cancel_on_repetition").unwrap_or(false);
        let mut repetition = Repetition::default();
        if let Some(mut rk) = k.table(d, "repetition") {
            if let Some(n) = rk.u32(d, "ngram", 1) {
                repetition.ngram = n;
            }
            if let Some(n) = rk.u32(d, "repeats", 2) {
                repetition.repeats = n;
            }
            rk.finish(d, "`repetition`");
        }
        if k.is_quiet() {
            return None;
        }
        Some(Limit {
            max_output_tokens,
            max_attempts,
            retry_budget_pct,
            cancel_on_repetition,
            repetition,
        })
    }
}
