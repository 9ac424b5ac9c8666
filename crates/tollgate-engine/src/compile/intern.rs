//! Turning a rule's condition into predicates, once per policy: the
//! dispatchable [`Form`] of each per-attribute constraint, the single-
//! attribute conjunct shapes that get a dedicated [`Pred`], and the
//! [`PredPool`] that interns them, so a conjunct written in many rules is
//! one [`PredId`] (expressions are matched by structure, spans ignored).

use super::ir::{self, SlotKind};
use super::lead::Lead;
use super::pred::{Item, Num, NumOf, Pred, PredId};
use super::strmap::KeySet;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};
use tollgate_lang::__private::{same_expr, Constraint, IntSet, StrSet};
use tollgate_lang::{AttrId, Elem, Schema, Type};
use tollgate_lang::{TExpr, TKind, ZoneArg};

/// The sorted, disjoint, maximal ranges of an int set.
pub(crate) fn int_ranges(s: &IntSet) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut push = |lo: i64, hi: i64| match out.last_mut() {
        Some(last) if last.1.checked_add(1) == Some(lo) => last.1 = hi,
        _ => out.push((lo, hi)),
    };
    if let Some(only) = &s.only {
        for v in only.iter().copied().filter(|v| s.contains(*v)) {
            push(v, v);
        }
        return out;
    }
    if s.lo > s.hi {
        return out;
    }
    let mut cur = s.lo;
    for e in s.except.range(s.lo..=s.hi).copied() {
        if e > cur {
            push(cur, e - 1);
        }
        match e.checked_add(1) {
            Some(n) => cur = n,
            None => return out,
        }
    }
    if cur <= s.hi {
        push(cur, s.hi);
    }
    out
}

/// What the decision structure can dispatch on, for one attribute of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Form {
    Present,
    /// Sorted strings.
    StrIn(Vec<Box<str>>),
    /// Sorted strings.
    StrNotIn(Vec<Box<str>>),
    Int(Vec<(i64, i64)>),
    Bool(bool),
    Never,
}

impl Form {
    pub(crate) fn of(c: &Constraint) -> Form {
        match c {
            Constraint::Present => Form::Present,
            Constraint::Str(StrSet::In(s)) => Form::StrIn(s.iter().cloned().collect()),
            Constraint::Str(StrSet::NotIn(s)) => Form::StrNotIn(s.iter().cloned().collect()),
            Constraint::Int(s) => match int_ranges(s) {
                r if r.is_empty() => Form::Never,
                r => Form::Int(r),
            },
            Constraint::Bool(b) => Form::Bool(*b),
            Constraint::Empty => Form::Never,
        }
    }

    /// Does the constraint narrow the attribute's values (rather than only
    /// ask for presence or exclude a few values)?
    pub(crate) fn selective(&self) -> bool {
        match self {
            Form::StrIn(_) | Form::Bool(_) | Form::Never => true,
            Form::Int(r) => r != &[(i64::MIN, i64::MAX)],
            Form::Present | Form::StrNotIn(_) => false,
        }
    }
}

/// Interns predicates while a policy compiles.
pub(crate) struct PredPool<'p> {
    schema: &'p Schema,
    preds: Vec<Pred>,
    forms: FxHashMap<(AttrId, Form), PredId>,
    exprs: FxHashMap<u64, Vec<(&'p TExpr, PredId)>>,
}

