//! Type checking: [`Node`] + [`Schema`] -> [`TExpr`].
//!
//! The rules follow CEL's standard overloads for the subset: arithmetic
//! needs both operands of one numeric type (CEL has no implicit int/float
//! conversion), while comparisons mix int and float freely (CEL's
//! heterogeneous numeric comparison). Every problem found is reported, not
//! only the first.

use super::ast::{Ast, BinOp, Node, UnOp};
use super::typed::{
    ArithOp, CmpOp, Conv, MacroKind, Pattern, StrExt, StrFn, TExpr, TKind, ZoneArg,
};
use crate::diag::{did_you_mean, Diagnostic};
use crate::schema::{AttrId, Elem, Schema, Type};
use crate::source::{FileId, Span};
use crate::time::{Duration, TimeField, Timestamp, Zone};

/// Maps byte offsets in an expression string to byte offsets in its file.
#[derive(Debug, Clone)]
pub struct OffsetMap {
    /// The file the expression came from.
    pub file: FileId,
    /// `offsets[i]` is the file offset of expression byte `i`; one extra
    /// entry for the end.
    pub offsets: Vec<u32>,
}

impl OffsetMap {
    /// An expression standing alone (offsets are its own).
    pub fn identity(file: FileId, len: usize) -> OffsetMap {
        OffsetMap {
            file,
            offsets: (0..=len as u32).collect(),
        }
    }

    /// The expression stands verbatim at `start` in the file.
    pub fn shifted(file: FileId, start: usize, len: usize) -> OffsetMap {
        let s = start as u32;
        OffsetMap {
            file,
            offsets: (0..=len as u32).map(|i| s + i).collect(),
        }
    }

    fn at(&self, i: usize) -> u32 {
        self.offsets
            .get(i)
            .or(self.offsets.last())
            .copied()
            .unwrap_or(0)
    }

    /// File span of an expression byte range.
    pub fn span(&self, r: std::ops::Range<usize>) -> Span {
        let start = self.at(r.start);
        let end = self.at(r.end).max(start);
        Span {
            file: self.file,
            start,
            end,
        }
    }
}

/// Limits applied while checking.
#[derive(Debug, Clone, Copy)]
pub struct CheckLimits {
    /// Compiled size limit of one regex, in bytes.
    pub regex_size: usize,
}

impl Default for CheckLimits {
    fn default() -> Self {
        CheckLimits {
            regex_size: 1 << 20,
        }
    }
}

/// Type-check an expression.
pub fn check(
    node: &Node,
    schema: &Schema,
    map: &OffsetMap,
    limits: CheckLimits,
    diags: &mut Vec<Diagnostic>,
) -> Option<TExpr> {
    Checker {
        schema,
        map,
        limits,
        diags,
        locals: Vec::new(),
    }
    .expr(node)
}

struct Checker<'a> {
    schema: &'a Schema,
    map: &'a OffsetMap,
    limits: CheckLimits,
    diags: &'a mut Vec<Diagnostic>,
    /// The iteration variables of the macros around the node being
    /// checked, innermost last.
    locals: Vec<(String, Type)>,
}

