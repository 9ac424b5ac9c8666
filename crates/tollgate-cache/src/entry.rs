//! A cached response and its binary form.
//!
//! An entry carries the usage and cost of the call that produced it, so a
//! hit can report the cost it avoided, and the model that answered, so a
//! hit can be labelled honestly in call events.
//!
//! # Binary form, version 1 (what Redis stores)
//!
//! ```text
//! entry  = "TGE" 0x01                       magic, format version
//!          u8(stop)                         1 end_turn, 2 tool_use, 3 max_tokens,
//!                                           4 stop_sequence, 5 guardrail_intervened,
//!                                           6 content_filtered, 0xff other + str(name)
//!          u64(input) u64(output) u64(cache_read) u64(cache_write)   usage, tokens
//!          u64(cost_nanos)                  what the call cost, nano-dollars
//!          u64(created_unix_ms)             when it was stored
//!          str(model_id)                    UTF-8
//!          str(body)                        the response, opaque bytes
//! u64(n) = 8 bytes little-endian; str(s) = u64 length, then the bytes
//! ```
//!
//! Decoding refuses a wrong magic or version, a short buffer, trailing
//! bytes and a model id that is not UTF-8; a refused value is a miss, never
//! a wrong answer. A fixed binary layout was chosen over JSON because the
//! body is opaque bytes (JSON would need base64) and decoding must be
//! cheap and strict.

use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 4] = b"TGE\x01";
const STOP_OTHER: u8 = 0xff;

/// Bytes an entry is charged beyond its strings, for the memory bound
/// (the entry struct, its `Arc`, the LRU node and map slot).
pub const ENTRY_OVERHEAD_BYTES: usize = 160;

/// Why the model stopped, with Bedrock's names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// `end_turn`
    EndTurn,
    /// `tool_use`
    ToolUse,
    /// `max_tokens`: the answer was cut.
    MaxTokens,
    /// `stop_sequence`
    StopSequence,
    /// `guardrail_intervened`
    GuardrailIntervened,
    /// `content_filtered`
    ContentFiltered,
    /// Any other reason, by name.
    Other(String),
}

impl StopReason {
    /// Bedrock's name for it.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::GuardrailIntervened => "guardrail_intervened",
            StopReason::ContentFiltered => "content_filtered",
            StopReason::Other(s) => s,
        }
    }

    /// From Bedrock's name.
    pub fn parse(s: &str) -> StopReason {
        match s {
            "end_turn" => StopReason::EndTurn,
            "tool_use" => StopReason::ToolUse,
            "max_tokens" => StopReason::MaxTokens,
            "stop_sequence" => StopReason::StopSequence,
            "guardrail_intervened" => StopReason::GuardrailIntervened,
            "content_filtered" => StopReason::ContentFiltered,
            other => StopReason::Other(other.to_string()),
        }
    }

    fn code(&self) -> u8 {
        match self {
            StopReason::EndTurn => 1,
            StopReason::ToolUse => 2,
            StopReason::MaxTokens => 3,
            StopReason::StopSequence => 4,
            StopReason::GuardrailIntervened => 5,
            StopReason::ContentFiltered => 6,
            StopReason::Other(_) => STOP_OTHER,
        }
    }
}

/// Token usage of a call, as Bedrock reports it (`input` counts only the
/// uncached input tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Usage {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Prompt-cache read tokens.
    pub cache_read: u64,
    /// Prompt-cache write tokens.
    pub cache_write: u64,
}

/// A cached response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The response as the adapter serialised it (opaque here).
    pub body: Vec<u8>,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Usage of the call that produced it.
    pub usage: Usage,
    /// What that call cost, nano-dollars: what a hit avoids.
    pub cost_nanos: u64,
    /// The model that answered.
    pub model_id: String,
    /// When it was produced, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
}

/// Why a stored value could not be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not an entry, or another format version.
    #[error("not a tollgate cache entry (wrong magic or version)")]
    Magic,
    /// The value ends early.
    #[error("cache entry is truncated")]
    Truncated,
    /// Bytes follow the entry.
    #[error("cache entry has trailing bytes")]
    Trailing,
    /// A stop reason code that version 1 does not define.
    #[error("cache entry has unknown stop reason code {0}")]
    StopCode(u8),
    /// A string that is not UTF-8.
    #[error("cache entry holds text that is not UTF-8")]
    Utf8,
}

impl Entry {
    /// An entry created now.
    pub fn new(
        body: Vec<u8>,
        stop_reason: StopReason,
        usage: Usage,
        cost_nanos: u64,
        model_id: &str,
    ) -> Entry {
        Entry {
            body,
            stop_reason,
            usage,
            cost_nanos,
            model_id: model_id.to_string(),
            created_unix_ms: now_unix_ms(),
        }
    }

    /// Bytes the entry counts for against a store's byte bound.
    pub fn weight(&self) -> usize {
        let other = match &self.stop_reason {
            StopReason::Other(s) => s.len(),
            _ => 0,
        };
        self.body.len() + self.model_id.len() + other + ENTRY_OVERHEAD_BYTES
    }

    /// The binary form (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.body.len() + self.model_id.len() + 72);
        v.extend_from_slice(MAGIC);
        v.push(self.stop_reason.code());
        if let StopReason::Other(s) = &self.stop_reason {
            put_str(&mut v, s.as_bytes());
        }
        for n in [
            self.usage.input,
            self.usage.output,
            self.usage.cache_read,
            self.usage.cache_write,
            self.cost_nanos,
            self.created_unix_ms,
        ] {
            v.extend_from_slice(&n.to_le_bytes());
        }
        put_str(&mut v, self.model_id.as_bytes());
        put_str(&mut v, &self.body);
        v
    }

    /// Reads the binary form back.
    pub fn from_bytes(b: &[u8]) -> Result<Entry, DecodeError> {
        let mut r = Reader(b);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(DecodeError::Magic);
        }
        let code = r.u8()?;
        let stop_reason = match code {
            1 => StopReason::EndTurn,
            2 => StopReason::ToolUse,
            3 => StopReason::MaxTokens,
            4 => StopReason::StopSequence,
            5 => StopReason::GuardrailIntervened,
            6 => StopReason::ContentFiltered,
            STOP_OTHER => StopReason::Other(r.string()?),
            c => return Err(DecodeError::StopCode(c)),
        };
        let usage = Usage {
            input: r.u64()?,
            output: r.u64()?,
            cache_read: r.u64()?,
            cache_write: r.u64()?,
        };
        let cost_nanos = r.u64()?;
        let created_unix_ms = r.u64()?;
        let model_id = r.string()?;
        let body = r.bytes()?.to_vec();
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing);
        }
        Ok(Entry {
            body,
            stop_reason,
            usage,
            cost_nanos,
            model_id,
            created_unix_ms,
        })
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn put_str(v: &mut Vec<u8>, s: &[u8]) {
    // INVARIANT: usize is at most 64 bits on every supported target.
    v.extend_from_slice(&(s.len() as u64).to_le_bytes());
    v.extend_from_slice(s);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.take(1)?.first().copied().ok_or(DecodeError::Truncated)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        Ok(u64::from_le_bytes(b))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(self.u64()?).map_err(|_| DecodeError::Truncated)?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| DecodeError::Utf8)
    }
}
