//! The reference interpreter: a direct, obviously-correct reading of the
//! semantics, used as the oracle for the compiled engine and to explain
//! decisions. It allocates freely; speed is the compiler's job.
//!
//! Semantics are CEL's: a missing attribute, an integer overflow or a
//! division by zero is an *error value*; `&&` and `||` absorb errors
//! commutatively (`false && e` and `e && false` are `false`, `true || e` and
//! `e || true` are `true`); the conditional propagates an error in its
//! condition; everything else propagates the first error it meets.

mod functions;

use crate::context::{Context, Slot};
use crate::convert;
pub(crate) use functions::arith;
pub use functions::{convert_value, str_ext_value, time_field};
use std::cmp::Ordering;
use tollgate_lang::{AttrId, Span};
use tollgate_lang::{CmpOp, Conv, MacroKind, StrExt, StrFn, TExpr, TKind, ZoneArg};
use tollgate_lang::{Duration, Timestamp, Zone};

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// bool
    Bool(bool),
    /// int
    Int(i64),
    /// float
    Float(f64),
    /// string
    Str(String),
    /// list
    List(Vec<Value>),
    /// map<string, string>: its entries, each key once (the first pair of
    /// a key in the request)
    Map(Vec<(String, String)>),
    /// map<string, int>: its entries, each key once
    IntMap(Vec<(String, i64)>),
    /// timestamp
    Timestamp(Timestamp),
    /// duration
    Duration(Duration),
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request lacks the attribute.
    Missing(AttrId),
    /// Integer arithmetic overflowed.
    Overflow,
    /// Division or remainder by zero.
    DivisionByZero,
    /// A conversion's argument has no value of the target type: a float
    /// out of the int range or NaN, a string that does not parse.
    BadConversion(Conv),
    /// A strings-extension function given an index outside its string
    /// (or a range whose start is past its end).
    StringIndex(StrExt),
    /// A list index outside the list.
    IndexOutOfRange {
        /// The index asked for.
        index: i64,
        /// The list's length.
        len: usize,
    },
    /// A map lookup of a key the map lacks.
    NoSuchKey(String),
    /// Time arithmetic left the range: a timestamp outside the years 1 to
    /// 9999, or a duration past an `i64` of nanoseconds.
    TimeOutOfRange,
    /// A computed time-zone name that names no zone.
    UnknownTimeZone(String),
}

/// An error value with the innermost expression that raised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where.
    pub span: Span,
}

/// Result of evaluating an expression.
pub type EvalResult = Result<Value, EvalError>;

fn err(kind: ErrorKind, span: Span) -> EvalResult {
    Err(EvalError { kind, span })
}

fn slot_value(s: Slot<'_>) -> Option<Value> {
    Some(match s {
        Slot::Missing => return None,
        Slot::Bool(b) => Value::Bool(b),
        Slot::Int(i) => Value::Int(i),
        Slot::Float(f) => Value::Float(f),
        Slot::Str(s) => Value::Str(s.to_string()),
        Slot::StrList(l) => Value::List(l.iter().map(|s| Value::Str(s.to_string())).collect()),
        Slot::IntList(l) => Value::List(l.iter().map(|i| Value::Int(*i)).collect()),
        // A map is its entries: the first pair of each key.
        Slot::StrMap(m) => Value::Map(first_pairs(m.iter().map(|(k, v)| (k, v.to_string())))),
        Slot::IntMap(m) => Value::IntMap(first_pairs(m.iter())),
        Slot::Timestamp(t) => Value::Timestamp(t),
    })
}

/// The pairs whose key no earlier pair has.
fn first_pairs<'a, V>(pairs: impl Iterator<Item = (&'a str, V)>) -> Vec<(String, V)> {
    let mut out: Vec<(String, V)> = Vec::new();
    for (k, v) in pairs {
        if !out.iter().any(|(h, _)| h == k) {
            out.push((k.to_string(), v));
        }
    }
    out
}

/// 2^63 as a float: every i64 lies in `[-2^63, 2^63)`.
pub const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Compare an int with a float exactly (no rounding of large ints).
pub fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Every i64 lies in [-2^63, 2^63); compare against the float's range first.
    if f >= TWO_POW_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    // t is integral and within i64 range here.
    let ti = t as i64;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            Some(if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            })
        }
        o => Some(o),
    }
}

/// Order two values of compatible types (`None`: unordered, e.g. NaN).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Float(y)) => cmp_int_float(*x, *y),
        (Value::Float(x), Value::Int(y)) => cmp_int_float(*y, *x).map(Ordering::reverse),
        (Value::Str(x), Value::Str(y)) => Some(x.as_str().cmp(y.as_str())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// CEL equality (heterogeneous numbers, element-wise lists).
pub fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equals(p, q))
        }
        _ => compare(a, b) == Some(Ordering::Equal),
    }
}

