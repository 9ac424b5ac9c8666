//! What every rule has: `name`, `when` and `description`; the section's
//! own keys are read by its file (`route.rs`, `cache.rs`, ...).

use super::keys::{Keys, Table, Val};
use super::Build;
use crate::policy::{Rule, Section};

impl Build<'_> {
    /// `[[SECTION]]`: an array of rule tables.
    pub(super) fn section(&mut self, sec: Section, v: &Val<'_>) {
        let name = sec.name();
        let Some(items) = v.get_ref().as_array() else {
            let span = self.sp(v);
            self.error(
                "wrong-type",
                span,
                format!("`{name}` must be an array of tables"),
                Some(format!("write `[[{name}]]` before each rule")),
            );
            return;
        };
        for item in items.iter() {
            let Some(t) = item.get_ref().as_table() else {
                let span = self.sp(item);
                self.error(
                    "wrong-type",
                    span,
                    format!("each `{name}` rule must be a table"),
                    Some(format!("write `[[{name}]]` before each rule")),
                );
                continue;
            };
            self.rule(sec, item, t);
        }
    }

    fn rule(&mut self, sec: Section, item: &Val<'_>, t: &Table<'_>) {
        let sname = sec.name();
        let what = format!("a [[{sname}]] rule");
        let at = self.key_span_or(item);
        let mut k = Keys::new(t);
        let name = k.str(&mut self.d, "name");
        let name = k.required(&mut self.d, name, "name", at, &what, "\"my-rule\"");
        let head = match name {
            None => None,
            Some((name, nspan)) => self.rule_name(sec, name, nspan),
        };
        if head.is_none() {
            // Its keys are still read, for unknown-key errors.
            k.quiet();
        }
        let when = k.get("when");
        let when = match head {
            Some(_) => self.when(when),
            None => None,
        };
        let _ = k.str(&mut self.d, "description");
        // Where a missing key of the section is reported: at the rule's name.
        let at = head.as_ref().map_or(at, |(_, nspan)| *nspan);
        match sec {
            Section::Route => {
                let then = self.route(&mut k, at);
                push(&mut self.sections.routes, head, when, then);
            }
            Section::Cache => {
                let then = self.cache(&mut k, at);
                push(&mut self.sections.caches, head, when, then);
            }
            Section::PromptCache => {
                let then = self.prompt_cache(&mut k, at);
                push(&mut self.sections.prompt_caches, head, when, then);
            }
            Section::Batch => {
                let then = self.batch(&mut k);
                push(&mut self.sections.batches, head, when, then);
            }
            Section::Limit => {
                let then = self.limit(&mut k);
                push(&mut self.sections.limits, head, when, then);
            }
            Section::Budget => {
                let then = self.budget(&mut k, at);
                push(&mut self.sections.budgets, head, when, then);
            }
        }
        k.finish(&mut self.d, &format!("[[{sname}]]"));
    }

    /// A rule's name, checked and unique in its section; `None` (reported)
    /// when the rule is a second one of that name.
    fn rule_name(
        &mut self,
        sec: Section,
        name: String,
        nspan: crate::Span,
    ) -> Option<(String, crate::Span)> {
        let sname = sec.name();
        if name.is_empty() || name == "none" {
            self.error(
                "invalid-name",
                nspan,
                format!("`{name}` cannot name a rule"),
                Some("`none` means \"no rule\" in tests".into()),
            );
        }
        if let Some(prev) = self.rule_names.get(&(sec, name.clone())) {
            let loc = self.sources.location(*prev);
            self.error(
                "duplicate",
                nspan,
                format!("rule `{name}` is defined twice in [[{sname}]]"),
                Some(format!(
                    "it is already defined at {loc}; rule names are unique per section"
                )),
            );
            return None;
        }
        self.rule_names.insert((sec, name.clone()), nspan);
        Some((name, nspan))
    }
}

/// Add the rule when its name, condition and payload all hold.
fn push<T>(
    rules: &mut Vec<Rule<T>>,
    head: Option<(String, crate::Span)>,
    when: Option<Option<crate::expr::TExpr>>,
    then: Option<T>,
) {
    if let (Some((name, span)), Some(when), Some(then)) = (head, when, then) {
        rules.push(Rule {
            name,
            when,
            span,
            then,
        });
    }
}
