//! The checked expression: every name resolved to an [`AttrId`], every node
//! typed, every regex compiled, every span pointing into the rule file.
//! Both evaluators (the reference interpreter and the compiled engine)
//! start from this.

use crate::schema::{AttrId, Type};
use crate::source::Span;
use crate::time::{Duration, TimeField, Timestamp, Zone};

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `+` (numbers; also string and list concatenation)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// As written.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Apply to an [`Ordering`](std::cmp::Ordering).
    pub fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => o == Equal,
            CmpOp::Ne => o != Equal,
            CmpOp::Lt => o == Less,
            CmpOp::Le => o != Greater,
            CmpOp::Gt => o == Greater,
            CmpOp::Ge => o != Less,
        }
    }

    /// The operator with its operands swapped (`a < b` == `b > a`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }
}

/// String predicates taking one string argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrFn {
    /// `x.startsWith(s)`
    StartsWith,
    /// `x.endsWith(s)`
    EndsWith,
    /// `x.contains(s)`
    Contains,
}

/// Conversion functions; the target type is the node's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conv {
    /// `int(x)`: from int, float (truncated; out of range is an error) or
    /// string (decimal; unparsable is an error).
    Int,
    /// `double(x)`: from float, int or string.
    Double,
    /// `string(x)`: from string, int, float or bool.
    String,
    /// `bool(x)`: from bool or string.
    Bool,
    /// `timestamp(x)`: from an RFC 3339 string or an int of seconds since
    /// the Unix epoch.
    Timestamp,
    /// `duration(x)`: from a string in Go's syntax (`1h30m`).
    Duration,
}

impl Conv {
    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Conv::Int => "int",
            Conv::Double => "double",
            Conv::String => "string",
            Conv::Bool => "bool",
            Conv::Timestamp => "timestamp",
            Conv::Duration => "duration",
        }
    }
}

/// The functions of CEL's strings extension (as cel-go defines them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrExt {
    /// `s.lowerAscii()`
    LowerAscii,
    /// `s.upperAscii()`
    UpperAscii,
    /// `s.trim()`
    Trim,
    /// `s.replace(old, new)`, `s.replace(old, new, n)`
    Replace,
    /// `s.split(sep)`, `s.split(sep, n)`
    Split,
    /// `s.indexOf(t)`, `s.indexOf(t, from)`
    IndexOf,
    /// `s.lastIndexOf(t)`, `s.lastIndexOf(t, from)`
    LastIndexOf,
    /// `s.substring(start)`, `s.substring(start, end)`
    Substring,
    /// `s.charAt(i)`
    CharAt,
    /// `xs.join()`, `xs.join(sep)` on a `list<string>`
    Join,
}

impl StrExt {
    /// Every function, by name.
    pub const ALL: [(&'static str, StrExt); 10] = [
        ("lowerAscii", StrExt::LowerAscii),
        ("upperAscii", StrExt::UpperAscii),
        ("trim", StrExt::Trim),
        ("replace", StrExt::Replace),
        ("split", StrExt::Split),
        ("indexOf", StrExt::IndexOf),
        ("lastIndexOf", StrExt::LastIndexOf),
        ("substring", StrExt::Substring),
        ("charAt", StrExt::CharAt),
        ("join", StrExt::Join),
    ];

    /// The function's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }
}

/// The list macros (`list.all(x, p)` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacroKind {
    /// `all`: false when some element is false, else an error when some
    /// element errs, else true.
    All,
    /// `exists`: true when some element is true, else an error when some
    /// element errs, else false.
    Exists,
    /// `exists_one`: exactly one element true; any error is the result.
    ExistsOne,
}

impl MacroKind {
    /// The macro's name.
    pub fn name(self) -> &'static str {
        match self {
            MacroKind::All => "all",
            MacroKind::Exists => "exists",
            MacroKind::ExistsOne => "exists_one",
        }
    }
}

/// A regex compiled at load time, compared by its source.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The compiled regex.
    pub regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.regex.as_str() == other.regex.as_str()
    }
}

/// A typed expression node.
#[derive(Debug, Clone, PartialEq)]
pub struct TExpr {
    /// What it computes.
    pub kind: TKind,
    /// Its static type.
    pub ty: Type,
    /// Where it stands in the rule file.
    pub span: Span,
}

