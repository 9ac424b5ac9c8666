//! Per-attribute constraints: what a conjunction says about one attribute.
//!
//! A condition `a && b && c` is true exactly when every conjunct is true
//! (CEL's `&&` is true only when both sides are true, whatever errors the
//! other operands raise). Conjuncts of the forms `attr == lit`, `attr != lit`,
//! `attr in [lits]`, `attr < int` (and the other orderings), `attr`, `!attr`
//! (bool) and `has(attr)` are *atoms*: each is true exactly when the
//! attribute is present and its value lies in a set. Intersecting the atoms
//! of one attribute gives a [`Constraint`]; the lints use them to find rules
//! that can never match or that an earlier rule covers, the checker to see
//! whether two rules can apply to one request, and the compiler to dispatch
//! on attribute values instead of testing rules one by one.

use crate::expr::{CmpOp, TExpr, TKind};
use crate::schema::{AttrId, Type};
use std::collections::{BTreeMap, BTreeSet};

/// Values of a string attribute for which a conjunction can be true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrSet {
    /// Exactly these.
    In(BTreeSet<Box<str>>),
    /// Any value but these.
    NotIn(BTreeSet<Box<str>>),
}

/// Values of an int attribute: `lo..=hi`, restricted to `only` when set,
/// minus `except`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntSet {
    /// Lowest value allowed.
    pub lo: i64,
    /// Highest value allowed.
    pub hi: i64,
    /// When set, only these values.
    pub only: Option<BTreeSet<i64>>,
    /// Values excluded.
    pub except: BTreeSet<i64>,
}

/// What must hold of one attribute, besides being present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Present, any value.
    Present,
    /// A string attribute's allowed values.
    Str(StrSet),
    /// An int attribute's allowed values.
    Int(IntSet),
    /// A bool attribute's required value.
    Bool(bool),
    /// No value satisfies the conjunction.
    Empty,
}

impl IntSet {
    /// All ints.
    pub fn full() -> IntSet {
        IntSet {
            lo: i64::MIN,
            hi: i64::MAX,
            only: None,
            except: BTreeSet::new(),
        }
    }

    /// Does `v` belong?
    pub fn contains(&self, v: i64) -> bool {
        v >= self.lo
            && v <= self.hi
            && !self.except.contains(&v)
            && self.only.as_ref().is_none_or(|o| o.contains(&v))
    }

    fn normalise(mut self) -> Option<IntSet> {
        if let Some(only) = &self.only {
            let kept: BTreeSet<i64> = only
                .iter()
                .copied()
                .filter(|v| *v >= self.lo && *v <= self.hi && !self.except.contains(v))
                .collect();
            if kept.is_empty() {
                return None;
            }
            self.lo = kept.first().copied().unwrap_or(self.lo);
            self.hi = kept.last().copied().unwrap_or(self.hi);
            self.except.clear();
            self.only = Some(kept);
            return Some(self);
        }
        if self.lo > self.hi {
            return None;
        }
        let (lo, hi) = (self.lo, self.hi);
        self.except.retain(|v| *v >= lo && *v <= hi);
        // Tighten the bounds past excluded end points.
        while self.lo <= self.hi && self.except.remove(&self.lo) {
            self.lo = self.lo.checked_add(1)?;
        }
        while self.hi >= self.lo && self.except.remove(&self.hi) {
            self.hi = self.hi.checked_sub(1)?;
        }
        if self.lo > self.hi {
            return None;
        }
        Some(self)
    }

    fn intersect(&self, o: &IntSet) -> Option<IntSet> {
        let only = match (&self.only, &o.only) {
            (Some(a), Some(b)) => Some(a.intersection(b).copied().collect()),
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        };
        IntSet {
            lo: self.lo.max(o.lo),
            hi: self.hi.min(o.hi),
            only,
            except: self.except.union(&o.except).copied().collect(),
        }
        .normalise()
    }

    /// Is every value of `self` in `o`?
    pub fn subset_of(&self, o: &IntSet) -> bool {
        if let Some(only) = &self.only {
            return only.iter().all(|v| o.contains(*v));
        }
        if self.hi.saturating_sub(self.lo) < 64 {
            return (self.lo..=self.hi)
                .filter(|v| !self.except.contains(v))
                .all(|v| o.contains(v));
        }
        if o.only.is_some() || self.lo < o.lo || self.hi > o.hi {
            return false;
        }
        o.except
            .iter()
            .all(|v| *v < self.lo || *v > self.hi || self.except.contains(v))
    }
}

