//! Nesting limits, checked before and after pest runs: bracket depth over
//! the raw text (so a 10,000-deep input is a clear error, never a stack
//! overflow) and tree depth over the built [`Node`].

use super::ast::{Ast, Node};
use super::parse::SyntaxError;
use std::ops::Range;

/// The span of a node deeper than `max`, if any (iterative).
pub(super) fn deeper_than(root: &Node, max: usize) -> Option<Range<usize>> {
    let mut stack = vec![(root, 1usize)];
    while let Some((n, d)) = stack.pop() {
        if d > max {
            return Some(n.span.clone());
        }
        match &n.ast {
            Ast::Bool(_) | Ast::Int(_) | Ast::Float(_) | Ast::Str(_) | Ast::Ident(_) => {}
            Ast::List(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Ast::Select(t, _) => stack.push((t, d + 1)),
            Ast::Call { target, args, .. } => {
                if let Some(t) = target {
                    stack.push((t, d + 1));
                }
                stack.extend(args.iter().map(|a| (a, d + 1)));
            }
            Ast::Unary(_, x) => stack.push((x, d + 1)),
            Ast::Binary(_, a, b) => {
                stack.push((a, d + 1));
                stack.push((b, d + 1));
            }
            Ast::Index(t, i) => {
                stack.push((t, d + 1));
                stack.push((i, d + 1));
            }
            Ast::Cond(c, a, b) => {
                stack.push((c, d + 1));
                stack.push((a, d + 1));
                stack.push((b, d + 1));
            }
        }
    }
    None
}

/// Reject inputs whose nesting passes the limit, without recursing: each
/// bracket opens a level, and so does each `?` (a chain of conditionals
/// nests to the right until the enclosing bracket closes).
pub(super) fn check_nesting(src: &str, max: usize) -> Result<(), SyntaxError> {
    let mut depth = 0usize;
    let mut open: Vec<usize> = Vec::new();
    let bytes = src.as_bytes();
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < bytes.len() {
        let c = at(i);
        match c {
            b'"' | b'\'' => {
                // Skip the string literal the way the grammar reads it:
                // raw (`r"..."`) strings have no escapes; `"""` and `\'\'\'`
                // strings end at the triple quote.
                let raw = matches!(at(i.wrapping_sub(1)), b'r' | b'R') && i > 0;
                let triple = at(i + 1) == c && at(i + 2) == c;
                i += if triple { 3 } else { 1 };
                while i < bytes.len() {
                    let d = at(i);
                    if d == b'\\' && !raw {
                        i += 2;
                        continue;
                    }
                    if d == c && (!triple || (at(i + 1) == c && at(i + 2) == c)) {
                        i += if triple { 3 } else { 1 };
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' | b'?' => {
                if c != b'?' {
                    open.push(depth);
                }
                depth += 1;
                if depth > max {
                    return Err(too_deep(i, max));
                }
            }
            b')' | b']' | b'}' => depth = open.pop().unwrap_or(0),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

pub(super) fn too_deep(at: usize, max: usize) -> SyntaxError {
    SyntaxError::new(
        "expression-too-deep",
        at..at + 1,
        format!("expression nests deeper than the limit of {max}"),
    )
    .help("flatten the condition or split it across several rules")
}
