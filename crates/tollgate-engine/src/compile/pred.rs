//! Residual predicates: what a rule still has to check once the decision
//! structure has brought a request to a leaf.
//!
//! A predicate is one per-attribute [`Constraint`] the path did not dispatch
//! on (a string set, int ranges, a bool, presence), one conjunct of a
//! common shape that reads a single attribute (`size(x) > 0`,
//! `score >= 0.85`, `prompt.contains("x")`, `prompt.matches(re)`,
//! `17 in ids`, `!has(x)`, any of them under `!`), or any other conjunct
//! lowered to [`Ir`]. Each is true, or not (false and error values alike:
//! a conjunction is true only when every conjunct is). The single-attribute
//! shapes are an error exactly when the attribute is missing, so a `!` over
//! one only flips the outcome it asks for. Predicates are interned per
//! policy, so a conjunct written in many rules is one [`PredId`] and a leaf
//! can remember its outcome for the decision.

use super::ir::{self, slot, Bail, Ir, SlotKind};
use super::strmap::KeySet;
use crate::context::Slot;
use crate::eval::cmp_int_float;
use regex::Regex;
use std::cmp::Ordering;
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};
use tollgate_lang::constraint::{same_expr, Constraint, IntSet, StrSet};
use tollgate_lang::expr::{CmpOp, StrFn, TExpr, TKind};
use tollgate_lang::{AttrId, Elem, Schema, Type};

/// Index of a predicate in the policy's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PredId(pub(crate) u32);

/// A compiled residual check.
#[derive(Debug, Clone)]
pub(crate) enum Pred {
    /// Never true (an empty constraint).
    Never,
    /// The attribute is present.
    Present { attr: AttrId, kind: SlotKind },
    /// A bool attribute has this value.
    Bool { attr: AttrId, value: bool },
    /// A string attribute is (`negated`: is not) one of the strings.
    Str { attr: AttrId, table: KeySet, negated: bool },
    /// An int attribute lies in one of the sorted, disjoint ranges.
    Int { attr: AttrId, ranges: Box<[(i64, i64)]> },
    /// The attribute is missing (`!has(attr)`).
    Absent { attr: AttrId },
    /// A number attribute (or `size()` of a string or list attribute)
    /// compared with a number literal; `want`: the outcome asked for.
    Num {
        attr: AttrId,
        of: NumOf,
        op: CmpOp,
        c: Num,
        want: bool,
    },
    /// `attr.startsWith("x")` and the other string methods, on an attribute.
    StrFn {
        attr: AttrId,
        f: StrFn,
        needle: Box<str>,
        want: bool,
    },
    /// `attr.matches("re")`.
    Matches { attr: AttrId, re: Regex, want: bool },
    /// A literal `in` a list attribute.
    ListHas { attr: AttrId, item: Item, want: bool },
    /// Any other conjunct.
    Expr(Ir),
}

/// What a [`Pred::Num`] reads from its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumOf {
    Int,
    Float,
    /// `size()` of a string (characters).
    StrSize,
    /// `size()` of a list<string>.
    StrListSize,
    /// `size()` of a list<int>.
    IntListSize,
}

/// A number literal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

/// A literal looked for in a list attribute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Str(Box<str>),
    Int(i64),
}

/// `a <op> c` as the reference decides it (`!=` is true when unordered).
#[inline]
fn cmp_holds(op: CmpOp, o: Option<Ordering>) -> bool {
    match op {
        CmpOp::Eq => o == Some(Ordering::Equal),
        CmpOp::Ne => o != Some(Ordering::Equal),
        _ => o.is_some_and(|o| op.holds(o)),
    }
}

#[inline]
fn cmp_num(a: Num, c: Num) -> Option<Ordering> {
    match (a, c) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).map(Ordering::reverse),
    }
}

/// The value a [`Pred::Num`] compares: `Ok(None)` when the attribute is
/// missing (an error value: the predicate is not true either way).
#[inline]
fn num_of(of: NumOf, s: Slot<'_>) -> Result<Option<Num>, Bail> {
    Ok(Some(match (of, s) {
        (_, Slot::Missing) => return Ok(None),
        (NumOf::Int, Slot::Int(i)) => Num::Int(i),
        (NumOf::Float, Slot::Float(f)) => Num::Float(f),
        (NumOf::StrSize, Slot::Str(s)) => Num::Int(s.chars().count() as i64),
        (NumOf::StrListSize, Slot::StrList(l)) => Num::Int(l.len() as i64),
        (NumOf::IntListSize, Slot::IntList(l)) => Num::Int(l.len() as i64),
        _ => return Err(Bail),
    }))
}

