//! Conversions between the SDK's, the cache's and the cost crate's views
//! of one call: token usage and prompt-cache TTLs, the request's
//! fingerprint for events, and elapsed milliseconds.

use crate::request::ChatRequest;
use crate::wire::{self, Binary};
use aws_sdk_bedrockruntime::types::{ContentBlock, Message as SdkMessage, SystemContentBlock};
use std::borrow::Cow;
use std::time::Instant;
use tollgate_cache::PromptTtl;
use tollgate_cost::FingerprintHasher as Hasher;
use tollgate_cost::{CacheTtl, Fingerprint, Usage};

/// Milliseconds since `since`.
pub(crate) fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The request's fingerprint: text blocks as their text, every other
/// block by its canonical JSON (binary content by the hash of its bytes),
/// so two requests differing only in an image or a tool result differ.
pub(crate) fn fingerprint(req: &ChatRequest) -> Fingerprint {
    // `Fingerprint::of`'s pieces, hashed as each block's text is made
    // (no list of the texts first).
    let input = req.input();
    let system = (!input.system().is_empty()).then(|| {
        let mut h = Hasher::new();
        for b in input.system() {
            h.piece(system_text(b).as_bytes());
        }
        h.finish()
    });
    let mut h = Hasher::new();
    for m in input.messages() {
        h.piece(m.role().as_str().as_bytes())
            .piece(message_text(m).as_bytes());
    }
    Fingerprint {
        system,
        messages: Some(h.finish()),
    }
}

fn system_text(b: &SystemContentBlock) -> Cow<'_, str> {
    match b {
        SystemContentBlock::Text(t) => Cow::Borrowed(t.as_str()),
        other => Cow::Owned(
            wire::system_text(std::slice::from_ref(other), Binary::Hash)
                .unwrap_or_else(|_| "{\"unknown\":true}".into()),
        ),
    }
}

/// A message's text when it is one text block (the form fingerprints had
/// before messages carried other blocks), else its canonical JSON.
fn message_text(m: &SdkMessage) -> Cow<'_, str> {
    match m.content() {
        [ContentBlock::Text(t)] => Cow::Borrowed(t.as_str()),
        _ => Cow::Owned(
            wire::message_text(m, Binary::Hash).unwrap_or_else(|_| "{\"unknown\":true}".into()),
        ),
    }
}

pub(crate) fn cost_ttl(t: PromptTtl) -> CacheTtl {
    match t {
        PromptTtl::FiveMinutes => CacheTtl::FiveMinutes,
        PromptTtl::OneHour => CacheTtl::OneHour,
    }
}

pub(crate) fn cache_usage(u: &Usage) -> tollgate_cache::Usage {
    tollgate_cache::Usage {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write_input_tokens,
    }
}

/// Usage from the SDK's `TokenUsage`.
pub(crate) fn usage_of(u: &aws_sdk_bedrockruntime::types::TokenUsage, ttl: PromptTtl) -> Usage {
    use aws_sdk_bedrockruntime::types::CacheTtl as SdkTtl;
    let details: Vec<(CacheTtl, i32)> = u
        .cache_details()
        .iter()
        .map(|d| {
            let t = match d.ttl() {
                SdkTtl::OneHour => CacheTtl::OneHour,
                _ => CacheTtl::FiveMinutes,
            };
            (t, d.input_tokens())
        })
        .collect();
    Usage::from_bedrock(
        u.input_tokens(),
        u.output_tokens(),
        u.cache_read_input_tokens(),
        u.cache_write_input_tokens(),
        &details,
        cost_ttl(ttl),
    )
}
