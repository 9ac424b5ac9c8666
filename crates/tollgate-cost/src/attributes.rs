//! The attribute values a call event records.

use crate::name::Name;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// A request's attribute values by name, in the order they were added
/// (schema order for events the crate builds). A JSON object on the wire.
///
/// A list rather than a map: an event carries a handful of attributes,
/// and building one per call must not hash or copy their names (they are
/// shared [`Name`]s). Lookups scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(Vec<(Name, Value)>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Attributes {
        Attributes(Vec::new())
    }

    /// Room for `n` attributes.
    pub fn with_capacity(n: usize) -> Attributes {
        Attributes(Vec::with_capacity(n))
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }

    /// Whether `name` has a value.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name`, returning the value it replaces.
    pub fn insert(&mut self, name: impl Into<Name>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.0.push((name, value));
                None
            }
        }
    }

    /// Appends `name` without looking for an earlier value: the caller
    /// knows the names are distinct (one per schema slot).
    pub(crate) fn push_distinct(&mut self, name: Name, value: Value) {
        self.0.push((name, value));
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k.as_str() == name)?;
        Some(self.0.remove(i).1)
    }

    /// How many attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Names and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Name, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// As a JSON object (what `Request::from_map` reads).
    pub fn to_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

/// `attrs["name"]`: the value, or `null` when absent (as indexing a
/// `serde_json::Value` does; it never panics).
impl std::ops::Index<&str> for Attributes {
    type Output = Value;
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a Name, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Name, Value)>,
        fn(&'a (Name, Value)) -> (&'a Name, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K: Into<Name>> FromIterator<(K, Value)> for Attributes {
    /// Later values of a repeated name replace earlier ones.
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Attributes {
        let mut out = Attributes::new();
        for (k, v) in iter {
            out.insert(k, v);
        }
        out
    }
}

impl From<Map<String, Value>> for Attributes {
    fn from(m: Map<String, Value>) -> Attributes {
        // A map's keys are distinct already.
        Attributes(m.into_iter().map(|(k, v)| (Name::from(k), v)).collect())
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_str(), v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Attributes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attribute values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Attributes, A::Error> {
                let mut out = Attributes::with_capacity(a.size_hint().unwrap_or(0).min(64));
                // A repeated key: the last value wins, as in `serde_json`.
                while let Some((k, v)) = a.next_entry::<Name, Value>()? {
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_order_and_last_value_of_a_repeated_key() {
        let a: Attributes = serde_json::from_str(r#"{"b": 1, "a": "x", "b": 2}"#).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"b":2,"a":"x"}"#);
        assert_eq!(a.get("b"), Some(&json!(2)));
        assert_eq!(a.get("c"), None);
        assert_eq!(a["a"], json!("x"));
        assert_eq!(a["c"], Value::Null);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn insert_replaces_and_remove_takes() {
        let mut a = Attributes::new();
        assert_eq!(a.insert("k", json!(1)), None);
        assert_eq!(a.insert("k", json!(2)), Some(json!(1)));
        assert_eq!(a.remove("k"), Some(json!(2)));
        assert!(a.is_empty());
    }

    #[test]
    fn round_trips_through_a_map() {
        let m: Map<String, Value> = serde_json::from_str(r#"{"x": [1, 2], "y": true}"#).unwrap();
        let a = Attributes::from(m.clone());
        assert_eq!(a.to_map(), m);
        assert!(serde_json::from_str::<Attributes>("[1]").is_err());
    }
}
