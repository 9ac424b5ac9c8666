//! Messages and their content blocks, every variant of the locked SDK.
//!
//! Longer than the crate's other files on purpose: each variant's mapping
//! to JSON sits beside its mapping back, so a variant a new SDK adds is
//! written (and reviewed against its round-trip test) in one place.

use super::view::{to_tree, Block, Msg};
use super::{
    array, blob, blob_from, build_err, document_from_json, field, invalid, one, opt_i32,
    opt_string, string, union, Binary, Obj, WireError,
};
use aws_sdk_bedrockruntime::types::{
    AudioBlock, AudioSource, CachePointBlock, CachePointType, CacheTtl, Citation,
    CitationGeneratedContent, CitationLocation, CitationSourceContent, CitationsConfig,
    CitationsContentBlock, ContentBlock, ConversationRole, DocumentBlock, DocumentCharLocation,
    DocumentChunkLocation, DocumentContentBlock, DocumentPageLocation, DocumentSource, ErrorBlock,
    GuardrailConverseContentBlock, GuardrailConverseImageBlock, GuardrailConverseImageSource,
    GuardrailConverseTextBlock, ImageBlock, ImageSource, Message, ReasoningContentBlock,
    ReasoningTextBlock, S3Location, SearchResultBlock, SearchResultContentBlock,
    SearchResultLocation, ToolAdditionBlock, ToolReference, ToolRemovalBlock, ToolResultBlock,
    ToolResultContentBlock, ToolUseBlock, VideoBlock, VideoSource, WebLocation,
};
use serde_json::Value as Json;

/// A message as Converse JSON (`{"role", "content"}`).
pub fn message_to_json(m: &Message, bin: Binary) -> Result<Json, WireError> {
    to_tree(&Msg(m, bin))
}

/// A message from Converse JSON.
pub fn message_from_json(v: &Json) -> Result<Message, WireError> {
    let role = ConversationRole::from(string(v, "role", "message")?.as_str());
    let mut b = Message::builder().role(role);
    for (i, c) in array(v, "content", "message")?.iter().enumerate() {
        b = b.content(block_from_json(c, &format!("content[{i}]"))?);
    }
    b.build().map_err(|e| build_err("message", e))
}

pub(crate) fn cache_point_from_json(v: &Json, at: &str) -> Result<CachePointBlock, WireError> {
    CachePointBlock::builder()
        .r#type(CachePointType::from(string(v, "type", at)?.as_str()))
        .set_ttl(opt_string(v, "ttl").map(|t| CacheTtl::from(t.as_str())))
        .build()
        .map_err(|e| build_err(at, e))
}

/// The tree mapping of the blocks the views leave to it (see `view.rs`):
/// images, documents, video, audio, reasoning, guard content, citations,
/// search results and tool additions or removals.
pub(super) fn block_tree(c: &ContentBlock, bin: Binary) -> Result<Json, WireError> {
    Ok(match c {
        ContentBlock::Text(_)
        | ContentBlock::ToolUse(_)
        | ContentBlock::ToolResult(_)
        | ContentBlock::CachePoint(_) => to_tree(&Block(c, bin))?,
        ContentBlock::Image(i) => one("image", image_to_json(i, bin)?),
        ContentBlock::Document(d) => one("document", document_block_to_json(d, bin)?),
        ContentBlock::Video(v) => one("video", video_to_json(v, bin)?),
        ContentBlock::Audio(a) => one("audio", audio_to_json(a, bin)?),
        ContentBlock::ReasoningContent(r) => one("reasoningContent", reasoning_to_json(r, bin)?),
        ContentBlock::GuardContent(g) => one("guardContent", guard_to_json(g, bin)?),
        ContentBlock::CitationsContent(c) => one("citationsContent", citations_to_json(c)?),
        ContentBlock::SearchResult(s) => one("searchResult", search_result_to_json(s)),
        ContentBlock::ToolAddition(t) => one("toolAddition", tool_ref_holder(t.tool())),
        ContentBlock::ToolRemoval(t) => one("toolRemoval", tool_ref_holder(t.tool())),
        _ => return Err(WireError::Unknown("content block".into())),
    })
}