impl Pred {
    /// Is the predicate true for this request? The cheap shapes are tested
    /// inline, the others out of line.
    #[inline(always)]
    pub(crate) fn test(&self, ctx: &[Slot<'_>]) -> Result<bool, Bail> {
        match self {
            Pred::Present { attr, kind } => kind.present(slot(ctx, *attr)),
            Pred::Bool { attr, value } => match slot(ctx, *attr) {
                Slot::Bool(b) => Ok(b == *value),
                Slot::Missing => Ok(false),
                _ => Err(Bail),
            },
            Pred::Str { attr, table, negated } => match slot(ctx, *attr) {
                Slot::Str(s) => Ok(table.contains(s) != *negated),
                Slot::Missing => Ok(false),
                _ => Err(Bail),
            },
            Pred::Int { attr, ranges } => match slot(ctx, *attr) {
                Slot::Int(v) => Ok(in_ranges(ranges, v)),
                Slot::Missing => Ok(false),
                _ => Err(Bail),
            },
            Pred::Absent { attr } => Ok(matches!(slot(ctx, *attr), Slot::Missing)),
            _ => self.test_slow(ctx),
        }
    }

    #[inline(never)]
    fn test_slow(&self, ctx: &[Slot<'_>]) -> Result<bool, Bail> {
        match self {
            Pred::Never => Ok(false),
            Pred::Present { .. }
            | Pred::Bool { .. }
            | Pred::Str { .. }
            | Pred::Int { .. }
            | Pred::Absent { .. } => self.test(ctx),
            Pred::Num { attr, of, op, c, want } => Ok(match num_of(*of, slot(ctx, *attr))? {
                Some(v) => cmp_holds(*op, cmp_num(v, *c)) == *want,
                None => false,
            }),
            Pred::StrFn { attr, f, needle, want } => match slot(ctx, *attr) {
                Slot::Str(s) => Ok(match f {
                    StrFn::StartsWith => s.starts_with(&**needle),
                    StrFn::EndsWith => s.ends_with(&**needle),
                    StrFn::Contains => s.contains(&**needle),
                } == *want),
                Slot::Missing => Ok(false),
                _ => Err(Bail),
            },
            Pred::Matches { attr, re, want } => match slot(ctx, *attr) {
                Slot::Str(s) => Ok(re.is_match(s) == *want),
                Slot::Missing => Ok(false),
                _ => Err(Bail),
            },
            Pred::ListHas { attr, item, want } => match (slot(ctx, *attr), item) {
                (Slot::StrList(l), Item::Str(x)) => Ok(l.contains(x) == *want),
                (Slot::IntList(l), Item::Int(x)) => Ok(l.contains(x) == *want),
                (Slot::Missing, _) => Ok(false),
                _ => Err(Bail),
            },
            Pred::Expr(e) => ir::holds(e, ctx),
        }
    }

    /// Relative cost, cheapest first.
    pub(crate) fn cost(&self) -> u32 {
        match self {
            Pred::Never => 0,
            Pred::Present { .. } | Pred::Bool { .. } => 1,
            Pred::Int { ranges, .. } => 2 + (ranges.len() > 4) as u32,
            Pred::Str { .. } | Pred::Absent { .. } => 3,
            Pred::Num { of, .. } => 2 + 4 * (*of == NumOf::StrSize) as u32,
            Pred::ListHas { .. } => 6,
            Pred::StrFn { .. } => 10,
            Pred::Matches { .. } => 43,
            Pred::Expr(e) => 3 + e.cost(),
        }
    }
}

#[inline(always)]
fn in_ranges(ranges: &[(i64, i64)], v: i64) -> bool {
    if ranges.len() <= 4 {
        return ranges.iter().any(|(lo, hi)| *lo <= v && v <= *hi);
    }
    let i = ranges.partition_point(|(_, hi)| *hi < v);
    ranges.get(i).is_some_and(|(lo, _)| *lo <= v)
}

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
        let kind = SlotKind::of(self.schema.get(attr).map_or(tollgate_lang::Type::Bool, |d| d.ty));
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
            Form::Bool(value) => Pred::Bool { attr, value: *value },
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
        let id = self.push(special(e, true).unwrap_or_else(|| Pred::Expr(ir::lower(e))));
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
            Pred::Num { attr, of, op, c, want }
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
    }
}
