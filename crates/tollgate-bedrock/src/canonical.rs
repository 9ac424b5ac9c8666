//! The canonical form of a request, and the response-cache key over it
//! (`key_of`).
//!
//! The cache key is computed by tollgate-cache over plain borrowed values
//! (system texts, messages of text and blob parts, tool texts, inference
//! parameters). This maps a `ConverseInput` onto them: text blocks stay
//! text; every other block becomes a blob of its canonical JSON (binary
//! content by the hash of its bytes), kinded by its Converse key, so a
//! tool result and a text with the same characters differ. Fields that
//! change the answer but have no slot of their own
//! (`additionalModelRequestFields`, `outputConfig`, the guardrail, prompt
//! variables, response field paths) join the stop sequences as one
//! tagged entry, so they are keyed when the rule keys `inference`; the
//! tool choice joins the tools.

use crate::request::ChatRequest;
use crate::wire::{self, Binary};
use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, SystemContentBlock, Tool};
use std::borrow::Cow;
use tollgate_cache::{
    cache_key, retrieval_ids_of, CacheKey, FillRule, Inference, KeyInput, KeySpec, Message, Part,
};
use tollgate_engine::{Context, Decision};
use tollgate_lang::Policy;

/// One message: user?, and its parts as (blob kind, text).
pub(crate) type CanonMessage<'a> = (bool, Vec<(Option<&'static str>, Cow<'a, str>)>);

/// A request's canonical parts.
pub(crate) struct Canonical<'a> {
    system: Vec<Cow<'a, str>>,
    messages: Vec<CanonMessage<'a>>,
    tools: Vec<String>,
    stop: Vec<String>,
    temperature: Option<f32>,
    top_p: Option<f32>,
}

/// The Converse key naming a block (the blob's kind).
fn kind(c: &ContentBlock) -> &'static str {
    match c {
        ContentBlock::Image(_) => "image",
        ContentBlock::Document(_) => "document",
        ContentBlock::Video(_) => "video",
        ContentBlock::Audio(_) => "audio",
        ContentBlock::ToolUse(_) => "toolUse",
        ContentBlock::ToolResult(_) => "toolResult",
        ContentBlock::ReasoningContent(_) => "reasoningContent",
        ContentBlock::GuardContent(_) => "guardContent",
        ContentBlock::CitationsContent(_) => "citationsContent",
        ContentBlock::SearchResult(_) => "searchResult",
        ContentBlock::ToolAddition(_) => "toolAddition",
        ContentBlock::ToolRemoval(_) => "toolRemoval",
        _ => "other",
    }
}

impl<'a> Canonical<'a> {
    /// `None` when the request holds a variant the SDK does not know.
    pub(crate) fn of(input: &'a ConverseInput) -> Option<Canonical<'a>> {
        let mut system = Vec::with_capacity(input.system().len());
        for b in input.system() {
            match b {
                SystemContentBlock::Text(t) => system.push(Cow::Borrowed(t.as_str())),
                SystemContentBlock::CachePoint(_) => {}
                other => system.push(Cow::Owned(
                    wire::system_text(std::slice::from_ref(other), Binary::Hash).ok()?,
                )),
            }
        }
        let mut messages = Vec::with_capacity(input.messages().len());
        for m in input.messages() {
            let mut parts = Vec::with_capacity(m.content().len());
            for c in m.content() {
                match c {
                    ContentBlock::Text(t) => parts.push((None, Cow::Borrowed(t.as_str()))),
                    ContentBlock::CachePoint(_) => {}
                    other => {
                        let j = wire::block_text(other, Binary::Hash).ok()?;
                        parts.push((Some(kind(other)), Cow::Owned(j)));
                    }
                }
            }
            messages.push((*m.role() == ConversationRole::User, parts));
        }
        let (tools, tool_choice) = tools_of(input)?;
        let inf = input.inference_config();
        let mut stop: Vec<String> = inf.map(|i| i.stop_sequences().to_vec()).unwrap_or_default();
        if let Some(o) = options_of(input)? {
            stop.push(o);
        }
        let mut tools = tools;
        tools.extend(tool_choice);
        Some(Canonical {
            system,
            messages,
            tools,
            stop,
            temperature: inf.and_then(|i| i.temperature()),
            top_p: inf.and_then(|i| i.top_p()),
        })
    }
}

/// Each tool's canonical JSON (cache points left out), and the tool choice.
fn tools_of(input: &ConverseInput) -> Option<(Vec<String>, Option<String>)> {
    let Some(tc) = input.tool_config() else {
        return Some((Vec::new(), None));
    };
    let tools = tc
        .tools()
        .iter()
        .filter(|t| !matches!(t, Tool::CachePoint(_)))
        .map(wire::tool_text)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let choice = match tc.tool_choice() {
        Some(c) => Some(format!("toolChoice:{}", wire::tool_choice_text(c).ok()?)),
        None => None,
    };
    Some((tools, choice))
}

/// The other answer-changing fields as one tagged entry (`None` inside:
/// none is set; outer `None`: an unknown variant).
fn options_of(input: &ConverseInput) -> Option<Option<String>> {
    let body = wire::options_to_json(input).ok()?;
    let keys = [
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "outputConfig",
    ];
    let mut o = serde_json::Map::new();
    for k in keys {
        if let Some(v) = body.get(k) {
            o.insert(k.to_string(), v.clone());
        }
    }
    Some((!o.is_empty()).then(|| format!("\u{0}options:{}", serde_json::Value::Object(o))))
}

/// The response-cache key of a request under the decision, when a
/// `[[cache]]` rule applies. Every block is
/// keyed canonically (binary content by the hash of its bytes); the
/// application's own cache points are not (they do not change the
/// answer). A request holding a variant the SDK does not know has no
/// key: it is passed through, never cached.
pub(crate) fn key_of<'a>(
    policy: &'a Policy,
    d: &Decision,
    ctx: &Context<'a>,
    req: &ChatRequest,
) -> Option<(CacheKey, FillRule)> {
    let spec = KeySpec::from_decision(policy, d, ctx)?;
    let fill = FillRule::from_decision(policy, d)?;
    let model_id = policy.model(d.model)?.id.as_str();
    let c = Canonical::of(req.input())?;
    let system: Vec<&str> = c.system.iter().map(|s| s.as_ref()).collect();
    let parts: Vec<Vec<Part<'_>>> = c
        .messages
        .iter()
        .map(|m| {
            m.1.iter()
                .map(|(kind, text)| match kind {
                    None => Part::Text(text.as_ref()),
                    Some(k) => Part::Blob {
                        kind: k,
                        bytes: text.as_bytes(),
                    },
                })
                .collect()
        })
        .collect();
    let messages: Vec<Message<'_>> = c
        .messages
        .iter()
        .zip(parts.iter())
        .map(|(m, p)| Message {
            role: if m.0 {
                tollgate_cache::Role::User
            } else {
                tollgate_cache::Role::Assistant
            },
            content: p,
        })
        .collect();
    let tools: Vec<&str> = c.tools.iter().map(String::as_str).collect();
    let stop: Vec<&str> = c.stop.iter().map(String::as_str).collect();
    let input = KeyInput {
        system: &system,
        messages: &messages,
        retrieval_ids: retrieval_ids_of(ctx),
        model_id,
        inference: Inference {
            max_tokens: d.max_output_tokens,
            temperature: c.temperature,
            top_p: c.top_p,
            stop: &stop,
        },
        tools: &tools,
    };
    Some((cache_key(&spec, &input), fill))
}