fn block_from_json(v: &Json, at: &str) -> Result<ContentBlock, WireError> {
    let (k, b) = union(v, at)?;
    let at = &format!("{at}.{k}");
    Ok(match k {
        "text" => ContentBlock::Text(text(b, at)?),
        "image" => ContentBlock::Image(image_from_json(b, at)?),
        "document" => ContentBlock::Document(document_block_from_json(b, at)?),
        "video" => ContentBlock::Video(video_from_json(b, at)?),
        "audio" => ContentBlock::Audio(audio_from_json(b, at)?),
        "toolUse" => ContentBlock::ToolUse(tool_use_from_json(b, at)?),
        "toolResult" => ContentBlock::ToolResult(tool_result_from_json(b, at)?),
        "reasoningContent" => ContentBlock::ReasoningContent(reasoning_from_json(b, at)?),
        "guardContent" => ContentBlock::GuardContent(guard_from_json(b, at)?),
        "citationsContent" => ContentBlock::CitationsContent(citations_from_json(b, at)?),
        "searchResult" => ContentBlock::SearchResult(search_result_from_json(b, at)?),
        "cachePoint" => ContentBlock::CachePoint(cache_point_from_json(b, at)?),
        "toolAddition" => ContentBlock::ToolAddition(
            ToolAdditionBlock::builder()
                .set_tool(tool_ref_from(b))
                .build(),
        ),
        "toolRemoval" => ContentBlock::ToolRemoval(
            ToolRemovalBlock::builder()
                .set_tool(tool_ref_from(b))
                .build(),
        ),
        other => return Err(invalid(at, format!("unknown content block `{other}`"))),
    })
}

fn text(v: &Json, at: &str) -> Result<String, WireError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(at, "expected a string"))
}

fn s3_to_json(s: &S3Location) -> Json {
    Obj::new()
        .put("uri", s.uri())
        .opt("bucketOwner", s.bucket_owner())
        .done()
}

fn s3_from_json(v: &Json, at: &str) -> Result<S3Location, WireError> {
    S3Location::builder()
        .uri(string(v, "uri", at)?)
        .set_bucket_owner(opt_string(v, "bucketOwner"))
        .build()
        .map_err(|e| build_err(at, e))
}

fn error_block(e: Option<&ErrorBlock>) -> Option<Json> {
    e.map(|e| Obj::new().opt("message", e.message()).done())
}

fn error_block_from(v: &Json) -> Option<ErrorBlock> {
    v.get("error").map(|e| {
        ErrorBlock::builder()
            .set_message(opt_string(e, "message"))
            .build()
    })
}

/// A media source union (`bytes` or `s3Location`), shared by image,
/// video and audio.
fn media_source(
    bytes: Option<&aws_smithy_types::Blob>,
    s3: Option<&S3Location>,
    bin: Binary,
) -> Option<Json> {
    match (bytes, s3) {
        (Some(b), _) => Some(one("bytes", super::blob(b, bin))),
        (None, Some(s)) => Some(one("s3Location", s3_to_json(s))),
        (None, None) => None,
    }
}

enum Media {
    Bytes(aws_smithy_types::Blob),
    S3(S3Location),
}

fn media_from(v: &Json, at: &str) -> Result<Option<Media>, WireError> {
    let Some(src) = v.get("source") else {
        return Ok(None);
    };
    let at = &format!("{at}.source");
    match union(src, at)? {
        ("bytes", b) => Ok(Some(Media::Bytes(blob_from(b, at)?))),
        ("s3Location", s) => Ok(Some(Media::S3(s3_from_json(s, at)?))),
        (other, _) => Err(invalid(at, format!("unknown source `{other}`"))),
    }
}

pub(super) fn image_to_json(i: &ImageBlock, bin: Binary) -> Result<Json, WireError> {
    let src = match i.source() {
        None => None,
        Some(ImageSource::Bytes(b)) => media_source(Some(b), None, bin),
        Some(ImageSource::S3Location(s)) => media_source(None, Some(s), bin),
        Some(_) => return Err(WireError::Unknown("image source".into())),
    };
    Ok(Obj::new()
        .put("format", i.format().as_str())
        .opt("source", src)
        .opt("error", error_block(i.error()))
        .done())
}

