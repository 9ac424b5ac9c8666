//! The expression IR for residual conjuncts of no common shape: a
//! [`TExpr`] lowered once, when the policy compiles, into a tree whose
//! literals are ready to use (string sets for `x in ["a", "b"]`, folded
//! negative numbers, cloned regexes) and whose attribute reads know the slot
//! shape to expect. [`super::value`] evaluates it.

use super::strmap::KeySet;
use crate::context::Slot;
use regex::Regex;
use tollgate_lang::{ArithOp, CmpOp, Conv, MacroKind, StrExt, StrFn, TExpr, TKind, ZoneArg};
use tollgate_lang::{AttrId, Elem, Type};
use tollgate_lang::{Duration, TimeField, Timestamp, Zone};

/// Why an expression has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A CEL error value: a missing attribute, an overflow, a division by
    /// zero. Absorbed by `&&` and `||` like the reference does.
    Error,
    /// A slot holds a value of another type than the policy declares; the
    /// decision falls back to the reference interpreter.
    Bail,
}

/// The decision must be taken by the reference interpreter (see [`Fault::Bail`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// The slot shape an attribute's declared type promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotKind {
    Bool,
    Int,
    Float,
    Str,
    StrList,
    IntList,
    StrMap,
    IntMap,
    Timestamp,
    /// A type no attribute can be declared with; any value bails.
    Other,
}

impl SlotKind {
    pub(crate) fn of(ty: Type) -> SlotKind {
        match ty {
            Type::Bool => SlotKind::Bool,
            Type::Int => SlotKind::Int,
            Type::Float => SlotKind::Float,
            Type::String => SlotKind::Str,
            Type::List(Elem::String) => SlotKind::StrList,
            Type::List(Elem::Int) => SlotKind::IntList,
            Type::List(_) | Type::Duration => SlotKind::Other,
            Type::StrMap => SlotKind::StrMap,
            Type::IntMap => SlotKind::IntMap,
            Type::Timestamp => SlotKind::Timestamp,
        }
    }

    /// `Ok(true)`: present with the promised shape; `Ok(false)`: missing.
    #[inline]
    pub(crate) fn present(self, s: Slot<'_>) -> Result<bool, Bail> {
        match (s, self) {
            (Slot::Missing, _) => Ok(false),
            (Slot::Bool(_), SlotKind::Bool)
            | (Slot::Int(_), SlotKind::Int)
            | (Slot::Float(_), SlotKind::Float)
            | (Slot::Str(_), SlotKind::Str)
            | (Slot::StrList(_), SlotKind::StrList)
            | (Slot::IntList(_), SlotKind::IntList)
            | (Slot::StrMap(_), SlotKind::StrMap)
            | (Slot::IntMap(_), SlotKind::IntMap)
            | (Slot::Timestamp(_), SlotKind::Timestamp) => Ok(true),
            _ => Err(Bail),
        }
    }
}

/// A literal.
#[derive(Debug, Clone)]
pub(crate) enum Const {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    Timestamp(Timestamp),
    Duration(Duration),
}

/// The time zone of a timestamp accessor.
#[derive(Debug, Clone)]
pub(crate) enum IrZone {
    /// Resolved when the policy compiled.
    Const(Zone),
    /// A computed zone name, resolved per decision.
    Expr(Box<Ir>),
}

