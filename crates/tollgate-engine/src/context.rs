//! The request [`Context`]: attribute values in slots indexed by
//! [`AttrId`].
//!
//! A context borrows its strings and lists from the caller, so building one
//! never allocates for scalar attributes (slots live inline for schemas of
//! up to [`INLINE_SLOTS`] attributes). [`Request`] is the owned form parsed
//! from JSON, for the CLI, tests and replay; it is off the hot path.

use crate::eval::TWO_POW_63;
use smallvec::SmallVec;
use std::collections::BTreeMap;
use tollgate_lang::kind::{self, Kind};
use tollgate_lang::time::Timestamp;
use tollgate_lang::{Attr, AttrId, Schema, Type};

/// Slots kept inline before a context spills to the heap.
pub const INLINE_SLOTS: usize = 32;

/// A list of strings, borrowed in one of two shapes.
#[derive(Debug, Clone, Copy)]
pub enum StrList<'a> {
    /// `&[&str]`, the natural shape for an application.
    Strs(&'a [&'a str]),
    /// `&[String]`, the shape owned requests hold.
    Strings(&'a [String]),
}

impl<'a> StrList<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            StrList::Strs(s) => s.len(),
            StrList::Strings(s) => s.len(),
        }
    }

    /// No elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrList::Strs(s) => s.get(i).copied(),
            StrList::Strings(s) => s.get(i).map(String::as_str),
        }
    }

    /// Does the list hold `v`?
    pub fn contains(&self, v: &str) -> bool {
        match self {
            StrList::Strs(s) => s.contains(&v),
            StrList::Strings(s) => s.iter().any(|x| x == v),
        }
    }

    /// Iterate the elements.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// How many of the `len` keys `key(i)` differ from every key before them.
fn distinct_keys<'k>(len: usize, key: impl Fn(usize) -> Option<&'k str>) -> usize {
    (0..len)
        .filter(|&i| match key(i) {
            Some(k) => !(0..i).any(|j| key(j) == Some(k)),
            None => false,
        })
        .count()
}

/// A `map<string, string>`, borrowed as a slice of `(key, value)` pairs in
/// one of two shapes. Lookups scan the pairs (maps of request metadata hold
/// a few entries), so reading an entry never allocates; when a key appears
/// twice, its first entry counts.
#[derive(Debug, Clone, Copy)]
pub enum StrPairs<'a> {
    /// `&[(&str, &str)]`, the natural shape for an application.
    Strs(&'a [(&'a str, &'a str)]),
    /// `&[(String, String)]`, the shape owned requests hold.
    Strings(&'a [(String, String)]),
}

impl<'a> StrPairs<'a> {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        match self {
            StrPairs::Strs(p) => p.len(),
            StrPairs::Strings(p) => p.len(),
        }
    }

    /// No pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of entries, what `size(m)` gives: distinct keys, as a key's
    /// later pairs do not count. Compares every pair's key with the keys
    /// before it (maps of request metadata hold a few entries); allocates
    /// nothing.
    pub fn entries(&self) -> usize {
        distinct_keys(self.len(), |i| self.pair(i).map(|(k, _)| k))
    }

    /// Pair `i`.
    pub fn pair(&self, i: usize) -> Option<(&'a str, &'a str)> {
        match self {
            StrPairs::Strs(p) => p.get(i).copied(),
            StrPairs::Strings(p) => p.get(i).map(|(k, v)| (k.as_str(), v.as_str())),
        }
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&'a str> {
        match self {
            StrPairs::Strs(p) => p.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
            StrPairs::Strings(p) => p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()),
        }
    }

    /// Does the map hold `key`?
    #[inline]
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Iterate the pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        (0..self.len()).filter_map(|i| self.pair(i))
    }
}

/// A `map<string, int>`, borrowed as `(key, value)` pairs (see
/// [`StrPairs`]: lookups scan, the first pair of a key counts).
#[derive(Debug, Clone, Copy)]
pub enum IntPairs<'a> {
    /// `&[(&str, i64)]`, the natural shape for an application.
    Strs(&'a [(&'a str, i64)]),
    /// `&[(String, i64)]`, the shape owned requests hold.
    Strings(&'a [(String, i64)]),
}

