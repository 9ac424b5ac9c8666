//! Recorded traffic in one shape: time-ordered requests with token counts,
//! and whatever identity the source had (fingerprints, block hashes, a
//! recorded model and cost).
//!
//! Every reader ([`crate::input`]) produces a [`Trace`]; replay never looks
//! at the source format again. A request carries a `count` so that the
//! ServeGen rate traces (10-minute aggregates, up to 1.4 billion requests
//! over 14 days) replay as one weighted request per window: all requests of
//! a window have the same attributes and no content identity, so deciding
//! and pricing one and multiplying is exact.

use serde_json::{Map, Value};
use tollgate_cost::{Fingerprint, Usage};

/// Which reader a file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// tollgate call events, JSON Lines.
    Events,
    /// Azure LLM inference trace 2023 CSV.
    Azure,
    /// Mooncake JSON Lines (ms timestamps, block hashes).
    Mooncake,
    /// ServeGen 14-day rate traces (10-minute windows).
    ServeGen,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Events => "events",
            Format::Azure => "azure",
            Format::Mooncake => "mooncake",
            Format::ServeGen => "servegen",
        }
    }

    /// From the command-line name.
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "events" => Format::Events,
            "azure" => Format::Azure,
            "mooncake" => Format::Mooncake,
            "servegen" => Format::ServeGen,
            _ => return None,
        })
    }

    /// Guesses the format from a file's first bytes: a `TIMESTAMP,` header is
    /// Azure, a JSON line with `hash_ids` is Mooncake, another JSON line is
    /// an event, a header-less CSV line is ServeGen.
    pub fn detect(head: &[u8]) -> Option<Format> {
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(first);
        let t = text.trim();
        if t.starts_with("TIMESTAMP,") {
            Some(Format::Azure)
        } else if t.starts_with('{') {
            Some(if t.contains("\"hash_ids\"") {
                Format::Mooncake
            } else {
                Format::Events
            })
        } else if t.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && crate::input::csv_fields(t.as_bytes()) == 6
        {
            Some(Format::ServeGen)
        } else {
            None
        }
    }

    /// Whether the data names the model each request used.
    pub fn has_model(self) -> bool {
        self == Format::Events
    }
}

/// One recorded call of a call-event file: what replay needs beyond the
/// token counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// The attributes as recorded (redacted ones absent).
    pub attributes: Map<String, Value>,
    /// The model alias that served.
    pub model: String,
    /// What the call cost, nano-dollars.
    pub cost_nanos: u64,
    /// The recorded usage (Bedrock's meaning).
    pub usage: Usage,
    /// The prompt's fingerprints.
    pub fingerprint: Fingerprint,
    /// Attempts made, the first included (`usage` and `cost_nanos` are
    /// summed over them; 0 for a rejected or cached call).
    pub attempts: u32,
    /// A `[[prompt_cache]]` rule matched when the call was made (its
    /// recorded cache split, even when empty, is then the real outcome).
    pub prompt_cache_rule: bool,
    /// The call's recorded source region (`None`: not recorded).
    pub region: Option<String>,
}

impl RecordedCall {
    /// The system prompt's identity (`fingerprint.system`) and length (the
    /// `system_tokens` attribute, at most the prompt's input tokens), when
    /// the call recorded both.
    pub fn system_prompt(&self) -> Option<(u128, u64)> {
        let sys = self.fingerprint.system?;
        let tokens = self.attributes.get("system_tokens")?.as_u64()?;
        Some((sys.0, tokens.min(self.usage.total_input_tokens())))
    }
}

/// One request (or, with `count > 1`, that many identical requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRequest {
    /// When, milliseconds on the trace's own clock.
    pub at_ms: u64,
    /// How many identical requests this stands for (1 except ServeGen).
    pub count: u64,
    /// The whole prompt, tokens.
    pub input_tokens: u64,
    /// Recorded output tokens.
    pub output_tokens: u64,
    /// Content identity for the response cache (`None`: unknown).
    pub content: Option<u128>,
    /// Start of this request's block hashes in [`Trace::blocks`].
    pub blocks_start: u32,
    /// Number of block hashes (0: none).
    pub blocks_len: u32,
    /// Index into [`Trace::calls`] (call events only).
    pub call: Option<u32>,
}

/// Recorded traffic, ready to replay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    /// Requests in time order.
    pub requests: Vec<TraceRequest>,
    /// Block hashes of every request, back to back.
    pub blocks: Vec<u64>,
    /// Tokens per block of the block hashes (512 in Mooncake).
    pub block_tokens: u64,
    /// Recorded calls (call events only).
    pub calls: Vec<RecordedCall>,
    /// What the readers want the report to say (skipped lines, gaps,
    /// assumptions).
    pub notes: Vec<String>,
    /// Formats read into this trace.
    pub formats: Vec<Format>,
}

impl Trace {
    /// The block hashes of a request.
    pub fn blocks_of(&self, r: &TraceRequest) -> &[u64] {
        let start = r.blocks_start as usize;
        self.blocks
            .get(start..start + r.blocks_len as usize)
            .unwrap_or_default()
    }

    /// Requests counted with their weights.
    pub fn request_count(&self) -> u64 {
        self.requests
            .iter()
            .fold(0u64, |n, r| n.saturating_add(r.count))
    }

    /// Whether any request has a content identity (the response cache can
    /// be simulated).
    pub fn has_content_identity(&self) -> bool {
        self.requests.iter().any(|r| r.content.is_some())
    }

    /// Whether any request has block hashes (prompt caching can be simulated).
    pub fn has_blocks(&self) -> bool {
        self.requests.iter().any(|r| r.blocks_len > 0)
    }

    /// Whether any recorded call has a system prompt's identity and length
    /// (prompt caching on the system prompt can be simulated).
    pub fn has_system_prompts(&self) -> bool {
        self.calls.iter().any(|c| c.system_prompt().is_some())
    }

    /// Whether every request has a recorded model.
    pub fn has_model(&self) -> bool {
        !self.requests.is_empty() && self.requests.iter().all(|r| r.call.is_some())
    }

    /// Appends another trace and keeps the whole in time order (stable: equal
    /// times keep file order).
    pub fn append(&mut self, other: Trace) {
        let block_base = self.blocks.len() as u32;
        let call_base = self.calls.len() as u32;
        if self.block_tokens == 0 {
            self.block_tokens = other.block_tokens;
        }
        self.blocks.extend(other.blocks);
        self.calls.extend(other.calls);
        self.notes.extend(other.notes);
        for f in other.formats {
            if !self.formats.contains(&f) {
                self.formats.push(f);
            }
        }
        let sorted_before = self.requests.len();
        self.requests
            .extend(other.requests.into_iter().map(|mut r| {
                r.blocks_start += block_base;
                r.call = r.call.map(|c| c + call_base);
                r
            }));
        if sorted_before > 0 {
            self.requests.sort_by_key(|r| r.at_ms);
        }
    }
}
