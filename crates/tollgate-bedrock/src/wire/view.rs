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
//! The same views measure their text without writing it ([`size_of`],
//! through [`Out`]): what only the estimate reads (a tool configuration)
//! is counted by its size when the estimator counts by size. The walk is
//! the views' own; the measure of a string, counted apart, is held to
//! the string written by tests (`size_is_the_texts`, and every escape
//! test's strings).
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
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError>;
}

/// Where a view writes: a byte buffer, or a [`TextSize`] that only measures
/// the text (for an estimate that counts a text by its size, without
/// writing it).
pub(crate) trait Out {
    /// Appends ASCII that needs no escape: punctuation, literals, the
    /// views' own key names.
    fn ascii(&mut self, b: &[u8]);
    /// Appends `s` as a JSON string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str);
    /// Appends a serde value (a number, a tree) as serde_json writes it.
    fn serde(&mut self, v: &impl serde::Serialize) -> Result<(), WireError>;
    /// How much has been written.
    fn len(&self) -> usize;
    /// A document object's keys are written sorted; false only for an
    /// `Out` whose result does not depend on their order (a size).
    const ORDERED: bool;
}

impl Out for Vec<u8> {
    fn ascii(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    fn string(&mut self, s: &str) {
        string(self, s);
    }
    fn serde(&mut self, v: &impl serde::Serialize) -> Result<(), WireError> {
        serde_json::to_writer(self, v).map_err(|e| WireError::Unknown(e.to_string()))
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    const ORDERED: bool = true;
}

/// The size of a text: what a view measures without writing, and what
/// [`TokenEstimator::sized_tokens`](crate::TokenEstimator::sized_tokens)
/// counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TextSize {
    /// Its length in bytes (UTF-8).
    pub bytes: usize,
    /// Its length in characters (Unicode scalar values).
    pub chars: usize,
}

impl TextSize {
    /// The size of `text`.
    pub fn of(text: &str) -> TextSize {
        TextSize {
            bytes: text.len(),
            chars: text.chars().count(),
        }
    }
}

impl Out for TextSize {
    fn ascii(&mut self, b: &[u8]) {
        self.bytes += b.len();
        self.chars += b.len();
    }
    fn string(&mut self, s: &str) {
        // The quotes, each byte (a character unless it continues one) and
        // what escaping adds: one byte for a short escape, five for
        // `\u00XX`. Eight bytes at a time while they are ASCII with none
        // to escape.
        let (mut extra, mut continuing) = (0, 0);
        let mut rest = s.as_bytes();
        while let Some((w, after)) = rest.split_first_chunk::<8>() {
            let w = u64::from_le_bytes(*w);
            if w & 0x8080_8080_8080_8080 != 0 || escapes(w) != 0 {
                break;
            }
            rest = after;
        }
        for &b in rest {
            extra += match ESCAPE[usize::from(b)] {
                0 => 0,
                b'u' => 5,
                _ => 1,
            };
            continuing += usize::from(b & 0xc0 == 0x80);
        }
        self.bytes += s.len() + 2 + extra;
        self.chars += s.len() - continuing + 2 + extra;
    }
    fn serde(&mut self, v: &impl serde::Serialize) -> Result<(), WireError> {
        serde_json::to_writer(Measured(self), v).map_err(|e| WireError::Unknown(e.to_string()))
    }
    fn len(&self) -> usize {
        self.bytes
    }
    const ORDERED: bool = false;
}

/// serde_json's output measured: it writes UTF-8, so every byte that does
/// not continue a character starts one.
struct Measured<'a>(&'a mut TextSize);

impl std::io::Write for Measured<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.bytes += buf.len();
        self.0.chars += buf.iter().filter(|&&b| b & 0xc0 != 0x80).count();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of a view's text, without writing it.
