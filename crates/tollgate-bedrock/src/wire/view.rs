//! The variants every agent turn carries (text, tool use, tool result,
//! JSON documents, cache points, system blocks, tool configurations)
//! written straight to a serializer.
//!
//! The gate reads a request's canonical JSON on every call: the token
//! estimate counts tool specs, tool uses and tool results by it, the event
//! fingerprint and the response-cache key hash it. Building a
//! `serde_json::Value` tree for that and rendering it cost more than the
//! rest of the gate together on a tool-use turn (a map, its hashed keys and
//! their strings per object, all dropped at once). These views write the
//! same text with no tree: [`to_text`]. The tree mappings of these variants
//! are the views read back through `serde_json::to_value` ([`to_tree`]), so
//! each variant still has one mapping to JSON, held to its inverse by the
//! round-trip tests; the rarer variants (images, documents, video, audio,
//! reasoning, guard content, citations, search results) keep their tree
//! mapping in `content.rs`, and a view serializes that tree.
//!
//! The only error a view raises is a variant the locked SDK does not know;
//! its message is the `what` of [`WireError::Unknown`].

use super::content::block_tree;
use super::{Binary, WireError};
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CacheTtl, ContentBlock, Message, SystemContentBlock, Tool, ToolChoice,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification,
    ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as Json;

/// A view's canonical text (what `to_tree(..).to_string()` gives).
pub(crate) fn to_text(v: &impl Serialize) -> Result<String, WireError> {
    // Room for a tool use or a short tool spec without regrowing.
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, v).map_err(unknown)?;
    // serde_json writes UTF-8 only.
    String::from_utf8(out).map_err(|e| WireError::Unknown(e.to_string()))
}

/// A view as a JSON tree.
pub(crate) fn to_tree(v: &impl Serialize) -> Result<Json, WireError> {
    serde_json::to_value(v).map_err(unknown)
}

/// A view's only error: an unknown variant, named by its message.
fn unknown(e: serde_json::Error) -> WireError {
    WireError::Unknown(e.to_string())
}

/// A [`WireError`] from a tree mapping, raised through a serializer.
fn raise<E: serde::ser::Error>(e: WireError) -> E {
    match e {
        WireError::Unknown(what) => E::custom(what),
        other => E::custom(other),
    }
}

/// The unknown variant `what`, raised through a serializer.
fn unknown_variant<E: serde::ser::Error>(what: &str) -> E {
    E::custom(what)
}

/// `{key: value}`.
struct One<'a, V: ?Sized>(&'a str, &'a V);

impl<V: Serialize + ?Sized> Serialize for One<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

/// `{}`.
struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// The entry `k` when `v` is present (optional fields are left out).
fn opt<M: SerializeMap, V: Serialize>(m: &mut M, k: &str, v: Option<V>) -> Result<(), M::Error> {
    match v {
        Some(v) => m.serialize_entry(k, &v),
        None => Ok(()),
    }
}

/// A Smithy document, object keys sorted, so equal documents give equal
/// text (the SDK keeps them in a hash map).
pub(crate) struct Doc<'a>(pub &'a Document);

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Document::Null => s.serialize_unit(),
            Document::Bool(b) => s.serialize_bool(*b),
            Document::Number(Number::PosInt(u)) => s.serialize_u64(*u),
            Document::Number(Number::NegInt(i)) => s.serialize_i64(*i),
            // Not finite: `null`, as JSON has no such number.
            Document::Number(Number::Float(f)) => s.serialize_f64(*f),
            Document::String(t) => s.serialize_str(t),
            Document::Array(a) => s.collect_seq(a.iter().map(Doc)),
            Document::Object(o) => {
                let mut keys: Vec<(&String, &Document)> = o.iter().collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut m = s.serialize_map(Some(keys.len()))?;
                for (k, v) in keys {
                    m.serialize_entry(k, &Doc(v))?;
                }
                m.end()
            }
        }
    }
}

/// A message: `{"role", "content"}`.
pub(crate) struct Msg<'a>(pub &'a Message, pub Binary);

impl Serialize for Msg<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (msg, bin) = (self.0, self.1);
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("role", msg.role().as_str())?;
        m.serialize_entry("content", &Blocks(msg.content(), bin))?;
        m.end()
    }
}

struct Blocks<'a>(&'a [ContentBlock], Binary);

impl Serialize for Blocks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bin = self.1;
        s.collect_seq(self.0.iter().map(|b| Block(b, bin)))
    }
}

/// One content block, a one-key object naming its variant.
pub(crate) struct Block<'a>(pub &'a ContentBlock, pub Binary);

impl Serialize for Block<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ContentBlock::Text(t) => One("text", t.as_str()).serialize(s),
            ContentBlock::ToolUse(t) => One("toolUse", &ToolUse(t)).serialize(s),
            ContentBlock::ToolResult(t) => One("toolResult", &ToolResult(t, self.1)).serialize(s),
            ContentBlock::CachePoint(p) => One("cachePoint", &CachePoint(p)).serialize(s),
            other => block_tree(other, self.1).map_err(raise)?.serialize(s),
        }
    }
}