/// A lowered expression.
#[derive(Debug, Clone)]
pub(crate) enum Ir {
    Const(Const),
    /// A list literal of literals.
    ConstList(Box<[Const]>),
    /// A list literal with computed elements (evaluated in place, never
    /// collected).
    List(Box<[Ir]>),
    Attr(AttrId, SlotKind),
    Has(AttrId),
    Not(Box<Ir>),
    Neg(Box<Ir>),
    Arith(ArithOp, Box<Ir>, Box<Ir>),
    Cmp(CmpOp, Box<Ir>, Box<Ir>),
    In(Box<Ir>, Box<Ir>),
    /// A string `in` a list of string literals.
    InStrs(Box<Ir>, KeySet),
    And(Box<Ir>, Box<Ir>),
    Or(Box<Ir>, Box<Ir>),
    Cond(Box<Ir>, Box<Ir>, Box<Ir>),
    Size(Box<Ir>),
    StrFn(StrFn, Box<Ir>, Box<Ir>),
    Matches(Box<Ir>, Regex),
    Convert(Conv, Box<Ir>),
    Index(Box<Ir>, Box<Ir>),
    /// A list macro: the range, then the predicate, which reads the
    /// element as `Var(0)`.
    Macro(MacroKind, Box<Ir>, Box<Ir>),
    /// A macro variable, counted from the innermost macro.
    Var(u32),
    /// A strings-extension call: receiver, then at most three arguments.
    StrExt(StrExt, Box<Ir>, Box<[Ir]>),
    /// A timestamp's or a duration's field (`getHours()` etc.).
    TimeField(TimeField, Box<Ir>, IrZone),
}

fn literal(e: &TExpr) -> Option<Const> {
    Some(match &e.kind {
        TKind::Bool(b) => Const::Bool(*b),
        TKind::Int(i) => Const::Int(*i),
        TKind::Float(f) => Const::Float(*f),
        TKind::Str(s) => Const::Str(s.clone()),
        TKind::Timestamp(t) => Const::Timestamp(*t),
        TKind::Duration(d) => Const::Duration(*d),
        _ => return None,
    })
}

