//! `[[budget]]`: a daily spend cap per group, and what happens past it.

use super::keys::Keys;
use super::Build;
use crate::policy::{Budget, BudgetAction};
use crate::source::Span;

impl Build<'_> {
    /// A budget rule's keys; missing ones are reported at `at`.
    pub(super) fn budget(&mut self, k: &mut Keys<'_, '_>, at: Span) -> Option<Budget> {
        let what = "a [[budget]] rule";
        let d = &mut self.d;
        let usd = k.f64(d, "daily_usd", 0.0, 1e9);
        let usd = k.required(d, usd, "daily_usd", at, what, "100.0");
        let group_by = k.str(d, "group_by");
        let action = k.str(d, "action");
        let action = k.required(d, action, "action", at, what, "\"reject\"");
        if k.is_quiet() {
            return None;
        }
        let group_by = match group_by {
            None => Some(None),
            Some((s, _)) if s == "global" => Some(None),
            Some((s, sp)) => self.string_attr(&s, sp, "group_by").map(Some),
        };
        let action = action.and_then(|(a, sp)| {
            if a == "reject" {
                Some(BudgetAction::Reject)
            } else if let Some(alias) = a.strip_prefix("downgrade:") {
                // Point at the alias inside the string (past the quote and `downgrade:`).
                let at = Span {
                    start: sp.start + 1 + 10,
                    end: sp.end.saturating_sub(1).max(sp.start + 11),
                    ..sp
                };
                self.model_ref(alias.trim(), at)
                    .map(BudgetAction::Downgrade)
            } else {
                self.error(
                    "invalid-value",
                    sp,
                    format!("unknown budget action `{a}`"),
                    Some("write `\"reject\"` or `\"downgrade:ALIAS\"`".into()),
                );
                None
            }
        });
        Some(Budget {
            daily_nanos: (usd? * 1e9).round() as u64,
            group_by: group_by?,
            action: action?,
        })
    }
}
