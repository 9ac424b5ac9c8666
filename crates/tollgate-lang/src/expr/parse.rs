//! Expression text -> [`Node`] tree, with CEL's lexical rules.
//!
//! The grammar (`grammar.pest`) only recognises tokens; this file builds the
//! tree, decodes string escapes, range-checks integer literals and turns
//! pest's failures into messages a rule author can act on. Nesting is
//! bounded *before* pest runs, so a 10,000-deep input is a clear error and
//! never a stack overflow.

use super::ast::{Ast, BinOp, Node, UnOp};
use super::literal::{decode_string, float_literal, int_literal};
use super::nesting::{check_nesting, deeper_than, too_deep};
use pest::iterators::Pair;
use pest::Parser as _;
use std::ops::Range;

/// The pest parser and its `Rule` enum, kept private: the tokens are this
/// file's business, the [`Node`] tree is the API.
mod grammar {
    #![allow(missing_docs)]
    #[derive(pest_derive::Parser)]
    #[grammar = "expr/grammar.pest"]
    pub(super) struct CelParser;
}
use grammar::{CelParser, Rule};

/// Limits applied while parsing one expression.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Longest expression text, in bytes.
    pub max_len: usize,
    /// Deepest nesting of brackets, parentheses and conditionals.
    pub max_depth: usize,
    /// Deepest expression tree (a chain of `n` binary operators is `n` deep).
    pub max_tree_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_len: 16 * 1024,
            max_depth: 32,
            max_tree_depth: 128,
        }
    }
}

/// A syntax error inside an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Stable diagnostic code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// Where, as a byte range in the expression.
    pub span: Range<usize>,
    /// What to do about it.
    pub help: Option<String>,
}

impl SyntaxError {
    pub(super) fn new(code: &'static str, span: Range<usize>, message: impl Into<String>) -> Self {
        SyntaxError {
            code,
            message: message.into(),
            span,
            help: None,
        }
    }
    pub(super) fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }
}

/// Parse an expression with the default limits.
pub fn parse(src: &str) -> Result<Node, SyntaxError> {
    parse_with(src, ParseLimits::default())
}

/// Parse an expression.
pub fn parse_with(src: &str, limits: ParseLimits) -> Result<Node, SyntaxError> {
    if src.len() > limits.max_len {
        return Err(SyntaxError::new(
            "expression-too-long",
            0..src.len().min(1),
            format!(
                "expression is {} bytes long, more than the limit of {}",
                src.len(),
                limits.max_len
            ),
        )
        .help("split the condition across several rules"));
    }
    check_nesting(src, limits.max_depth)?;
    let mut pairs = CelParser::parse(Rule::root, src).map_err(|e| from_pest(src, e))?;
    let root = pairs
        .next()
        .and_then(|p| p.into_inner().next())
        .ok_or_else(|| SyntaxError::new("syntax", 0..0, "empty expression"))?;
    let b = Builder {
        depth_limit: limits.max_depth,
    };
    let tree = b.expr(root, 0)?;
    // Everything downstream (checker, evaluators, compiler) recurses over
    // the tree: bound its depth here, once, without recursing.
    if let Some(at) = deeper_than(&tree, limits.max_tree_depth) {
        return Err(SyntaxError::new(
            "expression-too-deep",
            at,
            format!(
                "expression is more than {} operators deep",
                limits.max_tree_depth
            ),
        )
        .help("use `x in [...]` instead of long chains of `||`, or split the condition across several rules"));
    }
    Ok(tree)
}

fn rule_name(r: &Rule) -> Option<&'static str> {
    Some(match r {
        Rule::expr | Rule::binary | Rule::unary | Rule::member | Rule::primary => "expression",
        Rule::ident => "name",
        Rule::rel_op | Rule::kw_in => "comparison",
        Rule::add_op | Rule::mul_op | Rule::or_op | Rule::and_op => "operator",
        Rule::question => "`?`",
        Rule::colon => "`:`",
        Rule::args => "`(`",
        Rule::postfix | Rule::select | Rule::index => "`.`",
        Rule::EOI => "end of expression",
        Rule::string | Rule::quoted | Rule::raw_string => "string",
        Rule::int | Rule::float | Rule::uint => "number",
        _ => return None,
    })
}