impl StrSet {
    fn intersect(&self, o: &StrSet) -> Option<StrSet> {
        let r = match (self, o) {
            (StrSet::In(a), StrSet::In(b)) => StrSet::In(a.intersection(b).cloned().collect()),
            (StrSet::In(a), StrSet::NotIn(b)) | (StrSet::NotIn(b), StrSet::In(a)) => {
                StrSet::In(a.difference(b).cloned().collect())
            }
            (StrSet::NotIn(a), StrSet::NotIn(b)) => StrSet::NotIn(a.union(b).cloned().collect()),
        };
        match &r {
            StrSet::In(s) if s.is_empty() => None,
            _ => Some(r),
        }
    }

    /// Does `v` belong?
    pub fn contains(&self, v: &str) -> bool {
        match self {
            StrSet::In(s) => s.contains(v),
            StrSet::NotIn(s) => !s.contains(v),
        }
    }

    fn subset_of(&self, o: &StrSet) -> bool {
        match (self, o) {
            (StrSet::In(a), StrSet::In(b)) => a.is_subset(b),
            (StrSet::In(a), StrSet::NotIn(b)) => a.is_disjoint(b),
            (StrSet::NotIn(a), StrSet::NotIn(b)) => b.is_subset(a),
            (StrSet::NotIn(_), StrSet::In(_)) => false,
        }
    }
}

impl Constraint {
    /// Both at once.
    pub fn intersect(&self, o: &Constraint) -> Constraint {
        use Constraint::*;
        match (self, o) {
            (Empty, _) | (_, Empty) => Empty,
            (Present, x) | (x, Present) => x.clone(),
            (Str(a), Str(b)) => a.intersect(b).map(Str).unwrap_or(Empty),
            (Int(a), Int(b)) => a.intersect(b).map(Int).unwrap_or(Empty),
            (Bool(a), Bool(b)) => {
                if a == b {
                    Bool(*a)
                } else {
                    Empty
                }
            }
            _ => Empty,
        }
    }

    /// Is every value satisfying `self` also satisfying `o`?
    pub fn subset_of(&self, o: &Constraint) -> bool {
        use Constraint::*;
        match (self, o) {
            (Empty, _) => true,
            (_, Present) => true,
            (Present, _) => false,
            (Str(a), Str(b)) => a.subset_of(b),
            (Int(a), Int(b)) => a.subset_of(b),
            (Bool(a), Bool(b)) => a == b,
            _ => false,
        }
    }

    /// Can some value satisfy both?
    pub fn overlaps(&self, o: &Constraint) -> bool {
        self.intersect(o) != Constraint::Empty
    }
}

fn lit_str(e: &TExpr) -> Option<&str> {
    match &e.kind {
        TKind::Str(s) => Some(s),
        _ => None,
    }
}

fn lit_int(e: &TExpr) -> Option<i64> {
    match &e.kind {
        TKind::Int(i) => Some(*i),
        _ => None,
    }
}

fn int_cmp(op: CmpOp, c: i64) -> IntSet {
    let mut s = IntSet::full();
    match op {
        CmpOp::Eq => s.only = Some([c].into()),
        CmpOp::Ne => {
            s.except.insert(c);
        }
        CmpOp::Lt => match c.checked_sub(1) {
            Some(h) => s.hi = h,
            None => s.only = Some(BTreeSet::new()),
        },
        CmpOp::Le => s.hi = c,
        CmpOp::Gt => match c.checked_add(1) {
            Some(l) => s.lo = l,
            None => s.only = Some(BTreeSet::new()),
        },
        CmpOp::Ge => s.lo = c,
    }
    s
}