/// Evaluate an expression against a context.
pub fn eval(e: &TExpr, ctx: &Context<'_>) -> EvalResult {
    eval_in(e, ctx, &[])
}

/// Evaluate with the macro variables in scope (`env`, innermost last).
fn eval_in(e: &TExpr, ctx: &Context<'_>, env: &[Value]) -> EvalResult {
    let span = e.span;
    let eval = |x: &TExpr, ctx: &Context<'_>| eval_in(x, ctx, env);
    match &e.kind {
        TKind::Bool(b) => Ok(Value::Bool(*b)),
        TKind::Int(i) => Ok(Value::Int(*i)),
        TKind::Float(f) => Ok(Value::Float(*f)),
        TKind::Str(s) => Ok(Value::Str(s.to_string())),
        TKind::Timestamp(t) => Ok(Value::Timestamp(*t)),
        TKind::Duration(d) => Ok(Value::Duration(*d)),
        TKind::TimeField(field, t, zone) => {
            let t = eval(t, ctx)?;
            let zone = match zone {
                ZoneArg::Const(z) => *z,
                ZoneArg::Expr(z) => match eval(z, ctx)? {
                    Value::Str(name) => match Zone::parse(&name) {
                        Some(z) => z,
                        None => return err(ErrorKind::UnknownTimeZone(name), span),
                    },
                    _ => Zone::Utc,
                },
            };
            Ok(Value::Int(time_field(*field, &t, zone).unwrap_or(0)))
        }
        TKind::List(items) => items
            .iter()
            .map(|i| eval(i, ctx))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        TKind::Attr(a) => match slot_value(ctx.get(*a)) {
            Some(v) => Ok(v),
            None => err(ErrorKind::Missing(*a), span),
        },
        TKind::Has(a) => Ok(Value::Bool(!matches!(ctx.get(*a), Slot::Missing))),
        TKind::Not(x) => match eval(x, ctx)? {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            v => Ok(v),
        },
        TKind::Neg(x) => match eval(x, ctx)? {
            Value::Int(i) => i.checked_neg().map(Value::Int).ok_or(EvalError {
                kind: ErrorKind::Overflow,
                span,
            }),
            Value::Float(f) => Ok(Value::Float(-f)),
            v => Ok(v),
        },
        TKind::Arith(op, a, b) => {
            let (a, b) = (eval(a, ctx)?, eval(b, ctx)?);
            arith(*op, a, b, span)
        }
        TKind::Cmp(op, a, b) => {
            let (a, b) = (eval(a, ctx)?, eval(b, ctx)?);
            Ok(Value::Bool(match op {
                CmpOp::Eq => equals(&a, &b),
                CmpOp::Ne => !equals(&a, &b),
                _ => compare(&a, &b).is_some_and(|o| op.holds(o)),
            }))
        }
        TKind::In(x, list) => {
            let (x, list) = (eval(x, ctx)?, eval(list, ctx)?);
            match (list, x) {
                (Value::List(items), x) => Ok(Value::Bool(items.iter().any(|i| equals(&x, i)))),
                (Value::Map(pairs), Value::Str(k)) => {
                    Ok(Value::Bool(pairs.iter().any(|(pk, _)| *pk == k)))
                }
                (Value::IntMap(pairs), Value::Str(k)) => {
                    Ok(Value::Bool(pairs.iter().any(|(pk, _)| *pk == k)))
                }
                _ => Ok(Value::Bool(false)),
            }
        }
        TKind::And(a, b) => match eval(a, ctx) {
            Ok(Value::Bool(false)) => Ok(Value::Bool(false)),
            Ok(_) => eval(b, ctx),
            Err(e) => match eval(b, ctx) {
                Ok(Value::Bool(false)) => Ok(Value::Bool(false)),
                _ => Err(e),
            },
        },
        TKind::Or(a, b) => match eval(a, ctx) {
            Ok(Value::Bool(true)) => Ok(Value::Bool(true)),
            Ok(_) => eval(b, ctx),
            Err(e) => match eval(b, ctx) {
                Ok(Value::Bool(true)) => Ok(Value::Bool(true)),
                _ => Err(e),
            },
        },
        TKind::Cond(c, a, b) => match eval(c, ctx)? {
            Value::Bool(true) => eval(a, ctx),
            _ => eval(b, ctx),
        },
        TKind::Size(x) => match eval(x, ctx)? {
            Value::Str(s) => Ok(Value::Int(s.chars().count() as i64)),
            Value::List(l) => Ok(Value::Int(l.len() as i64)),
            Value::Map(m) => Ok(Value::Int(m.len() as i64)),
            Value::IntMap(m) => Ok(Value::Int(m.len() as i64)),
            v => Ok(v),
        },
        TKind::StrFn(f, s, arg) => {
            let (s, arg) = (eval(s, ctx)?, eval(arg, ctx)?);
            let (Value::Str(s), Value::Str(arg)) = (s, arg) else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(match f {
                StrFn::StartsWith => s.starts_with(arg.as_str()),
                StrFn::EndsWith => s.ends_with(arg.as_str()),
                StrFn::Contains => s.contains(arg.as_str()),
            }))
        }
        TKind::Matches(s, p) => match eval(s, ctx)? {
            Value::Str(s) => Ok(Value::Bool(p.regex.is_match(&s))),
            _ => Ok(Value::Bool(false)),
        },
        TKind::Convert(conv, x) => convert_value(*conv, eval(x, ctx)?).ok_or(EvalError {
            kind: ErrorKind::BadConversion(*conv),
            span,
        }),
        TKind::Index(list, i) => {
            let (list, i) = (eval(list, ctx)?, eval(i, ctx)?);
            if let (Value::Map(pairs), Value::Str(k)) = (&list, &i) {
                return match pairs.iter().find(|(pk, _)| pk == k) {
                    Some((_, v)) => Ok(Value::Str(v.clone())),
                    None => err(ErrorKind::NoSuchKey(k.clone()), span),
                };
            }
            if let (Value::IntMap(pairs), Value::Str(k)) = (&list, &i) {
                return match pairs.iter().find(|(pk, _)| pk == k) {
                    Some((_, v)) => Ok(Value::Int(*v)),
                    None => err(ErrorKind::NoSuchKey(k.clone()), span),
                };
            }
            let (Value::List(items), Value::Int(i)) = (list, i) else {
                return Ok(Value::Bool(false));
            };
            let len = items.len();
            usize::try_from(i)
                .ok()
                .and_then(|at| items.into_iter().nth(at))
                .ok_or(EvalError {
                    kind: ErrorKind::IndexOutOfRange { index: i, len },
                    span,
                })
        }
        TKind::StrExt(f, t, args) => {
            let t = eval(t, ctx)?;
            let args = args
                .iter()
                .map(|a| eval(a, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            str_ext_value(*f, t, &args).ok_or(EvalError {
                kind: ErrorKind::StringIndex(*f),
                span,
            })
        }
        TKind::Var(k) => Ok(env
            .len()
            .checked_sub(1 + *k as usize)
            .and_then(|at| env.get(at))
            .cloned()
            .unwrap_or(Value::Bool(false))),
        TKind::Macro(kind, range, body) => {
            let Value::List(items) = eval(range, ctx)? else {
                return Ok(Value::Bool(false));
            };
            let mut scope = env.to_vec();
            let mut first_err = None;
            let mut trues = 0usize;
            for item in items {
                scope.push(item);
                let r = eval_in(body, ctx, &scope);
                scope.pop();
                match (kind, r) {
                    (MacroKind::All, Ok(Value::Bool(false))) => return Ok(Value::Bool(false)),
                    (MacroKind::Exists, Ok(Value::Bool(true))) => return Ok(Value::Bool(true)),
                    (MacroKind::ExistsOne, Ok(Value::Bool(true))) => trues += 1,
                    (_, Ok(_)) => {}
                    (_, Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            match first_err {
                Some(e) => Err(e),
                None => Ok(Value::Bool(match kind {
                    MacroKind::All => true,
                    MacroKind::Exists => false,
                    MacroKind::ExistsOne => trues == 1,
                })),
            }
        }
    }
}

impl std::fmt::Display for Value {
    /// The value as a CEL expression would write it (`"kb"`, `[1, 2]`,
    /// `timestamp("2026-01-06T12:00:00Z")`, `duration("5400s")`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => convert::write_float(*x, f),
            Value::Str(s) => tollgate_lang::__private::quote(s, f),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    tollgate_lang::__private::quote(k, f)?;
                    f.write_str(": ")?;
                    tollgate_lang::__private::quote(v, f)?;
                }
                f.write_str("}")
            }
            Value::IntMap(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    tollgate_lang::__private::quote(k, f)?;
                    write!(f, ": {v}")?;
                }
                f.write_str("}")
            }
            Value::Timestamp(t) => write!(f, "timestamp(\"{t}\")"),
            Value::Duration(d) => write!(f, "duration(\"{d}\")"),
        }
    }
}