impl<'a> IntPairs<'a> {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        match self {
            IntPairs::Strs(p) => p.len(),
            IntPairs::Strings(p) => p.len(),
        }
    }

    /// No pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of entries, what `size(m)` gives: distinct keys, as a key's
    /// later pairs do not count. Compares every pair's key with the keys
    /// before it (maps of request metadata hold a few entries); allocates
    /// nothing.
    pub fn entries(&self) -> usize {
        distinct_keys(self.len(), |i| self.pair(i).map(|(k, _)| k))
    }

    /// Pair `i`.
    pub fn pair(&self, i: usize) -> Option<(&'a str, i64)> {
        match self {
            IntPairs::Strs(p) => p.get(i).copied(),
            IntPairs::Strings(p) => p.get(i).map(|(k, v)| (k.as_str(), *v)),
        }
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<i64> {
        match self {
            IntPairs::Strs(p) => p.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
            IntPairs::Strings(p) => p.iter().find(|(k, _)| k == key).map(|(_, v)| *v),
        }
    }

    /// Does the map hold `key`?
    #[inline]
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Iterate the pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, i64)> + '_ {
        (0..self.len()).filter_map(|i| self.pair(i))
    }
}

/// One attribute value as held in a context slot.
#[derive(Debug, Clone, Copy, Default)]
pub enum Slot<'a> {
    /// The request lacks the attribute.
    #[default]
    Missing,
    /// bool
    Bool(bool),
    /// int
    Int(i64),
    /// float
    Float(f64),
    /// string
    Str(&'a str),
    /// `list<string>`
    StrList(StrList<'a>),
    /// `list<int>`
    IntList(&'a [i64]),
    /// map<string, string>
    StrMap(StrPairs<'a>),
    /// map<string, int>
    IntMap(IntPairs<'a>),
    /// timestamp
    Timestamp(Timestamp),
}

impl Slot<'_> {
    /// The type the value has (`None` when missing).
    pub fn ty(&self) -> Option<Type> {
        Some(match self {
            Slot::Missing => return None,
            Slot::Bool(_) => Type::Bool,
            Slot::Int(_) => Type::Int,
            Slot::Float(_) => Type::Float,
            Slot::Str(_) => Type::String,
            Slot::StrList(_) => Type::List(tollgate_lang::Elem::String),
            Slot::IntList(_) => Type::List(tollgate_lang::Elem::Int),
            Slot::StrMap(_) => Type::StrMap,
            Slot::IntMap(_) => Type::IntMap,
            Slot::Timestamp(_) => Type::Timestamp,
        })
    }
}

/// Does a slot value have exactly type `t`? (`Missing` fits every type.)
#[inline]
fn slot_has_type(v: &Slot<'_>, t: Type) -> bool {
    use tollgate_lang::Elem;
    matches!(
        (t, v),
        (_, Slot::Missing)
            | (Type::Bool, Slot::Bool(_))
            | (Type::Int, Slot::Int(_))
            | (Type::Float, Slot::Float(_))
            | (Type::String, Slot::Str(_))
            | (Type::List(Elem::String), Slot::StrList(_))
            | (Type::List(Elem::Int), Slot::IntList(_))
            | (Type::StrMap, Slot::StrMap(_))
            | (Type::IntMap, Slot::IntMap(_))
            | (Type::Timestamp, Slot::Timestamp(_))
    )
}

/// A value of the wrong type for its attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The slot's declared type differs.
    #[error("attribute `{name}` is `{expected}`, not `{found}`")]
    WrongType {
        /// Attribute name.
        name: String,
        /// Declared type.
        expected: Type,
        /// Type given.
        found: Type,
    },
    /// The id is not in the schema.
    #[error("no attribute with slot {0}")]
    NoSuchSlot(u32),
}

/// Attribute values of one request, by slot.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    schema: &'a Schema,
    slots: SmallVec<[Slot<'a>; INLINE_SLOTS]>,
}

impl<'a> Context<'a> {
    /// An empty context (every attribute missing).
    #[inline]
    pub fn new(schema: &'a Schema) -> Context<'a> {
        let n = schema.len();
        let slots = if n <= INLINE_SLOTS {
            // Built in place from an array: no intermediate vector to move.
            SmallVec::from_buf_and_len([Slot::Missing; INLINE_SLOTS], n)
        } else {
            SmallVec::from_elem(Slot::Missing, n)
        };
        Context { schema, slots }
    }

    /// The schema slots refer to.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// Forget every value, keeping the storage.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            *s = Slot::Missing;
        }
    }

    /// Set a slot, checking its type. An int is accepted for a float
    /// attribute, and an integral float for an int attribute.
    #[inline]
    pub fn set(&mut self, id: AttrId, value: Slot<'a>) -> Result<(), ContextError> {
        let expected = match self.schema.get(id) {
            Some(d) => d.ty,
            None => return Err(ContextError::NoSuchSlot(id.0)),
        };
        // Fast path: the value already has the declared type.
        if slot_has_type(&value, expected) {
            if let Some(s) = self.slots.get_mut(id.index()) {
                *s = value;
            }
            return Ok(());
        }
        self.set_converted(id, expected, value)
    }

    /// The slow path of [`Context::set`]: numeric conversions and type errors.
    #[cold]
    fn set_converted(
        &mut self,
        id: AttrId,
        expected: Type,
        value: Slot<'a>,
    ) -> Result<(), ContextError> {
        let value = match (expected, value) {
            (Type::Float, Slot::Int(i)) => Slot::Float(i as f64),
            (Type::Int, Slot::Float(f))
                if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) =>
            {
                Slot::Int(f as i64)
            }
            (_, v) => v,
        };
        match value.ty() {
            None => {}
            Some(t) if t == expected => {}
            Some(found) => {
                return Err(ContextError::WrongType {
                    name: self.schema.name(id).to_string(),
                    expected,
                    found,
                })
            }
        }
        if let Some(s) = self.slots.get_mut(id.index()) {
            *s = value;
        }
        Ok(())
    }

    /// Set an attribute through its typed handle (see
    /// [`tollgate_lang::typed`]): the value's type is the handle's kind, so
    /// a mismatch does not compile.
    ///
    /// ```
    /// use tollgate_engine::Context;
    /// use tollgate_lang::{Schema, Type};
    ///
    /// let schema = Schema::new()
    ///     .with("feature", Type::String).unwrap()
    ///     .with("input_tokens", Type::Int).unwrap()
    ///     .with("tags", Type::List(tollgate_lang::Elem::String)).unwrap();
    /// let (feature, tokens) = (schema.string("feature").unwrap(), schema.int("input_tokens").unwrap());
    /// let tags = schema.strings("tags").unwrap();
    /// let mut ctx = Context::new(&schema);
    /// ctx.put(feature, "kb").put(tokens, 1200).put(tags, &["beta"]);
    /// assert!(matches!(ctx.get(tokens.id()), tollgate_engine::Slot::Int(1200)));
    /// ```
    ///
    /// ```compile_fail
    /// # use tollgate_engine::Context;
    /// # use tollgate_lang::{Schema, Type};
    /// # let schema = Schema::new().with("input_tokens", Type::Int).unwrap();
    /// let tokens = schema.int("input_tokens").unwrap();
    /// let mut ctx = Context::new(&schema);
    /// ctx.put(tokens, "1200"); // a string for an int attribute
    /// ```
    #[inline]
    pub fn put<K: SlotKind>(&mut self, attr: Attr<K>, value: K::Value<'a>) -> &mut Self {
        // The handle was resolved with `K`'s type, so this cannot fail for
        // a handle of this context's schema; one of another schema whose
        // slot has another type is ignored, as the untyped setters do.
        let _ = self.set(attr.id(), K::slot(value));
        self
    }

    /// Set a string attribute (ignored when `id` is not a string slot;
    /// [`Context::put`] with a typed handle cannot get that wrong).
    #[inline]
    pub fn set_str(&mut self, id: AttrId, v: &'a str) -> &mut Self {
        let _ = self.set(id, Slot::Str(v));
        self
    }

    /// Set an int attribute.
    #[inline]
    pub fn set_int(&mut self, id: AttrId, v: i64) -> &mut Self {
        let _ = self.set(id, Slot::Int(v));
        self
    }

    /// Set a float attribute.
    #[inline]
    pub fn set_float(&mut self, id: AttrId, v: f64) -> &mut Self {
        let _ = self.set(id, Slot::Float(v));
        self
    }

    /// Set a bool attribute.
    #[inline]
    pub fn set_bool(&mut self, id: AttrId, v: bool) -> &mut Self {
        let _ = self.set(id, Slot::Bool(v));
        self
    }

    /// Set a `list<string>` attribute.
    #[inline]
    pub fn set_strs(&mut self, id: AttrId, v: &'a [&'a str]) -> &mut Self {
        let _ = self.set(id, Slot::StrList(StrList::Strs(v)));
        self
    }

    /// Set a `list<int>` attribute.
    #[inline]
    pub fn set_ints(&mut self, id: AttrId, v: &'a [i64]) -> &mut Self {
        let _ = self.set(id, Slot::IntList(v));
        self
    }

    /// Set a map<string, string> attribute from `(key, value)` pairs (see
    /// [`StrPairs`]: when a key repeats, its first pair counts).
    #[inline]
    pub fn set_map(&mut self, id: AttrId, v: &'a [(&'a str, &'a str)]) -> &mut Self {
        let _ = self.set(id, Slot::StrMap(StrPairs::Strs(v)));
        self
    }

    /// Set a map<string, int> attribute from `(key, value)` pairs.
    #[inline]
    pub fn set_int_map(&mut self, id: AttrId, v: &'a [(&'a str, i64)]) -> &mut Self {
        let _ = self.set(id, Slot::IntMap(IntPairs::Strs(v)));
        self
    }

    /// Set a timestamp attribute.
    #[inline]
    pub fn set_timestamp(&mut self, id: AttrId, v: Timestamp) -> &mut Self {
        let _ = self.set(id, Slot::Timestamp(v));
        self
    }

    /// Mark an attribute missing.
    pub fn unset(&mut self, id: AttrId) {
        if let Some(s) = self.slots.get_mut(id.index()) {
            *s = Slot::Missing;
        }
    }

    /// The value in a slot.
    #[inline]
    pub fn get(&self, id: AttrId) -> Slot<'a> {
        self.slots.get(id.index()).copied().unwrap_or(Slot::Missing)
    }

    /// All slots.
    pub fn slots(&self) -> &[Slot<'a>] {
        &self.slots
    }
}

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
            let slot = match v {
                Owned::Bool(b) => Slot::Bool(*b),
                Owned::Int(i) => Slot::Int(*i),
                Owned::Float(f) => Slot::Float(*f),
                Owned::Str(s) => Slot::Str(s),
                Owned::StrList(l) => Slot::StrList(StrList::Strings(l)),
                Owned::IntList(l) => Slot::IntList(l),
                Owned::StrMap(m) => Slot::StrMap(StrPairs::Strings(m)),
                Owned::IntMap(m) => Slot::IntMap(IntPairs::Strings(m)),
                Owned::Timestamp(t) => Slot::Timestamp(*t),
            };
            let _ = ctx.set(*id, slot);
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