/// Typed expression shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum TKind {
    /// Bool literal.
    Bool(bool),
    /// Int literal.
    Int(i64),
    /// Float literal.
    Float(f64),
    /// String literal.
    Str(Box<str>),
    /// List literal.
    List(Vec<TExpr>),
    /// Attribute read (an error value when the request lacks it).
    Attr(AttrId),
    /// `has(attr)`
    Has(AttrId),
    /// `!x`
    Not(Box<TExpr>),
    /// `-x`
    Neg(Box<TExpr>),
    /// `a + b` etc.
    Arith(ArithOp, Box<TExpr>, Box<TExpr>),
    /// `a == b` etc.
    Cmp(CmpOp, Box<TExpr>, Box<TExpr>),
    /// `a in b`
    In(Box<TExpr>, Box<TExpr>),
    /// `a && b`
    And(Box<TExpr>, Box<TExpr>),
    /// `a || b`
    Or(Box<TExpr>, Box<TExpr>),
    /// `c ? a : b`
    Cond(Box<TExpr>, Box<TExpr>, Box<TExpr>),
    /// `size(x)`
    Size(Box<TExpr>),
    /// `x.startsWith(s)` etc.
    StrFn(StrFn, Box<TExpr>, Box<TExpr>),
    /// `x.matches(re)` with the regex compiled at load.
    Matches(Box<TExpr>, Pattern),
    /// `int(x)`, `double(x)`, `string(x)`, `bool(x)`.
    Convert(Conv, Box<TExpr>),
    /// `list[i]` (an error value when `i` is out of range).
    Index(Box<TExpr>, Box<TExpr>),
    /// `range.all(x, body)` etc.: `body` reads the element as `Var(0)`.
    Macro(MacroKind, Box<TExpr>, Box<TExpr>),
    /// A macro's iteration variable, counted from the innermost macro
    /// (`0` is the element of the macro whose body this is).
    Var(u32),
    /// A strings-extension call: the receiver, then the arguments.
    StrExt(StrExt, Box<TExpr>, Vec<TExpr>),
    /// `timestamp("...")` of a string literal, read when the policy loads.
    Timestamp(Timestamp),
    /// `duration("...")` of a string literal, read when the policy loads.
    Duration(Duration),
    /// `t.getHours()` etc. on a timestamp or a duration, with the time
    /// zone to read a timestamp in.
    TimeField(TimeField, Box<TExpr>, ZoneArg),
}

/// The time-zone argument of a timestamp accessor.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneArg {
    /// None given (UTC), or a string literal resolved when the policy
    /// loads.
    Const(Zone),
    /// A computed string, resolved per decision (an unknown zone is an
    /// error value).
    Expr(Box<TExpr>),
}

impl TExpr {
    /// Visit every node, parents before children.
    pub fn walk(&self, f: &mut impl FnMut(&TExpr)) {
        f(self);
        match &self.kind {
            TKind::Bool(_)
            | TKind::Int(_)
            | TKind::Float(_)
            | TKind::Str(_)
            | TKind::Attr(_)
            | TKind::Has(_)
            | TKind::Var(_)
            | TKind::Timestamp(_)
            | TKind::Duration(_) => {}
            TKind::TimeField(_, t, zone) => {
                t.walk(f);
                if let ZoneArg::Expr(z) = zone {
                    z.walk(f);
                }
            }
            TKind::List(items) => items.iter().for_each(|i| i.walk(f)),
            TKind::Not(a)
            | TKind::Neg(a)
            | TKind::Size(a)
            | TKind::Matches(a, _)
            | TKind::Convert(_, a) => a.walk(f),
            TKind::Arith(_, a, b)
            | TKind::Cmp(_, a, b)
            | TKind::In(a, b)
            | TKind::And(a, b)
            | TKind::Or(a, b)
            | TKind::StrFn(_, a, b)
            | TKind::Index(a, b)
            | TKind::Macro(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            TKind::Cond(c, a, b) => {
                c.walk(f);
                a.walk(f);
                b.walk(f);
            }
            TKind::StrExt(_, t, args) => {
                t.walk(f);
                args.iter().for_each(|a| a.walk(f));
            }
        }
    }

    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Vec<&TExpr> {
        match &self.kind {
            TKind::Bool(_)
            | TKind::Int(_)
            | TKind::Float(_)
            | TKind::Str(_)
            | TKind::Attr(_)
            | TKind::Has(_)
            | TKind::Var(_)
            | TKind::Timestamp(_)
            | TKind::Duration(_) => vec![],
            TKind::List(items) => items.iter().collect(),
            TKind::Not(a)
            | TKind::Neg(a)
            | TKind::Size(a)
            | TKind::Matches(a, _)
            | TKind::Convert(_, a) => vec![a],
            TKind::Arith(_, a, b)
            | TKind::Cmp(_, a, b)
            | TKind::In(a, b)
            | TKind::And(a, b)
            | TKind::Or(a, b)
            | TKind::StrFn(_, a, b)
            | TKind::Index(a, b)
            | TKind::Macro(_, a, b) => vec![a, b],
            TKind::Cond(c, a, b) => vec![c, a, b],
            TKind::StrExt(_, t, args) => std::iter::once(&**t).chain(args).collect(),
            TKind::TimeField(_, t, ZoneArg::Expr(z)) => vec![t, z],
            TKind::TimeField(_, t, ZoneArg::Const(_)) => vec![t],
        }
    }

    /// The operands of a top-level `&&` chain, in order (the expression
    /// itself when it is not a conjunction).
    pub fn conjuncts(&self) -> Vec<&TExpr> {
        let mut out = Vec::new();
        fn go<'a>(e: &'a TExpr, out: &mut Vec<&'a TExpr>) {
            match &e.kind {
                TKind::And(a, b) => {
                    go(a, out);
                    go(b, out);
                }
                _ => out.push(e),
            }
        }
        go(self, &mut out);
        out
    }
}
