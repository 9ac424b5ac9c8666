//! Token estimates before the call.
//!
//! Rules read `input_tokens` before Bedrock has counted anything, and an
//! aborted stream has no usage to bill from. Bedrock's `CountTokens` is
//! exact but costs a round trip per call, which would dwarf the decision;
//! so the default is the usual ~4 characters per token plus a small
//! per-message overhead, and the estimator is a trait so an application can
//! plug in a real tokenizer.

pub use crate::wire::TextSize;
use aws_sdk_bedrockruntime::types::{
    AudioSource, ContentBlock, DocumentSource, ToolResultContentBlock, VideoSource,
};

/// Estimates token counts of text.
pub trait TokenEstimator: Send + Sync {
    /// Tokens in a piece of text.
    fn text_tokens(&self, text: &str) -> u64;

    /// Fixed overhead per message (role markers, separators).
    fn message_overhead(&self) -> u64 {
        4
    }

    /// Tokens in a text known only by its size, or `None` (the default)
    /// when the estimator needs the text itself. An estimator whose
    /// [`TokenEstimator::text_tokens`] depends on the size alone answers
    /// for every size, with what `text_tokens` gives any text of that
    /// size ([`TextSize::of`]); the gate then measures what it only counts
    /// (a request's tool configuration, as canonical JSON) without writing
    /// the text out. One that answers `None` (for any size: the gate asks
    /// once per call, before measuring) is given the text.
    fn sized_tokens(&self, size: TextSize) -> Option<u64> {
        let _ = size;
        None
    }
}

/// About four characters per token, rounded up, plus 4 per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharEstimator {
    /// Characters per token.
    pub chars_per_token: u32,
    /// Overhead per message, tokens.
    pub per_message: u32,
}

impl Default for CharEstimator {
    fn default() -> Self {
        CharEstimator {
            chars_per_token: 4,
            per_message: 4,
        }
    }
}

impl TokenEstimator for CharEstimator {
    fn text_tokens(&self, text: &str) -> u64 {
        // Mostly ASCII (prompts in English, JSON): a word-at-a-time test,
        // far less code to fetch than the general count's.
        let chars = if text.is_ascii() {
            text.len()
        } else {
            text.chars().count()
        } as u64;
        self.per_chars(chars)
    }

    fn message_overhead(&self) -> u64 {
        u64::from(self.per_message)
    }

    fn sized_tokens(&self, size: TextSize) -> Option<u64> {
        Some(self.per_chars(size.chars as u64))
    }
}

impl CharEstimator {
    /// Tokens of `chars` characters.
    fn per_chars(&self, chars: u64) -> u64 {
        chars.div_ceil(u64::from(self.chars_per_token.max(1)))
    }
}

/// Tokens counted for one image, whatever its size: above the largest an
/// image costs on Bedrock's Claude models (an image is resized to at most
/// about 1.15 megapixels, about 1,600 tokens), so a budget reserve made
/// before the call is never short because of an image.
pub const IMAGE_TOKENS: u64 = 3_000;

/// Tokens counted per byte of a binary document (PDF, Word, Excel...):
/// one token per 2 bytes, a bound on the text a compressed file can hold
/// per byte at about 4 characters per token only for files without
/// images; documents mostly carry less.
pub const DOCUMENT_BYTES_PER_TOKEN: u64 = 2;

/// Tokens counted per byte of video or audio sent inline.
pub const MEDIA_BYTES_PER_TOKEN: u64 = 32;

/// Tokens counted for a document, video or audio the model reads from S3
/// (its size is not known before the call).
pub const S3_OBJECT_TOKENS: u64 = 100_000;