/// What a value of each attribute kind is in a [`Context`]: the borrowed
/// form [`Context::put`] takes, and the [`Slot`] it fills.
pub trait SlotKind: Kind {
    /// The value `put` takes.
    type Value<'a>;
    /// The slot holding it.
    fn slot(v: Self::Value<'_>) -> Slot<'_>;
}

macro_rules! slot_kinds {
    ($($k:ident: $v:ty => |$x:ident| $e:expr;)*) => {$(
        impl SlotKind for kind::$k {
            type Value<'a> = $v;
            #[inline]
            fn slot($x: Self::Value<'_>) -> Slot<'_> {
                $e
            }
        }
    )*};
}

slot_kinds! {
    Str: &'a str => |v| Slot::Str(v);
    Int: i64 => |v| Slot::Int(v);
    Float: f64 => |v| Slot::Float(v);
    Bool: bool => |v| Slot::Bool(v);
    Strs: &'a [&'a str] => |v| Slot::StrList(StrList::Strs(v));
    Ints: &'a [i64] => |v| Slot::IntList(v);
    StrMap: &'a [(&'a str, &'a str)] => |v| Slot::StrMap(StrPairs::Strs(v));
    IntMap: &'a [(&'a str, i64)] => |v| Slot::IntMap(IntPairs::Strs(v));
    Timestamp: Timestamp => |v| Slot::Timestamp(v);
}
