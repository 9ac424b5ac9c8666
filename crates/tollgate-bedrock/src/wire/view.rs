//! The variants every agent turn carries (text, tool use, tool result,
//! JSON documents, cache points, system blocks, tool configurations)
//! written straight to canonical JSON text.
//!
//! The gate reads a request's canonical JSON on every call: the token
//! estimate counts tool specs, tool uses and tool results by it, the event
//! fingerprint and the response-cache key hash it. Building a
//! `serde_json::Value` tree for that and rendering it cost more than the
//! rest of the gate together on a tool-use turn, and going through serde's
//! serializer still cost a call per key and per value; so the views write
//! bytes into a buffer ([`View::put`], [`to_text`], [`write_message`]) in the
//! form serde_json's compact writer gives: keys in the order the views
//! write them (a document's sorted, so equal documents give equal text),
//! strings escaped as serde_json escapes them, numbers written by
//! serde_json. The tree mappings of these variants are their text read
//! back ([`to_tree`]), so each variant has one mapping to JSON, held to its
//! inverse by the round-trip tests and, byte for byte, to the text earlier
//! versions hashed by a pinned test (`canonical_text_is_pinned`); the
//! rarer variants (images, documents, video, audio, reasoning, guard
//! content, citations, search results) keep their tree mapping in
//! `content.rs`, and a view writes that tree.
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
use serde_json::Value as Json;

/// A value written as canonical JSON text.
pub(crate) trait View {
    /// Appends the text to `out`; on an error `out` may hold part of it.
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError>;
}

/// A view's canonical text.
pub(crate) fn to_text(v: &impl View) -> Result<String, WireError> {
    // Room for a tool use or a short tool spec without regrowing.
    let mut out = Vec::with_capacity(512);
    v.put(&mut out)?;
    // Every piece written is UTF-8: ASCII punctuation, escaped strings
    // and serde_json's output.
    String::from_utf8(out).map_err(|e| WireError::Unknown(e.to_string()))
}

/// A view as a JSON tree: its text read back.
pub(crate) fn to_tree(v: &impl View) -> Result<Json, WireError> {
    let mut out = Vec::with_capacity(512);
    v.put(&mut out)?;
    serde_json::from_slice(&out).map_err(|e| WireError::Unknown(e.to_string()))
}

/// A tree mapping's error as a view's: its unknown variant, or the error's
/// text as one.
fn from_tree(e: WireError) -> WireError {
    match e {
        WireError::Unknown(what) => WireError::Unknown(what),
        other => WireError::Unknown(other.to_string()),
    }
}

/// What each byte is written as inside a JSON string: itself (0), a short
/// escape (`\\n` for `n`...) or `\\u00XX` (`u`): serde_json's escapes.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// `s` as a JSON string, escaped as serde_json escapes it: `"`, `\\` and
/// the control characters, the common ones by their short escapes.
///
/// Eight bytes at a time: a word with no byte to escape is copied whole
/// (a fixed-size copy, one store), and in one with some, the bytes before
/// the first are kept from the word's copy and the first is found from the
/// word test's lowest flag; the last few bytes go one at a time. No copy of
/// a run of variable length, so no call to `memcpy` for the short strings
/// (keys, ids, names) that make up most of an agent turn's JSON.
fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some((w, after)) = rest.split_first_chunk::<8>() {
        let m = escapes(u64::from_le_bytes(*w));
        out.extend_from_slice(w);
        if m == 0 {
            rest = after;
            continue;
        }
        // Keep the `k` bytes before the first byte to escape. `k < 8`: a
        // flag is one of the word's eight high bits; and the eight bytes
        // just copied are there to cut.
        let k = (m.trailing_zeros() / 8) as usize;
        out.truncate(out.len() - (8 - k));
        escape(out, w[k]);
        rest = rest.get(k + 1..).unwrap_or_default();
    }
    for &b in rest {
        if ESCAPE[usize::from(b)] == 0 {
            out.push(b);
        } else {
            escape(out, b);
        }
    }
    out.push(b'"');
}

/// One byte [`ESCAPE`] escapes, escaped.
fn escape(out: &mut Vec<u8>, b: u8) {
    let e = ESCAPE[usize::from(b)];
    if e == b'u' {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let hex = |n: u8| HEX[usize::from(n & 0xf)];
        out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b)]);
    } else {
        out.extend_from_slice(&[b'\\', e]);
    }
}