/// A cache point: `{"type", "ttl"?}`.
pub(crate) struct CachePoint<'a>(pub &'a CachePointBlock);

impl Serialize for CachePoint<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.0.r#type().as_str())?;
        opt(&mut m, "ttl", self.0.ttl().map(CacheTtl::as_str))?;
        m.end()
    }
}

struct ToolUse<'a>(&'a ToolUseBlock);

impl Serialize for ToolUse<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("toolUseId", t.tool_use_id())?;
        m.serialize_entry("name", t.name())?;
        m.serialize_entry("input", &Doc(t.input()))?;
        opt(&mut m, "type", t.r#type().map(|t| t.as_str()))?;
        m.end()
    }
}

struct ToolResult<'a>(&'a ToolResultBlock, Binary);

impl Serialize for ToolResult<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (t, bin) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("toolUseId", t.tool_use_id())?;
        m.serialize_entry("content", &ResultContents(t.content(), bin))?;
        opt(&mut m, "status", t.status().map(|s| s.as_str()))?;
        opt(&mut m, "type", t.r#type())?;
        m.end()
    }
}

struct ResultContents<'a>(&'a [ToolResultContentBlock], Binary);

impl Serialize for ResultContents<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bin = self.1;
        s.collect_seq(self.0.iter().map(|c| ToolResultContent(c, bin)))
    }
}

struct ToolResultContent<'a>(&'a ToolResultContentBlock, Binary);

impl Serialize for ToolResultContent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use super::content::video_to_json;
        use super::content::{document_block_to_json, image_to_json, search_result_to_json};
        let bin = self.1;
        let tree = match self.0 {
            ToolResultContentBlock::Json(d) => return One("json", &Doc(d)).serialize(s),
            ToolResultContentBlock::Text(t) => return One("text", t.as_str()).serialize(s),
            ToolResultContentBlock::Image(i) => ("image", image_to_json(i, bin)),
            ToolResultContentBlock::Document(d) => ("document", document_block_to_json(d, bin)),
            ToolResultContentBlock::Video(v) => ("video", video_to_json(v, bin)),
            ToolResultContentBlock::SearchResult(r) => {
                ("searchResult", Ok(search_result_to_json(r)))
            }
            _ => return Err(unknown_variant("tool result content")),
        };
        One(tree.0, &tree.1.map_err(raise)?).serialize(s)
    }
}

/// System blocks: an array of one-key objects.
pub(crate) struct System<'a>(pub &'a [SystemContentBlock], pub Binary);

impl Serialize for System<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bin = self.1;
        s.collect_seq(self.0.iter().map(|b| SystemBlock(b, bin)))
    }
}

struct SystemBlock<'a>(&'a SystemContentBlock, Binary);

impl Serialize for SystemBlock<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            SystemContentBlock::Text(t) => One("text", t.as_str()).serialize(s),
            SystemContentBlock::GuardContent(g) => {
                let tree = super::content::guard_to_json(g, self.1).map_err(raise)?;
                One("guardContent", &tree).serialize(s)
            }
            SystemContentBlock::CachePoint(c) => One("cachePoint", &CachePoint(c)).serialize(s),
            _ => Err(unknown_variant("system block")),
        }
    }
}

/// A tool configuration: `{"tools", "toolChoice"?}`.
pub(crate) struct Tools<'a>(pub &'a ToolConfiguration);

impl Serialize for Tools<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("tools", &ToolList(self.0.tools()))?;
        opt(&mut m, "toolChoice", self.0.tool_choice().map(Choice))?;
        m.end()
    }
}

/// A tool choice, a one-key object naming its variant.
pub(crate) struct Choice<'a>(pub &'a ToolChoice);

impl Serialize for Choice<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ToolChoice::Auto(_) => One("auto", &Empty).serialize(s),
            ToolChoice::Any(_) => One("any", &Empty).serialize(s),
            ToolChoice::Tool(t) => One("tool", &One("name", t.name())).serialize(s),
            _ => Err(unknown_variant("tool choice")),
        }
    }
}

struct ToolList<'a>(&'a [Tool]);

impl Serialize for ToolList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToolView))
    }
}

/// One tool, a one-key object naming its variant.
pub(crate) struct ToolView<'a>(pub &'a Tool);

impl Serialize for ToolView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Tool::ToolSpec(spec) => One("toolSpec", &Spec(spec)).serialize(s),
            Tool::SystemTool(t) => One("systemTool", &One("name", t.name())).serialize(s),
            Tool::CachePoint(c) => One("cachePoint", &CachePoint(c)).serialize(s),
            _ => Err(unknown_variant("tool")),
        }
    }
}

struct Spec<'a>(&'a ToolSpecification);

impl Serialize for Spec<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", t.name())?;
        opt(&mut m, "description", t.description())?;
        match t.input_schema() {
            None => {}
            Some(ToolInputSchema::Json(d)) => {
                m.serialize_entry("inputSchema", &One("json", &Doc(d)))?
            }
            Some(_) => return Err(unknown_variant("tool input schema")),
        }
        opt(&mut m, "strict", t.strict())?;
        m.end()
    }
}
