//! Explanations: for each section, every rule tried in order with its
//! outcome (matched, false, error) and, when it did not match, the innermost
//! sub-expression responsible.
//!
//! The trace comes from the reference interpreter, which evaluates rules as
//! written; the decision it explains is the compiled engine's (the two agree
//! on every input, which the differential tests hold them to). Explaining
//! allocates; deciding does not.

use crate::compile::CompiledPolicy;
use crate::context::Context;
use crate::decision::{scope_present, Decision, RuleIdx};
use crate::eval::{find, outcome, sub_values, EvalResult, Outcome};
use tollgate_lang::Type;
use tollgate_lang::{Policy, Scope, Section};

/// One rule tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its section.
    pub section: Section,
    /// Its index in the section.
    pub rule: RuleIdx,
    /// How its condition came out.
    pub outcome: Outcome,
    /// Why a rule whose condition held still did not apply (a cache rule
    /// whose scope attribute is missing).
    pub note: Option<String>,
}

/// A decision and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The decision.
    pub decision: Decision,
    /// Every rule tried, section by section, up to each section's match.
    pub steps: Vec<Step>,
}

/// Trace every section with the reference interpreter.
pub fn trace(policy: &Policy, ctx: &Context<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    for section in Section::ALL {
        for (i, (_, when, span)) in policy.section_rules(section).into_iter().enumerate() {
            let mut o = outcome(when, ctx);
            let mut note = None;
            if section == Section::Cache && o == Outcome::Matched {
                if let Some(Scope::Attr(a)) = policy.caches.get(i).map(|r| r.then.scope) {
                    if !scope_present(Scope::Attr(a), ctx) {
                        note = Some(format!(
                            "scope attribute `{}` is missing, so the rule does not apply",
                            policy.schema().name(a)
                        ));
                        o = Outcome::False { culprit: span };
                    }
                }
            }
            let matched = o == Outcome::Matched;
            steps.push(Step {
                section,
                rule: RuleIdx(i as u32),
                outcome: o,
                note,
            });
            if matched {
                break;
            }
        }
    }
    steps
}

/// The value of one sub-expression of a false rule's culprit.
#[derive(Debug, Clone, PartialEq)]
pub struct SubValue {
    /// Its text in the rule file, each run of white space one space.
    pub expr: String,
    /// Its static type.
    pub ty: Type,
    /// Its value, or the error it evaluates to.
    pub value: EvalResult,
}

/// Under a step whose condition came out false, the value of each
/// sub-expression of the part responsible (its culprit), outermost first:
/// attributes, calls and operators, not literals (their value is their
/// text) nor a macro's predicate (it has a value per element), nor the
/// culprit itself (it is false); a text written twice is listed once.
/// Empty for a step that matched, errored or was set aside by a note.
pub fn culprit_values(policy: &Policy, step: &Step, ctx: &Context<'_>) -> Vec<SubValue> {
    let (None, Outcome::False { culprit }) = (&step.note, &step.outcome) else {
        return Vec::new();
    };
    let Some(when) = policy
        .section_rules(step.section)
        .get(step.rule.0 as usize)
        .and_then(|(_, when, _)| *when)
        .and_then(|w| find(w, *culprit))
    else {
        return Vec::new();
    };
    let mut out: Vec<SubValue> = Vec::new();
    for (span, value) in sub_values(when, ctx).into_iter().skip(1) {
        let expr = policy
            .sources()
            .snippet(span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if out.iter().any(|v| v.expr == expr) {
            continue;
        }
        let Some(ty) = find(when, span).map(|e| e.ty) else {
            continue;
        };
        out.push(SubValue { expr, ty, value });
    }
    out
}

impl CompiledPolicy {
    /// Decide, and say for every section which rules were tried and why
    /// each did or did not match.
    pub fn explain(&self, ctx: &Context<'_>) -> Explanation {
        Explanation {
            decision: self.decide(ctx),
            steps: trace(self.policy(), ctx),
        }
    }
}
