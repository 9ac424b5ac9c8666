//! Residual predicates: what a rule still has to check once the decision
//! structure has brought a request to a leaf.
//!
//! A predicate is one per-attribute constraint the path did not dispatch
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

use super::ir::{slot, Bail, Ir, SlotKind};
use super::lead::Lead;
use super::strmap::KeySet;
use super::value;
use crate::context::Slot;
use crate::eval::cmp_int_float;
use regex::Regex;
use std::cmp::Ordering;
use tollgate_lang::AttrId;
use tollgate_lang::{CmpOp, StrFn};

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
    Str {
        attr: AttrId,
        table: KeySet,
        negated: bool,
    },
    /// An int attribute lies in one of the sorted, disjoint ranges.
    Int {
        attr: AttrId,
        ranges: Box<[(i64, i64)]>,
    },
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
    /// `attr.matches("re")`; `lead`: the bytes a match can begin with,
    /// for a pattern anchored at the start.
    Matches {
        attr: AttrId,
        re: Regex,
        lead: Option<Box<Lead>>,
        want: bool,
    },
    /// A literal `in` a list attribute.
    ListHas {
        attr: AttrId,
        item: Item,
        want: bool,
    },
    /// Any other conjunct.
    /// Any other expression; `true` when it builds text (and so needs
    /// the scratch arena).
    Expr(Ir, bool),
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
            Pred::Str {
                attr,
                table,
                negated,
            } => match slot(ctx, *attr) {
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
            Pred::Num {
                attr,
                of,
                op,
                c,
                want,
            } => Ok(match num_of(*of, slot(ctx, *attr))? {
                Some(v) => cmp_holds(*op, cmp_num(v, *c)) == *want,
                None => false,
            }),
            Pred::StrFn {
                attr,
                f,
                needle,
                want,
            } => match slot(ctx, *attr) {
                Slot::Str(s) => Ok(match f {
                    StrFn::StartsWith => s.starts_with(&**needle),
                    StrFn::EndsWith => s.ends_with(&**needle),
                    StrFn::Contains => s.contains(&**needle),
                } == *want),
                Slot::Missing => Ok(false),
                _ => Err(Bail),
            },
            Pred::Matches {
                attr,
                re,
                lead,
                want,
            } => match slot(ctx, *attr) {
                Slot::Str(s) => {
                    let admitted = lead.as_ref().is_none_or(|l| l.admits(s));
                    Ok((admitted && re.is_match(s)) == *want)
                }
                Slot::Missing => Ok(false),
                _ => Err(Bail),
            },
            Pred::ListHas { attr, item, want } => match (slot(ctx, *attr), item) {
                (Slot::StrList(l), Item::Str(x)) => Ok(l.contains(x) == *want),
                (Slot::IntList(l), Item::Int(x)) => Ok(l.contains(x) == *want),
                (Slot::Missing, _) => Ok(false),
                _ => Err(Bail),
            },
            Pred::Expr(e, scratch) => value::holds(e, *scratch, ctx),
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
            Pred::Expr(e, _) => 3 + e.cost(),
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