fn image_from_json(v: &Json, at: &str) -> Result<ImageBlock, WireError> {
    let source = media_from(v, at)?.map(|m| match m {
        Media::Bytes(b) => ImageSource::Bytes(b),
        Media::S3(s) => ImageSource::S3Location(s),
    });
    ImageBlock::builder()
        .format(string(v, "format", at)?.as_str().into())
        .set_source(source)
        .set_error(error_block_from(v))
        .build()
        .map_err(|e| build_err(at, e))
}

pub(super) fn video_to_json(i: &VideoBlock, bin: Binary) -> Result<Json, WireError> {
    let src = match i.source() {
        None => None,
        Some(VideoSource::Bytes(b)) => media_source(Some(b), None, bin),
        Some(VideoSource::S3Location(s)) => media_source(None, Some(s), bin),
        Some(_) => return Err(WireError::Unknown("video source".into())),
    };
    Ok(Obj::new()
        .put("format", i.format().as_str())
        .opt("source", src)
        .done())
}

fn video_from_json(v: &Json, at: &str) -> Result<VideoBlock, WireError> {
    let source = media_from(v, at)?.map(|m| match m {
        Media::Bytes(b) => VideoSource::Bytes(b),
        Media::S3(s) => VideoSource::S3Location(s),
    });
    VideoBlock::builder()
        .format(string(v, "format", at)?.as_str().into())
        .set_source(source)
        .build()
        .map_err(|e| build_err(at, e))
}

fn audio_to_json(i: &AudioBlock, bin: Binary) -> Result<Json, WireError> {
    let src = match i.source() {
        None => None,
        Some(AudioSource::Bytes(b)) => media_source(Some(b), None, bin),
        Some(AudioSource::S3Location(s)) => media_source(None, Some(s), bin),
        Some(_) => return Err(WireError::Unknown("audio source".into())),
    };
    Ok(Obj::new()
        .put("format", i.format().as_str())
        .opt("source", src)
        .opt("error", error_block(i.error()))
        .done())
}

fn audio_from_json(v: &Json, at: &str) -> Result<AudioBlock, WireError> {
    let source = media_from(v, at)?.map(|m| match m {
        Media::Bytes(b) => AudioSource::Bytes(b),
        Media::S3(s) => AudioSource::S3Location(s),
    });
    AudioBlock::builder()
        .format(string(v, "format", at)?.as_str().into())
        .set_source(source)
        .set_error(error_block_from(v))
        .build()
        .map_err(|e| build_err(at, e))
}

fn citations_config(c: Option<&CitationsConfig>) -> Option<Json> {
    c.map(|c| one("enabled", c.enabled()))
}

fn citations_config_from(v: &Json, at: &str) -> Result<Option<CitationsConfig>, WireError> {
    let Some(c) = v.get("citations") else {
        return Ok(None);
    };
    let enabled = field(c, "enabled", at)?
        .as_bool()
        .ok_or_else(|| invalid(at, "`citations.enabled` must be a boolean"))?;
    CitationsConfig::builder()
        .enabled(enabled)
        .build()
        .map(Some)
        .map_err(|e| build_err(at, e))
}

