//! Type checking of calls: functions and methods, conversions (`int()`,
//! `timestamp()`, ...), time fields, string extensions and the list macros.

use super::{Checker, FUNCTIONS};
use crate::diag::did_you_mean;
use crate::expr::ast::{Ast, Node};
use crate::expr::typed::{Conv, MacroKind, Pattern, StrExt, StrFn, TExpr, TKind, ZoneArg};
use crate::schema::{Elem, Type};
use crate::time::{Duration, TimeField, Timestamp, Zone};

impl Checker<'_> {
    pub(super) fn convert(&mut self, n: &Node, conv: Conv, arg: &Node) -> Option<TExpr> {
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
    pub(super) fn time_literal(
        &mut self,
        n: &Node,
        conv: Conv,
        arg: &Node,
        text: &str,
    ) -> Option<TExpr> {
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
    pub(super) fn time_field(
        &mut self,
        n: &Node,
        field: TimeField,
        t: &Node,
        args: &[Node],
    ) -> Option<TExpr> {
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
    pub(super) fn str_ext(
        &mut self,
        n: &Node,
        name: &str,
        t: &Node,
        args: &[Node],
    ) -> Option<TExpr> {
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

    pub(super) fn macro_call(
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

    pub(super) fn call(
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
