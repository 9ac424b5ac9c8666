//! Type checking of binary operators: CEL's arithmetic (one numeric type
//! on both sides), heterogeneous numeric comparison, `in` and the logical
//! operators, with hints for the usual mistakes (an unquoted string).

use super::Checker;
use super::{compatible, elem_compatible};
use crate::expr::ast::{BinOp, Node};
use crate::expr::typed::{ArithOp, CmpOp, TExpr, TKind};
use crate::schema::{Elem, Type};

impl Checker<'_> {
    pub(super) fn binary(&mut self, n: &Node, op: BinOp, a: &Node, b: &Node) -> Option<TExpr> {
        let (ta, tb) = (self.expr(a), self.expr(b));
        let (ta, tb) = (ta?, tb?);
        let sym = op.symbol();
        match op {
            BinOp::And | BinOp::Or => {
                for (t, node) in [(&ta, a), (&tb, b)] {
                    if t.ty != Type::Bool {
                        return self.mismatch(
                            node,
                            format!("`{sym}` needs bool operands, found `{}`", t.ty),
                            Some("compare the value to get a bool, e.g. `x > 0`".into()),
                        );
                    }
                }
                let k = if op == BinOp::And {
                    TKind::And(Box::new(ta), Box::new(tb))
                } else {
                    TKind::Or(Box::new(ta), Box::new(tb))
                };
                self.mk(n, k, Type::Bool)
            }
            BinOp::Eq | BinOp::Ne => {
                if ta.ty.is_map() || tb.ty.is_map() {
                    let side = if ta.ty.is_map() { a } else { b };
                    let m = Self::path(side).unwrap_or_else(|| "m".into());
                    return self.mismatch(
                        n,
                        format!("cannot compare `{}` with `{}` using `{sym}`", ta.ty, tb.ty),
                        Some(format!(
                            "compare map entries instead: `{m}[\"team\"] == \"search\"`"
                        )),
                    );
                }
                if !compatible(ta.ty, tb.ty) {
                    return self.mismatch(
                        n,
                        format!("cannot compare `{}` with `{}` using `{sym}`", ta.ty, tb.ty),
                        Some(quote_hint(ta.ty, tb.ty)),
                    );
                }
                let c = if op == BinOp::Eq {
                    CmpOp::Eq
                } else {
                    CmpOp::Ne
                };
                self.mk(n, TKind::Cmp(c, Box::new(ta), Box::new(tb)), Type::Bool)
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ok = (ta.ty.is_numeric() && tb.ty.is_numeric())
                    || (ta.ty == tb.ty
                        && matches!(
                            ta.ty,
                            Type::String | Type::Bool | Type::Timestamp | Type::Duration
                        ));
                if !ok {
                    return self.mismatch(
                        n,
                        format!("cannot order `{}` and `{}` with `{sym}`", ta.ty, tb.ty),
                        Some(quote_hint(ta.ty, tb.ty)),
                    );
                }
                let c = match op {
                    BinOp::Lt => CmpOp::Lt,
                    BinOp::Le => CmpOp::Le,
                    BinOp::Gt => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                self.mk(n, TKind::Cmp(c, Box::new(ta), Box::new(tb)), Type::Bool)
            }
            BinOp::In if tb.ty.is_map() => {
                if ta.ty != Type::String {
                    return self.mismatch(
                        a,
                        format!("`in` on a map looks for a `string` key, found `{}`", ta.ty),
                        Some(format!(
                            "map keys are strings: `\"team\" in {}`",
                            Self::path(b).unwrap_or_else(|| "m".into())
                        )),
                    );
                }
                self.mk(n, TKind::In(Box::new(ta), Box::new(tb)), Type::Bool)
            }
            BinOp::In => {
                let Type::List(elem) = tb.ty else {
                    return self.mismatch(
                        b,
                        format!("`in` needs a list on its right, found `{}`", tb.ty),
                        Some(if tb.ty == Type::String {
                            "to find a substring use `s.contains(x)`".into()
                        } else {
                            "write a list literal such as `[\"a\", \"b\"]`, or a map attribute"
                                .into()
                        }),
                    );
                };
                if !elem_compatible(ta.ty, elem) {
                    return self.mismatch(
                        n,
                        format!(
                            "cannot look for {} `{}` in a `{}`",
                            if matches!(ta.ty, Type::Int) {
                                "an"
                            } else {
                                "a"
                            },
                            ta.ty,
                            tb.ty
                        ),
                        Some(quote_hint(ta.ty, tb.ty.elem().unwrap_or(ta.ty))),
                    );
                }
                self.mk(n, TKind::In(Box::new(ta), Box::new(tb)), Type::Bool)
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                let aop = match op {
                    BinOp::Add => ArithOp::Add,
                    BinOp::Sub => ArithOp::Sub,
                    BinOp::Mul => ArithOp::Mul,
                    BinOp::Div => ArithOp::Div,
                    _ => ArithOp::Rem,
                };
                let ty = match (ta.ty, tb.ty) {
                    (Type::Int, Type::Int) => Type::Int,
                    (Type::Timestamp, Type::Duration) if matches!(aop, ArithOp::Add | ArithOp::Sub) => Type::Timestamp,
                    (Type::Duration, Type::Timestamp) if aop == ArithOp::Add => Type::Timestamp,
                    (Type::Timestamp, Type::Timestamp) if aop == ArithOp::Sub => Type::Duration,
                    (Type::Duration, Type::Duration) if matches!(aop, ArithOp::Add | ArithOp::Sub) => Type::Duration,
                    (x @ (Type::Timestamp | Type::Duration), y) | (x, y @ (Type::Timestamp | Type::Duration)) => {
                        return self.mismatch(
                            n,
                            format!("`{sym}` is not defined for `{}` and `{}`", ta.ty, tb.ty),
                            Some(if x == Type::Int || y == Type::Int || x == Type::String || y == Type::String {
                                "add or subtract a duration: `request_time + duration(\"1h\")`".into()
                            } else {
                                "timestamp - timestamp is a duration; timestamp ± duration is a timestamp; durations add and subtract".into()
                            }),
                        )
                    }
                    (Type::Float, Type::Float) if aop != ArithOp::Rem => Type::Float,
                    (Type::String, Type::String) if aop == ArithOp::Add => Type::String,
                    (Type::List(x), Type::List(y)) if aop == ArithOp::Add && compatible(ta.ty, tb.ty) => {
                        Type::List(if x == y {
                            x
                        } else if x == Elem::Dyn {
                            y
                        } else if y == Elem::Dyn {
                            x
                        } else {
                            Elem::Dyn
                        })
                    }
                    (Type::Float, Type::Float) => {
                        return self.mismatch(
                            n,
                            "`%` is defined for ints only".into(),
                            None,
                        )
                    }
                    (x, y) if x.is_numeric() && y.is_numeric() => {
                        return self.mismatch(
                            n,
                            format!("`{sym}` cannot mix `{x}` and `{y}`"),
                            Some("CEL does not convert between int and float: write `2.0` for a float literal".into()),
                        )
                    }
                    (x, y) => {
                        return self.mismatch(
                            n,
                            format!("`{sym}` is not defined for `{x}` and `{y}`"),
                            None,
                        )
                    }
                };
                self.mk(n, TKind::Arith(aop, Box::new(ta), Box::new(tb)), ty)
            }
        }
    }
}

fn quote_hint(a: Type, b: Type) -> String {
    if (a.is_numeric() && b == Type::String) || (b.is_numeric() && a == Type::String) {
        "compare numbers with numbers and text with text: write `5`, not `\"5\"`; quote text, as in `feature == \"chat\"`".into()
    } else if (a == Type::String) != (b == Type::String) {
        "quote text values: `feature == \"chat\"`".into()
    } else {
        "both sides must have compatible types (ints and floats compare with each other)".into()
    }
}