/// Tokens of one content block: text by the estimator; images, documents,
/// video and audio by the bounds above; tool uses, tool results,
/// reasoning, citations and the rest by the size of their JSON (see
/// [`json_sized_tokens`]).
pub fn block_tokens(est: &dyn TokenEstimator, c: &ContentBlock) -> u64 {
    match c {
        ContentBlock::Text(t) => est.text_tokens(t),
        ContentBlock::Image(_) => IMAGE_TOKENS,
        ContentBlock::Document(d) => match d.source() {
            Some(DocumentSource::Text(t)) => est.text_tokens(t),
            Some(DocumentSource::Content(parts)) => parts
                .iter()
                .map(|p| p.as_text().map_or(0, |t| est.text_tokens(t)))
                .sum(),
            other => document_bound(other),
        },
        ContentBlock::Video(v) => media_bound(v.source().map(VideoSource::as_bytes)),
        ContentBlock::Audio(a) => media_bound(a.source().map(AudioSource::as_bytes)),
        ContentBlock::CachePoint(_) => 0,
        // A block the SDK does not know counts nothing.
        other => crate::wire::block_text(other, crate::wire::Binary::Hash)
            .map_or(0, |j| json_sized_tokens(est, other, &j)),
    }
}

/// The block is counted by the size of its JSON: every variant but text,
/// images, documents, video, audio and cache points.
pub(crate) fn json_sized(c: &ContentBlock) -> bool {
    !matches!(
        c,
        ContentBlock::Text(_)
            | ContentBlock::Image(_)
            | ContentBlock::Document(_)
            | ContentBlock::Video(_)
            | ContentBlock::Audio(_)
            | ContentBlock::CachePoint(_)
    )
}

/// Tokens of a [`json_sized`] block whose canonical JSON (binary parts by
/// their hash) is `json`: its size, and for a tool result the bound of
/// each image, binary document or video it holds (their bytes are only a
/// hash in the JSON).
pub(crate) fn json_sized_tokens(est: &dyn TokenEstimator, c: &ContentBlock, json: &str) -> u64 {
    let binary = match c {
        ContentBlock::ToolResult(r) => r
            .content()
            .iter()
            .map(|c| match c {
                ToolResultContentBlock::Image(_) => IMAGE_TOKENS,
                ToolResultContentBlock::Document(d) => match d.source() {
                    Some(DocumentSource::Text(_) | DocumentSource::Content(_)) => 0,
                    other => document_bound(other),
                },
                ToolResultContentBlock::Video(v) => {
                    media_bound(v.source().map(VideoSource::as_bytes))
                }
                _ => 0,
            })
            .sum(),
        _ => 0,
    };
    est.text_tokens(json) + binary
}

/// A binary document by its size; one in S3 (or of a source this SDK
/// does not know) by [`S3_OBJECT_TOKENS`].
fn document_bound(source: Option<&DocumentSource>) -> u64 {
    match source {
        Some(DocumentSource::Bytes(b)) => {
            (b.as_ref().len() as u64).div_ceil(DOCUMENT_BYTES_PER_TOKEN)
        }
        _ => S3_OBJECT_TOKENS,
    }
}

/// Video or audio sent inline by its size (`bytes` is the source's bytes
/// when it has them), else [`S3_OBJECT_TOKENS`].
fn media_bound<B: AsRef<[u8]>, E>(bytes: Option<Result<B, E>>) -> u64 {
    match bytes {
        Some(Ok(b)) => (b.as_ref().len() as u64).div_ceil(MEDIA_BYTES_PER_TOKEN),
        _ => S3_OBJECT_TOKENS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_chars_per_token_rounded_up() {
        let e = CharEstimator::default();
        assert_eq!(e.text_tokens(""), 0);
        assert_eq!(e.text_tokens("abcd"), 1);
        assert_eq!(e.text_tokens("abcde"), 2);
        assert_eq!(e.message_overhead(), 4);
    }

    /// Characters, not bytes: the ASCII shortcut must not count a
    /// multi-byte character's bytes.
    #[test]
    fn counts_characters_of_non_ascii_text() {
        let e = CharEstimator::default();
        // 8 characters, 16 bytes.
        assert_eq!(e.text_tokens("éééééééé"), 2);
        // 9 characters (one of 4 bytes), 12 bytes.
        assert_eq!(e.text_tokens("abcdefgh🦀"), 3);
        assert_eq!(e.text_tokens("abcdefg🦀"), 2);
    }
}
