//! `[[route]]`: which model serves the request, its output cap and fallbacks.

use super::keys::Keys;
use super::Build;
use crate::policy::Route;
use crate::source::Span;

impl Build<'_> {
    /// A route's keys; missing ones are reported at `at`.
    pub(super) fn route(&mut self, k: &mut Keys<'_, '_>, at: Span) -> Option<Route> {
        let d = &mut self.d;
        let model = k.str(d, "model");
        let model = k.required(d, model, "model", at, "a [[route]] rule", "\"haiku\"");
        let max_output_tokens = k.u32(d, "max_output_tokens", 1);
        let fallback = k.str_list(d, "fallback").unwrap_or_default();
        if k.is_quiet() {
            return None;
        }
        let model = model.and_then(|(m, s)| self.model_ref(&m, s));
        let fallback = fallback
            .into_iter()
            .filter_map(|(alias, s)| self.model_ref(&alias, s))
            .collect();
        Some(Route {
            model: model?,
            max_output_tokens,
            fallback,
        })
    }
}
