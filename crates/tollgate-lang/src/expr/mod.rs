//! The expression language: grammar, tree, type checker.

pub mod ast;
pub mod check;
mod literal;
mod nesting;
pub mod parse;
pub mod typed;

pub use ast::{Ast, BinOp, Node, UnOp};
pub use check::{check, CheckLimits, OffsetMap};
pub use literal::decode_string;
pub use parse::{parse, parse_with, ParseLimits, SyntaxError};
pub use typed::{ArithOp, CmpOp, Conv, MacroKind, Pattern, StrExt, StrFn, TExpr, TKind, ZoneArg};