fn from_pest(src: &str, e: pest::error::Error<Rule>) -> SyntaxError {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let rest = src.get(pos..).unwrap_or("");
    let tok_len = rest.chars().next().map(char::len_utf8).unwrap_or(0);
    let span = pos..pos + tok_len;
    // Common mistakes first, with a targeted hint.
    if rest.starts_with('=') && !rest.starts_with("==") {
        return SyntaxError::new("syntax", span, "unexpected `=`").help("use `==` to compare");
    }
    // `and`, `or`, `not` written as words: either at the error position or
    // just before it (`not has(x)` parses `not` as a name, then fails).
    let word_at = |at: usize| -> Option<(usize, &str)> {
        let w = src.get(at..)?;
        let len = w
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(w.len());
        w.get(..len).map(|x| (at, x))
    };
    let before = src.get(..pos).unwrap_or("").trim_end();
    let prev_start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(|i| i + 1)
        .unwrap_or(0);
    for (at, word) in [word_at(pos), word_at(prev_start)].into_iter().flatten() {
        let op = match word {
            "and" => "&&",
            "or" => "||",
            "not" => "!",
            _ => continue,
        };
        return SyntaxError::new(
            "syntax",
            at..at + word.len(),
            format!("unexpected `{word}`"),
        )
        .help(format!("use `{op}`"));
    }
    if rest.starts_with('"') || rest.starts_with('\'') {
        return SyntaxError::new("syntax", span, "unterminated string")
            .help("close the string with the quote it opened with");
    }
    let mut expected: Vec<&str> = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(rule_name).collect()
        }
        pest::error::ErrorVariant::CustomError { .. } => vec![],
    };
    expected.sort_unstable();
    expected.dedup();
    let found = if rest.is_empty() {
        "end of expression".to_string()
    } else {
        let tok: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(12)
            .collect();
        format!("`{tok}`")
    };
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", expected.join(" or "))
    };
    let mut err = SyntaxError::new("syntax", span, message);
    if rest.is_empty() {
        err =
            err.help("the expression ends too early: is an operand or a closing bracket missing?");
    } else {
        err = err.help("see the expression grammar in the language reference");
    }
    err
}

struct Builder {
    depth_limit: usize,
}

fn range(p: &Pair<'_, Rule>) -> Range<usize> {
    let s = p.as_span();
    s.start()..s.end()
}

fn node(ast: Ast, span: Range<usize>) -> Node {
    Node { ast, span }
}

impl Builder {
    /// `depth` is the nesting level [`check_nesting`] counts: one per
    /// parenthesis, list bracket, call argument list and `?:`, and nothing
    /// for operators, so 32 parentheses around an operand are 32 levels.
    fn check_depth(&self, depth: usize, span: &Range<usize>) -> Result<(), SyntaxError> {
        if depth > self.depth_limit {
            Err(too_deep(span.start, self.depth_limit))
        } else {
            Ok(())
        }
    }

    fn expr(&self, p: Pair<'_, Rule>, depth: usize) -> Result<Node, SyntaxError> {
        let span = range(&p);
        self.check_depth(depth, &span)?;
        match p.as_rule() {
            Rule::expr => {
                let mut it = p.into_inner();
                let first = self.next(&mut it, &span, depth)?;
                match it.next() {
                    None => Ok(first),
                    // The branches of `?:` nest one level deeper than
                    // its condition, as `check_nesting` counts them.
                    Some(_question) => {
                        let a = self.next(&mut it, &span, depth + 1)?;
                        let _colon = it.next();
                        let b = self.next(&mut it, &span, depth + 1)?;
                        Ok(node(
                            Ast::Cond(Box::new(first), Box::new(a), Box::new(b)),
                            span,
                        ))
                    }
                }
            }
            Rule::binary => self.binary(p, depth),
            Rule::unary => self.unary(p, depth),
            Rule::member => self.member(p, depth),
            Rule::primary => {
                let mut it = p.into_inner();
                let inner = it
                    .next()
                    .ok_or_else(|| SyntaxError::new("syntax", span.clone(), "empty primary"))?;
                match it.next() {
                    // `name(args)`: a global call.
                    Some(args) => self.call(inner, args, depth),
                    None => self.primary(inner, depth),
                }
            }
            _ => Err(SyntaxError::new(
                "syntax",
                span,
                "unexpected token".to_string(),
            )),
        }
    }