fn negate_op(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

/// If `e` is an atom, the attribute it reads and the constraint under
/// which it is true.
pub fn atom(e: &TExpr) -> Option<(AttrId, Constraint)> {
    atom_signed(e, false)
}

fn atom_signed(e: &TExpr, negated: bool) -> Option<(AttrId, Constraint)> {
    match &e.kind {
        TKind::Not(x) => atom_signed(x, !negated),
        TKind::Has(a) if !negated => Some((*a, Constraint::Present)),
        TKind::Attr(a) if e.ty == Type::Bool => Some((*a, Constraint::Bool(!negated))),
        TKind::Cmp(op, l, r) => {
            let (attr, op, lit) = match (&l.kind, &r.kind) {
                (TKind::Attr(a), _) => (*a, *op, &**r),
                (_, TKind::Attr(a)) => (*a, op.flip(), &**l),
                _ => return None,
            };
            let op = if negated { negate_op(op) } else { op };
            let attr_ty = if matches!(l.kind, TKind::Attr(_)) {
                l.ty
            } else {
                r.ty
            };
            match attr_ty {
                Type::String if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                    let s: BTreeSet<Box<str>> = [Box::from(lit_str(lit)?)].into();
                    Some((
                        attr,
                        Constraint::Str(if op == CmpOp::Eq {
                            StrSet::In(s)
                        } else {
                            StrSet::NotIn(s)
                        }),
                    ))
                }
                Type::Int => Some((attr, norm_int(int_cmp(op, lit_int(lit)?)))),
                Type::Bool if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                    let TKind::Bool(b) = lit.kind else {
                        return None;
                    };
                    Some((attr, Constraint::Bool((op == CmpOp::Eq) == b)))
                }
                _ => None,
            }
        }
        // `a == "x" || a == "y"` is `a in ["x", "y"]` (and, under `!`,
        // `a not in`): both sides read the same string attribute, so a
        // missing value makes both, and the whole, an error alike.
        TKind::Or(l, r) => match (atom_signed(l, negated)?, atom_signed(r, negated)?) {
            ((a, Constraint::Str(StrSet::In(x))), (b, Constraint::Str(StrSet::In(y))))
                if a == b && !negated =>
            {
                Some((
                    a,
                    Constraint::Str(StrSet::In(x.union(&y).cloned().collect())),
                ))
            }
            ((a, Constraint::Str(StrSet::NotIn(x))), (b, Constraint::Str(StrSet::NotIn(y))))
                if a == b && negated =>
            {
                Some((
                    a,
                    Constraint::Str(StrSet::NotIn(x.union(&y).cloned().collect())),
                ))
            }
            _ => None,
        },
        TKind::In(x, list) => {
            let TKind::Attr(a) = x.kind else {
                return None;
            };
            let TKind::List(items) = &list.kind else {
                return None;
            };
            match x.ty {
                Type::String => {
                    let s = items
                        .iter()
                        .map(|i| lit_str(i).map(Box::from))
                        .collect::<Option<BTreeSet<Box<str>>>>()?;
                    Some((
                        a,
                        if negated {
                            Constraint::Str(StrSet::NotIn(s))
                        } else if s.is_empty() {
                            Constraint::Empty
                        } else {
                            Constraint::Str(StrSet::In(s))
                        },
                    ))
                }
                Type::Int => {
                    let s = items
                        .iter()
                        .map(lit_int)
                        .collect::<Option<BTreeSet<i64>>>()?;
                    let mut set = IntSet::full();
                    if negated {
                        set.except = s;
                    } else {
                        set.only = Some(s);
                    }
                    Some((a, norm_int(set)))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn norm_int(s: IntSet) -> Constraint {
    s.normalise()
        .map(Constraint::Int)
        .unwrap_or(Constraint::Empty)
}

/// A condition split into per-attribute constraints and the other conjuncts.
#[derive(Debug, Clone, Default)]
pub struct Conjunction<'a> {
    /// Combined constraint per attribute.
    pub attrs: BTreeMap<AttrId, Constraint>,
    /// Conjuncts that are not atoms, in order.
    pub rest: Vec<&'a TExpr>,
    /// A conjunct is the literal `false`, or two atoms contradict.
    pub never: bool,
}

impl<'a> Conjunction<'a> {
    /// Split `when` (`None` = always true).
    pub fn of(when: Option<&'a TExpr>) -> Conjunction<'a> {
        let mut c = Conjunction::default();
        let Some(e) = when else {
            return c;
        };
        for part in e.conjuncts() {
            match (&part.kind, atom(part)) {
                (TKind::Bool(true), _) => {}
                (TKind::Bool(false), _) => c.never = true,
                (_, Some((a, k))) => {
                    let merged = match c.attrs.get(&a) {
                        Some(prev) => prev.intersect(&k),
                        None => k,
                    };
                    if merged == Constraint::Empty {
                        c.never = true;
                    }
                    c.attrs.insert(a, merged);
                }
                (_, None) => c.rest.push(part),
            }
        }
        c
    }

    /// Is the condition unconditionally true?
    pub fn always(&self) -> bool {
        !self.never && self.attrs.is_empty() && self.rest.is_empty()
    }

    /// Does every request matching `other` also match `self`? (sound, not complete)
    pub fn covers(&self, other: &Conjunction<'_>) -> bool {
        if other.never {
            return true;
        }
        if self.never {
            return false;
        }
        self.attrs
            .iter()
            .all(|(a, k)| other.attrs.get(a).is_some_and(|o| o.subset_of(k)))
            && self
                .rest
                .iter()
                .all(|r| other.rest.iter().any(|o| same_expr(r, o)))
    }

    /// Can one request match both? (`false` only when provably disjoint)
    pub fn may_overlap(&self, other: &Conjunction<'_>) -> bool {
        if self.never || other.never {
            return false;
        }
        self.attrs
            .iter()
            .all(|(a, k)| other.attrs.get(a).is_none_or(|o| k.overlaps(o)))
    }
}

/// Structural equality ignoring spans.
pub fn same_expr(a: &TExpr, b: &TExpr) -> bool {
    use TKind::*;
    if a.ty != b.ty {
        return false;
    }
    match (&a.kind, &b.kind) {
        (Bool(x), Bool(y)) => x == y,
        (Int(x), Int(y)) => x == y,
        (Float(x), Float(y)) => x.to_bits() == y.to_bits(),
        (Str(x), Str(y)) => x == y,
        (List(x), List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_expr(p, q)),
        (Attr(x), Attr(y)) | (Has(x), Has(y)) => x == y,
        (Not(x), Not(y)) | (Neg(x), Neg(y)) | (Size(x), Size(y)) => same_expr(x, y),
        (Arith(o, x1, y1), Arith(p, x2, y2)) => o == p && same_expr(x1, x2) && same_expr(y1, y2),
        (Cmp(o, x1, y1), Cmp(p, x2, y2)) => o == p && same_expr(x1, x2) && same_expr(y1, y2),
        (StrFn(o, x1, y1), StrFn(p, x2, y2)) => o == p && same_expr(x1, x2) && same_expr(y1, y2),
        (In(x1, y1), In(x2, y2)) | (And(x1, y1), And(x2, y2)) | (Or(x1, y1), Or(x2, y2)) => {
            same_expr(x1, x2) && same_expr(y1, y2)
        }
        (Cond(c1, x1, y1), Cond(c2, x2, y2)) => {
            same_expr(c1, c2) && same_expr(x1, x2) && same_expr(y1, y2)
        }
        (Matches(x, p), Matches(y, q)) => p == q && same_expr(x, y),
        (Convert(o, x), Convert(p, y)) => o == p && same_expr(x, y),
        (Index(x1, y1), Index(x2, y2)) => same_expr(x1, x2) && same_expr(y1, y2),
        (Macro(o, x1, y1), Macro(p, x2, y2)) => o == p && same_expr(x1, x2) && same_expr(y1, y2),
        (Var(x), Var(y)) => x == y,
        (StrExt(f, x, xs), StrExt(g, y, ys)) => {
            f == g
                && same_expr(x, y)
                && xs.len() == ys.len()
                && xs.iter().zip(ys).all(|(p, q)| same_expr(p, q))
        }
        (Timestamp(x), Timestamp(y)) => x == y,
        (Duration(x), Duration(y)) => x == y,
        (TimeField(f, x, zx), TimeField(g, y, zy)) => {
            f == g
                && same_expr(x, y)
                && match (zx, zy) {
                    (crate::expr::ZoneArg::Const(p), crate::expr::ZoneArg::Const(q)) => p == q,
                    (crate::expr::ZoneArg::Expr(p), crate::expr::ZoneArg::Expr(q)) => {
                        same_expr(p, q)
                    }
                    _ => false,
                }
        }
        _ => false,
    }
}
