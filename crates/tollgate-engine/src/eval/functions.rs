//! The interpreter's operations on values: arithmetic (checked, CEL's
//! overflow and division-by-zero errors), time arithmetic, conversions,
//! time fields and the strings extension.

use super::{err, ErrorKind, EvalError, EvalResult, Value};
use crate::{convert, strext};
use tollgate_lang::{ArithOp, Conv, Span, StrExt, TimeField, Zone};
use tollgate_lang::{Duration, Timestamp};

/// A strings-extension call on evaluated operands (`None`: an index out
/// of range).
pub fn str_ext_value(f: StrExt, target: Value, args: &[Value]) -> Option<Value> {
    let str_arg = |i: usize| match args.get(i) {
        Some(Value::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let int_arg = |i: usize| match args.get(i) {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    let text = |write: &dyn Fn(&mut String) -> std::fmt::Result| {
        let mut out = String::new();
        write(&mut out).ok().map(|()| Value::Str(out))
    };
    if let (StrExt::Join, Value::List(items)) = (f, &target) {
        let parts: Vec<&str> = items
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        let sep = str_arg(0).unwrap_or("");
        return text(&|out| strext::write_join(parts.iter().copied(), sep, out));
    }
    let Value::Str(s) = target else {
        return None;
    };
    let s = s.as_str();
    Some(match f {
        StrExt::LowerAscii | StrExt::UpperAscii => {
            let upper = f == StrExt::UpperAscii;
            text(&|out| strext::write_ascii_case(s, upper, out))?
        }
        StrExt::Trim => Value::Str(strext::trim(s).to_string()),
        StrExt::Replace => {
            let (old, new) = (str_arg(0)?, str_arg(1)?);
            let n = int_arg(2).unwrap_or(-1);
            text(&|out| strext::write_replace(s, old, new, n, out))?
        }
        StrExt::Split => {
            let mut pieces = Vec::new();
            strext::split(s, str_arg(0)?, int_arg(1).unwrap_or(-1), |p| {
                pieces.push(Value::Str(p.to_string()))
            });
            Value::List(pieces)
        }
        StrExt::IndexOf => Value::Int(strext::index_of(s, str_arg(0)?, int_arg(1).unwrap_or(0))?),
        StrExt::LastIndexOf => Value::Int(strext::last_index_of(s, str_arg(0)?, int_arg(1))?),
        StrExt::Substring => Value::Str(strext::substring(s, int_arg(0)?, int_arg(1))?.to_string()),
        StrExt::CharAt => Value::Str(strext::char_at(s, int_arg(0)?)?.to_string()),
        StrExt::Join => return None,
    })
}

/// A timestamp's field in a zone, or a duration's (`None` for other values).
pub fn time_field(field: TimeField, v: &Value, zone: Zone) -> Option<i64> {
    match v {
        Value::Timestamp(t) => Some(t.field(field, zone)),
        Value::Duration(d) => d.field(field),
        _ => None,
    }
}

/// A conversion's value (`None`: no value of the target type).
pub fn convert_value(conv: Conv, v: Value) -> Option<Value> {
    Some(match (conv, v) {
        (Conv::Int, Value::Int(i)) => Value::Int(i),
        (Conv::Int, Value::Float(f)) => Value::Int(convert::int_of_float(f)?),
        (Conv::Int, Value::Str(s)) => Value::Int(convert::int_of_str(&s)?),
        (Conv::Double, Value::Float(f)) => Value::Float(f),
        (Conv::Double, Value::Int(i)) => Value::Float(i as f64),
        (Conv::Double, Value::Str(s)) => Value::Float(convert::float_of_str(&s)?),
        (Conv::String, Value::Str(s)) => Value::Str(s),
        (Conv::String, Value::Int(i)) => Value::Str(i.to_string()),
        (Conv::String, Value::Bool(b)) => Value::Str(b.to_string()),
        (Conv::String, Value::Float(f)) => {
            let mut s = String::new();
            convert::write_float(f, &mut s).ok()?;
            Value::Str(s)
        }
        (Conv::Bool, Value::Bool(b)) => Value::Bool(b),
        (Conv::Bool, Value::Str(s)) => Value::Bool(convert::bool_of_str(&s)?),
        (Conv::Timestamp, Value::Str(s)) => Value::Timestamp(Timestamp::parse(&s)?),
        (Conv::Timestamp, Value::Int(i)) => Value::Timestamp(Timestamp::new(i, 0)?),
        (Conv::Timestamp, v @ Value::Timestamp(_)) => v,
        (Conv::Duration, Value::Str(s)) => Value::Duration(Duration::parse(&s)?),
        (Conv::Duration, v @ Value::Duration(_)) => v,
        _ => return None,
    })
}

pub(crate) fn arith(op: ArithOp, a: Value, b: Value, span: Span) -> EvalResult {
    let overflow = EvalError {
        kind: ErrorKind::Overflow,
        span,
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            let r = match op {
                ArithOp::Add => x.checked_add(y),
                ArithOp::Sub => x.checked_sub(y),
                ArithOp::Mul => x.checked_mul(y),
                ArithOp::Div | ArithOp::Rem if y == 0 => {
                    return err(ErrorKind::DivisionByZero, span)
                }
                ArithOp::Div => x.checked_div(y),
                ArithOp::Rem => x.checked_rem(y),
            };
            r.map(Value::Int).ok_or(overflow)
        }
        (Value::Float(x), Value::Float(y)) => Ok(Value::Float(match op {
            ArithOp::Add => x + y,
            ArithOp::Sub => x - y,
            ArithOp::Mul => x * y,
            ArithOp::Div => x / y,
            ArithOp::Rem => x % y,
        })),
        (Value::Str(x), Value::Str(y)) => Ok(Value::Str(x + &y)),
        (Value::List(mut x), Value::List(y)) => {
            x.extend(y);
            Ok(Value::List(x))
        }
        (a @ (Value::Timestamp(_) | Value::Duration(_)), b) => {
            time_arith(op, &a, &b).ok_or(EvalError {
                kind: ErrorKind::TimeOutOfRange,
                span,
            })
        }
        (a, _) => Ok(a),
    }
}

/// `+` and `-` on timestamps and durations (`None`: out of range; the
/// checker admits no other operands).
pub fn time_arith(op: ArithOp, a: &Value, b: &Value) -> Option<Value> {
    Some(match (op, a, b) {
        (ArithOp::Add, Value::Timestamp(t), Value::Duration(d))
        | (ArithOp::Add, Value::Duration(d), Value::Timestamp(t)) => {
            Value::Timestamp(t.checked_add(*d)?)
        }
        (ArithOp::Sub, Value::Timestamp(t), Value::Duration(d)) => {
            Value::Timestamp(t.checked_sub(*d)?)
        }
        (ArithOp::Sub, Value::Timestamp(x), Value::Timestamp(y)) => Value::Duration(x.since(*y)?),
        (ArithOp::Add, Value::Duration(x), Value::Duration(y)) => {
            Value::Duration(x.checked_add(*y)?)
        }
        (ArithOp::Sub, Value::Duration(x), Value::Duration(y)) => {
            Value::Duration(x.checked_sub(*y)?)
        }
        _ => return None,
    })
}