    fn next(
        &self,
        it: &mut pest::iterators::Pairs<'_, Rule>,
        span: &Range<usize>,
        depth: usize,
    ) -> Result<Node, SyntaxError> {
        let p = it
            .next()
            .ok_or_else(|| SyntaxError::new("syntax", span.clone(), "incomplete expression"))?;
        self.expr(p, depth)
    }

    /// Groups a flat `operand (op operand)*` sequence by precedence
    /// climbing: every operator is left-associative, tighter levels bind
    /// first (`||` < `&&` < relations < `+ -` < `* / %`), as in CEL.
    fn binary(&self, p: Pair<'_, Rule>, depth: usize) -> Result<Node, SyntaxError> {
        let span = range(&p);
        let mut it = p.into_inner();
        let first = self.next(&mut it, &span, depth)?;
        let mut rest = Vec::new();
        while let Some(op) = it.next() {
            let op = binop(&op)?;
            rest.push((op, self.next(&mut it, &span, depth)?));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        let mut rest = rest.into_iter().peekable();
        Ok(climb(first, &mut rest, 0))
    }

    fn unary(&self, p: Pair<'_, Rule>, depth: usize) -> Result<Node, SyntaxError> {
        let span = range(&p);
        let mut ops = Vec::new();
        let mut operand = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::unary_op => ops.push((q.as_str() == "!", q.as_span().start())),
                _ => operand = Some(q),
            }
        }
        let operand =
            operand.ok_or_else(|| SyntaxError::new("syntax", span.clone(), "missing operand"))?;
        if ops.len() > self.depth_limit {
            return Err(too_deep(span.start, self.depth_limit));
        }
        // `-` directly before a number literal is part of the literal, so that
        // `-9223372036854775808` is representable, as in CEL.
        let literal = literal_operand(&operand);
        let mut n = match (ops.last(), literal) {
            (Some((false, at)), Some(lit)) => {
                let at = *at;
                ops.pop();
                let s = at..lit.as_span().end();
                match lit.as_rule() {
                    Rule::int => node(Ast::Int(int_literal(lit.as_str(), true, s.clone())?), s),
                    _ => node(Ast::Float(-float_literal(lit.as_str(), s.clone())?), s),
                }
            }
            _ => self.expr(operand, depth)?,
        };
        while let Some((not, at)) = ops.pop() {
            let s = at..n.span.end;
            let op = if not { UnOp::Not } else { UnOp::Neg };
            n = node(Ast::Unary(op, Box::new(n)), s);
        }
        Ok(n)
    }

    fn member(&self, p: Pair<'_, Rule>, depth: usize) -> Result<Node, SyntaxError> {
        let span = range(&p);
        let mut it = p.into_inner();
        let mut n = self.next(&mut it, &span, depth)?;
        for post in it {
            let post = post
                .into_inner()
                .next()
                .ok_or_else(|| SyntaxError::new("syntax", span.clone(), "bad member access"))?;
            match post.as_rule() {
                Rule::index => {
                    let end = post.as_span().end();
                    let inner = post
                        .into_inner()
                        .next()
                        .ok_or_else(|| SyntaxError::new("syntax", span.clone(), "empty index"))?;
                    let i = self.expr(inner, depth + 1)?;
                    let s = n.span.start..end;
                    n = node(Ast::Index(Box::new(n), Box::new(i)), s);
                }
                _ => {
                    // The pair may end with the white space pest skipped
                    // while looking for arguments: leave it out of the span.
                    let trailing = post.as_str().len() - post.as_str().trim_end().len();
                    let end = post.as_span().end() - trailing;
                    let mut parts = post.into_inner();
                    let name = parts
                        .next()
                        .map(|i| i.as_str().to_string())
                        .unwrap_or_default();
                    let s = n.span.start..end;
                    n = match parts.next() {
                        None => node(Ast::Select(Box::new(n), name), s),
                        Some(args) => {
                            let args = self.args(args, depth)?;
                            node(
                                Ast::Call {
                                    target: Some(Box::new(n)),
                                    func: name,
                                    args,
                                },
                                s,
                            )
                        }
                    };
                }
            }
        }
        Ok(n)
    }

    fn args(&self, p: Pair<'_, Rule>, depth: usize) -> Result<Vec<Node>, SyntaxError> {
        p.into_inner().map(|a| self.expr(a, depth + 1)).collect()
    }

    /// A global call: the function's name and its argument list.
    fn call(
        &self,
        name: Pair<'_, Rule>,
        args: Pair<'_, Rule>,
        depth: usize,
    ) -> Result<Node, SyntaxError> {
        let span = name.as_span().start()..args.as_span().end();
        let func = name.as_str().to_string();
        let args = self.args(args, depth)?;
        Ok(node(
            Ast::Call {
                target: None,
                func,
                args,
            },
            span,
        ))
    }

    fn primary(&self, p: Pair<'_, Rule>, depth: usize) -> Result<Node, SyntaxError> {
        let span = range(&p);
        match p.as_rule() {
            Rule::kw_true => Ok(node(Ast::Bool(true), span)),
            Rule::kw_false => Ok(node(Ast::Bool(false), span)),
            Rule::kw_null => Err(
                SyntaxError::new("unsupported", span, "`null` is not supported")
                    .help("test whether an attribute is present with `has(name)`"),
            ),
            Rule::int => Ok(node(
                Ast::Int(int_literal(p.as_str(), false, span.clone())?),
                span,
            )),
            Rule::float => Ok(node(
                Ast::Float(float_literal(p.as_str(), span.clone())?),
                span,
            )),
            Rule::uint => {
                Err(
                    SyntaxError::new("unsupported", span, "unsigned integers are not supported")
                        .help("drop the `u` suffix: integers are signed 64-bit"),
                )
            }
            Rule::bytes => {
                Err(
                    SyntaxError::new("unsupported", span, "bytes literals are not supported")
                        .help("use a string literal"),
                )
            }
            Rule::string => Ok(node(Ast::Str(decode_string(p.as_str(), span.start)?), span)),
            Rule::list => {
                let items = p
                    .into_inner()
                    .map(|q| self.expr(q, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(node(Ast::List(items), span))
            }
            Rule::map => {
                Err(
                    SyntaxError::new("unsupported", span, "map literals are not supported")
                        .help("declare each value as its own attribute"),
                )
            }
            Rule::paren => {
                let inner = p
                    .into_inner()
                    .next()
                    .ok_or_else(|| SyntaxError::new("syntax", span.clone(), "empty parentheses"))?;
                // The node covers its parentheses, so that a parent's span
                // (first operand's start to last operand's end) does too.
                let mut n = self.expr(inner, depth + 1)?;
                n.span = span;
                Ok(n)
            }
            Rule::ident => Ok(node(Ast::Ident(p.as_str().to_string()), span)),
            _ => Err(SyntaxError::new("syntax", span, "unexpected token")),
        }
    }
}

fn binop(op: &Pair<'_, Rule>) -> Result<BinOp, SyntaxError> {
    Ok(match op.as_str() {
        "||" => BinOp::Or,
        "&&" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "in" => BinOp::In,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Rem,
        other => {
            return Err(SyntaxError::new(
                "syntax",
                range(op),
                format!("unknown operator `{other}`"),
            ))
        }
    })
}

/// Binding strength: higher binds tighter.
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::In => 3,
        BinOp::Add | BinOp::Sub => 4,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 5,
    }
}

