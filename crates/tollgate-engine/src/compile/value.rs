//! Evaluating the [`Ir`] straight over context slots.
//!
//! The evaluator is a second reading of the reference interpreter
//! ([`crate::eval`]) with three differences that make it fast:
//!
//! - values borrow: a string is a `Cow` pointing into the context, the
//!   compiled policy or the scratch arena, an attribute list stays the
//!   caller's slice, a list literal stays the policy's slice. Text a
//!   condition builds (`a + b` on strings, `string(n)`, `lowerAscii()`,
//!   `replace()`, `split()`, `join()`) goes into a per-thread bump arena
//!   (`bumpalo`) that is reset before each expression and keeps its
//!   memory, so a warmed-up decision allocates nothing; only `+` on lists
//!   builds a heap value;
//! - errors carry no payload ([`Fault::Error`]): a decision only needs to
//!   know that a condition did not come out `true`, not why (`explain` uses
//!   the reference interpreter);
//! - a slot whose value has another type than the policy declares (a context
//!   built against a different schema) is [`Fault::Bail`]: the compiled
//!   engine stops and the whole decision is taken by the reference
//!   interpreter, so such contexts still get exactly the reference answer.
//!
//! `&&`, `||` and `?:` follow the reference's order and its error
//! absorption operand for operand; everything else evaluates its operands
//! left to right and propagates the first fault, as the reference does.
//!
//! A macro's iteration variable lives in an [`Env`] frame on the stack of
//! the call evaluating the macro, linked to the frames of the macros around
//! it: a macro over `n` elements runs its predicate `n` times and
//! allocates nothing.

use super::ir::{slot, Bail, Const, Fault, Ir, IrZone, SlotKind};
use crate::context::{IntPairs, Slot, StrList, StrPairs};
use crate::eval::cmp_int_float;
use crate::{convert, strext};
use bumpalo::Bump;
use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use tollgate_lang::{ArithOp, CmpOp, Conv, MacroKind, StrExt, StrFn};
use tollgate_lang::{Duration, Timestamp, Zone};

/// The iteration variables in scope: the innermost macro's element, then
/// the frames of the macros around it.
#[derive(Debug)]
pub(crate) struct Env<'a> {
    val: Val<'a>,
    up: Option<&'a Env<'a>>,
}

impl<'a> Env<'a> {
    /// The variable `k` frames out (`0`: the innermost).
    fn get(&self, k: u32) -> Option<&Val<'a>> {
        let mut e = self;
        for _ in 0..k {
            e = e.up?;
        }
        Some(&e.val)
    }
}

type Scope<'a> = Option<&'a Env<'a>>;

impl Const {
    pub(crate) fn val(&self) -> Val<'_> {
        match self {
            Const::Bool(b) => Val::Bool(*b),
            Const::Int(i) => Val::Int(*i),
            Const::Float(f) => Val::Float(*f),
            Const::Str(s) => Val::Str(Cow::Borrowed(s)),
            Const::Timestamp(t) => Val::Ts(*t),
            Const::Duration(d) => Val::Dur(*d),
        }
    }
}

