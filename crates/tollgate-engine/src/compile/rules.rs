//! A section's rules split for indexing: each rule's per-attribute
//! constraints the structure may dispatch on, and the residual predicates
//! it checks in leaves whatever the path.

use super::dispatch::Dispatch;
use super::intern::{Form, PredPool};
use super::mask::ConsMask;
use super::pred::PredId;
use tollgate_lang::__private::{Conjunction, Constraint};
use tollgate_lang::AttrId;
use tollgate_lang::Rule;
use tollgate_lang::TExpr;

/// A constraint a rule puts on one attribute.
#[derive(Debug, Clone)]
pub(crate) struct Cons {
    pub(crate) attr: AttrId,
    pub(crate) form: Form,
    /// The same constraint as a residual predicate, for leaves.
    pub(crate) pred: PredId,
}

/// One rule, ready for indexing.
#[derive(Debug, Clone)]
pub(crate) struct RuleSpec {
    /// Index in the section.
    pub(crate) rule: u32,
    /// Constraints the structure may dispatch on (at most [`ConsMask::MAX`]).
    pub(crate) cons: Vec<Cons>,
    /// Residual predicates checked in leaves whatever the path.
    pub(crate) fixed: Vec<PredId>,
}

/// The rules of a section, split for indexing (rules that can never match
/// are left out).
pub(crate) fn specs<'p, T>(
    rules: &'p [Rule<T>],
    scope: impl Fn(&T) -> Option<AttrId>,
    pool: &mut PredPool<'p>,
    dispatch: &[Dispatch],
) -> Vec<RuleSpec> {
    let mut out = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let mut conj = Conjunction::of(r.when.as_ref());
        if let Some(a) = scope(&r.then) {
            let c = conj
                .attrs
                .get(&a)
                .map_or(Constraint::Present, |c| c.intersect(&Constraint::Present));
            conj.never |= c == Constraint::Empty;
            conj.attrs.insert(a, c);
        }
        if conj.never {
            continue;
        }
        let mut spec = RuleSpec {
            rule: i as u32,
            cons: Vec::new(),
            fixed: Vec::new(),
        };
        for (attr, c) in &conj.attrs {
            let form = Form::of(c);
            let pred = pool.form(*attr, &form);
            let fits = dispatch.get(attr.index()).is_some_and(|d| d.fits(&form));
            if fits && spec.cons.len() < ConsMask::MAX {
                spec.cons.push(Cons {
                    attr: *attr,
                    form,
                    pred,
                });
            } else {
                spec.fixed.push(pred);
            }
        }
        spec.fixed
            .extend(conj.rest.iter().map(|e: &&'p TExpr| pool.expr(e)));
        out.push(spec);
    }
    out
}
