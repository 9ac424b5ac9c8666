//! Once every file is read: references between tables (the default
//! model, redacted attributes, tests' expected rules and models), price
//! checks, lints, and the checked [`Policy`].

use super::{Build, Loaded};
use crate::constraint::Conjunction;
use crate::diag::{did_you_mean, Diagnostic, LoadError};
use crate::lint;
use crate::policy::*;
use crate::pricing::Prices;
use crate::source::{SourceMap, Span};
use std::collections::HashSet;

impl Build<'_> {
    pub(super) fn finish(
        mut self,
        sources: SourceMap,
        policy_prices: Option<&crate::policy_prices::PolicyPrices>,
    ) -> Result<Loaded, LoadError> {
        // Policy-level references.
        let default_model = self
            .default_model
            .clone()
            .and_then(|(m, s)| self.model_ref(&m, s));
        let mut redact = Vec::new();
        for (r, s) in self.redact.clone() {
            match self.schema.id(&r) {
                Some(id) => redact.push(id),
                None => {
                    let help = did_you_mean(&r, self.schema.iter().map(|(_, a)| a.name.as_str()));
                    self.error(
                        "unknown-attribute",
                        s,
                        format!("unknown attribute `{r}`"),
                        help,
                    );
                }
            }
        }
        if let Some(id) = self.schema.id("prompt") {
            if !redact.contains(&id) {
                redact.push(id);
            }
        }
        // Tests name existing rules and models.
        let mut tests = Vec::new();
        for raw in std::mem::take(&mut self.raw_tests) {
            self.d.file = raw.file;
            let mut expect = Vec::new();
            for (sec, name, sp) in raw.expect {
                if name == "none" {
                    expect.push((sec, Expect::None));
                    continue;
                }
                if self.rule_names.contains_key(&(sec, name.clone())) {
                    expect.push((sec, Expect::Rule(name)));
                } else {
                    let names: Vec<String> = self
                        .rule_names
                        .keys()
                        .filter(|(s, _)| *s == sec)
                        .map(|(_, n)| n.clone())
                        .collect();
                    let help = did_you_mean(&name, names.iter().map(String::as_str))
                        .or_else(|| Some("write a rule name of that section, or \"none\"".into()));
                    self.error(
                        "test-unknown-rule",
                        sp,
                        format!(
                            "test `{}` expects unknown {} rule `{name}`",
                            raw.name,
                            sec.name()
                        ),
                        help,
                    );
                }
            }
            let expect_model = match raw.expect_model {
                Some((m, sp)) => {
                    if !self.model_index.contains_key(&m) {
                        let help = did_you_mean(&m, self.models.iter().map(|x| x.alias.as_str()));
                        self.error(
                            "unknown-model",
                            sp,
                            format!("test `{}` expects unknown model `{m}`", raw.name),
                            help,
                        );
                    }
                    Some(m)
                }
                None => None,
            };
            tests.push(TestCase {
                name: raw.name,
                span: raw.span,
                request: raw.request,
                expect,
                expect_model,
                expect_max_output_tokens: raw.expect_cap,
                expect_service_tier: raw.expect_tier,
                expect_latency: raw.expect_latency,
            });
        }
        self.price_checks(default_model);
        let warnings = if self.d.list.iter().any(Diagnostic::is_error) {
            Vec::new()
        } else {
            lint::lint(&lint::LintInput {
                models: &self.models,
                default_model,
                model_uses: &self.model_uses,
                sections: &self.sections,
            })
        };
        let mut diags = self.d.list;
        diags.extend(warnings);
        diags.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.severity));
        let (Some(name), Some(default_model)) = (self.policy_name, default_model) else {
            if !diags.iter().any(Diagnostic::is_error) {
                diags.push(Diagnostic::path_error(
                    "missing-policy",
                    "<policy>",
                    "the policy has no name or default model",
                ));
            }
            return Err(LoadError {
                sources,
                diagnostics: diags,
            });
        };
        if diags.iter().any(Diagnostic::is_error) {
            return Err(LoadError {
                sources,
                diagnostics: diags,
            });
        }
        let hash = crate::router::hash_with_routers(
            crate::policy_prices::hash_with(sources.content_hash(), policy_prices),
            &self.routers,
        );
        let price_table = std::sync::Arc::clone(self.prices);
        let (warnings, _): (Vec<_>, Vec<_>) = diags.into_iter().partition(|d| !d.is_error());
        Ok(Loaded {
            policy: Policy {
                name,
                default_model,
                redact,
                schema: self.schema,
                declared: self.declared,
                models: self.models,
                sections: self.sections,
                spend_spike: self.spend_spike,
                tests,
                routers: self.routers,
                sources,
                hash,
                price_table,
            },
            warnings,
        })
    }

    /// A model without cache (batch) prices must not serve a request a
    /// `[[prompt_cache]]` (`[[batch]]`) rule can match.
    fn price_checks(&mut self, default_model: Option<ModelIdx>) {
        // Which models can serve alongside which conditions.
        let mut serving: Vec<(ModelIdx, Conjunction<'_>, Span)> = Vec::new();
        for r in &self.sections.routes {
            let c = Conjunction::of(r.when.as_ref());
            serving.push((r.then.model, c.clone(), r.span));
            for f in &r.then.fallback {
                serving.push((*f, c.clone(), r.span));
            }
        }
        for b in &self.sections.budgets {
            if let BudgetAction::Downgrade(m) = b.then.action {
                serving.push((m, Conjunction::of(b.when.as_ref()), b.span));
            }
        }
        if let Some(m) = default_model {
            serving.push((m, Conjunction::default(), Span::default()));
        }
        let mut errors = Vec::new();
        for (what, rules, has_price) in [
            (
                "prompt caching",
                self.sections
                    .prompt_caches
                    .iter()
                    .map(|r| (r.name.as_str(), r.when.as_ref(), r.span))
                    .collect::<Vec<_>>(),
                (|p: &Prices| p.cache_read.is_some() && p.cache_write_5m.is_some())
                    as fn(&Prices) -> bool,
            ),
            (
                "batch inference",
                self.sections
                    .batches
                    .iter()
                    .map(|r| (r.name.as_str(), r.when.as_ref(), r.span))
                    .collect(),
                |p: &Prices| p.batch_input.is_some() && p.batch_output.is_some(),
            ),
        ] {
            for (rname, when, rspan) in rules {
                let c = Conjunction::of(when);
                for (m, sc, _) in &serving {
                    let Some(model) = self.models.get(m.index()) else {
                        continue;
                    };
                    if has_price(&model.prices) || !sc.may_overlap(&c) {
                        continue;
                    }
                    errors.push((rspan, format!("model `{}` has no {what} prices, and rule `{rname}` can apply to requests it serves", model.alias), m.index()));
                }
            }
        }
        let mut seen = HashSet::new();
        for (span, msg, m) in errors {
            if seen.insert((span.start, span.file, m)) {
                self.error("missing-price", span, msg, Some("add the prices to the model (e.g. `cache_read_per_mtok`, `batch_input_per_mtok`), or make the conditions exclude each other".into()));
            }
        }
    }
}
