//! Type checking: [`Node`] + [`Schema`] -> [`TExpr`].
//!
//! The rules follow CEL's standard overloads for the subset: arithmetic
//! needs both operands of one numeric type (CEL has no implicit int/float
//! conversion), while comparisons mix int and float freely (CEL's
//! heterogeneous numeric comparison). Every problem found is reported, not
//! only the first.

mod calls;
mod operators;

use super::ast::{Ast, Node, UnOp};
use super::typed::{TExpr, TKind};
use crate::diag::{did_you_mean, Diagnostic};
use crate::schema::{AttrId, Elem, Schema, Type};
use crate::source::{FileId, Span};

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
}
