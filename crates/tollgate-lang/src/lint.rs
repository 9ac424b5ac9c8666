//! Warnings about policies that load but will not behave as written.
//!
//! - `unreachable-rule`: an earlier rule of the same section matches every
//!   request the rule matches (it is unconditional, or its per-attribute
//!   constraints contain the later rule's and its other conjuncts appear in
//!   the later rule too).
//! - `never-matches`: the condition is constant false, or two of its
//!   conjuncts contradict (`tier == "pro" && tier == "free"`).
//! - `unused-model`: a model no rule, fallback, budget or default refers to.
//!
//! Coverage is checked against earlier rules found through an index on
//! their equality constraints, and at most [`MAX_CANDIDATES`] others, so a
//! 10,000-rule policy lints in linear time.

use crate::constraint::{Conjunction, Constraint, StrSet};
use crate::diag::Diagnostic;
use crate::policy::*;
use crate::schema::AttrId;
use std::collections::{HashMap, HashSet};

/// Most earlier rules compared with each rule when the index cannot narrow
/// the search.
pub const MAX_CANDIDATES: usize = 64;

/// What the lints read.
pub struct LintInput<'a> {
    /// Models.
    pub models: &'a [Model],
    /// The default model.
    pub default_model: Option<ModelIdx>,
    /// Models referred to by rules.
    pub model_uses: &'a HashSet<ModelIdx>,
    /// The rules.
    pub sections: &'a Sections,
}

/// Run every lint.
pub fn lint(input: &LintInput<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for sec in Section::ALL {
        section(sec, &input.sections.rules(sec), &mut out);
    }
    for (i, m) in input.models.iter().enumerate() {
        let idx = ModelIdx(i as u32);
        if Some(idx) != input.default_model && !input.model_uses.contains(&idx) {
            out.push(
                Diagnostic::warning(
                    "unused-model",
                    m.span,
                    format!("model `{}` is never used", m.alias),
                )
                .with_help(
                    "route to it, name it as a fallback or a budget downgrade, or remove it",
                ),
            );
        }
    }
    out
}

/// The first equality-like constraint of a rule: (attribute, values).
fn index_key(c: &Conjunction<'_>) -> Option<(AttrId, Vec<String>)> {
    c.attrs.iter().find_map(|(a, k)| match k {
        Constraint::Str(StrSet::In(s)) => Some((*a, s.iter().map(|v| v.to_string()).collect())),
        Constraint::Int(i) => i
            .only
            .as_ref()
            .map(|o| (*a, o.iter().map(|v| v.to_string()).collect())),
        Constraint::Bool(b) => Some((*a, vec![b.to_string()])),
        _ => None,
    })
}

/// The values a rule allows for `attr`, as index keys (None = not narrowed).
fn values_for(c: &Conjunction<'_>, attr: AttrId) -> Option<Vec<String>> {
    match c.attrs.get(&attr)? {
        Constraint::Str(StrSet::In(s)) => Some(s.iter().map(|v| v.to_string()).collect()),
        Constraint::Int(i) => i
            .only
            .as_ref()
            .map(|o| o.iter().map(|v| v.to_string()).collect()),
        Constraint::Bool(b) => Some(vec![b.to_string()]),
        _ => None,
    }
}

fn section(
    sec: Section,
    rules: &[(&str, Option<&crate::expr::TExpr>, crate::Span)],
    out: &mut Vec<Diagnostic>,
) {
    let conj: Vec<Conjunction<'_>> = rules.iter().map(|(_, w, _)| Conjunction::of(*w)).collect();
    // Earlier rules indexed by (attr, value) of their first equality
    // constraint; rules without one are kept in `general`.
    let mut index: HashMap<(AttrId, String), Vec<usize>> = HashMap::new();
    let mut general: Vec<usize> = Vec::new();
    let mut catch_all: Option<usize> = None;
    for (j, (name, _, span)) in rules.iter().enumerate() {
        let cj = match conj.get(j) {
            Some(c) => c,
            None => continue,
        };
        if cj.never {
            out.push(
                Diagnostic::warning(
                    "never-matches",
                    *span,
                    format!(
                        "the condition of {} rule `{name}` can never be true",
                        sec.name()
                    ),
                )
                .with_help(
                    "two conditions on one attribute exclude each other, or a conjunct is `false`",
                ),
            );
            continue;
        }
        let coverer = if let Some(i) = catch_all {
            Some(i)
        } else {
            let mut cands: Vec<usize> =
                general.iter().rev().take(MAX_CANDIDATES).copied().collect();
            for attr in cj.attrs.keys() {
                let first = values_for(cj, *attr).and_then(|v| v.into_iter().next());
                if let Some(list) = first.and_then(|v| index.get(&(*attr, v))) {
                    cands.extend(list.iter().rev().take(MAX_CANDIDATES));
                }
            }
            cands.sort_unstable();
            cands.dedup();
            cands
                .into_iter()
                .find(|&i| conj.get(i).is_some_and(|ci| ci.covers(cj)))
        };
        if let Some(i) = coverer {
            let (earlier, _, _) = rules.get(i).copied().unwrap_or(("", None, *span));
            let help = if conj.get(i).is_some_and(|c| c.always()) {
                format!("`{earlier}` has no condition, so it matches first; move it to the end of the section")
            } else {
                format!("`{earlier}` comes first and matches every request this rule does; reorder them or narrow `{earlier}`")
            };
            out.push(
                Diagnostic::warning(
                    "unreachable-rule",
                    *span,
                    format!("{} rule `{name}` can never be reached", sec.name()),
                )
                .with_help(help),
            );
            continue;
        }
        if cj.always() {
            catch_all = Some(j);
        }
        match index_key(cj) {
            Some((a, vals)) => {
                for v in vals {
                    index.entry((a, v)).or_default().push(j);
                }
            }
            None => general.push(j),
        }
    }
}