/// Precedence climbing over `(operator, operand)` pairs following `lhs`:
/// consumes every operator binding at least as tightly as `min`. Recursion
/// depth is bounded by the number of precedence levels (5), not by the
/// length of the chain.
fn climb(
    mut lhs: Node,
    rest: &mut std::iter::Peekable<std::vec::IntoIter<(BinOp, Node)>>,
    min: u8,
) -> Node {
    while let Some((op, _)) = rest.peek() {
        let prec = precedence(*op);
        if prec < min {
            break;
        }
        let Some((op, mut rhs)) = rest.next() else {
            break;
        };
        while let Some((next, _)) = rest.peek() {
            if precedence(*next) <= prec {
                break;
            }
            rhs = climb(rhs, rest, prec + 1);
        }
        let s = lhs.span.start..rhs.span.end;
        lhs = node(Ast::Binary(op, Box::new(lhs), Box::new(rhs)), s);
    }
    lhs
}

/// The int or float literal a unary operand consists of, if it is nothing else.
fn literal_operand<'a>(member: &Pair<'a, Rule>) -> Option<Pair<'a, Rule>> {
    let mut it = member.clone().into_inner();
    let primary = it.next()?;
    if it.next().is_some() {
        return None; // has postfix: `-1.size()` is not a literal
    }
    let lit = primary.into_inner().next()?;
    matches!(lit.as_rule(), Rule::int | Rule::float).then_some(lit)
}
