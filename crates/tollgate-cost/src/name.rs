//! Shared strings for call events.
//!
//! Every event repeats the same few strings: the policy's name and hash,
//! model aliases and ids, rule names, attribute names, tags. [`Name`] holds
//! one behind a reference count, so copying it into an event is a counter
//! increment rather than an allocation and a copy; [`EventNames`] holds a
//! policy's names once, and [`EventNamesCache`] keeps the current policy's
//! set for a process that reloads policies.

use crate::slot_role::SlotRole;
use arc_swap::ArcSwapOption;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use tollgate_engine::RuleIdx;
use tollgate_lang::Schema;
use tollgate_lang::{Policy, Section};

/// An immutable, shared string. Reads as a `&str` (it derefs to one),
/// compares with `str`, `&str` and `String`, and serializes as a JSON
/// string.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(Arc::from(s))
    }
}

impl From<&String> for Name {
    fn from(s: &String) -> Name {
        Name(Arc::from(s.as_str()))
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(Arc::from(s))
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Name {
        Name(s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0.to_string()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == &*other.0
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        // `Box<str>` borrows when the input allows and copies once; the
        // `Arc` then copies again, which only reading events pays.
        let s = <Box<str>>::deserialize(d)?;
        Ok(Name(Arc::from(s)))
    }
}

/// A policy's names as [`Name`]s, so that building its events copies no
/// string: the policy's name and hash, model aliases and ids, rule names
/// per section, and the schema's attribute names.
#[derive(Debug, Clone)]
pub struct EventNames {
    hash: u128,
    schema_len: usize,
    policy: Name,
    policy_hash: Name,
    aliases: Vec<Name>,
    model_ids: Vec<Name>,
    /// Per policy model: the region its own prices are for (its home
    /// region in the price table), so an event in that region at the
    /// default tier is priced without a table lookup.
    home_regions: Vec<&'static str>,
    rules: [Vec<Name>; Section::ALL.len()],
    /// Per schema slot: its name and what events do with it.
    attributes: Vec<(Name, SlotRole)>,
}

impl EventNames {
    /// The names of `policy`, with the attribute names of `schema` (the
    /// schema its requests' contexts are built on).
    pub fn new(policy: &Policy, schema: &Schema) -> EventNames {
        let names = |s: Section| -> Vec<Name> {
            policy
                .section_rules(s)
                .into_iter()
                .map(|(name, _, _)| Name::from(name))
                .collect()
        };
        EventNames {
            hash: policy.hash(),
            schema_len: schema.len(),
            policy: Name::from(policy.name()),
            policy_hash: Name::from(policy.hash_hex()),
            aliases: policy
                .models()
                .iter()
                .map(|m| Name::from(m.alias.as_str()))
                .collect(),
            model_ids: policy
                .models()
                .iter()
                .map(|m| Name::from(m.id.as_str()))
                .collect(),
            home_regions: policy
                .models()
                .iter()
                .map(|m| policy.price_table().home_region(&m.id))
                .collect(),
            rules: Section::ALL.map(names),
            attributes: schema
                .iter()
                .map(|(id, d)| {
                    (
                        Name::from(d.name.as_str()),
                        SlotRole::of(policy, id, &d.name),
                    )
                })
                .collect(),
        }
    }

    /// Whether these are `policy`'s names for contexts on `schema`.
    pub fn is_for(&self, policy: &Policy, schema: &Schema) -> bool {
        self.hash == policy.hash()
            && self.schema_len == schema.len()
            && self.aliases.len() == policy.models().len()
            && self.policy.as_str() == policy.name()
    }

    /// `[policy] name`.
    pub fn policy(&self) -> &Name {
        &self.policy
    }

    /// The policy hash, 32 hex digits.
    pub fn policy_hash(&self) -> &Name {
        &self.policy_hash
    }

    /// The region policy model `m`'s own prices are for.
    pub fn home_region(&self, m: tollgate_lang::ModelIdx) -> Option<&'static str> {
        self.home_regions.get(m.index()).copied()
    }

    /// A model's alias and id.
    pub fn model(&self, m: tollgate_lang::ModelIdx) -> Option<(&Name, &Name)> {
        Some((self.aliases.get(m.index())?, self.model_ids.get(m.index())?))
    }

    /// The attribute name of slot `i` of the schema.
    pub fn attribute(&self, i: usize) -> Option<&Name> {
        self.attributes.get(i).map(|(n, _)| n)
    }

    /// Slot `i`'s name and role.
    pub(crate) fn slot(&self, i: usize) -> Option<(&Name, SlotRole)> {
        self.attributes.get(i).map(|(n, r)| (n, *r))
    }

    /// The name of rule `r` of section `s` (`None` for an index the
    /// policy does not have).
    pub(crate) fn rule(&self, s: Section, r: RuleIdx) -> Option<Name> {
        self.rules
            .get(s as usize)
            .and_then(|v| v.get(r.index()))
            .cloned()
    }
}

/// The [`EventNames`] of the policy last asked for: rebuilt when the policy
/// changes (a reload), shared otherwise. Lock-free to read.
#[derive(Debug, Default)]
pub struct EventNamesCache {
    current: ArcSwapOption<EventNames>,
}

impl EventNamesCache {
    /// An empty cache.
    pub fn new() -> EventNamesCache {
        EventNamesCache::default()
    }

    /// `policy`'s names on `schema`, built on first use.
    pub fn get(&self, policy: &Policy, schema: &Schema) -> Arc<EventNames> {
        if let Some(n) = self.current.load_full() {
            if n.is_for(policy, schema) {
                return n;
            }
        }
        let n = Arc::new(EventNames::new(policy, schema));
        self.current.store(Some(n.clone()));
        n
    }
}
