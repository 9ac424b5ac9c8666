//! Typed attribute handles: an attribute's name resolved once, against a
//! [`Schema`], to an [`Attr<K>`] whose kind `K` says what values it takes.
//!
//! ```
//! use tollgate_lang::{Schema, Type};
//!
//! let schema = Schema::new()
//!     .with("feature", Type::String).unwrap()
//!     .with("input_tokens", Type::Int).unwrap();
//! let feature = schema.string("feature").unwrap();      // Attr<kind::Str>
//! let tokens = schema.int("input_tokens").unwrap();      // Attr<kind::Int>
//! assert_eq!(feature.id(), schema.id("feature").unwrap());
//! // The declared type is checked here, once:
//! let e = schema.int("feature").unwrap_err();
//! assert_eq!(e.to_string(), "attribute `feature` is declared `string`, not `int`");
//! # let _ = tokens;
//! ```
//!
//! The engine's `Context::put` takes a handle and a value of its kind, so
//! setting a value of the wrong type does not compile (the untyped
//! `Context::set` remains for values whose type is known only at run
//! time, such as JSON requests, and reports a mismatch as an error).

use crate::schema::{AttrId, Elem, Schema, Type};
use std::fmt;
use std::marker::PhantomData;

/// The kinds of attribute values, one marker type per attribute type.
pub mod kind {
    use super::{Elem, Type};

    mod sealed {
        pub trait Sealed {}
    }

    /// An attribute kind: the markers below, and no others.
    pub trait Kind: sealed::Sealed + Copy + 'static {
        /// The attribute type this kind stands for.
        const TYPE: Type;
    }

    macro_rules! kinds {
        ($($(#[$doc:meta])* $name:ident = $ty:expr;)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $name {}
            impl sealed::Sealed for $name {}
            impl Kind for $name {
                const TYPE: Type = $ty;
            }
        )*};
    }

    kinds! {
        /// `string`
        Str = Type::String;
        /// `int`
        Int = Type::Int;
        /// `float`
        Float = Type::Float;
        /// `bool`
        Bool = Type::Bool;
        /// `list<string>`
        Strs = Type::List(Elem::String);
        /// `list<int>`
        Ints = Type::List(Elem::Int);
        /// `map<string, string>`
        StrMap = Type::StrMap;
        /// `map<string, int>`
        IntMap = Type::IntMap;
        /// `timestamp`
        Timestamp = Type::Timestamp;
    }
}

use kind::Kind;

/// An attribute of kind `K`, resolved against a [`Schema`]. Copy it into
/// the code that fills contexts; it is only meaningful with the schema it
/// came from (a policy handle keeps one schema for its whole life).
pub struct Attr<K: Kind> {
    id: AttrId,
    kind: PhantomData<fn() -> K>,
}

impl<K: Kind> Attr<K> {
    /// The attribute's slot.
    #[inline]
    pub fn id(self) -> AttrId {
        self.id
    }
}

// Derives would require `K: Clone` and so on; the marker carries no data.
impl<K: Kind> Clone for Attr<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: Kind> Copy for Attr<K> {}
impl<K: Kind> PartialEq for Attr<K> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl<K: Kind> Eq for Attr<K> {}
impl<K: Kind> fmt::Debug for Attr<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Attr<{}>({})", K::TYPE, self.id.0)
    }
}

/// Why a name did not resolve to a handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    /// The schema declares no attribute of that name.
    #[error("no attribute `{0}` is declared")]
    Undeclared(String),
    /// It is declared with another type.
    #[error("attribute `{name}` is declared `{declared}`, not `{wanted}`")]
    WrongType {
        /// The attribute.
        name: String,
        /// Its declared type.
        declared: Type,
        /// The type asked for.
        wanted: Type,
    },
}

impl Schema {
    /// The handle of attribute `name`, which must be declared with `K`'s type.
    pub fn attr<K: Kind>(&self, name: &str) -> Result<Attr<K>, AttrError> {
        let id = self
            .id(name)
            .ok_or_else(|| AttrError::Undeclared(name.to_owned()))?;
        match self.get(id) {
            Some(d) if d.ty == K::TYPE => Ok(Attr {
                id,
                kind: PhantomData,
            }),
            Some(d) => Err(AttrError::WrongType {
                name: name.to_owned(),
                declared: d.ty,
                wanted: K::TYPE,
            }),
            None => Err(AttrError::Undeclared(name.to_owned())),
        }
    }

    /// A `string` attribute's handle.
    pub fn string(&self, name: &str) -> Result<Attr<kind::Str>, AttrError> {
        self.attr(name)
    }

    /// An `int` attribute's handle.
    pub fn int(&self, name: &str) -> Result<Attr<kind::Int>, AttrError> {
        self.attr(name)
    }

    /// A `float` attribute's handle.
    pub fn float(&self, name: &str) -> Result<Attr<kind::Float>, AttrError> {
        self.attr(name)
    }

    /// A `bool` attribute's handle.
    pub fn boolean(&self, name: &str) -> Result<Attr<kind::Bool>, AttrError> {
        self.attr(name)
    }

    /// A `list<string>` attribute's handle.
    pub fn strings(&self, name: &str) -> Result<Attr<kind::Strs>, AttrError> {
        self.attr(name)
    }

    /// A `list<int>` attribute's handle.
    pub fn ints(&self, name: &str) -> Result<Attr<kind::Ints>, AttrError> {
        self.attr(name)
    }

    /// A `map<string, string>` attribute's handle.
    pub fn str_map(&self, name: &str) -> Result<Attr<kind::StrMap>, AttrError> {
        self.attr(name)
    }

    /// A `map<string, int>` attribute's handle.
    pub fn int_map(&self, name: &str) -> Result<Attr<kind::IntMap>, AttrError> {
        self.attr(name)
    }

    /// A `timestamp` attribute's handle.
    pub fn timestamp(&self, name: &str) -> Result<Attr<kind::Timestamp>, AttrError> {
        self.attr(name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn schema() -> Schema {
        Schema::new()
            .with("feature", Type::String)
            .and_then(|s| s.with("tags", Type::List(Elem::String)))
            .and_then(|s| s.with("quota", Type::IntMap))
            .unwrap()
    }

    #[test]
    fn handles_resolve_by_declared_type() {
        let s = schema();
        assert_eq!(s.string("feature").unwrap().id(), AttrId(0));
        assert_eq!(s.strings("tags").unwrap().id(), AttrId(1));
        assert_eq!(s.int_map("quota").unwrap().id(), AttrId(2));
        assert_eq!(
            format!("{:?}", s.strings("tags").unwrap()),
            "Attr<list<string>>(1)"
        );
    }

    #[test]
    fn a_wrong_type_or_an_unknown_name_is_an_error() {
        let s = schema();
        assert_eq!(
            s.ints("tags").unwrap_err().to_string(),
            "attribute `tags` is declared `list<string>`, not `list<int>`"
        );
        assert_eq!(
            s.str_map("quota").unwrap_err().to_string(),
            "attribute `quota` is declared `map<string, int>`, not `map<string, string>`"
        );
        assert_eq!(
            s.string("tenant").unwrap_err(),
            AttrError::Undeclared("tenant".into())
        );
    }
}
