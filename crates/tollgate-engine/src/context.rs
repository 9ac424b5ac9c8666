//! The request [`Context`]: attribute values in slots indexed by
//! [`AttrId`].
//!
//! A context borrows its strings and lists from the caller, so building one
//! never allocates for scalar attributes (slots live inline for schemas of
//! up to [`INLINE_SLOTS`] attributes). [`Request`](crate::Request) is the owned form parsed
//! from JSON (in `request.rs`), for the CLI, tests and replay; it is off the
//! hot path.

use crate::eval::TWO_POW_63;
use smallvec::SmallVec;
use tollgate_lang::kind::{self, Kind};
use tollgate_lang::Timestamp;
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
            None => return Err(ContextError::NoSuchSlot(id.get())),
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
    /// [`tollgate_lang::Attr`]): the value's type is the handle's kind, so
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