const FUNCTIONS: [&str; 35] = [
    "size",
    "has",
    "startsWith",
    "endsWith",
    "contains",
    "matches",
    "int",
    "double",
    "string",
    "bool",
    "all",
    "exists",
    "exists_one",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "indexOf",
    "lastIndexOf",
    "substring",
    "charAt",
    "join",
    "timestamp",
    "duration",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

fn compatible(a: Type, b: Type) -> bool {
    if a == b || (a.is_numeric() && b.is_numeric()) {
        return true;
    }
    match (a, b) {
        (Type::List(x), Type::List(y)) => {
            x == Elem::Dyn
                || y == Elem::Dyn
                || x == y
                || matches!((x, y), (Elem::Int, Elem::Float) | (Elem::Float, Elem::Int))
        }
        _ => false,
    }
}

fn elem_compatible(value: Type, list: Elem) -> bool {
    match list {
        Elem::Dyn => matches!(value, Type::Int | Type::Float | Type::Bool | Type::String),
        Elem::Bool => value == Type::Bool,
        Elem::Int | Elem::Float => value.is_numeric(),
        Elem::String => value == Type::String,
    }
}

impl Checker<'_> {
    fn span(&self, n: &Node) -> Span {
        self.map.span(n.span.clone())
    }

    fn err(&mut self, code: &'static str, n: &Node, msg: String, help: Option<String>) {
        let d = Diagnostic::error(code, self.span(n), msg).with_help_opt(help);
        self.diags.push(d);
    }

    fn mismatch(&mut self, n: &Node, msg: String, help: Option<String>) -> Option<TExpr> {
        self.err("type-mismatch", n, msg, help);
        None
    }

    fn mk(&self, n: &Node, kind: TKind, ty: Type) -> Option<TExpr> {
        Some(TExpr {
            kind,
            ty,
            span: self.span(n),
        })
    }

    /// The dotted path a node spells, if it is only names and selections.
    fn path(n: &Node) -> Option<String> {
        match &n.ast {
            Ast::Ident(s) => Some(s.clone()),
            Ast::Select(t, f) => Some(format!("{}.{}", Self::path(t)?, f)),
            _ => None,
        }
    }

    /// The first name of a dotted path.
    fn root(n: &Node) -> Option<&str> {
        match &n.ast {
            Ast::Ident(s) => Some(s),
            Ast::Select(t, _) => Self::root(t),
            _ => None,
        }
    }

    /// A macro variable in scope: its distance from the innermost macro
    /// and its type.
    fn local(&self, name: &str) -> Option<(u32, Type)> {
        self.locals
            .iter()
            .rev()
            .enumerate()
            .find(|(_, (n, _))| n == name)
            .map(|(i, (_, t))| (i as u32, *t))
    }

    fn index(&mut self, n: &Node, t: &Node, i: &Node) -> Option<TExpr> {
        let (tt, ti) = (self.expr(t), self.expr(i));
        let (tt, ti) = (tt?, ti?);
        if let Some(value) = tt.ty.map_value() {
            let m = Self::path(t).unwrap_or_else(|| "m".into());
            if ti.ty != Type::String {
                return self.mismatch(
                    i,
                    format!("a map key must be a `string`, found `{}`", ti.ty),
                    Some(match ti.ty {
                        Type::Int => {
                            format!("quote the key: `{m}[\"1\"]`, or convert it: `{m}[string(n)]`")
                        }
                        _ => format!("maps are indexed by strings: `{m}[\"team\"]`"),
                    }),
                );
            }
            return self.mk(n, TKind::Index(Box::new(tt), Box::new(ti)), value);
        }
        let Some(elem) = tt.ty.elem() else {
            return self.mismatch(
                t,
                match tt.ty {
                    Type::List(_) => {
                        format!("cannot index `{}`: its elements have no single type", tt.ty)
                    }
                    other => format!("cannot index `{other}` with `[...]`"),
                },
                Some("indexing takes a list of one element type, as in `retrieval_ids[0]`, or a map, as in `tags[\"team\"]`".into()),
            );
        };
        if ti.ty != Type::Int {
            return self.mismatch(
                i,
                format!("a list index must be an `int`, found `{}`", ti.ty),
                Some("lists are indexed from 0: `xs[0]`".into()),
            );
        }
        self.mk(n, TKind::Index(Box::new(tt), Box::new(ti)), elem)
    }

    fn convert(&mut self, n: &Node, conv: Conv, arg: &Node) -> Option<TExpr> {
        let x = self.expr(arg)?;
        // A literal is read once, when the policy loads.
        if let (Conv::Timestamp | Conv::Duration, TKind::Str(text)) = (conv, &x.kind) {
            return self.time_literal(n, conv, arg, text);
        }
        let (ok, from, ty) = match conv {
            Conv::Timestamp => (
                matches!(x.ty, Type::String | Type::Int | Type::Timestamp),
                "an RFC 3339 string or an int of seconds since the epoch",
                Type::Timestamp,
            ),
            Conv::Duration => (
                matches!(x.ty, Type::String | Type::Duration),
                "a string such as \"1h30m\"",
                Type::Duration,
            ),
            Conv::Int => (
                matches!(x.ty, Type::Int | Type::Float | Type::String),
                "an int, a float or a string",
                Type::Int,
            ),
            Conv::Double => (
                matches!(x.ty, Type::Int | Type::Float | Type::String),
                "an int, a float or a string",
                Type::Float,
            ),
            Conv::String => (
                matches!(x.ty, Type::Int | Type::Float | Type::String | Type::Bool),
                "an int, a float, a string or a bool",
                Type::String,
            ),
            Conv::Bool => (
                matches!(x.ty, Type::Bool | Type::String),
                "a bool or a string",
                Type::Bool,
            ),
        };
        if !ok {
            let name = conv.name();
            return self.mismatch(
                arg,
                format!("`{name}()` converts {from}, found `{}`", x.ty),
                match x.ty {
                    Type::List(_) => Some(format!("convert one element: `{name}(xs[0])`")),
                    _ => None,
                },
            );
        }
        self.mk(n, TKind::Convert(conv, Box::new(x)), ty)
    }

    /// `timestamp("...")` or `duration("...")` of a string literal.
    fn time_literal(&mut self, n: &Node, conv: Conv, arg: &Node, text: &str) -> Option<TExpr> {
        if conv == Conv::Timestamp {
            return match Timestamp::parse(text) {
                Some(t) => self.mk(n, TKind::Timestamp(t), Type::Timestamp),
                None => {
                    self.err(
                        "invalid-timestamp",
                        arg,
                        format!("`{text}` is not an RFC 3339 timestamp between the years 1 and 9999"),
                        Some("write a date, a time and an offset: `timestamp(\"2026-01-01T09:30:00Z\")` or `...T10:30:00+01:00`".into()),
                    );
                    None
                }
            };
        }
        match Duration::parse(text) {
            Some(d) => self.mk(n, TKind::Duration(d), Type::Duration),
            None => {
                let days = text.trim_end().ends_with('d');
                self.err(
                    "invalid-duration",
                    arg,
                    format!("`{text}` is not a duration"),
                    Some(if days {
                        "durations have no `d` unit: write `24h` for a day".into()
                    } else {
                        "write numbers with the units h, m, s, ms, us or ns, as in `duration(\"1h30m\")` or `duration(\"1.5s\")`".into()
                    }),
                );
                None
            }
        }
    }

    /// `t.getHours()`, `t.getHours("Europe/Berlin")` etc.
    fn time_field(&mut self, n: &Node, field: TimeField, t: &Node, args: &[Node]) -> Option<TExpr> {
        let name = field.name();
        let tt = self.expr(t);
        let tz = args.first().map(|a| (a, self.expr(a)));
        let tt = tt?;
        match tt.ty {
            Type::Timestamp => {}
            Type::Duration if field.on_duration() && args.is_empty() => {
                return self.mk(
                    n,
                    TKind::TimeField(field, Box::new(tt), ZoneArg::Const(Zone::Utc)),
                    Type::Int,
                )
            }
            Type::Duration if field.on_duration() => {
                self.err(
                    "bad-call",
                    n,
                    format!("`{name}()` on a duration takes no time zone"),
                    Some(format!("write `d.{name}()`")),
                );
                return None;
            }
            other => {
                return self.mismatch(
                    t,
                    format!(
                        "`{name}()` is a `timestamp`{} method, called on `{other}`",
                        if field.on_duration() {
                            " and `duration`"
                        } else {
                            ""
                        }
                    ),
                    Some(match other {
                        Type::String => format!("convert the text first: `timestamp(s).{name}()`"),
                        _ => format!(
                            "write `t.{name}()` or `t.{name}(\"Europe/Berlin\")` on a timestamp"
                        ),
                    }),
                )
            }
        }
        if args.len() > 1 {
            self.err(
                "bad-call",
                n,
                format!("`{name}` called with {} arguments", args.len()),
                Some(format!(
                    "write `t.{name}()` or `t.{name}(\"Europe/Berlin\")`"
                )),
            );
            return None;
        }
        let zone = match tz {
            None => ZoneArg::Const(Zone::Utc),
            Some((a, tz)) => {
                let tz = tz?;
                if tz.ty != Type::String {
                    return self.mismatch(
                        a,
                        format!("a time zone is a `string`, found `{}`", tz.ty),
                        Some("name an IANA zone, as in `\"Europe/Berlin\"`, or an offset, as in `\"+01:00\"`".into()),
                    );
                }
                match &tz.kind {
                    TKind::Str(zone) => match Zone::parse(zone) {
                        Some(z) => ZoneArg::Const(z),
                        None => {
                            let help = did_you_mean(zone, Zone::names()).or_else(|| {
                                Some("name an IANA zone, as in `\"Europe/Berlin\"` or `\"America/New_York\"`, `\"UTC\"`, or an offset, as in `\"+01:00\"`".into())
                            });
                            self.err(
                                "unknown-time-zone",
                                a,
                                format!("unknown time zone `{zone}`"),
                                help,
                            );
                            return None;
                        }
                    },
                    _ => ZoneArg::Expr(Box::new(tz)),
                }
            }
        };
        self.mk(n, TKind::TimeField(field, Box::new(tt), zone), Type::Int)
    }

    /// A strings-extension call: receiver and argument types, arity.
    fn str_ext(&mut self, n: &Node, name: &str, t: &Node, args: &[Node]) -> Option<TExpr> {
        use Type::{Int, String as Str};
        let f = StrExt::ALL.iter().find(|(x, _)| *x == name)?.1;
        // (receiver, required arguments, optional argument, result)
        let (recv, required, optional, result): (Type, &[Type], Option<Type>, Type) = match f {
            StrExt::LowerAscii | StrExt::UpperAscii | StrExt::Trim => (Str, &[], None, Str),
            StrExt::Replace => (Str, &[Str, Str], Some(Int), Str),
            StrExt::Split => (Str, &[Str], Some(Int), Type::List(Elem::String)),
            StrExt::IndexOf | StrExt::LastIndexOf => (Str, &[Str], Some(Int), Int),
            StrExt::Substring => (Str, &[Int], Some(Int), Str),
            StrExt::CharAt => (Str, &[Int], None, Str),
            StrExt::Join => (Type::List(Elem::String), &[], Some(Str), Str),
        };
        let form = {
            let mut parts: Vec<String> = required.iter().map(|t| format!("{t}")).collect();
            if let Some(o) = optional {
                parts.push(format!("[{o}]"));
            }
            format!("{recv}.{name}({})", parts.join(", "))
        };
        let tt = self.expr(t);
        let targs: Vec<Option<TExpr>> = args.iter().map(|a| self.expr(a)).collect();
        let tt = tt?;
        let targs: Vec<TExpr> = targs.into_iter().collect::<Option<_>>()?;
        if args.len() < required.len() || args.len() > required.len() + optional.iter().count() {
            self.err(
                "bad-call",
                n,
                format!(
                    "`{name}` called with {} argument{}",
                    args.len(),
                    if args.len() == 1 { "" } else { "s" }
                ),
                Some(format!("write `{form}`")),
            );
            return None;
        }
        if tt.ty != recv {
            return self.mismatch(
                t,
                format!("`{name}()` is a `{recv}` method, called on `{}`", tt.ty),
                Some(format!("write `{form}`")),
            );
        }
        let want = required.iter().copied().chain(optional);
        for ((a, ta), w) in args.iter().zip(&targs).zip(want) {
            if ta.ty != w {
                return self.mismatch(
                    a,
                    format!("`{name}()` takes `{w}` here, found `{}`", ta.ty),
                    Some(format!("write `{form}`")),
                );
            }
        }
        self.mk(n, TKind::StrExt(f, Box::new(tt), targs), result)
    }

    fn macro_call(
        &mut self,
        n: &Node,
        kind: MacroKind,
        range: &Node,
        var: &Node,
        body: &Node,
    ) -> Option<TExpr> {
        let name = kind.name();
        let tr = self.expr(range);
        let Ast::Ident(v) = &var.ast else {
            self.err(
                "bad-call",
                var,
                format!("the first argument of `{name}()` must be a variable name"),
                Some(format!("write `xs.{name}(x, x > 0)`")),
            );
            return None;
        };
        let tr = tr?;
        let Some(elem) = tr.ty.elem() else {
            return self.mismatch(
                range,
                match tr.ty {
                    Type::List(_) => {
                        format!(
                            "`{name}()` needs a list of one element type, found `{}`",
                            tr.ty
                        )
                    }
                    other => format!("`{name}()` is a list macro, called on `{other}`"),
                },
                Some(format!(
                    "write `xs.{name}(x, ...)` on a list attribute or literal"
                )),
            );
        };
        self.locals.push((v.clone(), elem));
        let tb = self.expr(body);
        self.locals.pop();
        let tb = tb?;
        if tb.ty != Type::Bool {
            return self.mismatch(
                body,
                format!(
                    "the predicate of `{name}()` must be a bool, found `{}`",
                    tb.ty
                ),
                Some("compare the element to get a bool, e.g. `x > 0`".into()),
            );
        }
        self.mk(
            n,
            TKind::Macro(kind, Box::new(tr), Box::new(tb)),
            Type::Bool,
        )
    }

    /// The map attribute `m` and key `k` that a path `m.k` spells, when `m`
    /// is a declared `map<string, string>` and `m.k` is not an attribute.
    fn map_path(&self, n: &Node) -> Option<(AttrId, String)> {
        let Ast::Select(t, key) = &n.ast else {
            return None;
        };
        let path = Self::path(n)?;
        if self.schema.id(&path).is_some() {
            return None;
        }
        let id = self.schema.id(&Self::path(t)?)?;
        self.schema.get(id)?.ty.is_map().then(|| (id, key.clone()))
    }

    /// `has(m.k)` on a map attribute: does the map hold key `k`?
    fn map_field(&mut self, n: &Node, arg: &Node) -> Option<Option<TExpr>> {
        let (id, key) = self.map_path(arg)?;
        let span = self.span(n);
        let key = TExpr {
            kind: TKind::Str(key.into_boxed_str()),
            ty: Type::String,
            span,
        };
        let map = TExpr {
            kind: TKind::Attr(id),
            ty: self.schema.get(id).map_or(Type::StrMap, |d| d.ty),
            span: self.span(arg),
        };
        let has = TExpr {
            kind: TKind::Has(id),
            ty: Type::Bool,
            span,
        };
        let has_key = TExpr {
            kind: TKind::In(Box::new(key), Box::new(map)),
            ty: Type::Bool,
            span,
        };
        // `has(m) && "k" in m`: false, not an error, when the map is missing.
        Some(self.mk(n, TKind::And(Box::new(has), Box::new(has_key)), Type::Bool))
    }

    fn attribute(&mut self, n: &Node) -> Option<(AttrId, Type)> {
        let path = Self::path(n)?;
        if let Some(id) = self.schema.id(&path) {
            return self.schema.get(id).map(|d| (id, d.ty));
        }
        if let Some((id, key)) = self.map_path(n) {
            let map = self.schema.name(id).to_string();
            let mut lit = String::new();
            let _ = super::ast::quote(&key, &mut lit);
            self.err(
                "unsupported",
                n,
                format!("`{map}` is a map: its entries are not fields"),
                Some(format!(
                    "write `{map}[{lit}]`, or `has({map}.{key})` to test for the key"
                )),
            );
            return None;
        }
        let help =
            did_you_mean(&path, self.schema.iter().map(|(_, a)| a.name.as_str())).or_else(|| {
                Some(format!(
                    "declare it under [attributes], e.g. `\"{path}\" = \"string\"`"
                ))
            });
        self.err(
            "unknown-attribute",
            n,
            format!("unknown attribute `{path}`"),
            help,
        );
        None
    }

    fn expr(&mut self, n: &Node) -> Option<TExpr> {
        match &n.ast {
            Ast::Bool(b) => self.mk(n, TKind::Bool(*b), Type::Bool),
            Ast::Int(i) => self.mk(n, TKind::Int(*i), Type::Int),
            Ast::Float(x) => self.mk(n, TKind::Float(*x), Type::Float),
            Ast::Str(s) => self.mk(n, TKind::Str(s.clone().into_boxed_str()), Type::String),
            Ast::List(items) => self.list(n, items),
            Ast::Ident(name) if self.local(name).is_some() => {
                let (depth, ty) = self.local(name)?;
                self.mk(n, TKind::Var(depth), ty)
            }
            Ast::Select(t, _) if Self::root(t).is_some_and(|r| self.local(r).is_some()) => {
                self.err(
                    "unsupported",
                    n,
                    "field selection on a macro variable is not supported".into(),
                    Some("the elements of a list are values, not messages".into()),
                );
                None
            }
            Ast::Index(t, i) => self.index(n, t, i),
            Ast::Ident(_) | Ast::Select(..) => {
                if Self::path(n).is_none() {
                    // `f(x).y`: selection on a computed value.
                    self.err(
                        "unsupported",
                        n,
                        "field selection is only supported on attribute names".into(),
                        Some("declare the dotted name under [attributes]".into()),
                    );
                    return None;
                }
                let (id, ty) = self.attribute(n)?;
                self.mk(n, TKind::Attr(id), ty)
            }
            Ast::Call { target, func, args } => self.call(n, target.as_deref(), func, args),
            Ast::Unary(op, x) => {
                let x = self.expr(x)?;
                match (op, x.ty) {
                    (UnOp::Not, Type::Bool) => self.mk(n, TKind::Not(Box::new(x)), Type::Bool),
                    (UnOp::Neg, t @ (Type::Int | Type::Float)) => {
                        self.mk(n, TKind::Neg(Box::new(x)), t)
                    }
                    (UnOp::Not, t) => self.mismatch(
                        n,
                        format!("`!` needs a bool, found `{t}`"),
                        Some("compare the value to get a bool, e.g. `x == 0`".into()),
                    ),
                    (UnOp::Neg, t) => {
                        self.mismatch(n, format!("`-` needs an int or a float, found `{t}`"), None)
                    }
                }
            }
            Ast::Binary(op, a, b) => self.binary(n, *op, a, b),
            Ast::Cond(c, a, b) => {
                let (c, a, b) = (self.expr(c), self.expr(a), self.expr(b));
                let (c, a, b) = (c?, a?, b?);
                if c.ty != Type::Bool {
                    return self.mismatch(
                        n,
                        format!("the condition of `?:` must be a bool, found `{}`", c.ty),
                        None,
                    );
                }
                let ty = if a.ty == b.ty {
                    a.ty
                } else if let (Type::List(_), Type::List(_)) = (a.ty, b.ty) {
                    if compatible(a.ty, b.ty) {
                        if matches!(a.ty, Type::List(Elem::Dyn)) {
                            b.ty
                        } else {
                            a.ty
                        }
                    } else {
                        return self.mismatch(
                            n,
                            format!("the branches of `?:` differ: `{}` and `{}`", a.ty, b.ty),
                            None,
                        );
                    }
                } else {
                    return self.mismatch(
                        n,
                        format!("the branches of `?:` differ: `{}` and `{}`", a.ty, b.ty),
                        Some(
                            "both branches must have one type (write `1.0`, not `1`, for a float)"
                                .into(),
                        ),
                    );
                };
                self.mk(n, TKind::Cond(Box::new(c), Box::new(a), Box::new(b)), ty)
            }
        }
    }

    fn list(&mut self, n: &Node, items: &[Node]) -> Option<TExpr> {
        let checked: Vec<Option<TExpr>> = items.iter().map(|i| self.expr(i)).collect();
        let checked: Vec<TExpr> = checked.into_iter().collect::<Option<_>>()?;
        let mut elem: Option<Elem> = None;
        for (item, node) in checked.iter().zip(items) {
            let e = match item.ty {
                Type::Bool => Elem::Bool,
                Type::Int => Elem::Int,
                Type::Float => Elem::Float,
                Type::String => Elem::String,
                Type::List(_) | Type::StrMap | Type::IntMap | Type::Timestamp | Type::Duration => {
                    self.err(
                        "unsupported",
                        node,
                        format!(
                            "lists of {} are not supported",
                            match item.ty {
                                Type::StrMap | Type::IntMap => "maps",
                                Type::Timestamp => "timestamps",
                                Type::Duration => "durations",
                                _ => "lists",
                            }
                        ),
                        None,
                    );
                    return None;
                }
            };
            elem = Some(match elem {
                None => e,
                Some(prev) if prev == e => e,
                Some(Elem::Int | Elem::Float | Elem::Dyn)
                    if matches!(e, Elem::Int | Elem::Float) =>
                {
                    Elem::Dyn
                }
                Some(prev) => {
                    let prev_ty = match prev {
                        Elem::Bool => "bool",
                        Elem::Int => "int",
                        Elem::Float => "float",
                        Elem::String => "string",
                        Elem::Dyn => "number",
                    };
                    return self.mismatch(
                        node,
                        format!(
                            "list elements differ in type: `{prev_ty}` and `{}`",
                            item.ty
                        ),
                        Some("every element of a list literal must have one type".into()),
                    );
                }
            });
        }
        self.mk(
            n,
            TKind::List(checked),
            Type::List(elem.unwrap_or(Elem::Dyn)),
        )
    }

    fn binary(&mut self, n: &Node, op: BinOp, a: &Node, b: &Node) -> Option<TExpr> {
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

    fn call(
        &mut self,
        n: &Node,
        target: Option<&Node>,
        func: &str,
        args: &[Node],
    ) -> Option<TExpr> {
        match (func, target, args) {
            ("int" | "double" | "string" | "bool" | "timestamp" | "duration", None, [arg]) => {
                let conv = match func {
                    "int" => Conv::Int,
                    "double" => Conv::Double,
                    "string" => Conv::String,
                    "timestamp" => Conv::Timestamp,
                    "duration" => Conv::Duration,
                    _ => Conv::Bool,
                };
                self.convert(n, conv, arg)
            }
            ("all" | "exists" | "exists_one", Some(range), [var, body]) => {
                let kind = match func {
                    "all" => MacroKind::All,
                    "exists" => MacroKind::Exists,
                    _ => MacroKind::ExistsOne,
                };
                self.macro_call(n, kind, range, var, body)
            }
            (f, Some(t), args) if StrExt::ALL.iter().any(|(n, _)| *n == f) => {
                self.str_ext(n, f, t, args)
            }
            (f, Some(t), args) if TimeField::ALL.iter().any(|(n, _)| *n == f) => {
                let field = TimeField::ALL.iter().find(|(n, _)| *n == f)?.1;
                self.time_field(n, field, t, args)
            }
            ("map" | "filter", Some(_), _) => {
                self.err(
                    "unsupported",
                    n,
                    format!("the `{func}()` macro is not supported"),
                    Some("test the elements with `all()`, `exists()` or `exists_one()`".into()),
                );
                None
            }
            ("has", None, [_]) => {
                let arg = args.first()?;
                if Self::path(arg).is_none() {
                    self.err(
                        "type-mismatch",
                        arg,
                        "`has()` takes an attribute name".into(),
                        Some("write `has(user.tier)`".into()),
                    );
                    return None;
                }
                if let Some(found) = self.map_field(n, arg) {
                    return found;
                }
                let (id, _) = self.attribute(arg)?;
                self.mk(n, TKind::Has(id), Type::Bool)
            }
            ("size", None, [_]) | ("size", Some(_), []) => {
                let x = match target {
                    Some(t) => t,
                    None => args.first()?,
                };
                let x = self.expr(x)?;
                if !matches!(
                    x.ty,
                    Type::String | Type::List(_) | Type::StrMap | Type::IntMap
                ) {
                    return self.mismatch(
                        n,
                        format!("`size()` takes a string, a list or a map, found `{}`", x.ty),
                        None,
                    );
                }
                self.mk(n, TKind::Size(Box::new(x)), Type::Int)
            }
            ("startsWith" | "endsWith" | "contains" | "matches", Some(t), [_]) => {
                let (tx, ta) = (self.expr(t), args.first().and_then(|a| self.expr(a)));
                let (tx, ta) = (tx?, ta?);
                if tx.ty != Type::String {
                    return self.mismatch(
                        t,
                        format!("`{func}()` is a string method, called on `{}`", tx.ty),
                        if func == "contains" && matches!(tx.ty, Type::List(_)) {
                            Some("to test list membership use `x in list`".into())
                        } else {
                            None
                        },
                    );
                }
                if ta.ty != Type::String {
                    let a = args.first()?;
                    return self.mismatch(
                        a,
                        format!("`{func}()` takes a string argument, found `{}`", ta.ty),
                        None,
                    );
                }
                if func == "matches" {
                    let arg = args.first()?;
                    let TKind::Str(pat) = &ta.kind else {
                        self.err(
                            "regex-not-literal",
                            arg,
                            "the pattern of `matches()` must be a string literal".into(),
                            Some("regexes are compiled once, when the policy loads".into()),
                        );
                        return None;
                    };
                    let re = regex::RegexBuilder::new(pat)
                        .size_limit(self.limits.regex_size)
                        .dfa_size_limit(self.limits.regex_size)
                        .build();
                    return match re {
                        Ok(regex) => self.mk(
                            n,
                            TKind::Matches(Box::new(tx), Pattern { regex }),
                            Type::Bool,
                        ),
                        Err(regex::Error::CompiledTooBig(limit)) => {
                            self.err(
                                "regex-too-big",
                                arg,
                                format!("regex compiles to more than the limit of {limit} bytes"),
                                Some("simplify the pattern (bounded repetitions such as `{1000}` multiply its size)".into()),
                            );
                            None
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            let last = msg
                                .lines()
                                .rev()
                                .find(|l| !l.trim().is_empty())
                                .unwrap_or("");
                            let last = last.trim().trim_start_matches("error: ");
                            self.err(
                                "invalid-regex",
                                arg,
                                format!("invalid regex: {last}"),
                                Some("patterns use the Rust regex crate's syntax".into()),
                            );
                            None
                        }
                    };
                }
                let f = match func {
                    "startsWith" => StrFn::StartsWith,
                    "endsWith" => StrFn::EndsWith,
                    _ => StrFn::Contains,
                };
                self.mk(n, TKind::StrFn(f, Box::new(tx), Box::new(ta)), Type::Bool)
            }
            (f, _, k) if FUNCTIONS.contains(&f) => {
                let k = k.len();
                let form = match f {
                    "int" | "double" | "string" | "bool" => format!("{f}(x)"),
                    "timestamp" => "timestamp(\"2026-01-01T09:30:00Z\")".into(),
                    "duration" => "duration(\"1h30m\")".into(),
                    f if TimeField::ALL.iter().any(|(n, _)| *n == f) => {
                        format!("t.{f}()` or `t.{f}(\"Europe/Berlin\")")
                    }
                    "all" | "exists" | "exists_one" => format!("xs.{f}(x, predicate)"),
                    "join" => "xs.join(separator)".into(),
                    f if StrExt::ALL.iter().any(|(n, _)| *n == f) => format!("s.{f}(...)"),
                    "has" => "has(attribute)".into(),
                    "size" => "size(x)` or `x.size()".into(),
                    "startsWith" => "s.startsWith(prefix)".into(),
                    "endsWith" => "s.endsWith(suffix)".into(),
                    "contains" => "s.contains(substring)".into(),
                    _ => "s.matches(\"regex\")".into(),
                };
                self.err(
                    "bad-call",
                    n,
                    format!(
                        "`{f}` called with {k} argument{} in this form",
                        if k == 1 { "" } else { "s" }
                    ),
                    Some(format!("write `{form}`")),
                );
                None
            }
            (f, _, _) => {
                let help = did_you_mean(f, FUNCTIONS).or_else(|| {
                    Some(format!(
                        "the functions are {}",
                        FUNCTIONS.map(|f| format!("`{f}`")).join(", ")
                    ))
                });
                self.err(
                    "unknown-function",
                    n,
                    format!("unknown function `{f}`"),
                    help,
                );
                None
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
