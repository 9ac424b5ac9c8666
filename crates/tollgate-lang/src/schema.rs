//! Attribute types and the attribute schema.
//!
//! A [`Schema`] is the list of attributes rules may read, each with a type and
//! a slot number ([`AttrId`]). Names resolve to ids once, when a policy is
//! checked; at decision time everything is an index.

use std::collections::HashMap;
use std::fmt;

/// Slot index of an attribute in a [`Schema`]: handed out by
/// [`Schema::add`], [`Schema::id`] and [`Schema::iter`], valid for that
/// schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrId(pub(crate) u32);

impl AttrId {
    /// The slot as a `usize`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The slot number. Ids come from [`Schema::add`] and [`Schema::id`]
    /// only: one is valid for the schema that gave it out.
    #[inline]
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Element type of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Elem {
    /// `list<bool>` (literals only)
    Bool,
    /// `list<int>`
    Int,
    /// `list<float>` (literals only)
    Float,
    /// `list<string>`
    String,
    /// An empty list literal, or one mixing ints and floats.
    Dyn,
}

/// A value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// `bool`
    Bool,
    /// `int` (signed 64-bit)
    Int,
    /// `float` (IEEE 754 double)
    Float,
    /// `string`
    String,
    /// `list<...>`
    List(Elem),
    /// `map<string, string>`
    StrMap,
    /// `map<string, int>`
    IntMap,
    /// `timestamp`: an instant (RFC 3339 in requests)
    Timestamp,
    /// `duration`: a span of time (values only; no attribute has it)
    Duration,
}

impl Type {
    /// Parse an attribute type as written in `[attributes]`.
    pub fn parse_attr(s: &str) -> Option<Type> {
        let squeezed: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if squeezed == "map<string,string>" {
            return Some(Type::StrMap);
        }
        if squeezed == "map<string,int>" {
            return Some(Type::IntMap);
        }
        Some(match s.trim() {
            "bool" => Type::Bool,
            "int" => Type::Int,
            "float" => Type::Float,
            "string" => Type::String,
            "list<string>" => Type::List(Elem::String),
            "list<int>" => Type::List(Elem::Int),
            "timestamp" => Type::Timestamp,
            _ => return None,
        })
    }

    /// The attribute types a user may declare, as written.
    pub const ATTR_TYPES: [&'static str; 9] = [
        "bool",
        "int",
        "float",
        "string",
        "list<string>",
        "list<int>",
        "map<string, string>",
        "map<string, int>",
        "timestamp",
    ];

    /// int or float.
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float)
    }

    /// A map attribute's type.
    pub fn is_map(self) -> bool {
        matches!(self, Type::StrMap | Type::IntMap)
    }

    /// The value type of a map.
    pub fn map_value(self) -> Option<Type> {
        match self {
            Type::StrMap => Some(Type::String),
            Type::IntMap => Some(Type::Int),
            _ => None,
        }
    }

    /// The element type of a list.
    pub fn elem(self) -> Option<Type> {
        match self {
            Type::List(Elem::Bool) => Some(Type::Bool),
            Type::List(Elem::Int) => Some(Type::Int),
            Type::List(Elem::Float) => Some(Type::Float),
            Type::List(Elem::String) => Some(Type::String),
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::String => "string",
            Type::List(Elem::Bool) => "list<bool>",
            Type::List(Elem::Int) => "list<int>",
            Type::List(Elem::Float) => "list<float>",
            Type::List(Elem::String) => "list<string>",
            Type::List(Elem::Dyn) => "list",
            Type::StrMap => "map<string, string>",
            Type::IntMap => "map<string, int>",
            Type::Timestamp => "timestamp",
            Type::Duration => "duration",
        })
    }
}

/// One declared attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDef {
    /// Dotted name, e.g. `user.tier`.
    pub name: String,
    /// Declared type.
    pub ty: Type,
}

/// The attributes rules may read, each with a slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    attrs: Vec<AttrDef>,
    by_name: HashMap<String, AttrId>,
}

/// A schema change that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The name is declared twice with different types.
    #[error("attribute `{name}` is already declared as `{existing}`, not `{new}`")]
    Conflict {
        /// Attribute name.
        name: String,
        /// Type already in the schema.
        existing: Type,
        /// Type asked for.
        new: Type,
    },
    /// More attributes than slots.
    #[error("a schema holds at most {0} attributes")]
    TooMany(usize),
}

/// Most attributes one schema may hold.
pub const MAX_ATTRIBUTES: usize = 4096;

impl Schema {
    /// An empty schema.
    pub fn new() -> Schema {
        Schema::default()
    }

    /// Add an attribute (or find it when already declared with this type).
    pub fn add(&mut self, name: &str, ty: Type) -> Result<AttrId, SchemaError> {
        if let Some(&id) = self.by_name.get(name) {
            let existing = self.attrs.get(id.index()).map(|a| a.ty).unwrap_or(ty);
            if existing != ty {
                return Err(SchemaError::Conflict {
                    name: name.to_string(),
                    existing,
                    new: ty,
                });
            }
            return Ok(id);
        }
        if self.attrs.len() >= MAX_ATTRIBUTES {
            return Err(SchemaError::TooMany(MAX_ATTRIBUTES));
        }
        let id = AttrId(self.attrs.len() as u32);
        self.attrs.push(AttrDef {
            name: name.to_string(),
            ty,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    /// Builder-style [`Schema::add`].
    pub fn with(mut self, name: &str, ty: Type) -> Result<Schema, SchemaError> {
        self.add(name, ty)?;
        Ok(self)
    }

    /// Look a name up.
    pub fn id(&self, name: &str) -> Option<AttrId> {
        self.by_name.get(name).copied()
    }

    /// The definition behind an id.
    pub fn get(&self, id: AttrId) -> Option<&AttrDef> {
        self.attrs.get(id.index())
    }

    /// Name of an id (empty if out of range).
    pub fn name(&self, id: AttrId) -> &str {
        self.get(id).map(|a| a.name.as_str()).unwrap_or("")
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// No attributes.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// All attributes, by slot.
    pub fn iter(&self) -> impl Iterator<Item = (AttrId, &AttrDef)> {
        self.attrs
            .iter()
            .enumerate()
            .map(|(i, a)| (AttrId(i as u32), a))
    }
}