/// The high bit of each byte of `w` (little-endian) that is a control
/// character, `"` or `\\` (the bytes [`ESCAPE`] escapes), by the classic
/// "has a byte less than n" word test (a byte equal to `c` is a byte of
/// `w ^ c..` less than 1). A subtraction borrows upward only from a byte
/// that is flagged rightly, so a byte can be flagged wrongly only above one
/// flagged rightly: the lowest flag is always a byte to escape, and no
/// flag means none.
fn escapes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let control = w.wrapping_sub(ONES * 0x20);
    let quote = (w ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (w ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    // `w ^ c` has `w`'s high bits, `"` and `\\` being ASCII.
    (control | quote | backslash) & !w & HIGH
}

/// `,"key":` (or `"key":` first in its object) for a key that needs no
/// escape: the views' own key names.
fn key(out: &mut Vec<u8>, first: bool, k: &str) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A serde value (a number, a tree) as serde_json writes it.
fn serde(out: &mut Vec<u8>, v: &impl serde::Serialize) -> Result<(), WireError> {
    serde_json::to_writer(out, v).map_err(|e| WireError::Unknown(e.to_string()))
}

/// `{"key":<value>}`.
fn one(
    out: &mut Vec<u8>,
    k: &str,
    value: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    out.push(b'{');
    key(out, true, k);
    value(out)?;
    out.push(b'}');
    Ok(())
}

/// `[<item>,...]`.
fn list<T>(
    out: &mut Vec<u8>,
    items: &[T],
    item: impl FnMut(&mut Vec<u8>, &T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    seq(out, (b'[', b']'), items, item)
}

/// `items` written by `item` between `open` and `close`, comma-separated.
fn seq<T>(
    out: &mut Vec<u8>,
    (open, close): (u8, u8),
    items: &[T],
    mut item: impl FnMut(&mut Vec<u8>, &T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    out.push(open);
    for (i, t) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, t)?;
    }
    out.push(close);
    Ok(())
}

/// `{"key":"<s>"}`.
fn one_str(out: &mut Vec<u8>, k: &str, s: &str) -> Result<(), WireError> {
    one(out, k, |out| {
        string(out, s);
        Ok(())
    })
}

/// A Smithy document, object keys sorted, so equal documents give equal
/// text (the SDK keeps them in a hash map).
pub(crate) struct Doc<'a>(pub &'a Document);

impl View for Doc<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self.0 {
            Document::Null => out.extend_from_slice(b"null"),
            Document::Bool(true) => out.extend_from_slice(b"true"),
            Document::Bool(false) => out.extend_from_slice(b"false"),
            Document::Number(Number::PosInt(u)) => serde(out, u)?,
            Document::Number(Number::NegInt(i)) => serde(out, i)?,
            // Not finite: `null`, as JSON has no such number.
            Document::Number(Number::Float(f)) => serde(out, f)?,
            Document::String(t) => string(out, t),
            Document::Array(a) => list(out, a, |out, d| Doc(d).put(out))?,
            // The few keys of a tool's input or a schema level, sorted in
            // an array on the stack.
            Document::Object(o) if o.len() <= 8 => {
                let mut buf: [(&str, &Document); 8] = [("", self.0); 8];
                for (slot, (k, v)) in buf.iter_mut().zip(o) {
                    *slot = (k, v);
                }
                object(out, buf.get_mut(..o.len()).unwrap_or_default())?;
            }
            Document::Object(o) => {
                let mut keys: Vec<(&str, &Document)> =
                    o.iter().map(|(k, v)| (k.as_str(), v)).collect();
                object(out, &mut keys)?;
            }
        }
        Ok(())
    }
}

/// A document object from its entries, keys sorted (so equal documents
/// give equal text, whatever their map's order).
fn object(out: &mut Vec<u8>, keys: &mut [(&str, &Document)]) -> Result<(), WireError> {
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    seq(out, (b'{', b'}'), keys, |out, (k, v)| {
        string(out, k);
        out.push(b':');
        Doc(v).put(out)
    })
}

/// A message: `{"role", "content"}`.
pub(crate) struct Msg<'a>(pub &'a Message, pub Binary);

impl View for Msg<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        write_message(out, self.0, self.1, |_| {})
    }
}

/// Appends what [`Msg`] writes to `out` a block at a time, telling `each`
/// every block's byte range in the message's text (counted from where the
/// message starts in `out`), in order: for a reader that needs
/// the message's text and its blocks' own texts (the estimate counts a tool
/// use by its JSON, the fingerprint hashes the message) from one render.
/// On an error `out` may hold part of the message.
pub(crate) fn write_message(
    out: &mut Vec<u8>,
    msg: &Message,
    bin: Binary,
    mut each: impl FnMut(std::ops::Range<usize>),
) -> Result<(), WireError> {
    let base = out.len();
    out.push(b'{');
    key(out, true, "role");
    string(out, msg.role().as_str());
    key(out, false, "content");
    list(out, msg.content(), |out, b| {
        let start = out.len() - base;
        Block(b, bin).put(out)?;
        each(start..out.len() - base);
        Ok(())
    })?;
    out.push(b'}');
    Ok(())
}