pub(crate) fn size_of(v: &impl View) -> Result<TextSize, WireError> {
    let mut size = TextSize::default();
    v.put(&mut size)?;
    Ok(size)
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
fn key(out: &mut impl Out, first: bool, k: &str) {
    out.ascii(if first { b"\"" } else { b",\"" });
    out.ascii(k.as_bytes());
    out.ascii(b"\":");
}

/// `{"key":<value>}`.
fn one<O: Out>(
    out: &mut O,
    k: &str,
    value: impl FnOnce(&mut O) -> Result<(), WireError>,
) -> Result<(), WireError> {
    out.ascii(b"{");
    key(out, true, k);
    value(out)?;
    out.ascii(b"}");
    Ok(())
}

/// `[<item>,...]`.
fn list<O: Out, T>(
    out: &mut O,
    items: &[T],
    item: impl FnMut(&mut O, &T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    seq(out, (b"[", b"]"), items, item)
}

/// `items` written by `item` between `open` and `close`, comma-separated.
fn seq<O: Out, T>(
    out: &mut O,
    (open, close): (&[u8], &[u8]),
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut O, T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    out.ascii(open);
    for (i, t) in items.into_iter().enumerate() {
        if i > 0 {
            out.ascii(b",");
        }
        item(out, t)?;
    }
    out.ascii(close);
    Ok(())
}

/// `{"key":"<s>"}`.
fn one_str(out: &mut impl Out, k: &str, s: &str) -> Result<(), WireError> {
    one(out, k, |out| {
        out.string(s);
        Ok(())
    })
}

/// A Smithy document, object keys sorted, so equal documents give equal
/// text (the SDK keeps them in a hash map).
pub(crate) struct Doc<'a>(pub &'a Document);

impl View for Doc<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        match self.0 {
            Document::Null => out.ascii(b"null"),
            Document::Bool(true) => out.ascii(b"true"),
            Document::Bool(false) => out.ascii(b"false"),
            Document::Number(Number::PosInt(u)) => out.serde(u)?,
            Document::Number(Number::NegInt(i)) => out.serde(i)?,
            // Not finite: `null`, as JSON has no such number.
            Document::Number(Number::Float(f)) => out.serde(f)?,
            Document::String(t) => out.string(t),
            Document::Array(a) => list(out, a, |out, d| Doc(d).put(out))?,
            // Measured only: the order does not change the size.
            Document::Object(o) if !O::ORDERED => {
                seq(out, (b"{", b"}"), o, |out, (k, v)| entry(out, k, v))?;
            }
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
fn object(out: &mut impl Out, keys: &mut [(&str, &Document)]) -> Result<(), WireError> {
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    seq(out, (b"{", b"}"), &*keys, |out, (k, v)| entry(out, k, v))
}

/// `"key":<value>` of a document object.
fn entry(out: &mut impl Out, k: &str, v: &Document) -> Result<(), WireError> {
    out.string(k);
    out.ascii(b":");
    Doc(v).put(out)
}

/// A message: `{"role", "content"}`.
pub(crate) struct Msg<'a>(pub &'a Message, pub Binary);

impl View for Msg<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
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
    out: &mut impl Out,
    msg: &Message,
    bin: Binary,
    mut each: impl FnMut(std::ops::Range<usize>),
) -> Result<(), WireError> {
    let base = out.len();
    out.ascii(b"{");
    key(out, true, "role");
    out.string(msg.role().as_str());
    key(out, false, "content");
    list(out, msg.content(), |out, b| {
        let start = out.len() - base;
        Block(b, bin).put(out)?;
        each(start..out.len() - base);
        Ok(())
    })?;
    out.ascii(b"}");
    Ok(())
}

/// One content block, a one-key object naming its variant.
pub(crate) struct Block<'a>(pub &'a ContentBlock, pub Binary);

impl View for Block<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        match self.0 {
            ContentBlock::Text(t) => one_str(out, "text", t),
            ContentBlock::ToolUse(t) => one(out, "toolUse", |out| ToolUse(t).put(out)),
            ContentBlock::ToolResult(t) => {
                one(out, "toolResult", |out| ToolResult(t, self.1).put(out))
            }
            ContentBlock::CachePoint(p) => one(out, "cachePoint", |out| CachePoint(p).put(out)),
            other => out.serde(&block_tree(other, self.1).map_err(from_tree)?),
        }
    }
}

/// A cache point: `{"type", "ttl"?}`.
pub(crate) struct CachePoint<'a>(pub &'a CachePointBlock);

impl View for CachePoint<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        out.ascii(b"{");
        key(out, true, "type");
        out.string(self.0.r#type().as_str());
        if let Some(ttl) = self.0.ttl() {
            key(out, false, "ttl");
            out.string(CacheTtl::as_str(ttl));
        }
        out.ascii(b"}");
        Ok(())
    }
}

struct ToolUse<'a>(&'a ToolUseBlock);

impl View for ToolUse<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        let t = self.0;
        out.ascii(b"{");
        key(out, true, "toolUseId");
        out.string(t.tool_use_id());
        key(out, false, "name");
        out.string(t.name());
        key(out, false, "input");
        Doc(t.input()).put(out)?;
        if let Some(ty) = t.r#type() {
            key(out, false, "type");
            out.string(ty.as_str());
        }
        out.ascii(b"}");
        Ok(())
    }
}

struct ToolResult<'a>(&'a ToolResultBlock, Binary);

