//! The policy's view of a request: built-in attributes, then tags, then
//! the application's own, into a slot-indexed [`Context`].
//!
//! Built-ins are derived only when the schema declares them, so a policy
//! that never reads `input_tokens` never pays for an estimate. Later
//! sources override earlier ones (docs/design.md: "the application fills the rest
//! and may override any"). A value of the wrong type for its attribute is
//! skipped rather than failing the call: the rule that reads it sees the
//! attribute as missing, which CEL semantics already handle.

use crate::request::{AttrValue, ChatRequest};
use aws_sdk_bedrockruntime::types::ContentBlock;
use tollgate_cache::Segments;
use tollgate_cost::Tags;
use tollgate_engine::{Context, Slot, StrList};
use tollgate_lang::Timestamp;
use tollgate_lang::{AttrId, Schema, Type};

/// Token estimates of one request's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// System prompt tokens.
    system: u64,
    /// Conversation tokens (with per-message overhead).
    messages: u64,
    /// Tool definition tokens.
    tools: u64,
}

impl Estimate {
    /// Everything the model reads.
    pub fn input(&self) -> u64 {
        self.system + self.messages + self.tools
    }

    /// The parts as the prompt-cache planner reads them.
    pub fn segments(&self) -> Segments {
        let seg = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Segments {
            tools: seg(self.tools),
            system: seg(self.system),
            messages: seg(self.messages),
        }
    }

    /// The estimate of parts already counted (`read.rs` counts them).
    pub(crate) fn new(system: u64, messages: u64, tools: u64) -> Estimate {
        Estimate {
            system,
            messages,
            tools,
        }
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The slots of the built-in and tag attributes in one schema, looked up
/// once: a handle's schema is fixed for its lifetime, and hashing a dozen
/// names per call was a large part of the gate's own cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttrIds {
    input_tokens: Option<AttrId>,
    system_tokens: Option<AttrId>,
    has_tools: Option<AttrId>,
    has_images: Option<AttrId>,
    message_count: Option<AttrId>,
    requested_max_tokens: Option<AttrId>,
    prompt: Option<AttrId>,
    requested_model: Option<AttrId>,
    app: Option<AttrId>,
    feature: Option<AttrId>,
    user: Option<AttrId>,
    use_case: Option<AttrId>,
    tenant: Option<AttrId>,
    /// `request_time`, only when declared as a `timestamp`.
    request_time: Option<AttrId>,
}

impl AttrIds {
    /// The ids of `schema` (`None` where it does not declare the name).
    pub fn of(schema: &Schema) -> AttrIds {
        AttrIds {
            input_tokens: schema.id("input_tokens"),
            system_tokens: schema.id("system_tokens"),
            has_tools: schema.id("has_tools"),
            has_images: schema.id("has_images"),
            message_count: schema.id("message_count"),
            requested_max_tokens: schema.id("requested_max_tokens"),
            prompt: schema.id("prompt"),
            requested_model: schema.id("requested_model"),
            app: schema.id("app"),
            feature: schema.id("feature"),
            user: schema.id("user"),
            use_case: schema.id("use_case"),
            tenant: schema.id("tenant"),
            request_time: schema
                .id("request_time")
                .filter(|&id| schema.get(id).is_some_and(|d| d.ty == Type::Timestamp)),
        }
    }

    /// The value of the `feature` attribute in `ctx` (a string), for the
    /// retry budget.
    pub fn feature<'a>(&self, ctx: &Context<'a>) -> Option<&'a str> {
        match ctx.get(self.feature?) {
            Slot::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Fills `ctx` from a request and its tags, with the schema's ids
/// already looked up (`ids` must come from the schema `ctx` was built on).
pub fn fill_ids<'a>(
    ctx: &mut Context<'a>,
    ids: &AttrIds,
    req: &'a ChatRequest,
    tags: &'a Tags,
    est: &Estimate,
) {
    let schema = ctx.schema();
    if let Some(id) = ids.input_tokens {
        let _ = ctx.set(id, Slot::Int(as_i64(est.input())));
    }
    if let Some(id) = ids.system_tokens {
        let _ = ctx.set(id, Slot::Int(as_i64(est.system)));
    }
    let input = req.input();
    if let Some(id) = ids.has_tools {
        let _ = ctx.set(id, Slot::Bool(has_tools(req)));
    }
    if let Some(id) = ids.has_images {
        let _ = ctx.set(id, Slot::Bool(has_images(req)));
    }
    if let Some(id) = ids.message_count {
        let _ = ctx.set(id, Slot::Int(as_i64(input.messages().len() as u64)));
    }
    if let (Some(id), Some(n)) = (ids.requested_max_tokens, req.requested_max_tokens()) {
        let _ = ctx.set(id, Slot::Int(i64::from(n)));
    }
    if let (Some(id), Some(m)) = (ids.requested_model, req.requested_model()) {
        let _ = ctx.set(id, Slot::Str(m));
    }
    if let Some(id) = ids.prompt {
        if let Some(p) = req.last_user_text() {
            let _ = ctx.set(id, Slot::Str(p));
        }
    }
    let tag_pairs = [
        (ids.app, &tags.app),
        (ids.feature, &tags.feature),
        (ids.user, &tags.user),
        (ids.use_case, &tags.use_case),
        (ids.tenant, &tags.tenant),
    ];
    for (id, v) in tag_pairs {
        if let (Some(id), Some(v)) = (id, v.as_deref()) {
            let _ = ctx.set(id, Slot::Str(v));
        }
    }
    // The time of the call, unless the application gives its own below.
    if let Some(id) = ids.request_time {
        let _ = ctx.set(id, Slot::Timestamp(Timestamp::now()));
    }
    for (name, v) in req.attributes() {
        let Some(id) = schema.id(name) else { continue };
        let slot = match v {
            AttrValue::Bool(b) => Slot::Bool(*b),
            AttrValue::Int(i) => Slot::Int(*i),
            AttrValue::Float(f) => Slot::Float(*f),
            AttrValue::Str(s) => Slot::Str(s),
            AttrValue::Strs(l) => Slot::StrList(StrList::Strings(l)),
            AttrValue::Ints(l) => Slot::IntList(l),
            AttrValue::Timestamp(t) => Slot::Timestamp(*t),
        };
        let _ = ctx.set(id, slot);
    }
}

/// The request declares tools (a `toolSpec` or system tool), or its
/// conversation already holds tool uses or results.
pub fn has_tools(req: &ChatRequest) -> bool {
    let input = req.input();
    input
        .tool_config()
        .is_some_and(|t| t.tools().iter().any(|t| !t.is_cache_point()))
        || input.messages().iter().any(|m| {
            m.content()
                .iter()
                .any(|c| c.is_tool_use() || c.is_tool_result())
        })
}

/// An image anywhere in the conversation: an image block, a tool result
/// holding one, or a guarded image.
pub fn has_images(req: &ChatRequest) -> bool {
    use aws_sdk_bedrockruntime::types::{GuardrailConverseContentBlock, ToolResultContentBlock};
    req.input().messages().iter().any(|m| {
        m.content().iter().any(|c| match c {
            ContentBlock::Image(_) => true,
            ContentBlock::ToolResult(r) => r
                .content()
                .iter()
                .any(|x| matches!(x, ToolResultContentBlock::Image(_))),
            ContentBlock::GuardContent(GuardrailConverseContentBlock::Image(_)) => true,
            _ => false,
        })
    })
}
