//! `[alerts]`: `[alerts.spend_spike]`.

use super::keys::{Keys, Val};
use super::Build;
use crate::policy::SpendSpike;
use crate::schema::Type;

impl Build<'_> {
    pub(super) fn alerts(&mut self, v: &Val<'_>) {
        let Some(t) = self.d.table(v, "alerts") else {
            return;
        };
        let mut k = Keys::new(t);
        let sv = k.get("spend_spike");
        k.finish(&mut self.d, "[alerts]");
        let Some(sv) = sv else {
            return;
        };
        let Some(st) = self.d.table(sv, "alerts.spend_spike") else {
            return;
        };
        let here = self.key_span_or(sv);
        if let Some(prev) = self.spend_spike_span {
            let loc = self.sources.location(prev);
            self.error(
                "duplicate",
                here,
                "`[alerts.spend_spike]` is defined twice",
                Some(format!("it is already defined at {loc}; keep one")),
            );
            return;
        }
        self.spend_spike_span = Some(here);
        let d = &mut self.d;
        let mut k = Keys::new(st);
        let factor = k.f64(d, "factor", 1.0, 1000.0).unwrap_or(2.0);
        let trailing_days = k.u32(d, "trailing_days", 1).unwrap_or(7);
        if trailing_days > 90 {
            let span = k.get("trailing_days").map(|v| d.sp(v)).unwrap_or_default();
            d.error(
                "invalid-value",
                span,
                "`trailing_days` must be at most 90",
                None,
            );
        }
        let min = k.f64(d, "min_daily_usd", 0.0, 1e9).unwrap_or(5.0);
        let group_by = k.str(d, "group_by");
        k.finish(d, "[alerts.spend_spike]");
        let group_by = match group_by {
            // Default: by feature, when the policy has a `feature` string attribute.
            None => self
                .schema
                .id("feature")
                .filter(|id| self.schema.get(*id).map(|d| d.ty) == Some(Type::String)),
            Some((s, _)) if s == "global" => None,
            Some((s, sp)) => self.string_attr(&s, sp, "group_by"),
        };
        self.spend_spike = Some(SpendSpike {
            factor,
            trailing_days,
            min_daily_nanos: (min * 1e9).round() as u64,
            group_by,
        });
    }
}