/// One content block, a one-key object naming its variant.
pub(crate) struct Block<'a>(pub &'a ContentBlock, pub Binary);

impl View for Block<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self.0 {
            ContentBlock::Text(t) => one_str(out, "text", t),
            ContentBlock::ToolUse(t) => one(out, "toolUse", |out| ToolUse(t).put(out)),
            ContentBlock::ToolResult(t) => {
                one(out, "toolResult", |out| ToolResult(t, self.1).put(out))
            }
            ContentBlock::CachePoint(p) => one(out, "cachePoint", |out| CachePoint(p).put(out)),
            other => serde(out, &block_tree(other, self.1).map_err(from_tree)?),
        }
    }
}

/// A cache point: `{"type", "ttl"?}`.
pub(crate) struct CachePoint<'a>(pub &'a CachePointBlock);

impl View for CachePoint<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(b'{');
        key(out, true, "type");
        string(out, self.0.r#type().as_str());
        if let Some(ttl) = self.0.ttl() {
            key(out, false, "ttl");
            string(out, CacheTtl::as_str(ttl));
        }
        out.push(b'}');
        Ok(())
    }
}

struct ToolUse<'a>(&'a ToolUseBlock);

impl View for ToolUse<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let t = self.0;
        out.push(b'{');
        key(out, true, "toolUseId");
        string(out, t.tool_use_id());
        key(out, false, "name");
        string(out, t.name());
        key(out, false, "input");
        Doc(t.input()).put(out)?;
        if let Some(ty) = t.r#type() {
            key(out, false, "type");
            string(out, ty.as_str());
        }
        out.push(b'}');
        Ok(())
    }
}

struct ToolResult<'a>(&'a ToolResultBlock, Binary);

impl View for ToolResult<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let (t, bin) = (self.0, self.1);
        out.push(b'{');
        key(out, true, "toolUseId");
        string(out, t.tool_use_id());
        key(out, false, "content");
        list(out, t.content(), |out, c| {
            ToolResultContent(c, bin).put(out)
        })?;
        if let Some(status) = t.status() {
            key(out, false, "status");
            string(out, status.as_str());
        }
        if let Some(ty) = t.r#type() {
            key(out, false, "type");
            string(out, ty);
        }
        out.push(b'}');
        Ok(())
    }
}

struct ToolResultContent<'a>(&'a ToolResultContentBlock, Binary);

impl View for ToolResultContent<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        use super::content::video_to_json;
        use super::content::{document_block_to_json, image_to_json, search_result_to_json};
        let bin = self.1;
        let (k, tree) = match self.0 {
            ToolResultContentBlock::Json(d) => return one(out, "json", |out| Doc(d).put(out)),
            ToolResultContentBlock::Text(t) => return one_str(out, "text", t),
            ToolResultContentBlock::Image(i) => ("image", image_to_json(i, bin)),
            ToolResultContentBlock::Document(d) => ("document", document_block_to_json(d, bin)),
            ToolResultContentBlock::Video(v) => ("video", video_to_json(v, bin)),
            ToolResultContentBlock::SearchResult(r) => {
                ("searchResult", Ok(search_result_to_json(r)))
            }
            _ => return Err(WireError::Unknown("tool result content".into())),
        };
        let tree = tree.map_err(from_tree)?;
        one(out, k, |out| serde(out, &tree))
    }
}

/// System blocks: an array of one-key objects.
pub(crate) struct System<'a>(pub &'a [SystemContentBlock], pub Binary);

impl View for System<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let bin = self.1;
        list(out, self.0, |out, b| match b {
            SystemContentBlock::Text(t) => one_str(out, "text", t),
            SystemContentBlock::GuardContent(g) => {
                let tree = super::content::guard_to_json(g, bin).map_err(from_tree)?;
                one(out, "guardContent", |out| serde(out, &tree))
            }
            SystemContentBlock::CachePoint(c) => {
                one(out, "cachePoint", |out| CachePoint(c).put(out))
            }
            _ => Err(WireError::Unknown("system block".into())),
        })
    }
}