impl Value {
    /// The value as JSON, for `tollgate explain --json`: a bool, int,
    /// string, list or map is the JSON value it reads as (a map an object,
    /// the first pair of a key counting); a finite float is a JSON number
    /// and a NaN or infinite one its CEL text (`"NaN"`, `"+Inf"`,
    /// `"-Inf"`), as JSON has no such numbers; a timestamp or duration is
    /// its CEL text (`"timestamp(\"2026-01-06T12:00:00Z\")"`). The static
    /// type, given alongside, tells a float or timestamp written as text
    /// from a string.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => J::Number(n),
                None => J::String(self.to_string()),
            },
            Value::Str(s) => J::String(s.clone()),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(pairs) => {
                let mut m = serde_json::Map::new();
                for (k, v) in pairs {
                    if !m.contains_key(k) {
                        m.insert(k.clone(), J::String(v.clone()));
                    }
                }
                J::Object(m)
            }
            Value::IntMap(pairs) => {
                let mut m = serde_json::Map::new();
                for (k, v) in pairs {
                    if !m.contains_key(k) {
                        m.insert(k.clone(), J::from(*v));
                    }
                }
                J::Object(m)
            }
            Value::Timestamp(_) | Value::Duration(_) => J::String(self.to_string()),
        }
    }
}