impl View for ToolResult<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        let (t, bin) = (self.0, self.1);
        out.ascii(b"{");
        key(out, true, "toolUseId");
        out.string(t.tool_use_id());
        key(out, false, "content");
        list(out, t.content(), |out, c| {
            ToolResultContent(c, bin).put(out)
        })?;
        if let Some(status) = t.status() {
            key(out, false, "status");
            out.string(status.as_str());
        }
        if let Some(ty) = t.r#type() {
            key(out, false, "type");
            out.string(ty);
        }
        out.ascii(b"}");
        Ok(())
    }
}

struct ToolResultContent<'a>(&'a ToolResultContentBlock, Binary);

impl View for ToolResultContent<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
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
        one(out, k, |out| out.serde(&tree))
    }
}

/// System blocks: an array of one-key objects.
pub(crate) struct System<'a>(pub &'a [SystemContentBlock], pub Binary);

impl View for System<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        let bin = self.1;
        list(out, self.0, |out, b| match b {
            SystemContentBlock::Text(t) => one_str(out, "text", t),
            SystemContentBlock::GuardContent(g) => {
                let tree = super::content::guard_to_json(g, bin).map_err(from_tree)?;
                one(out, "guardContent", |out| out.serde(&tree))
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
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        out.ascii(b"{");
        key(out, true, "tools");
        list(out, self.0.tools(), |out, t| ToolView(t).put(out))?;
        if let Some(c) = self.0.tool_choice() {
            key(out, false, "toolChoice");
            Choice(c).put(out)?;
        }
        out.ascii(b"}");
        Ok(())
    }
}

/// A tool choice, a one-key object naming its variant.
pub(crate) struct Choice<'a>(pub &'a ToolChoice);

impl View for Choice<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        match self.0 {
            ToolChoice::Auto(_) => out.ascii(b"{\"auto\":{}}"),
            ToolChoice::Any(_) => out.ascii(b"{\"any\":{}}"),
            ToolChoice::Tool(t) => one(out, "tool", |out| one_str(out, "name", t.name()))?,
            _ => return Err(WireError::Unknown("tool choice".into())),
        }
        Ok(())
    }
}

/// One tool, a one-key object naming its variant.
pub(crate) struct ToolView<'a>(pub &'a Tool);

impl View for ToolView<'_> {
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
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
    fn put<O: Out>(&self, out: &mut O) -> Result<(), WireError> {
        let t = self.0;
        out.ascii(b"{");
        key(out, true, "name");
        out.string(t.name());
        if let Some(d) = t.description() {
            key(out, false, "description");
            out.string(d);
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
            out.ascii(if strict { b"true" } else { b"false" });
        }
        out.ascii(b"}");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{size_of, string, Doc, TextSize, View};
    use aws_smithy_types::{Document, Number};

    /// A document of every kind of value from a fixed pseudo-random
    /// sequence: nested objects (up to and past eight keys) and arrays,
    /// integers of both signs, floats (not finite ones too), strings with
    /// escapes and characters of one to four bytes.
    fn document(x: &mut u64, depth: u32) -> Document {
        let next = |x: &mut u64| {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x
        };
        let pick = next(x) % if depth == 0 { 7 } else { 9 };
        let text = |n: u64| -> String {
            let alphabet: Vec<char> = "ab \"\\\n\t\u{1}\u{7f}é日🦀".chars().collect();
            (0..n % 13)
                .map(|i| alphabet[((n >> 4) + i * 7) as usize % alphabet.len()])
                .collect()
        };
        match pick {
            0 => Document::Null,
            1 => Document::Bool(next(x) % 2 == 0),
            2 => Document::Number(Number::PosInt(next(x))),
            3 => Document::Number(Number::NegInt(-((next(x) >> 2) as i64))),
            4 => Document::Number(Number::Float(match next(x) % 4 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                _ => (next(x) as f64) / 1e7 - 5e11,
            })),
            5 | 6 => Document::String(text(next(x))),
            7 => Document::Array((0..next(x) % 5).map(|_| document(x, depth - 1)).collect()),
            _ => {
                let n = next(x) % 12;
                Document::Object(
                    (0..n)
                        .map(|i| (format!("{}{i}", text(next(x))), document(x, depth - 1)))
                        .collect(),
                )
            }
        }
    }

    /// A view measured is the size of its text, bytes and characters,
    /// whatever the document holds.
    #[test]
    fn size_is_the_texts() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..500 {
            let d = document(&mut x, 4);
            let mut out = Vec::new();
            Doc(&d).put(&mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert_eq!(size_of(&Doc(&d)).unwrap(), TextSize::of(&text), "{text}");
        }
    }

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

    /// `s` escaped; its size measured (not written) checked against it.
    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            size_of(&Doc(&Document::from(s))).unwrap(),
            TextSize::of(&text),
            "{s:?}"
        );
        text
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