/// Lower a checked expression.
pub(crate) fn lower(e: &TExpr) -> Ir {
    let b = |x: &TExpr| Box::new(lower(x));
    match &e.kind {
        TKind::Bool(_)
        | TKind::Int(_)
        | TKind::Float(_)
        | TKind::Str(_)
        | TKind::Timestamp(_)
        | TKind::Duration(_) => literal(e).map_or(Ir::Const(Const::Bool(false)), Ir::Const),
        TKind::List(items) => match items.iter().map(literal).collect::<Option<Vec<_>>>() {
            Some(lits) => Ir::ConstList(lits.into_boxed_slice()),
            None => Ir::List(items.iter().map(lower).collect()),
        },
        TKind::Attr(a) => Ir::Attr(*a, SlotKind::of(e.ty)),
        TKind::Has(a) => Ir::Has(*a),
        TKind::Not(x) => Ir::Not(b(x)),
        // `-5` parses as a negation; fold it when the reference cannot fail.
        TKind::Neg(x) => match lower(x) {
            Ir::Const(Const::Int(i)) if i.checked_neg().is_some() => {
                Ir::Const(Const::Int(i.wrapping_neg()))
            }
            Ir::Const(Const::Float(f)) => Ir::Const(Const::Float(-f)),
            x => Ir::Neg(Box::new(x)),
        },
        TKind::Arith(op, x, y) => Ir::Arith(*op, b(x), b(y)),
        TKind::Cmp(op, x, y) => Ir::Cmp(*op, b(x), b(y)),
        TKind::In(x, list) => {
            let strs = match &list.kind {
                TKind::List(items) if x.ty == Type::String => items
                    .iter()
                    .map(|i| match &i.kind {
                        TKind::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            match strs {
                Some(s) => Ir::InStrs(b(x), KeySet::of(s)),
                None => Ir::In(b(x), b(list)),
            }
        }
        TKind::And(x, y) => Ir::And(b(x), b(y)),
        TKind::Or(x, y) => Ir::Or(b(x), b(y)),
        TKind::Cond(c, x, y) => Ir::Cond(b(c), b(x), b(y)),
        TKind::Size(x) => Ir::Size(b(x)),
        TKind::StrFn(f, x, y) => Ir::StrFn(*f, b(x), b(y)),
        TKind::Matches(x, p) => Ir::Matches(b(x), p.regex.clone()),
        TKind::Convert(c, x) => Ir::Convert(*c, b(x)),
        TKind::Index(x, i) => Ir::Index(b(x), b(i)),
        TKind::Macro(k, range, body) => Ir::Macro(*k, b(range), b(body)),
        TKind::Var(k) => Ir::Var(*k),
        TKind::StrExt(f, t, args) => Ir::StrExt(*f, b(t), args.iter().map(lower).collect()),
        TKind::TimeField(f, t, zone) => Ir::TimeField(
            *f,
            b(t),
            match zone {
                ZoneArg::Const(z) => IrZone::Const(*z),
                ZoneArg::Expr(z) => IrZone::Expr(b(z)),
            },
        ),
    }
}

impl Ir {
    /// Does evaluating it write text (so that it needs scratch space)?
    pub(crate) fn builds_text(&self) -> bool {
        let b = |x: &Ir| x.builds_text();
        match self {
            Ir::Const(_) | Ir::ConstList(_) | Ir::Has(_) | Ir::Attr(..) | Ir::Var(_) => false,
            Ir::Arith(ArithOp::Add, ..) | Ir::Convert(Conv::String, _) | Ir::StrExt(..) => true,
            Ir::List(items) => items.iter().any(Ir::builds_text),
            Ir::Not(x)
            | Ir::Neg(x)
            | Ir::Size(x)
            | Ir::InStrs(x, _)
            | Ir::Matches(x, _)
            | Ir::Convert(_, x) => b(x),
            Ir::Arith(_, x, y)
            | Ir::Cmp(_, x, y)
            | Ir::And(x, y)
            | Ir::Or(x, y)
            | Ir::In(x, y)
            | Ir::StrFn(_, x, y)
            | Ir::Index(x, y)
            | Ir::Macro(_, x, y) => b(x) || b(y),
            Ir::Cond(x, y, z) => b(x) || b(y) || b(z),
            Ir::TimeField(_, x, IrZone::Const(_)) => b(x),
            Ir::TimeField(_, x, IrZone::Expr(z)) => b(x) || b(z),
        }
    }

    /// A rough evaluation cost, to test cheap residuals first.
    pub(crate) fn cost(&self) -> u32 {
        let c = |x: &Ir| x.cost();
        match self {
            Ir::Const(_) | Ir::ConstList(_) | Ir::Has(_) | Ir::Attr(..) | Ir::Var(_) => 1,
            Ir::List(items) => 1 + items.iter().map(Ir::cost).sum::<u32>(),
            Ir::Not(x) | Ir::Neg(x) => 1 + c(x),
            Ir::Size(x) => 4 + c(x),
            Ir::InStrs(x, _) => 3 + c(x),
            Ir::Arith(_, x, y) | Ir::Cmp(_, x, y) | Ir::And(x, y) | Ir::Or(x, y) => 1 + c(x) + c(y),
            Ir::In(x, y) => 6 + c(x) + c(y),
            Ir::StrFn(_, x, y) => 8 + c(x) + c(y),
            Ir::Cond(x, y, z) => 1 + c(x) + c(y).max(c(z)),
            Ir::Matches(x, _) => 40 + c(x),
            Ir::Convert(Conv::String, x) => 30 + c(x),
            Ir::Convert(_, x) => 4 + c(x),
            Ir::Index(x, i) => 2 + c(x) + c(i),
            Ir::StrExt(_, t, args) => 20 + c(t) + args.iter().map(Ir::cost).sum::<u32>(),
            // The predicate runs once per element: count a few.
            Ir::Macro(_, range, body) => 4 + c(range) + 4 * c(body),
            Ir::TimeField(_, x, IrZone::Const(_)) => 10 + c(x),
            Ir::TimeField(_, x, IrZone::Expr(z)) => 30 + c(x) + c(z),
        }
        .min(1 << 20)
    }
}

/// The value in a slot (`Missing` past the end).
#[inline(always)]
pub(crate) fn slot<'c>(slots: &[Slot<'c>], a: AttrId) -> Slot<'c> {
    slots.get(a.index()).copied().unwrap_or(Slot::Missing)
}
