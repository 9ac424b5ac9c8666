//! `[policy]`: the policy's name, default model and redaction list.

use super::keys::{Keys, Val};
use super::Build;

impl Build<'_> {
    pub(super) fn policy_table(&mut self, v: &Val<'_>) {
        let Some(t) = self.d.table(v, "policy") else {
            return;
        };
        let span = self.key_span_or(v);
        if let Some(prev) = self.policy_span {
            let loc = self.sources.location(prev);
            self.error(
                "duplicate",
                span,
                "`[policy]` is defined twice".to_string(),
                Some(format!("it is already defined at {loc}; keep one")),
            );
            return;
        }
        self.policy_span = Some(span);
        let d = &mut self.d;
        let mut k = Keys::new(t);
        let name = k.str(d, "name").map(|(s, _)| s);
        self.policy_name = k.required(d, name, "name", span, "[policy]", "\"my-app\"");
        let dm = k.str(d, "default_model");
        self.default_model = k.required(d, dm, "default_model", span, "[policy]", "\"sonnet\"");
        if let Some(list) = k.str_list(d, "redact") {
            self.redact = list;
        }
        let _ = k.str(d, "description");
        // Read before the build (see `policy_prices`); here only its type is checked.
        let _ = k.str(d, "prices");
        k.finish(d, "[policy]");
    }
}
