//! What is never cached.
//!
//! A response cache that stores the wrong thing is worse than none: a
//! replayed throttle or error turns one bad second into ten bad minutes
//! (LiteLLM users saw exactly that with a cached 429), a cut-off answer is
//! served whole-looking to everyone, and a response a guardrail flagged is
//! handed to users the guardrail was never asked about. So only a complete
//! answer is stored: the model stopped on its own (`end_turn`,
//! `stop_sequence`, `tool_use`), or at `max_tokens` when the rule sets
//! `cache_truncated = true`, and no guardrail flagged it. Every other stop
//! reason, known or not, is not stored.

use crate::entry::{Entry, StopReason};
use std::time::Duration;
use tollgate_engine::Decision;
use tollgate_lang::{Cache, Policy};

/// How a call ended, as the cache needs to know it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The model answered.
    Answered {
        /// The answer, as it would be stored.
        entry: &'a Entry,
        /// A guardrail flagged the request or the answer (even when it
        /// did not intervene).
        guardrail_flagged: bool,
    },
    /// Bedrock throttled the call (after any retries).
    Throttled,
    /// The call failed.
    Failed,
}

/// Why a call's result was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotCached {
    /// The call failed.
    Error,
    /// The call was throttled.
    Throttled,
    /// The answer was cut by `max_tokens` and the rule does not allow it.
    Truncated,
    /// A guardrail flagged the call or intervened.
    Guardrail,
    /// Content filtering stopped the answer.
    ContentFiltered,
    /// A stop reason the cache does not know to be complete.
    OtherStop,
    /// Larger than the store accepts.
    TooLarge,
}

impl NotCached {
    /// A short name for counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NotCached::Error => "error",
            NotCached::Throttled => "throttled",
            NotCached::Truncated => "truncated",
            NotCached::Guardrail => "guardrail",
            NotCached::ContentFiltered => "content_filtered",
            NotCached::OtherStop => "other_stop",
            NotCached::TooLarge => "too_large",
        }
    }
}

/// What a `[[cache]]` rule says about storing: the entry's lifetime and
/// whether cut answers may be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillRule {
    /// Entry lifetime.
    pub ttl: Duration,
    /// Store answers cut by `max_tokens` too.
    pub cache_truncated: bool,
}

impl FillRule {
    /// From a `[[cache]]` rule.
    pub fn from_rule(rule: &Cache) -> FillRule {
        FillRule {
            ttl: Duration::from_secs(rule.ttl_s),
            cache_truncated: rule.cache_truncated,
        }
    }

    /// From the `[[cache]]` rule a decision chose, if any.
    pub fn from_decision(policy: &Policy, d: &Decision) -> Option<FillRule> {
        let rule = policy.caches.get(d.cache?.index())?;
        Some(FillRule::from_rule(&rule.then))
    }
}

/// The entry to store, or why nothing is stored.
pub fn cacheable<'a>(outcome: &Outcome<'a>, rule: &FillRule) -> Result<&'a Entry, NotCached> {
    match *outcome {
        Outcome::Failed => Err(NotCached::Error),
        Outcome::Throttled => Err(NotCached::Throttled),
        Outcome::Answered {
            guardrail_flagged: true,
            ..
        } => Err(NotCached::Guardrail),
        Outcome::Answered { entry, .. } => match entry.stop_reason {
            StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => Ok(entry),
            StopReason::MaxTokens if rule.cache_truncated => Ok(entry),
            StopReason::MaxTokens => Err(NotCached::Truncated),
            StopReason::GuardrailIntervened => Err(NotCached::Guardrail),
            StopReason::ContentFiltered => Err(NotCached::ContentFiltered),
            StopReason::Other(_) => Err(NotCached::OtherStop),
        },
    }
}
