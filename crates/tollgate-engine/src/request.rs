//! [`Request`]: the owned form of a request, parsed from JSON, for the
//! CLI, tests, replay and `explain`. Off the hot path; the gate and
//! services fill a [`Context`](crate::Context) from borrowed values
//! instead, and [`Request::context`] borrows one from a parsed request.

use crate::context::{Context, IntPairs, Slot, StrList, StrPairs};
use crate::eval::TWO_POW_63;
use std::collections::BTreeMap;
use tollgate_lang::Timestamp;
use tollgate_lang::{AttrId, Schema, Type};

/// An owned attribute value (what a JSON request holds).
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    /// bool
    Bool(bool),
    /// int
    Int(i64),
    /// float
    Float(f64),
    /// string
    Str(String),
    /// `list<string>`
    StrList(Vec<String>),
    /// `list<int>`
    IntList(Vec<i64>),
    /// map<string, string>, in the order the request gives its entries
    StrMap(Vec<(String, String)>),
    /// map<string, int>, in the order the request gives its entries
    IntMap(Vec<(String, i64)>),
    /// timestamp
    Timestamp(Timestamp),
}

impl Owned {
    /// The value as a context slot, borrowing from it.
    #[inline]
    pub fn slot(&self) -> Slot<'_> {
        match self {
            Owned::Bool(b) => Slot::Bool(*b),
            Owned::Int(i) => Slot::Int(*i),
            Owned::Float(f) => Slot::Float(*f),
            Owned::Str(s) => Slot::Str(s),
            Owned::StrList(l) => Slot::StrList(StrList::Strings(l)),
            Owned::IntList(l) => Slot::IntList(l),
            Owned::StrMap(m) => Slot::StrMap(StrPairs::Strings(m)),
            Owned::IntMap(m) => Slot::IntMap(IntPairs::Strings(m)),
            Owned::Timestamp(t) => Slot::Timestamp(*t),
        }
    }
}

/// A request read from JSON: owned values by slot, plus the keys the
/// schema does not know.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Values by attribute.
    pub values: BTreeMap<AttrId, Owned>,
    /// Keys that are not attributes (ignored; `explain` lists them).
    pub unknown: Vec<String>,
}

/// Why a JSON request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a JSON object.
    #[error("a request must be a JSON object, found {0}")]
    NotObject(&'static str),
    /// Invalid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A value of the wrong type.
    #[error("attribute `{name}` must be {expected}, found {found}")]
    WrongType {
        /// Attribute name.
        name: String,
        /// Declared type.
        expected: Type,
        /// What was given.
        found: String,
    },
    /// Given both nested and dotted.
    #[error("attribute `{0}` is given twice (nested and dotted)")]
    Twice(String),
    /// Nesting deeper than the limit.
    #[error("request nests deeper than {0} levels")]
    TooDeep(usize),
}

/// Deepest object nesting a JSON request may have.
pub const MAX_REQUEST_DEPTH: usize = 32;

fn json_kind(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => format!("`{b}`"),
        serde_json::Value::Number(n) => format!("`{n}`"),
        serde_json::Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            format!("the string `{short}`")
        }
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