impl<'p> PredPool<'p> {
    pub(crate) fn new(schema: &'p Schema) -> PredPool<'p> {
        PredPool {
            schema,
            preds: Vec::new(),
            forms: FxHashMap::default(),
            exprs: FxHashMap::default(),
        }
    }

    fn push(&mut self, p: Pred) -> PredId {
        let id = PredId(self.preds.len() as u32);
        self.preds.push(p);
        id
    }

    /// The predicate checking `form` on `attr`.
    pub(crate) fn form(&mut self, attr: AttrId, form: &Form) -> PredId {
        if let Some(id) = self.forms.get(&(attr, form.clone())) {
            return *id;
        }
        let kind = SlotKind::of(
            self.schema
                .get(attr)
                .map_or(tollgate_lang::Type::Bool, |d| d.ty),
        );
        let p = match form {
            Form::Present => Pred::Present { attr, kind },
            Form::StrIn(s) | Form::StrNotIn(s) => Pred::Str {
                attr,
                table: KeySet::of(s.clone()),
                negated: matches!(form, Form::StrNotIn(_)),
            },
            Form::Int(r) => Pred::Int {
                attr,
                ranges: r.clone().into_boxed_slice(),
            },
            Form::Bool(value) => Pred::Bool {
                attr,
                value: *value,
            },
            Form::Never => Pred::Never,
        };
        let id = self.push(p);
        self.forms.insert((attr, form.clone()), id);
        id
    }

    /// The predicate for a conjunct that is not an atom.
    pub(crate) fn expr(&mut self, e: &'p TExpr) -> PredId {
        let mut h = FxHasher::default();
        shape(e, &mut h);
        let key = h.finish();
        if let Some(found) = self
            .exprs
            .get(&key)
            .and_then(|v| v.iter().find(|(x, _)| same_expr(x, e)))
        {
            return found.1;
        }
        let id = self.push(special(e, true).unwrap_or_else(|| {
            let ir = ir::lower(e);
            let scratch = ir.builds_text();
            Pred::Expr(ir, scratch)
        }));
        self.exprs.entry(key).or_default().push((e, id));
        id
    }

    pub(crate) fn preds(&self) -> &[Pred] {
        &self.preds
    }

    pub(crate) fn into_preds(self) -> Vec<Pred> {
        self.preds
    }
}

fn attr_of(e: &TExpr) -> Option<AttrId> {
    match e.kind {
        TKind::Attr(a) => Some(a),
        _ => None,
    }
}

fn num_lit(e: &TExpr) -> Option<Num> {
    match e.kind {
        TKind::Int(i) => Some(Num::Int(i)),
        TKind::Float(f) => Some(Num::Float(f)),
        _ => None,
    }
}

/// A conjunct of a common shape as a dedicated predicate: `want` is the
/// outcome the conjunct needs (`false` under a `!`). Every shape reads one
/// attribute and is an error exactly when it is missing, so `!` only flips
/// `want`.
fn special(e: &TExpr, want: bool) -> Option<Pred> {
    let num_attr = |x: &TExpr| -> Option<(AttrId, NumOf)> {
        match (&x.kind, x.ty) {
            (TKind::Attr(a), Type::Int) => Some((*a, NumOf::Int)),
            (TKind::Attr(a), Type::Float) => Some((*a, NumOf::Float)),
            (TKind::Size(inner), _) => Some((
                attr_of(inner)?,
                match inner.ty {
                    Type::String => NumOf::StrSize,
                    Type::List(Elem::String) => NumOf::StrListSize,
                    Type::List(Elem::Int) => NumOf::IntListSize,
                    _ => return None,
                },
            )),
            _ => None,
        }
    };
    Some(match &e.kind {
        TKind::Not(x) => match &x.kind {
            TKind::Has(a) if want => Pred::Absent { attr: *a },
            _ => special(x, !want)?,
        },
        TKind::Cmp(op, l, r) => {
            let ((attr, of), op, c) = match (num_attr(l), num_attr(r)) {
                (Some(a), None) => (a, *op, num_lit(r)?),
                (None, Some(a)) => (a, op.flip(), num_lit(l)?),
                _ => return None,
            };
            Pred::Num {
                attr,
                of,
                op,
                c,
                want,
            }
        }
        TKind::StrFn(f, x, arg) => match (&x.kind, &arg.kind) {
            (TKind::Attr(attr), TKind::Str(needle)) if x.ty == Type::String => Pred::StrFn {
                attr: *attr,
                f: *f,
                needle: needle.clone(),
                want,
            },
            _ => return None,
        },
        TKind::Matches(x, p) if x.ty == Type::String => Pred::Matches {
            attr: attr_of(x)?,
            re: p.regex.clone(),
            lead: Lead::of(p.regex.as_str()).map(Box::new),
            want,
        },
        TKind::In(x, list) => {
            let attr = attr_of(list)?;
            let item = match (&x.kind, list.ty) {
                (TKind::Str(s), Type::List(Elem::String)) => Item::Str(s.clone()),
                (TKind::Int(i), Type::List(Elem::Int)) => Item::Int(*i),
                _ => return None,
            };
            Pred::ListHas { attr, item, want }
        }
        _ => return None,
    })
}

/// Hash an expression's structure (spans ignored), consistent with
/// [`same_expr`].
fn shape(e: &TExpr, h: &mut FxHasher) {
    std::mem::discriminant(&e.kind).hash(h);
    e.ty.hash(h);
    match &e.kind {
        TKind::Bool(b) => b.hash(h),
        TKind::Int(i) => i.hash(h),
        TKind::Float(f) => f.to_bits().hash(h),
        TKind::Str(s) => s.hash(h),
        TKind::List(items) => {
            items.len().hash(h);
            items.iter().for_each(|i| shape(i, h));
        }
        TKind::Attr(a) | TKind::Has(a) => a.hash(h),
        TKind::Not(x) | TKind::Neg(x) | TKind::Size(x) => shape(x, h),
        TKind::Arith(op, x, y) => {
            op.hash(h);
            shape(x, h);
            shape(y, h);
        }
        TKind::Cmp(op, x, y) => {
            op.hash(h);
            shape(x, h);
            shape(y, h);
        }
        TKind::StrFn(f, x, y) => {
            f.hash(h);
            shape(x, h);
            shape(y, h);
        }
        TKind::In(x, y) | TKind::And(x, y) | TKind::Or(x, y) => {
            shape(x, h);
            shape(y, h);
        }
        TKind::Cond(c, x, y) => {
            shape(c, h);
            shape(x, h);
            shape(y, h);
        }
        TKind::Matches(x, p) => {
            p.regex.as_str().hash(h);
            shape(x, h);
        }
        TKind::Convert(c, x) => {
            c.hash(h);
            shape(x, h);
        }
        TKind::Index(x, y) => {
            shape(x, h);
            shape(y, h);
        }
        TKind::Macro(k, x, y) => {
            k.hash(h);
            shape(x, h);
            shape(y, h);
        }
        TKind::Var(k) => k.hash(h),
        TKind::StrExt(f, t, args) => {
            f.hash(h);
            shape(t, h);
            args.len().hash(h);
            args.iter().for_each(|a| shape(a, h));
        }
        TKind::Timestamp(t) => t.hash(h),
        TKind::Duration(d) => d.hash(h),
        TKind::TimeField(f, t, zone) => {
            f.hash(h);
            shape(t, h);
            match zone {
                ZoneArg::Const(z) => z.hash(h),
                ZoneArg::Expr(z) => shape(z, h),
            }
        }
    }
}