/// A tool configuration: `{"tools", "toolChoice"?}`.
pub(crate) struct Tools<'a>(pub &'a ToolConfiguration);

impl View for Tools<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(b'{');
        key(out, true, "tools");
        list(out, self.0.tools(), |out, t| ToolView(t).put(out))?;
        if let Some(c) = self.0.tool_choice() {
            key(out, false, "toolChoice");
            Choice(c).put(out)?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// A tool choice, a one-key object naming its variant.
pub(crate) struct Choice<'a>(pub &'a ToolChoice);

impl View for Choice<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self.0 {
            ToolChoice::Auto(_) => out.extend_from_slice(b"{\"auto\":{}}"),
            ToolChoice::Any(_) => out.extend_from_slice(b"{\"any\":{}}"),
            ToolChoice::Tool(t) => one(out, "tool", |out| one_str(out, "name", t.name()))?,
            _ => return Err(WireError::Unknown("tool choice".into())),
        }
        Ok(())
    }
}

/// One tool, a one-key object naming its variant.
pub(crate) struct ToolView<'a>(pub &'a Tool);

impl View for ToolView<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self.0 {
            Tool::ToolSpec(spec) => one(out, "toolSpec", |out| Spec(spec).put(out)),
            Tool::SystemTool(t) => one(out, "systemTool", |out| one_str(out, "name", t.name())),
            Tool::CachePoint(c) => one(out, "cachePoint", |out| CachePoint(c).put(out)),
            _ => Err(WireError::Unknown("tool".into())),
        }
    }
}

struct Spec<'a>(&'a ToolSpecification);

impl View for Spec<'_> {
    fn put(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let t = self.0;
        out.push(b'{');
        key(out, true, "name");
        string(out, t.name());
        if let Some(d) = t.description() {
            key(out, false, "description");
            string(out, d);
        }
        match t.input_schema() {
            None => {}
            Some(ToolInputSchema::Json(d)) => {
                key(out, false, "inputSchema");
                one(out, "json", |out| Doc(d).put(out))?;
            }
            Some(_) => return Err(WireError::Unknown("tool input schema".into())),
        }
        if let Some(strict) = t.strict() {
            key(out, false, "strict");
            out.extend_from_slice(if strict { b"true" } else { b"false" });
        }
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{string, Doc, View};
    use aws_smithy_types::Document;

    /// Objects are written with their keys sorted, on the stack (up to 8
    /// keys) and past it, nested too.
    #[test]
    fn document_objects_have_sorted_keys() {
        for n in [0usize, 1, 2, 8, 9, 20] {
            // Keys inserted in reverse order, one value a nested object.
            let keys: Vec<String> = (0..n).rev().map(|i| format!("k{i:02}")).collect();
            let mut map = std::collections::HashMap::new();
            for k in &keys {
                let inner = [
                    ("z".to_string(), Document::from(1u64)),
                    ("a".to_string(), Document::from(k.as_str())),
                ];
                map.insert(k.clone(), Document::Object(inner.into_iter().collect()));
            }
            let mut out = Vec::new();
            Doc(&Document::Object(map)).put(&mut out).unwrap();
            let mut sorted = keys.clone();
            sorted.sort();
            let want = sorted
                .iter()
                .map(|k| format!("\"{k}\":{{\"a\":\"{k}\",\"z\":1}}"))
                .collect::<Vec<_>>()
                .join(",");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{{{want}}}"),
                "{n} keys"
            );
        }
    }

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    /// Every ASCII character (the control ones, `"` and `\\` among them)
    /// at every position of the first three eight-byte windows and the
    /// tail, in ASCII and in multi-byte text: escaped as serde_json does.
    #[test]
    fn escapes_as_serde_json_at_every_position() {
        for filler in ["a", "é", "日"] {
            for len in [1, 7, 8, 9, 17, 26] {
                for at in 0..len {
                    for c in (0u8..0x80).map(char::from) {
                        let mut chars: Vec<char> = filler.repeat(len).chars().collect();
                        chars[at] = c;
                        let s: String = chars.into_iter().collect();
                        assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
                    }
                }
            }
        }
    }

    /// Strings with many escapes, runs of them and none, long and short,
    /// from a fixed pseudo-random sequence.
    #[test]
    fn escapes_mixed_text_as_serde_json() {
        let alphabet: Vec<char> = "ab \"\\\n\t\r\u{1}\u{1f}\u{7f}é日🦀".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..300 {
            let s: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
        }
        let page = "plain text with no escapes at all, ".repeat(100);
        assert_eq!(ours(&page), serde_json::to_string(&page).unwrap());
    }
}
