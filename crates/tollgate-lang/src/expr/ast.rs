//! The untyped expression tree the parser produces, and a printer that
//! writes it back as source text (fully parenthesised, so that
//! `parse(print(e)) == e` up to spans).

use std::fmt;
use std::ops::Range;

/// A node with its byte range inside the expression text.
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node is.
    pub ast: Ast,
    /// Byte range in the expression string.
    pub span: Range<usize>,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

/// Binary operators, in CEL's notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `||`
    Or,
    /// `&&`
    And,
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
    /// `in`
    In,
    /// `+`
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

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

/// Expression shapes.
#[derive(Debug, Clone)]
pub enum Ast {
    /// `true` / `false`
    Bool(bool),
    /// A signed 64-bit integer literal.
    Int(i64),
    /// A double literal.
    Float(f64),
    /// A string literal, escapes decoded.
    Str(String),
    /// `[a, b]`
    List(Vec<Node>),
    /// A bare name.
    Ident(String),
    /// `target.field`
    Select(Box<Node>, String),
    /// `f(args)` or `target.f(args)`
    Call {
        /// The receiver of a method call.
        target: Option<Box<Node>>,
        /// Function name.
        func: String,
        /// Arguments.
        args: Vec<Node>,
    },
    /// `!x`, `-x`
    Unary(UnOp, Box<Node>),
    /// `a op b`
    Binary(BinOp, Box<Node>, Box<Node>),
    /// `c ? a : b`
    Cond(Box<Node>, Box<Node>, Box<Node>),
    /// `target[index]`
    Index(Box<Node>, Box<Node>),
}

impl PartialEq for Node {
    /// Structural equality, ignoring spans (floats compare by bits).
    fn eq(&self, other: &Node) -> bool {
        match (&self.ast, &other.ast) {
            (Ast::Bool(a), Ast::Bool(b)) => a == b,
            (Ast::Int(a), Ast::Int(b)) => a == b,
            (Ast::Float(a), Ast::Float(b)) => a.to_bits() == b.to_bits(),
            (Ast::Str(a), Ast::Str(b)) => a == b,
            (Ast::List(a), Ast::List(b)) => a == b,
            (Ast::Ident(a), Ast::Ident(b)) => a == b,
            (Ast::Select(a, f), Ast::Select(b, g)) => a == b && f == g,
            (
                Ast::Call {
                    target: t1,
                    func: f1,
                    args: a1,
                },
                Ast::Call {
                    target: t2,
                    func: f2,
                    args: a2,
                },
            ) => t1 == t2 && f1 == f2 && a1 == a2,
            (Ast::Unary(o1, a), Ast::Unary(o2, b)) => o1 == o2 && a == b,
            (Ast::Binary(o1, a1, b1), Ast::Binary(o2, a2, b2)) => o1 == o2 && a1 == a2 && b1 == b2,
            (Ast::Cond(a1, b1, c1), Ast::Cond(a2, b2, c2)) => a1 == a2 && b1 == b2 && c1 == c2,
            (Ast::Index(a1, b1), Ast::Index(a2, b2)) => a1 == a2 && b1 == b2,
            _ => false,
        }
    }
}

/// Write a string as a double-quoted CEL literal.
pub fn quote(s: &str, f: &mut impl fmt::Write) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ast {
            Ast::Bool(b) => write!(f, "{b}"),
            Ast::Int(i) => {
                if *i < 0 {
                    write!(f, "({i})")
                } else {
                    write!(f, "{i}")
                }
            }
            Ast::Float(x) => {
                let s = format!("{x:?}");
                let s = if s.contains(['.', 'e', 'E']) || !x.is_finite() {
                    s
                } else {
                    format!("{s}.0")
                };
                if *x < 0.0 || s.starts_with('-') {
                    write!(f, "({s})")
                } else {
                    f.write_str(&s)
                }
            }
            Ast::Str(s) => quote(s, f),
            Ast::List(items) => {
                f.write_str("[")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{it}")?;
                }
                f.write_str("]")
            }
            Ast::Ident(n) => f.write_str(n),
            // A unary receiver needs its own parentheses: `(!b).f()`, not `!b.f()`.
            Ast::Select(t, field) if matches!(t.ast, Ast::Unary(..)) => write!(f, "({t}).{field}"),
            Ast::Select(t, field) => write!(f, "{t}.{field}"),
            Ast::Call { target, func, args } => {
                match target {
                    Some(t) if matches!(t.ast, Ast::Unary(..)) => write!(f, "({t}).")?,
                    Some(t) => write!(f, "{t}.")?,
                    None => {}
                }
                write!(f, "{func}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Ast::Unary(UnOp::Not, x) => write!(f, "!({x})"),
            Ast::Unary(UnOp::Neg, x) => write!(f, "-({x})"),
            Ast::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Ast::Cond(c, a, b) => write!(f, "({c} ? {a} : {b})"),
            Ast::Index(t, i) if matches!(t.ast, Ast::Unary(..)) => write!(f, "({t})[{i}]"),
            Ast::Index(t, i) => write!(f, "{t}[{i}]"),
        }
    }
}
