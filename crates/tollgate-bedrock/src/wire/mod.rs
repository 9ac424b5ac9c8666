//! Converse types to and from Bedrock's JSON.
//!
//! The SDK's types have no serde, yet three parts of the gate need them as
//! JSON: the response cache stores a whole output message, batch records
//! carry a Converse request body (and their output carries a message), and
//! the response-cache key and event fingerprints need one canonical form
//! of every block. This module is that one mapping, written against the
//! key names of Bedrock's Converse API reference, so each variant has a
//! round-trip test next to it (`tests.rs`).
//!
//! Binary content (image, document, video and audio bytes, redacted
//! reasoning) is written as base64, as Bedrock reads it, or, in the
//! canonical form, as the xxh3-128 hash of its bytes: a key over a 5 MB
//! image stays short and still changes when one byte does. A variant the
//! SDK reports as unknown (sent by a newer Bedrock than the locked SDK)
//! cannot be written: [`WireError::Unknown`] tells the caller not to cache
//! or batch it.

mod content;
mod request;
#[cfg(test)]
mod tests;
mod view;
use view::View as _;

pub use content::{message_from_json, message_to_json};
pub use request::{input_body, options_to_json};
#[cfg(test)]
use request::{system_from_json, tool_config_from_json};
#[cfg(test)]
use request::{system_to_json, tool_config_to_json};
pub(crate) use view::write_message;
pub use view::TextSize;

use aws_smithy_types::{Blob, Document, Number};
use serde_json::{Map, Value as Json};

/// How binary content is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// Base64, as Bedrock reads and writes it.
    Base64,
    /// `{"xxh3": "<hex>"}` of the bytes: the canonical form for keys and
    /// fingerprints (it cannot be read back).
    Hash,
}

/// Why a value could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A variant the locked SDK does not know (`what` names where).
    #[error("`{0}` holds a variant this SDK version does not know")]
    Unknown(String),
    /// JSON that is not a Converse value.
    #[error("`{at}`: {message}")]
    Invalid {
        /// Where (`content[2].image.format`).
        at: String,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn invalid(at: &str, message: impl Into<String>) -> WireError {
    WireError::Invalid {
        at: at.to_string(),
        message: message.into(),
    }
}

pub(crate) fn blob(b: &Blob, bin: Binary) -> Json {
    match bin {
        Binary::Base64 => Json::String(aws_smithy_types::base64::encode(b.as_ref())),
        Binary::Hash => {
            let h = xxhash_rust::xxh3::xxh3_128(b.as_ref());
            serde_json::json!({ "xxh3": format!("{h:032x}") })
        }
    }
}

pub(crate) fn blob_from(v: &Json, at: &str) -> Result<Blob, WireError> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(at, "expected base64 text"))?;
    aws_smithy_types::base64::decode(s)
        .map(Blob::new)
        .map_err(|e| invalid(at, format!("not base64: {e}")))
}

