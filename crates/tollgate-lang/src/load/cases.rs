//! `[[test]]`: test cases, a request and what the policy must decide for
//! it. Rule and model names in expectations are checked once every file is
//! read (`resolve.rs`).

use super::keys::{float_of, int_of, kind, to_json, Keys, Table, Val};
use super::Build;
use crate::diag::{did_you_mean, Diagnostic};
use crate::policy::Section;
use crate::pricing::{Latency, Tier};
use crate::schema::{Elem, Type};
use crate::source::{FileId, Span};
use toml::de::DeValue;

/// A test case as read, its names not yet resolved.
pub(super) struct RawTest {
    pub file: FileId,
    pub name: String,
    pub span: Span,
    pub request: serde_json::Map<String, serde_json::Value>,
    pub expect: Vec<(Section, String, Span)>,
    pub expect_model: Option<(String, Span)>,
    pub expect_cap: Option<Option<u32>>,
    /// `service_tier`: `Some(None)` is `"none"` (the route sets none).
    pub expect_tier: Option<Option<Tier>>,
    /// `latency`: `Some(None)` is `"none"`.
    pub expect_latency: Option<Option<Latency>>,
}

impl Build<'_> {
    pub(super) fn tests(&mut self, v: &Val<'_>) {
        let Some(arr) = v.get_ref().as_array() else {
            let span = self.sp(v);
            self.error(
                "wrong-type",
                span,
                "`test` must be an array of tables",
                Some("write `[[test]]` before each case".into()),
            );
            return;
        };
        for item in arr.iter() {
            let Some(t) = item.get_ref().as_table() else {
                let span = self.sp(item);
                self.error("wrong-type", span, "each `test` must be a table", None);
                continue;
            };
            self.test(item, t);
        }
    }

    fn test(&mut self, item: &Val<'_>, t: &Table<'_>) {
        let what = "a [[test]]";
        let at = self.key_span_or(item);
        let mut k = Keys::new(t);
        let name = k.str(&mut self.d, "name");
        let name = k.required(
            &mut self.d,
            name,
            "name",
            at,
            what,
            "\"kb answers are cached\"",
        );
        if name.is_none() {
            k.quiet();
        }
        let nspan = name.as_ref().map_or(at, |(_, s)| *s);
        let d = &mut self.d;
        let request = k.get("request");
        let _ = k.required(d, request, "request", nspan, what, "{ feature = \"chat\" }");
        let expect = k.get("expect");
        let _ = k.required(d, expect, "expect", nspan, what, "{ route = \"my-rule\" }");
        let _ = k.get("description");
        k.finish(d, "[[test]]");
        let Some((name, nspan)) = name else {
            return;
        };
        let mut raw = RawTest {
            file: self.d.file,
            name,
            span: nspan,
            request: serde_json::Map::new(),
            expect: Vec::new(),
            expect_model: None,
            expect_cap: None,
            expect_tier: None,
            expect_latency: None,
        };
        if let Some(rv) = request {
            match rv.get_ref().as_table() {
                Some(rt) => {
                    for (k, val) in rt.iter() {
                        raw.request
                            .insert(k.get_ref().to_string(), to_json(val.get_ref()));
                    }
                    self.check_request(rt, "");
                }
                None => self.d.wrong_type("request", rv, "a table"),
            }
        }
        if let Some(ev) = expect {
            match ev.get_ref().as_table() {
                Some(et) => self.expect(et, &mut raw),
                None => self.d.wrong_type("expect", ev, "a table"),
            }
        }
        if let Some(prev) = self.raw_tests.iter().find(|t| t.name == raw.name) {
            let loc = self.sources.location(prev.span);
            self.error(
                "duplicate",
                nspan,
                format!("test `{}` is defined twice", raw.name),
                Some(format!(
                    "it is already defined at {loc}; test names are unique"
                )),
            );
        }
        self.raw_tests.push(raw);
    }

    /// `expect = { SECTION = "rule", model = "alias", max_output_tokens = N,
    /// service_tier = "flex", latency = "optimized" }`.
    fn expect(&mut self, et: &Table<'_>, raw: &mut RawTest) {
        let d = &mut self.d;
        let mut k = Keys::new(et);
        for sec in Section::ALL {
            if let Some((s, sp)) = k.str(d, sec.name()) {
                raw.expect.push((sec, s, sp));
            }
        }
        raw.expect_model = k.str(d, "model");
        if let Some(cv) = k.get("max_output_tokens") {
            match (
                cv.get_ref().as_str(),
                int_of(cv.get_ref()).and_then(|i| u32::try_from(i).ok()),
            ) {
                (Some("none"), _) => raw.expect_cap = Some(None),
                (_, Some(n)) => raw.expect_cap = Some(Some(n)),
                _ => d.wrong_type("max_output_tokens", cv, "a whole number or \"none\""),
            }
        }
        if let Some((v, sp)) = k.str(d, "service_tier") {
            match v.as_str() {
                "none" => raw.expect_tier = Some(None),
                t => match [Tier::Default, Tier::Flex, Tier::Priority]
                    .into_iter()
                    .find(|x| x.name() == t)
                {
                    Some(x) => raw.expect_tier = Some(Some(x)),
                    None => d.error(
                        "invalid-value",
                        sp,
                        format!("expected service tier `{t}` is not one a route may ask for"),
                        Some("write `\"default\"`, `\"flex\"`, `\"priority\"` or `\"none\"` (the route sets none)".into()),
                    ),
                },
            }
        }
        if let Some((v, sp)) = k.str(d, "latency") {
            match (v.as_str(), Latency::parse(&v)) {
                ("none", _) => raw.expect_latency = Some(None),
                (_, Some(l)) => raw.expect_latency = Some(Some(l)),
                (l, None) => d.error(
                    "invalid-value",
                    sp,
                    format!("expected latency `{l}` is not one of Bedrock's"),
                    Some(
                        "write `\"standard\"`, `\"optimized\"` or `\"none\"` (the route sets none)"
                            .into(),
                    ),
                ),
            }
        }
        k.finish(d, "`expect`");
    }

    /// Type-check a test request against the schema; warn about keys that
    /// are not attributes (they would be silently ignored).
    fn check_request(&mut self, t: &Table<'_>, prefix: &str) {
        for (k, v) in t.iter() {
            let name = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            let span = self.sp(k);
            match self
                .schema
                .id(&name)
                .and_then(|id| self.schema.get(id))
                .map(|d| d.ty)
            {
                Some(ty) => {
                    let ok = match (ty, v.get_ref()) {
                        (Type::Bool, DeValue::Boolean(_)) | (Type::String, DeValue::String(_)) => {
                            true
                        }
                        (Type::Int, DeValue::Integer(_)) => true,
                        (Type::Int, DeValue::Float(_)) => {
                            float_of(v.get_ref()).is_some_and(|f| f.fract() == 0.0)
                        }
                        (Type::Float, DeValue::Integer(_) | DeValue::Float(_)) => true,
                        // A TOML offset date-time, or an RFC 3339 string.
                        (Type::Timestamp, DeValue::Datetime(d)) => {
                            crate::time::Timestamp::parse(&d.to_string()).is_some()
                        }
                        (Type::Timestamp, DeValue::String(t)) => {
                            crate::time::Timestamp::parse(t).is_some()
                        }
                        (Type::StrMap, DeValue::Table(m)) => m
                            .iter()
                            .all(|(_, x)| matches!(x.get_ref(), DeValue::String(_))),
                        (Type::IntMap, DeValue::Table(m)) => m
                            .iter()
                            .all(|(_, x)| matches!(x.get_ref(), DeValue::Integer(_))),
                        (Type::List(e), DeValue::Array(a)) => a.iter().all(|x| {
                            matches!(
                                (e, x.get_ref()),
                                (Elem::String, DeValue::String(_))
                                    | (Elem::Int, DeValue::Integer(_))
                            )
                        }),
                        _ => false,
                    };
                    if !ok {
                        let vspan = self.sp(v);
                        let found = kind(v.get_ref());
                        self.error(
                            "wrong-type",
                            vspan,
                            format!("attribute `{name}` is `{ty}`, the test gives {found}"),
                            (ty == Type::Timestamp).then(|| {
                                "give a date-time with an offset, as in `2026-01-01T09:30:00Z`, or that as a string".into()
                            }),
                        );
                    }
                }
                None => match v.get_ref().as_table() {
                    Some(inner) => self.check_request(inner, &name),
                    None => {
                        let help = did_you_mean(&name, self.schema.iter().map(|(_, a)| a.name.as_str()))
                            .or_else(|| Some("requests may carry other keys, but a test case should only set attributes".into()));
                        self.d.list.push(
                            Diagnostic::warning(
                                "unknown-attribute",
                                span,
                                format!("test request sets `{name}`, which is not an attribute"),
                            )
                            .with_help_opt(help),
                        );
                    }
                },
            }
        }
    }
}