pub(super) fn document_block_to_json(d: &DocumentBlock, bin: Binary) -> Result<Json, WireError> {
    let src = match d.source() {
        None => None,
        Some(DocumentSource::Bytes(b)) => Some(one("bytes", blob(b, bin))),
        Some(DocumentSource::S3Location(s)) => Some(one("s3Location", s3_to_json(s))),
        Some(DocumentSource::Text(t)) => Some(one("text", t.as_str())),
        Some(DocumentSource::Content(c)) => {
            let parts = c
                .iter()
                .map(|p| match p {
                    DocumentContentBlock::Text(t) => Ok(one("text", t.as_str())),
                    _ => Err(WireError::Unknown("document content".into())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(one("content", parts))
        }
        Some(_) => return Err(WireError::Unknown("document source".into())),
    };
    Ok(Obj::new()
        .put("format", d.format().as_str())
        .put("name", d.name())
        .opt("source", src)
        .opt("context", d.context())
        .opt("citations", citations_config(d.citations()))
        .done())
}

fn document_source_from(v: &Json, at: &str) -> Result<Option<DocumentSource>, WireError> {
    let Some(src) = v.get("source") else {
        return Ok(None);
    };
    let at = &format!("{at}.source");
    Ok(Some(match union(src, at)? {
        ("bytes", b) => DocumentSource::Bytes(blob_from(b, at)?),
        ("s3Location", s) => DocumentSource::S3Location(s3_from_json(s, at)?),
        ("text", t) => DocumentSource::Text(text(t, at)?),
        ("content", c) => {
            let items = c
                .as_array()
                .ok_or_else(|| invalid(at, "`content` must be an array"))?;
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                out.push(DocumentContentBlock::Text(string(it, "text", at)?));
            }
            DocumentSource::Content(out)
        }
        (other, _) => return Err(invalid(at, format!("unknown source `{other}`"))),
    }))
}

fn document_block_from_json(v: &Json, at: &str) -> Result<DocumentBlock, WireError> {
    DocumentBlock::builder()
        .format(string(v, "format", at)?.as_str().into())
        .name(string(v, "name", at)?)
        .set_source(document_source_from(v, at)?)
        .set_context(opt_string(v, "context"))
        .set_citations(citations_config_from(v, at)?)
        .build()
        .map_err(|e| build_err(at, e))
}

fn tool_use_from_json(v: &Json, at: &str) -> Result<ToolUseBlock, WireError> {
    ToolUseBlock::builder()
        .tool_use_id(string(v, "toolUseId", at)?)
        .name(string(v, "name", at)?)
        .input(document_from_json(field(v, "input", at)?))
        .set_type(opt_string(v, "type").map(|t| t.as_str().into()))
        .build()
        .map_err(|e| build_err(at, e))
}

fn tool_result_from_json(v: &Json, at: &str) -> Result<ToolResultBlock, WireError> {
    let mut b = ToolResultBlock::builder()
        .tool_use_id(string(v, "toolUseId", at)?)
        .set_status(opt_string(v, "status").map(|s| s.as_str().into()))
        .set_type(opt_string(v, "type"));
    for (i, c) in array(v, "content", at)?.iter().enumerate() {
        let at = &format!("{at}.content[{i}]");
        let (k, x) = union(c, at)?;
        b = b.content(match k {
            "json" => ToolResultContentBlock::Json(document_from_json(x)),
            "text" => ToolResultContentBlock::Text(text(x, at)?),
            "image" => ToolResultContentBlock::Image(image_from_json(x, at)?),
            "document" => ToolResultContentBlock::Document(document_block_from_json(x, at)?),
            "video" => ToolResultContentBlock::Video(video_from_json(x, at)?),
            "searchResult" => ToolResultContentBlock::SearchResult(search_result_from_json(x, at)?),
            other => {
                return Err(invalid(
                    at,
                    format!("unknown tool result content `{other}`"),
                ))
            }
        });
    }
    b.build().map_err(|e| build_err(at, e))
}

fn reasoning_to_json(r: &ReasoningContentBlock, bin: Binary) -> Result<Json, WireError> {
    Ok(match r {
        ReasoningContentBlock::ReasoningText(t) => one(
            "reasoningText",
            Obj::new()
                .put("text", t.text())
                .opt("signature", t.signature())
                .done(),
        ),
        ReasoningContentBlock::RedactedContent(b) => one("redactedContent", blob(b, bin)),
        _ => return Err(WireError::Unknown("reasoning content".into())),
    })
}

fn reasoning_from_json(v: &Json, at: &str) -> Result<ReasoningContentBlock, WireError> {
    Ok(match union(v, at)? {
        ("reasoningText", t) => ReasoningContentBlock::ReasoningText(
            ReasoningTextBlock::builder()
                .text(string(t, "text", at)?)
                .set_signature(opt_string(t, "signature"))
                .build()
                .map_err(|e| build_err(at, e))?,
        ),
        ("redactedContent", b) => ReasoningContentBlock::RedactedContent(blob_from(b, at)?),
        (other, _) => return Err(invalid(at, format!("unknown reasoning content `{other}`"))),
    })
}

pub(crate) fn guard_to_json(
    g: &GuardrailConverseContentBlock,
    bin: Binary,
) -> Result<Json, WireError> {
    Ok(match g {
        GuardrailConverseContentBlock::Text(t) => {
            let q: Option<Vec<&str>> = t
                .qualifiers
                .as_ref()
                .map(|q| q.iter().map(|x| x.as_str()).collect());
            one(
                "text",
                Obj::new().put("text", t.text()).opt("qualifiers", q).done(),
            )
        }
        GuardrailConverseContentBlock::Image(i) => {
            let src = match i.source() {
                None => None,
                Some(GuardrailConverseImageSource::Bytes(b)) => Some(one("bytes", blob(b, bin))),
                Some(_) => return Err(WireError::Unknown("guard image source".into())),
            };
            one(
                "image",
                Obj::new()
                    .put("format", i.format().as_str())
                    .opt("source", src)
                    .done(),
            )
        }
        _ => return Err(WireError::Unknown("guard content".into())),
    })
}

pub(crate) fn guard_from_json(
    v: &Json,
    at: &str,
) -> Result<GuardrailConverseContentBlock, WireError> {
    Ok(match union(v, at)? {
        ("text", t) => {
            let mut b = GuardrailConverseTextBlock::builder().text(string(t, "text", at)?);
            for q in array(t, "qualifiers", at)? {
                b = b.qualifiers(text(q, at)?.as_str().into());
            }
            GuardrailConverseContentBlock::Text(b.build().map_err(|e| build_err(at, e))?)
        }
        ("image", i) => {
            let source = match i.get("source") {
                None => None,
                Some(s) => match union(s, at)? {
                    ("bytes", b) => Some(GuardrailConverseImageSource::Bytes(blob_from(b, at)?)),
                    (other, _) => return Err(invalid(at, format!("unknown source `{other}`"))),
                },
            };
            GuardrailConverseContentBlock::Image(
                GuardrailConverseImageBlock::builder()
                    .format(string(i, "format", at)?.as_str().into())
                    .set_source(source)
                    .build()
                    .map_err(|e| build_err(at, e))?,
            )
        }
        (other, _) => return Err(invalid(at, format!("unknown guard content `{other}`"))),
    })
}

pub(super) fn search_result_to_json(s: &SearchResultBlock) -> Json {
    let content: Vec<Json> = s.content().iter().map(|c| one("text", c.text())).collect();
    Obj::new()
        .put("source", s.source())
        .put("title", s.title())
        .put("content", content)
        .opt("citations", citations_config(s.citations()))
        .done()
}

fn search_result_from_json(v: &Json, at: &str) -> Result<SearchResultBlock, WireError> {
    let mut b = SearchResultBlock::builder()
        .source(string(v, "source", at)?)
        .title(string(v, "title", at)?)
        .set_citations(citations_config_from(v, at)?);
    for c in array(v, "content", at)? {
        b = b.content(
            SearchResultContentBlock::builder()
                .text(string(c, "text", at)?)
                .build()
                .map_err(|e| build_err(at, e))?,
        );
    }
    b.build().map_err(|e| build_err(at, e))
}

fn citations_to_json(c: &CitationsContentBlock) -> Result<Json, WireError> {
    let content = c
        .content()
        .iter()
        .map(|g| match g {
            CitationGeneratedContent::Text(t) => Ok(one("text", t.as_str())),
            _ => Err(WireError::Unknown("citation content".into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let citations = c
        .citations()
        .iter()
        .map(citation_to_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Obj::new()
        .put("content", content)
        .put("citations", citations)
        .done())
}

fn citation_to_json(c: &Citation) -> Result<Json, WireError> {
    let source_content = c
        .source_content()
        .iter()
        .map(|s| match s {
            CitationSourceContent::Text(t) => Ok(one("text", t.as_str())),
            _ => Err(WireError::Unknown("citation source content".into())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let range = |i: Option<i32>, k: &str, s: Option<i32>, e: Option<i32>| {
        Obj::new().opt(k, i).opt("start", s).opt("end", e).done()
    };
    let location = match c.location() {
        None => None,
        Some(CitationLocation::DocumentChar(l)) => Some(one(
            "documentChar",
            range(l.document_index(), "documentIndex", l.start(), l.end()),
        )),
        Some(CitationLocation::DocumentChunk(l)) => Some(one(
            "documentChunk",
            range(l.document_index(), "documentIndex", l.start(), l.end()),
        )),
        Some(CitationLocation::DocumentPage(l)) => Some(one(
            "documentPage",
            range(l.document_index(), "documentIndex", l.start(), l.end()),
        )),
        Some(CitationLocation::SearchResultLocation(l)) => Some(one(
            "searchResultLocation",
            range(
                l.search_result_index(),
                "searchResultIndex",
                l.start(),
                l.end(),
            ),
        )),
        Some(CitationLocation::Web(w)) => Some(one(
            "web",
            Obj::new()
                .opt("url", w.url())
                .opt("domain", w.domain())
                .done(),
        )),
        Some(_) => return Err(WireError::Unknown("citation location".into())),
    };
    Ok(Obj::new()
        .opt("title", c.title())
        .opt("source", c.source())
        .put("sourceContent", source_content)
        .opt("location", location)
        .done())
}

fn citations_from_json(v: &Json, at: &str) -> Result<CitationsContentBlock, WireError> {
    let mut b = CitationsContentBlock::builder();
    for c in array(v, "content", at)? {
        b = b.content(CitationGeneratedContent::Text(string(c, "text", at)?));
    }
    for (i, c) in array(v, "citations", at)?.iter().enumerate() {
        b = b.citations(citation_from_json(c, &format!("{at}.citations[{i}]"))?);
    }
    Ok(b.build())
}

fn citation_from_json(v: &Json, at: &str) -> Result<Citation, WireError> {
    let mut b = Citation::builder()
        .set_title(opt_string(v, "title"))
        .set_source(opt_string(v, "source"));
    for s in array(v, "sourceContent", at)? {
        b = b.source_content(CitationSourceContent::Text(string(s, "text", at)?));
    }
    let location = match v.get("location") {
        None => None,
        Some(l) => Some(location_from_json(l, at)?),
    };
    Ok(b.set_location(location).build())
}

fn location_from_json(v: &Json, at: &str) -> Result<CitationLocation, WireError> {
    let (k, l) = union(v, at)?;
    let (di, s, e) = (
        opt_i32(l, "documentIndex"),
        opt_i32(l, "start"),
        opt_i32(l, "end"),
    );
    Ok(match k {
        "documentChar" => CitationLocation::DocumentChar(
            DocumentCharLocation::builder()
                .set_document_index(di)
                .set_start(s)
                .set_end(e)
                .build(),
        ),
        "documentChunk" => CitationLocation::DocumentChunk(
            DocumentChunkLocation::builder()
                .set_document_index(di)
                .set_start(s)
                .set_end(e)
                .build(),
        ),
        "documentPage" => CitationLocation::DocumentPage(
            DocumentPageLocation::builder()
                .set_document_index(di)
                .set_start(s)
                .set_end(e)
                .build(),
        ),
        "searchResultLocation" => CitationLocation::SearchResultLocation(
            SearchResultLocation::builder()
                .set_search_result_index(opt_i32(l, "searchResultIndex"))
                .set_start(s)
                .set_end(e)
                .build(),
        ),
        "web" => CitationLocation::Web(
            WebLocation::builder()
                .set_url(opt_string(l, "url"))
                .set_domain(opt_string(l, "domain"))
                .build(),
        ),
        other => return Err(invalid(at, format!("unknown citation location `{other}`"))),
    })
}

fn tool_ref_holder(t: Option<&ToolReference>) -> Json {
    let tool = t.map(|t| {
        Obj::new()
            .opt("type", t.r#type())
            .opt("name", t.name())
            .opt("serverName", t.server_name())
            .done()
    });
    Obj::new().opt("tool", tool).done()
}

fn tool_ref_from(v: &Json) -> Option<ToolReference> {
    v.get("tool").map(|t| {
        ToolReference::builder()
            .set_type(opt_string(t, "type"))
            .set_name(opt_string(t, "name"))
            .set_server_name(opt_string(t, "serverName"))
            .build()
    })
}