/// A runtime value; strings and lists borrow whenever they can.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    List(List<'a>),
    /// A map attribute, still the caller's pairs.
    Map(StrPairs<'a>),
    /// A `map<string, int>` attribute, still the caller's pairs.
    IntMap(IntPairs<'a>),
    Ts(Timestamp),
    Dur(Duration),
}

/// A runtime list.
#[derive(Debug, Clone)]
pub(crate) enum List<'a> {
    Strs(StrList<'a>),
    Ints(&'a [i64]),
    Const(&'a [Const]),
    /// A literal with computed elements, already checked to have no fault;
    /// elements are evaluated again when read (expressions are pure), in
    /// the macro variables' scope the literal was written in.
    Lazy(&'a [Ir], Scope<'a>, &'a Bump),
    /// The result of `+` (allocated).
    Owned(Vec<Val<'a>>),
}

type R<'a> = Result<Val<'a>, Fault>;

impl<'a> List<'a> {
    fn len(&self) -> usize {
        match self {
            List::Strs(l) => l.len(),
            List::Ints(l) => l.len(),
            List::Const(l) => l.len(),
            List::Lazy(l, _, _) => l.len(),
            List::Owned(l) => l.len(),
        }
    }

    fn get<'c: 'a>(&self, i: usize, ctx: &[Slot<'c>]) -> R<'a> {
        let v = match self {
            List::Strs(l) => l.get(i).map(|s| Val::Str(Cow::Borrowed(s))),
            List::Ints(l) => l.get(i).map(|v| Val::Int(*v)),
            List::Const(l) => l.get(i).map(Const::val),
            List::Lazy(l, env, arena) => {
                return l
                    .get(i)
                    .map_or(Err(Fault::Bail), |x| eval(x, ctx, *env, arena))
            }
            List::Owned(l) => l.get(i).cloned(),
        };
        // INVARIANT: `i < self.len()` at every call site.
        v.ok_or(Fault::Bail)
    }

    fn contains<'c: 'a>(&self, x: &Val<'a>, ctx: &[Slot<'c>]) -> Result<bool, Fault> {
        match (self, x) {
            (List::Strs(l), Val::Str(s)) => Ok(l.contains(s)),
            (List::Ints(l), Val::Int(v)) => Ok(l.contains(v)),
            _ => {
                for i in 0..self.len() {
                    if equals(x, &self.get(i, ctx)?, ctx)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

fn load(s: Slot<'_>, kind: SlotKind) -> R<'_> {
    match (s, kind) {
        (Slot::Missing, _) => Err(Fault::Error),
        (Slot::Bool(b), SlotKind::Bool) => Ok(Val::Bool(b)),
        (Slot::Int(i), SlotKind::Int) => Ok(Val::Int(i)),
        (Slot::Float(f), SlotKind::Float) => Ok(Val::Float(f)),
        (Slot::Str(s), SlotKind::Str) => Ok(Val::Str(Cow::Borrowed(s))),
        (Slot::StrList(l), SlotKind::StrList) => Ok(Val::List(List::Strs(l))),
        (Slot::IntList(l), SlotKind::IntList) => Ok(Val::List(List::Ints(l))),
        (Slot::StrMap(m), SlotKind::StrMap) => Ok(Val::Map(m)),
        (Slot::IntMap(m), SlotKind::IntMap) => Ok(Val::IntMap(m)),
        (Slot::Timestamp(t), SlotKind::Timestamp) => Ok(Val::Ts(t)),
        _ => Err(Fault::Bail),
    }
}

/// Order two scalars as the reference's `compare` does.
fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        (Val::Int(x), Val::Float(y)) => cmp_int_float(*x, *y),
        (Val::Float(x), Val::Int(y)) => cmp_int_float(*y, *x).map(Ordering::reverse),
        (Val::Str(x), Val::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Ts(x), Val::Ts(y)) => Some(x.cmp(y)),
        (Val::Dur(x), Val::Dur(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// CEL equality as the reference's `equals` (element-wise on lists).
fn equals<'a, 'c: 'a>(a: &Val<'a>, b: &Val<'a>, ctx: &[Slot<'c>]) -> Result<bool, Fault> {
    match (a, b) {
        (Val::List(x), Val::List(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for i in 0..x.len() {
                if !equals(&x.get(i, ctx)?, &y.get(i, ctx)?, ctx)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        _ => Ok(compare(a, b) == Some(Ordering::Equal)),
    }
}

fn arith<'a, 'c: 'a>(
    op: ArithOp,
    a: Val<'a>,
    b: Val<'a>,
    ctx: &[Slot<'c>],
    arena: &'a Bump,
) -> R<'a> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => {
            let r = match op {
                ArithOp::Add => x.checked_add(y),
                ArithOp::Sub => x.checked_sub(y),
                ArithOp::Mul => x.checked_mul(y),
                ArithOp::Div => x.checked_div(y),
                ArithOp::Rem => x.checked_rem(y),
            };
            // Division by zero and overflow are both error values.
            r.map(Val::Int).ok_or(Fault::Error)
        }
        (Val::Float(x), Val::Float(y)) => Ok(Val::Float(match op {
            ArithOp::Add => x + y,
            ArithOp::Sub => x - y,
            ArithOp::Mul => x * y,
            ArithOp::Div => x / y,
            ArithOp::Rem => x % y,
        })),
        (Val::Str(x), Val::Str(y)) => {
            let mut out = bumpalo::collections::String::with_capacity_in(x.len() + y.len(), arena);
            out.push_str(&x);
            out.push_str(&y);
            Ok(Val::Str(Cow::Borrowed(out.into_bump_str())))
        }
        (Val::List(x), Val::List(y)) => {
            let mut out = Vec::with_capacity(x.len() + y.len());
            for l in [&x, &y] {
                for i in 0..l.len() {
                    out.push(l.get(i, ctx)?);
                }
            }
            Ok(Val::List(List::Owned(out)))
        }
        (Val::Ts(t), Val::Dur(d)) | (Val::Dur(d), Val::Ts(t)) if op == ArithOp::Add => {
            t.checked_add(d).map(Val::Ts).ok_or(Fault::Error)
        }
        (Val::Ts(t), Val::Dur(d)) if op == ArithOp::Sub => {
            t.checked_sub(d).map(Val::Ts).ok_or(Fault::Error)
        }
        (Val::Ts(x), Val::Ts(y)) if op == ArithOp::Sub => {
            x.since(y).map(Val::Dur).ok_or(Fault::Error)
        }
        (Val::Dur(x), Val::Dur(y)) => match op {
            ArithOp::Add => x.checked_add(y),
            ArithOp::Sub => x.checked_sub(y),
            _ => return Err(Fault::Bail),
        }
        .map(Val::Dur)
        .ok_or(Fault::Error),
        (a, _) => Ok(a),
    }
}

/// Evaluate an expression (the reference's `eval`, minus error payloads).
pub(crate) fn eval<'a, 'c: 'a>(
    ir: &'a Ir,
    ctx: &[Slot<'c>],
    env: Scope<'a>,
    arena: &'a Bump,
) -> R<'a> {
    let eval = |x: &'a Ir, ctx: &[Slot<'c>]| eval(x, ctx, env, arena);
    match ir {
        Ir::Const(c) => Ok(c.val()),
        Ir::ConstList(items) => Ok(Val::List(List::Const(items))),
        Ir::List(items) => {
            for i in items.iter() {
                eval(i, ctx)?;
            }
            Ok(Val::List(List::Lazy(items, env, arena)))
        }
        Ir::Attr(a, kind) => load(slot(ctx, *a), *kind),
        Ir::Has(a) => Ok(Val::Bool(!matches!(slot(ctx, *a), Slot::Missing))),
        Ir::Not(x) => match eval(x, ctx)? {
            Val::Bool(b) => Ok(Val::Bool(!b)),
            v => Ok(v),
        },
        Ir::Neg(x) => match eval(x, ctx)? {
            Val::Int(i) => i.checked_neg().map(Val::Int).ok_or(Fault::Error),
            Val::Float(f) => Ok(Val::Float(-f)),
            v => Ok(v),
        },
        Ir::Arith(op, x, y) => {
            let x = eval(x, ctx)?;
            let y = eval(y, ctx)?;
            arith(*op, x, y, ctx, arena)
        }
        Ir::Cmp(op, x, y) => {
            let x = eval(x, ctx)?;
            let y = eval(y, ctx)?;
            Ok(Val::Bool(match op {
                CmpOp::Eq => equals(&x, &y, ctx)?,
                CmpOp::Ne => !equals(&x, &y, ctx)?,
                _ => compare(&x, &y).is_some_and(|o| op.holds(o)),
            }))
        }
        Ir::In(x, list) => {
            let x = eval(x, ctx)?;
            match (eval(list, ctx)?, &x) {
                (Val::List(l), _) => Ok(Val::Bool(l.contains(&x, ctx)?)),
                (Val::Map(m), Val::Str(k)) => Ok(Val::Bool(m.contains_key(k))),
                (Val::IntMap(m), Val::Str(k)) => Ok(Val::Bool(m.contains_key(k))),
                _ => Ok(Val::Bool(false)),
            }
        }
        Ir::InStrs(x, table) => match eval(x, ctx)? {
            Val::Str(s) => Ok(Val::Bool(table.contains(&s))),
            _ => Err(Fault::Bail),
        },
        Ir::And(x, y) => match eval(x, ctx) {
            Ok(Val::Bool(false)) => Ok(Val::Bool(false)),
            Ok(_) => eval(y, ctx),
            Err(Fault::Bail) => Err(Fault::Bail),
            Err(Fault::Error) => match eval(y, ctx) {
                Ok(Val::Bool(false)) => Ok(Val::Bool(false)),
                Err(Fault::Bail) => Err(Fault::Bail),
                _ => Err(Fault::Error),
            },
        },
        Ir::Or(x, y) => match eval(x, ctx) {
            Ok(Val::Bool(true)) => Ok(Val::Bool(true)),
            Ok(_) => eval(y, ctx),
            Err(Fault::Bail) => Err(Fault::Bail),
            Err(Fault::Error) => match eval(y, ctx) {
                Ok(Val::Bool(true)) => Ok(Val::Bool(true)),
                Err(Fault::Bail) => Err(Fault::Bail),
                _ => Err(Fault::Error),
            },
        },
        Ir::Cond(c, x, y) => match eval(c, ctx)? {
            Val::Bool(true) => eval(x, ctx),
            _ => eval(y, ctx),
        },
        Ir::Size(x) => match eval(x, ctx)? {
            Val::Str(s) => Ok(Val::Int(s.chars().count() as i64)),
            Val::List(l) => Ok(Val::Int(l.len() as i64)),
            Val::Map(m) => Ok(Val::Int(m.entries() as i64)),
            Val::IntMap(m) => Ok(Val::Int(m.entries() as i64)),
            v => Ok(v),
        },
        Ir::StrFn(f, s, arg) => {
            let s = eval(s, ctx)?;
            let arg = eval(arg, ctx)?;
            let (Val::Str(s), Val::Str(arg)) = (s, arg) else {
                return Ok(Val::Bool(false));
            };
            Ok(Val::Bool(match f {
                StrFn::StartsWith => s.starts_with(arg.as_ref()),
                StrFn::EndsWith => s.ends_with(arg.as_ref()),
                StrFn::Contains => s.contains(arg.as_ref()),
            }))
        }
        Ir::Matches(s, re) => match eval(s, ctx)? {
            Val::Str(s) => Ok(Val::Bool(re.is_match(&s))),
            _ => Ok(Val::Bool(false)),
        },
        Ir::Convert(conv, x) => convert_val(*conv, eval(x, ctx)?, arena),
        Ir::StrExt(f, t, args) => {
            let t = eval(t, ctx)?;
            // At most three arguments: evaluated in place, never collected.
            let mut vals: [Option<Val<'a>>; 3] = [None, None, None];
            for (v, a) in vals.iter_mut().zip(args.iter()) {
                *v = Some(eval(a, ctx)?);
            }
            str_ext(*f, t, &vals, ctx, arena)
        }
        Ir::Index(list, i) => {
            let list = eval(list, ctx)?;
            let i = eval(i, ctx)?;
            if let (Val::Map(m), Val::Str(k)) = (&list, &i) {
                return m
                    .get(k)
                    .map(|v| Val::Str(Cow::Borrowed(v)))
                    .ok_or(Fault::Error);
            }
            if let (Val::IntMap(m), Val::Str(k)) = (&list, &i) {
                return m.get(k).map(Val::Int).ok_or(Fault::Error);
            }
            let (Val::List(l), Val::Int(i)) = (list, i) else {
                return Err(Fault::Bail);
            };
            match usize::try_from(i) {
                Ok(at) if at < l.len() => l.get(at, ctx),
                _ => Err(Fault::Error),
            }
        }
        Ir::Var(k) => env.and_then(|e| e.get(*k)).cloned().ok_or(Fault::Bail),
        Ir::TimeField(field, t, zone) => {
            let t = eval(t, ctx)?;
            let zone = match zone {
                IrZone::Const(z) => *z,
                IrZone::Expr(z) => match eval(z, ctx)? {
                    Val::Str(name) => Zone::parse(&name).ok_or(Fault::Error)?,
                    _ => return Err(Fault::Bail),
                },
            };
            match t {
                Val::Ts(t) => Ok(Val::Int(t.field(*field, zone))),
                Val::Dur(d) => d.field(*field).map(Val::Int).ok_or(Fault::Bail),
                _ => Err(Fault::Bail),
            }
        }
        Ir::Macro(kind, range, body) => {
            let Val::List(l) = eval(range, ctx)? else {
                return Err(Fault::Bail);
            };
            let (mut erred, mut trues) = (false, 0usize);
            for i in 0..l.len() {
                let frame = Env {
                    val: l.get(i, ctx)?,
                    up: env,
                };
                match (kind, self::eval(body, ctx, Some(&frame), arena)) {
                    (MacroKind::All, Ok(Val::Bool(false))) => return Ok(Val::Bool(false)),
                    (MacroKind::Exists, Ok(Val::Bool(true))) => return Ok(Val::Bool(true)),
                    (MacroKind::ExistsOne, Ok(Val::Bool(true))) => trues += 1,
                    (_, Ok(_)) => {}
                    (_, Err(Fault::Error)) => erred = true,
                    (_, Err(Fault::Bail)) => return Err(Fault::Bail),
                }
            }
            if erred {
                return Err(Fault::Error);
            }
            Ok(Val::Bool(match kind {
                MacroKind::All => true,
                MacroKind::Exists => false,
                MacroKind::ExistsOne => trues == 1,
            }))
        }
    }
}

/// A string that lives as long as the arena (a copy only if it was owned).
fn text<'a>(s: Cow<'a, str>, arena: &'a Bump) -> &'a str {
    match s {
        Cow::Borrowed(s) => s,
        Cow::Owned(s) => arena.alloc_str(&s),
    }
}

/// Text written into the arena.
fn written<'a>(
    arena: &'a Bump,
    write: impl FnOnce(&mut bumpalo::collections::String<'a>) -> std::fmt::Result,
) -> R<'a> {
    let mut out = bumpalo::collections::String::new_in(arena);
    write(&mut out).map_err(|_| Fault::Bail)?;
    Ok(Val::Str(Cow::Borrowed(out.into_bump_str())))
}

/// A strings-extension call (the reference's `str_ext_value`).
fn str_ext<'a, 'c: 'a>(
    f: StrExt,
    t: Val<'a>,
    args: &[Option<Val<'a>>; 3],
    ctx: &[Slot<'c>],
    arena: &'a Bump,
) -> R<'a> {
    let str_arg = |i: usize| match args.get(i) {
        Some(Some(Val::Str(s))) => Ok(s.as_ref()),
        _ => Err(Fault::Bail),
    };
    let int_arg = |i: usize| match args.get(i) {
        Some(Some(Val::Int(n))) => Some(*n),
        _ => None,
    };
    if let (StrExt::Join, Val::List(l)) = (f, &t) {
        let sep = match args.first() {
            Some(Some(_)) => str_arg(0)?,
            _ => "",
        };
        let mut out = bumpalo::collections::String::new_in(arena);
        for i in 0..l.len() {
            if i > 0 {
                out.push_str(sep);
            }
            match l.get(i, ctx)? {
                Val::Str(s) => out.push_str(&s),
                _ => return Err(Fault::Bail),
            }
        }
        return Ok(Val::Str(Cow::Borrowed(out.into_bump_str())));
    }
    let Val::Str(s) = t else {
        return Err(Fault::Bail);
    };
    let s = text(s, arena);
    let borrowed = |x: Option<&'a str>| x.map(|x| Val::Str(Cow::Borrowed(x))).ok_or(Fault::Error);
    match f {
        StrExt::LowerAscii | StrExt::UpperAscii => {
            let upper = f == StrExt::UpperAscii;
            written(arena, |out| strext::write_ascii_case(s, upper, out))
        }
        StrExt::Trim => borrowed(Some(strext::trim(s))),
        StrExt::Replace => {
            let (old, new) = (str_arg(0)?, str_arg(1)?);
            let n = int_arg(2).unwrap_or(-1);
            written(arena, |out| strext::write_replace(s, old, new, n, out))
        }
        StrExt::Split => {
            let mut pieces = bumpalo::collections::Vec::new_in(arena);
            strext::split(s, str_arg(0)?, int_arg(1).unwrap_or(-1), |p| pieces.push(p));
            let pieces: &'a [&'a str] = pieces.into_bump_slice();
            Ok(Val::List(List::Strs(StrList::Strs(pieces))))
        }
        StrExt::IndexOf => strext::index_of(s, str_arg(0)?, int_arg(1).unwrap_or(0))
            .map(Val::Int)
            .ok_or(Fault::Error),
        StrExt::LastIndexOf => strext::last_index_of(s, str_arg(0)?, int_arg(1))
            .map(Val::Int)
            .ok_or(Fault::Error),
        StrExt::Substring => borrowed(strext::substring(
            s,
            int_arg(0).ok_or(Fault::Bail)?,
            int_arg(1),
        )),
        StrExt::CharAt => borrowed(strext::char_at(s, int_arg(0).ok_or(Fault::Bail)?)),
        StrExt::Join => Err(Fault::Bail),
    }
}

/// A conversion (the reference's `convert_value`).
fn convert_val<'a>(conv: Conv, v: Val<'a>, arena: &'a Bump) -> R<'a> {
    let v = match (conv, v) {
        (Conv::Int, Val::Int(i)) => Some(Val::Int(i)),
        (Conv::Int, Val::Float(f)) => convert::int_of_float(f).map(Val::Int),
        (Conv::Int, Val::Str(s)) => convert::int_of_str(&s).map(Val::Int),
        (Conv::Double, Val::Float(f)) => Some(Val::Float(f)),
        (Conv::Double, Val::Int(i)) => Some(Val::Float(i as f64)),
        (Conv::Double, Val::Str(s)) => convert::float_of_str(&s).map(Val::Float),
        (Conv::String, v @ Val::Str(_)) => Some(v),
        (Conv::String, Val::Bool(b)) => {
            Some(Val::Str(Cow::Borrowed(if b { "true" } else { "false" })))
        }
        (Conv::String, Val::Int(i)) => {
            return written(arena, |out| {
                std::fmt::Write::write_fmt(out, format_args!("{i}"))
            })
        }
        (Conv::String, Val::Float(f)) => return written(arena, |out| convert::write_float(f, out)),
        (Conv::Bool, Val::Bool(b)) => Some(Val::Bool(b)),
        (Conv::Bool, Val::Str(s)) => convert::bool_of_str(&s).map(Val::Bool),
        (Conv::Timestamp, Val::Str(s)) => Timestamp::parse(&s).map(Val::Ts),
        (Conv::Timestamp, Val::Int(i)) => Timestamp::new(i, 0).map(Val::Ts),
        (Conv::Timestamp, v @ Val::Ts(_)) => Some(v),
        (Conv::Duration, Val::Str(s)) => Duration::parse(&s).map(Val::Dur),
        (Conv::Duration, v @ Val::Dur(_)) => Some(v),
        _ => return Err(Fault::Bail),
    };
    v.ok_or(Fault::Error)
}

/// Is the expression exactly `true`? (An error value is not.)
#[inline]
pub(crate) fn holds(ir: &Ir, scratch: bool, ctx: &[Slot<'_>]) -> Result<bool, Bail> {
    if !scratch {
        // Nothing to write: an empty arena, which never allocates.
        return truth(eval(ir, ctx, None, &Bump::new()));
    }
    // The thread's scratch arena, reset for this expression (nothing it
    // holds outlives the call: the result is a bool). A nested call (none
    // exists today) would get a fresh arena instead of a panic.
    let run = |arena: &Bump| truth(eval(ir, ctx, None, arena));
    SCRATCH
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut arena) => {
                arena.reset();
                run(&arena)
            }
            Err(_) => run(&Bump::new()),
        })
        .unwrap_or_else(|_| run(&Bump::new()))
}

thread_local! {
    /// Scratch space for the text conditions build; it keeps its largest
    /// chunk across resets, so after the first decisions on a thread it
    /// no longer allocates.
    static SCRATCH: RefCell<Bump> = RefCell::new(Bump::new());
}

/// Is a value exactly `true`? (An error value is not.)
fn truth(r: R<'_>) -> Result<bool, Bail> {
    match r {
        Ok(Val::Bool(b)) => Ok(b),
        Ok(_) | Err(Fault::Error) => Ok(false),
        Err(Fault::Bail) => Err(Bail),
    }
}