/// The sub-expression of `e` at `span`, if any.
pub fn find(e: &TExpr, span: Span) -> Option<&TExpr> {
    if e.span == span {
        return Some(e);
    }
    e.children().into_iter().find_map(|c| find(c, span))
}

/// The values of `e` and of its sub-expressions, outermost first, for
/// explaining a condition: literals are left out (their value is their
/// text), and so is a macro's predicate (it has a value per element).
pub fn sub_values(e: &TExpr, ctx: &Context<'_>) -> Vec<(Span, EvalResult)> {
    fn go(e: &TExpr, ctx: &Context<'_>, out: &mut Vec<(Span, EvalResult)>) {
        let literal = matches!(
            e.kind,
            TKind::Bool(_)
                | TKind::Int(_)
                | TKind::Float(_)
                | TKind::Str(_)
                | TKind::Timestamp(_)
                | TKind::Duration(_)
        ) || matches!(&e.kind, TKind::List(items) if items.iter().all(|i| i.children().is_empty() && !matches!(i.kind, TKind::Attr(_))));
        if literal {
            return;
        }
        if !out.iter().any(|(s, _)| *s == e.span) {
            out.push((e.span, eval(e, ctx)));
        }
        match &e.kind {
            TKind::Macro(_, range, _) => go(range, ctx, out),
            _ => e.children().into_iter().for_each(|c| go(c, ctx, out)),
        }
    }
    let mut out = Vec::new();
    go(e, ctx, &mut out);
    out
}

/// How a condition came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// True: the rule matches.
    Matched,
    /// False; `culprit` is the innermost sub-expression that made it false.
    False {
        /// The responsible sub-expression.
        culprit: Span,
    },
    /// An error value; the rule does not match.
    Error(EvalError),
}

/// Evaluate a condition (`None` = always true) and say why it came out so.
pub fn outcome(when: Option<&TExpr>, ctx: &Context<'_>) -> Outcome {
    let Some(e) = when else {
        return Outcome::Matched;
    };
    match eval(e, ctx) {
        Ok(Value::Bool(true)) => Outcome::Matched,
        Ok(_) => Outcome::False {
            culprit: culprit(e, ctx),
        },
        Err(err) => Outcome::Error(err),
    }
}

/// Does the condition hold? (`None` = always)
pub fn holds(when: Option<&TExpr>, ctx: &Context<'_>) -> bool {
    match when {
        None => true,
        Some(e) => matches!(eval(e, ctx), Ok(Value::Bool(true))),
    }
}

/// The innermost sub-expression responsible for `e` being false.
fn culprit(e: &TExpr, ctx: &Context<'_>) -> Span {
    let is_false = |x: &TExpr| matches!(eval(x, ctx), Ok(Value::Bool(false)));
    match &e.kind {
        TKind::And(a, b) => {
            if is_false(a) {
                culprit(a, ctx)
            } else if is_false(b) {
                culprit(b, ctx)
            } else {
                e.span
            }
        }
        TKind::Cond(c, a, b) => match eval(c, ctx) {
            Ok(Value::Bool(true)) if is_false(a) => culprit(a, ctx),
            Ok(Value::Bool(false)) if is_false(b) => culprit(b, ctx),
            _ => e.span,
        },
        _ => e.span,
    }
}
