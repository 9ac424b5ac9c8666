//! The policy's view of a request: built-in attributes, then tags, then
//! the application's own, into a slot-indexed [`Context`].
//!
//! Built-ins are derived only when the schema declares them, so a policy
//! that never reads `input_tokens` never pays for an estimate. Later
//! sources override earlier ones (DESIGN: "the application fills the rest
//! and may override any"). A value of the wrong type for its attribute is
//! skipped rather than failing the call: the rule that reads it sees the
//! attribute as missing, which CEL semantics already handle.

use crate::estimate::TokenEstimator;
use crate::request::{AttrValue, ChatRequest};
use tollgate_cost::Tags;
use tollgate_engine::{Context, Slot, StrList};
use tollgate_lang::Schema;

/// Token estimates of one request's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// System prompt tokens.
    pub system: u64,
    /// Conversation tokens (with per-message overhead).
    pub messages: u64,
    /// Tool definition tokens.
    pub tools: u64,
}

impl Estimate {
    /// Everything the model reads.
    pub fn input(&self) -> u64 {
        self.system + self.messages + self.tools
    }

    /// Estimates a request.
    pub fn of(req: &ChatRequest, est: &dyn TokenEstimator) -> Estimate {
        Estimate {
            system: req.system.iter().map(|s| est.text_tokens(s)).sum(),
            messages: req
                .messages
                .iter()
                .map(|m| est.text_tokens(&m.text) + est.message_overhead())
                .sum(),
            tools: req
                .tools
                .iter()
                .map(|t| est.text_tokens(&t.canonical()))
                .sum(),
        }
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Fills `ctx` from a request and its tags.
pub fn fill<'a>(
    ctx: &mut Context<'a>,
    schema: &'a Schema,
    req: &'a ChatRequest,
    tags: &'a Tags,
    est: &Estimate,
) {
    if let Some(id) = schema.id("input_tokens") {
        let _ = ctx.set(id, Slot::Int(as_i64(est.input())));
    }
    if let Some(id) = schema.id("system_tokens") {
        let _ = ctx.set(id, Slot::Int(as_i64(est.system)));
    }
    if let Some(id) = schema.id("has_tools") {
        let _ = ctx.set(id, Slot::Bool(!req.tools.is_empty()));
    }
    if let Some(id) = schema.id("has_images") {
        let _ = ctx.set(id, Slot::Bool(false));
    }
    if let Some(id) = schema.id("message_count") {
        let _ = ctx.set(id, Slot::Int(as_i64(req.messages.len() as u64)));
    }
    if let (Some(id), Some(n)) = (schema.id("requested_max_tokens"), req.inference.max_tokens) {
        let _ = ctx.set(id, Slot::Int(i64::from(n)));
    }
    if let (Some(id), Some(p)) = (schema.id("prompt"), req.last_user_text()) {
        let _ = ctx.set(id, Slot::Str(p));
    }
    let tag_pairs = [
        ("app", &tags.app),
        ("feature", &tags.feature),
        ("user", &tags.user),
        ("use_case", &tags.use_case),
        ("tenant", &tags.tenant),
    ];
    for (name, v) in tag_pairs {
        if let (Some(id), Some(v)) = (schema.id(name), v.as_deref()) {
            let _ = ctx.set(id, Slot::Str(v));
        }
    }
    for (name, v) in &req.attributes {
        let Some(id) = schema.id(name) else { continue };
        let slot = match v {
            AttrValue::Bool(b) => Slot::Bool(*b),
            AttrValue::Int(i) => Slot::Int(*i),
            AttrValue::Float(f) => Slot::Float(*f),
            AttrValue::Str(s) => Slot::Str(s),
            AttrValue::Strs(l) => Slot::StrList(StrList::Strings(l)),
            AttrValue::Ints(l) => Slot::IntList(l),
        };
        let _ = ctx.set(id, slot);
    }
}

/// The value of a string attribute of the context (`feature`, for the
/// retry budget).
pub fn str_attr<'a>(ctx: &Context<'a>, name: &str) -> Option<&'a str> {
    match ctx.get(ctx.schema().id(name)?) {
        Slot::Str(s) => Some(s),
        _ => None,
    }
}