/// A JSON number for an `f32` as written (0.7, not 0.699999988...).
pub(crate) fn float(x: f32) -> Json {
    format!("{x}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Json::Null, Json::Number)
}

/// A Smithy document as JSON; object keys sorted, so equal documents give
/// equal text (the SDK keeps them in a hash map).
pub fn document_to_json(d: &Document) -> Json {
    // A document view raises no error (every variant is known, every key
    // a string); `Null` is never reached.
    view::to_tree(&view::Doc(d)).unwrap_or(Json::Null)
}

/// The canonical text of a message (what `message_to_json(m, bin)`
/// renders to), written without building the tree.
pub(crate) fn message_text(
    m: &aws_sdk_bedrockruntime::types::Message,
    bin: Binary,
) -> Result<String, WireError> {
    view::to_text(&view::Msg(m, bin))
}

/// Appends [`system_text`]'s text to `buf`.
pub(crate) fn write_system(
    buf: &mut Vec<u8>,
    s: &[aws_sdk_bedrockruntime::types::SystemContentBlock],
    bin: Binary,
) -> Result<(), WireError> {
    view::System(s, bin).put(buf)
}

/// Appends [`tool_config_text`]'s text to `buf`.
pub(crate) fn write_tool_config(
    buf: &mut Vec<u8>,
    t: &aws_sdk_bedrockruntime::types::ToolConfiguration,
) -> Result<(), WireError> {
    view::Tools(t).put(buf)
}

/// The size of [`tool_config_text`]'s text, measured without writing it.
pub(crate) fn tool_config_size(
    t: &aws_sdk_bedrockruntime::types::ToolConfiguration,
) -> Result<TextSize, WireError> {
    view::size_of(&view::Tools(t))
}

/// The canonical text of a content block (`block_to_json`'s, rendered).
pub(crate) fn block_text(
    c: &aws_sdk_bedrockruntime::types::ContentBlock,
    bin: Binary,
) -> Result<String, WireError> {
    view::to_text(&view::Block(c, bin))
}

/// The canonical text of system blocks (`system_to_json`'s, rendered).
pub(crate) fn system_text(
    s: &[aws_sdk_bedrockruntime::types::SystemContentBlock],
    bin: Binary,
) -> Result<String, WireError> {
    view::to_text(&view::System(s, bin))
}

/// The canonical text of a tool configuration (`tool_config_to_json`'s,
/// rendered).
#[cfg(test)]
pub(crate) fn tool_config_text(
    t: &aws_sdk_bedrockruntime::types::ToolConfiguration,
) -> Result<String, WireError> {
    view::to_text(&view::Tools(t))
}

/// The canonical text of one tool, as in [`tool_config_text`]'s `tools`.
pub(crate) fn tool_text(t: &aws_sdk_bedrockruntime::types::Tool) -> Result<String, WireError> {
    view::to_text(&view::ToolView(t))
}

/// The canonical text of a tool choice, as in [`tool_config_text`].
pub(crate) fn tool_choice_text(
    c: &aws_sdk_bedrockruntime::types::ToolChoice,
) -> Result<String, WireError> {
    view::to_text(&view::Choice(c))
}

/// The canonical text of a document (`document_to_json`'s, rendered).
#[cfg(test)]
pub(crate) fn document_text(d: &Document) -> String {
    // As in `document_to_json`: a document view raises no error.
    view::to_text(&view::Doc(d)).unwrap_or_default()
}

/// JSON as a Smithy document.
pub fn document_from_json(v: &Json) -> Document {
    match v {
        Json::Null => Document::Null,
        Json::Bool(b) => Document::Bool(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap_or(0.0)))
            }
        }
        Json::String(s) => Document::String(s.clone()),
        Json::Array(a) => Document::Array(a.iter().map(document_from_json).collect()),
        Json::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), document_from_json(v)))
                .collect(),
        ),
    }
}

/// A JSON object under construction: optional fields are left out.
#[derive(Default)]
pub(crate) struct Obj(Map<String, Json>);

impl Obj {
    pub(crate) fn new() -> Obj {
        Obj(Map::new())
    }
    pub(crate) fn put(mut self, k: &str, v: impl Into<Json>) -> Obj {
        self.0.insert(k.to_string(), v.into());
        self
    }
    pub(crate) fn opt<V: Into<Json>>(self, k: &str, v: Option<V>) -> Obj {
        match v {
            Some(v) => self.put(k, v),
            None => self,
        }
    }
    pub(crate) fn done(self) -> Json {
        Json::Object(self.0)
    }
}

/// `{key: value}`.
pub(crate) fn one(k: &str, v: impl Into<Json>) -> Json {
    Obj::new().put(k, v).done()
}

/// The field `k` of object `v` (error when missing).
pub(crate) fn field<'a>(v: &'a Json, k: &str, at: &str) -> Result<&'a Json, WireError> {
    v.get(k)
        .ok_or_else(|| invalid(at, format!("missing field `{k}`")))
}

/// The string field `k`.
pub(crate) fn string(v: &Json, k: &str, at: &str) -> Result<String, WireError> {
    field(v, k, at)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(&format!("{at}.{k}"), "expected a string"))
}

/// The optional string field `k`.
pub(crate) fn opt_string(v: &Json, k: &str) -> Option<String> {
    v.get(k).and_then(Json::as_str).map(str::to_string)
}

/// The optional integer field `k` (an i32, as Bedrock's are).
pub(crate) fn opt_i32(v: &Json, k: &str) -> Option<i32> {
    v.get(k)
        .and_then(Json::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

/// The array field `k` (missing: empty).
pub(crate) fn array<'a>(v: &'a Json, k: &str, at: &str) -> Result<&'a [Json], WireError> {
    match v.get(k) {
        None => Ok(&[]),
        Some(Json::Array(a)) => Ok(a),
        Some(_) => Err(invalid(&format!("{at}.{k}"), "expected an array")),
    }
}

/// The only key of a one-key object (a Converse union) and its value.
pub(crate) fn union<'a>(v: &'a Json, at: &str) -> Result<(&'a str, &'a Json), WireError> {
    match v.as_object() {
        Some(o) if o.len() == 1 => o
            .iter()
            .next()
            .map(|(k, v)| (k.as_str(), v))
            .ok_or_else(|| invalid(at, "expected one key")),
        _ => Err(invalid(at, "expected an object with exactly one key")),
    }
}

pub(crate) fn build_err(at: &str, e: impl std::fmt::Display) -> WireError {
    invalid(at, e.to_string())
}