impl Request {
    /// Parse one JSON text.
    pub fn parse(schema: &Schema, text: &str) -> Result<Request, RequestError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| RequestError::Json(e.to_string()))?;
        Request::from_json(schema, &v)
    }

    /// Map a JSON object onto the schema (docs/design.md: nested objects flatten
    /// to dotted names, `null` means absent, unknown keys are listed).
    pub fn from_json(schema: &Schema, v: &serde_json::Value) -> Result<Request, RequestError> {
        let serde_json::Value::Object(map) = v else {
            return Err(RequestError::NotObject(match v {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            }));
        };
        let mut req = Request::default();
        req.walk(schema, "", map, 0)?;
        Ok(req)
    }

    /// Map a JSON object given as a map.
    pub fn from_map(
        schema: &Schema,
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Request, RequestError> {
        let mut req = Request::default();
        req.walk(schema, "", map, 0)?;
        Ok(req)
    }

    fn walk(
        &mut self,
        schema: &Schema,
        prefix: &str,
        map: &serde_json::Map<String, serde_json::Value>,
        depth: usize,
    ) -> Result<(), RequestError> {
        if depth >= MAX_REQUEST_DEPTH {
            return Err(RequestError::TooDeep(MAX_REQUEST_DEPTH));
        }
        for (k, v) in map {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_null() {
                continue;
            }
            match schema.id(&name) {
                Some(id) => {
                    let ty = schema.get(id).map(|d| d.ty).unwrap_or(Type::Bool);
                    let owned = convert(&name, ty, v)?;
                    match (self.values.get_mut(&id), owned) {
                        (None, owned) => {
                            self.values.insert(id, owned);
                        }
                        // A map given as an object and as dotted entries:
                        // all its entries, each key once.
                        (Some(Owned::StrMap(have)), Owned::StrMap(more))
                            if more.iter().all(|(k, _)| have.iter().all(|(h, _)| h != k)) =>
                        {
                            have.extend(more);
                        }
                        (Some(Owned::IntMap(have)), Owned::IntMap(more))
                            if more.iter().all(|(k, _)| have.iter().all(|(h, _)| h != k)) =>
                        {
                            have.extend(more);
                        }
                        (Some(_), _) => return Err(RequestError::Twice(name)),
                    }
                }
                None => match v {
                    serde_json::Value::Object(inner) => {
                        self.walk(schema, &name, inner, depth + 1)?
                    }
                    _ => match map_entry(schema, &name) {
                        Some((id, key, ty)) => self.map_entry(id, &name, key, v, ty)?,
                        None => self.unknown.push(name),
                    },
                },
            }
        }
        Ok(())
    }

    /// `"tags.team": "search"` for a map attribute `tags`: an entry of
    /// the map (added to the entries given as an object, if any).
    fn map_entry(
        &mut self,
        id: AttrId,
        name: &str,
        key: &str,
        v: &serde_json::Value,
        ty: Type,
    ) -> Result<(), RequestError> {
        let value = convert(name, ty.map_value().unwrap_or(Type::String), v)?;
        let entries = self.values.entry(id).or_insert_with(|| match ty {
            Type::IntMap => Owned::IntMap(Vec::new()),
            _ => Owned::StrMap(Vec::new()),
        });
        match (entries, value) {
            (Owned::StrMap(pairs), Owned::Str(text)) if !pairs.iter().any(|(k, _)| k == key) => {
                pairs.push((key.to_string(), text));
                Ok(())
            }
            (Owned::IntMap(pairs), Owned::Int(i)) if !pairs.iter().any(|(k, _)| k == key) => {
                pairs.push((key.to_string(), i));
                Ok(())
            }
            _ => Err(RequestError::Twice(name.to_string())),
        }
    }

    /// A context borrowing this request's values.
    pub fn context<'a>(&'a self, schema: &'a Schema) -> Context<'a> {
        let mut ctx = Context::new(schema);
        self.fill(&mut ctx);
        ctx
    }

    /// Write this request's values into a context (reusing its storage).
    pub fn fill<'a>(&'a self, ctx: &mut Context<'a>) {
        for (id, v) in &self.values {
            let _ = ctx.set(*id, v.slot());
        }
    }
}

/// The map attribute a dotted name is an entry of, and the entry's key:
/// `tags.team` is key `team` of `tags` when `tags` is a
/// `map<string, string>` (the longest such prefix counts).
fn map_entry<'n>(schema: &Schema, name: &'n str) -> Option<(AttrId, &'n str, Type)> {
    name.rmatch_indices('.').find_map(|(at, _)| {
        let id = schema.id(name.get(..at)?)?;
        let key = name.get(at + 1..)?;
        let ty = schema.get(id)?.ty;
        ty.is_map().then_some((id, key, ty))
    })
}

fn convert(name: &str, ty: Type, v: &serde_json::Value) -> Result<Owned, RequestError> {
    use serde_json::Value as J;
    let wrong = || RequestError::WrongType {
        name: name.to_string(),
        expected: ty,
        found: json_kind(v),
    };
    let as_int = |v: &J| -> Option<i64> {
        match v {
            J::Number(n) => n.as_i64().or_else(|| {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f)).then_some(f as i64)
            }),
            _ => None,
        }
    };
    Ok(match ty {
        Type::Bool => Owned::Bool(v.as_bool().ok_or_else(wrong)?),
        Type::Int => Owned::Int(as_int(v).ok_or_else(wrong)?),
        Type::Float => Owned::Float(v.as_f64().ok_or_else(wrong)?),
        Type::String => Owned::Str(v.as_str().ok_or_else(wrong)?.to_string()),
        Type::List(tollgate_lang::Elem::String) => Owned::StrList(
            v.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(wrong)?,
        ),
        Type::List(tollgate_lang::Elem::Int) => Owned::IntList(
            v.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(as_int)
                .collect::<Option<_>>()
                .ok_or_else(wrong)?,
        ),
        Type::List(_) | Type::Duration => return Err(wrong()),
        // An RFC 3339 string: `"2026-01-01T09:30:00Z"`.
        Type::Timestamp => {
            Owned::Timestamp(v.as_str().and_then(Timestamp::parse).ok_or_else(wrong)?)
        }
        Type::IntMap => Owned::IntMap(
            v.as_object()
                .ok_or_else(wrong)?
                .iter()
                .map(|(k, x)| Some((k.clone(), as_int(x)?)))
                .collect::<Option<_>>()
                .ok_or_else(wrong)?,
        ),
        Type::StrMap => Owned::StrMap(
            v.as_object()
                .ok_or_else(wrong)?
                .iter()
                .map(|(k, x)| Some((k.clone(), x.as_str()?.to_string())))
                .collect::<Option<_>>()
                .ok_or_else(wrong)?,
        ),
    })
}
