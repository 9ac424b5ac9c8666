//! What the gate reads from a request before the call, in one pass: the
//! token estimate of each part ([`Estimate`]) and the request's
//! fingerprints for its events.
//!
//! A message that is one text block is read as its text. Any other
//! message's canonical JSON (binary content by the hash of its bytes) is
//! rendered once, in place among the fingerprint's pieces, and serves both
//! readers: the fingerprint hashes the pieces in one shot, and each block
//! counted by the size of its JSON (a tool use, a tool result,
//! reasoning...) is counted by its own slice of that text. On an agent's
//! turns, which resend the whole history with its tool uses and results,
//! rendering every such message twice (once per reader) was most of the
//! gate's own work.

use crate::attrs::Estimate;
use crate::estimate::{block_tokens, json_sized, json_sized_tokens, TextSize, TokenEstimator};
use crate::request::ChatRequest;
use crate::wire::{self, Binary};
use aws_sdk_bedrockruntime::types::{ContentBlock, Message, SystemContentBlock, ToolConfiguration};
use tollgate_cost::{
    fingerprint_messages, Fingerprint, FingerprintHasher as Hasher, FingerprintPieces as Pieces,
    Hash128,
};

/// What a message or system block that cannot be rendered (it holds a
/// variant this SDK version does not know) is fingerprinted as.
const UNKNOWN: &[u8] = b"{\"unknown\":true}";

/// What the gate read from one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Reading {
    /// Its token estimate.
    pub estimate: Estimate,
    /// Its fingerprints, for every event of the call.
    pub fingerprint: Fingerprint,
}

/// Reads `req`: its token estimate by `est` and its fingerprint (text
/// blocks as their text, every other block by its canonical JSON, so two
/// requests differing only in an image or a tool result differ).
pub(crate) fn read(req: &ChatRequest, est: &dyn TokenEstimator) -> Reading {
    let input = req.input();
    // The messages' buffer, if they needed one, else allocated on the first
    // system block or tool configuration that is rendered (a plain chat
    // renders none).
    let (messages, messages_hash, mut buf) = read_messages(input.messages(), est);
    let (system, system_hash) = read_system(input.system(), est, &mut buf);
    let tools = input
        .tool_config()
        .map_or(0, |t| tool_tokens(t, est, &mut buf));
    let fingerprint = Fingerprint {
        system: system_hash,
        messages: Some(messages_hash),
    };
    Reading {
        estimate: Estimate::new(system, messages, tools),
        fingerprint,
    }
}

/// The messages' tokens and fingerprint: per message its role, then its
/// text (a lone text block) or its canonical JSON.
///
/// A chat of text messages is hashed from the texts where they lie. Any
/// other request's messages are written, as the fingerprint's pieces, into
/// one buffer, each message's JSON rendered in place and read there by the
/// estimate, and hashed in one shot at the end; that buffer is returned,
/// emptied, for the rest of the reading.
fn read_messages(messages: &[Message], est: &dyn TokenEstimator) -> (u64, Hash128, Vec<u8>) {
    let overhead = est.message_overhead();
    if messages.iter().all(|m| lone_text(m).is_some()) {
        let tokens = messages
            .iter()
            .filter_map(lone_text)
            .map(|t| est.text_tokens(t) + overhead)
            .sum();
        let pairs = messages
            .iter()
            .filter_map(|m| Some((m.role().as_str(), lone_text(m)?)));
        return (tokens, fingerprint_messages(pairs), Vec::new());
    }
    let mut p = Pieces::with_capacity(1024);
    let tokens = messages
        .iter()
        .map(|m| read_message(m, est, &mut p) + overhead)
        .sum();
    (tokens, p.finish(), p.into_buf())
}

/// The tool configuration's tokens, counted by its canonical JSON: by its
/// size alone when the estimator counts by size (nothing written), else
/// by its text, written to `buf`. A variant this SDK does not know counts
/// nothing.
fn tool_tokens(t: &ToolConfiguration, est: &dyn TokenEstimator, buf: &mut Vec<u8>) -> u64 {
    // An estimator answers for every size or for none.
    if est.sized_tokens(TextSize::default()).is_some() {
        return wire::tool_config_size(t)
            .ok()
            .and_then(|size| est.sized_tokens(size))
            .unwrap_or(0);
    }
    start(buf);
    let written = wire::write_tool_config(buf, t);
    text_of(buf, written).map_or(0, |j| est.text_tokens(j))
}

/// The text of a message that is one text block.
fn lone_text(m: &Message) -> Option<&str> {
    match m.content() {
        [ContentBlock::Text(t)] => Some(t),
        _ => None,
    }
}

/// Empties `buf` for the next text, with room for a turn's tool use and
/// result without regrowing.
fn start(buf: &mut Vec<u8>) {
    buf.clear();
    buf.reserve(1024);
}

/// The text a view wrote into `buf`, unless it failed (a variant this SDK
/// does not know). The views write UTF-8 only.
fn text_of(buf: &[u8], written: Result<(), wire::WireError>) -> Option<&str> {
    written.ok().and_then(|()| std::str::from_utf8(buf).ok())
}

/// The system prompt's tokens and fingerprint (`None` without one): a text
/// block as its text, any other by its canonical JSON.
fn read_system(
    blocks: &[SystemContentBlock],
    est: &dyn TokenEstimator,
    buf: &mut Vec<u8>,
) -> (u64, Option<Hash128>) {
    if blocks.is_empty() {
        return (0, None);
    }
    let mut h = Hasher::new();
    let mut tokens = 0;
    for b in blocks {
        if let SystemContentBlock::Text(t) = b {
            tokens += est.text_tokens(t);
            h.piece(t.as_bytes());
            continue;
        }
        start(buf);
        let written = wire::write_system(buf, std::slice::from_ref(b), Binary::Hash);
        let Some(j) = text_of(buf, written) else {
            h.piece(UNKNOWN);
            continue;
        };
        // A cache point costs no tokens; its text still tells two prompts
        // apart.
        if !matches!(b, SystemContentBlock::CachePoint(_)) {
            tokens += est.text_tokens(j);
        }
        h.piece(j.as_bytes());
    }
    (tokens, Some(h.finish()))
}

/// One message's tokens (without the per-message overhead), its role and
/// text added to `p`.
fn read_message(m: &Message, est: &dyn TokenEstimator, p: &mut Pieces) -> u64 {
    p.piece(m.role().as_str().as_bytes());
    if let Some(t) = lone_text(m) {
        p.piece(t.as_bytes());
        return est.text_tokens(t);
    }
    // Each block's range in the message's text, in order; a range starts
    // and ends at ASCII punctuation.
    let mut ranges = smallvec::SmallVec::<[std::ops::Range<usize>; 8]>::new();
    let (buf, start) = p.open();
    let written = wire::write_message(buf, m, Binary::Hash, |r| ranges.push(r));
    let Some(text) = text_of(p.opened(start), written) else {
        // A variant this SDK does not know: each block on its own (the
        // unknown one counts nothing), the message by the marker.
        p.abandon(start);
        p.piece(UNKNOWN);
        return m.content().iter().map(|c| block_tokens(est, c)).sum();
    };
    let tokens = m
        .content()
        .iter()
        .zip(ranges)
        .map(|(c, r)| match text.get(r) {
            Some(j) if json_sized(c) => json_sized_tokens(est, c, j),
            _ => block_tokens(est, c),
        })
        .sum();
    p.close(start);
    tokens
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::estimate::CharEstimator;
    use aws_sdk_bedrockruntime::types::{
        CachePointBlock, CachePointType, ConversationRole, ImageBlock, ImageFormat, ImageSource,
        ToolResultBlock, ToolResultContentBlock, ToolUseBlock,
    };
    use aws_smithy_types::{Blob, Document};

    fn message(role: ConversationRole, content: Vec<ContentBlock>) -> Message {
        Message::builder()
            .role(role)
            .set_content(Some(content))
            .build()
            .unwrap()
    }

    fn agent_turn() -> Vec<Message> {
        let input = Document::Object(
            [
                (
                    "city".to_string(),
                    Document::String("Paris \"Île\"\n".into()),
                ),
                ("days".to_string(), Document::from(3u64)),
            ]
            .into_iter()
            .collect(),
        );
        let tool_use = ToolUseBlock::builder()
            .tool_use_id("tu-1")
            .name("get_weather")
            .input(input)
            .build()
            .unwrap();
        let image = ImageBlock::builder()
            .format(ImageFormat::Png)
            .source(ImageSource::Bytes(Blob::new(vec![1u8, 2, 3])))
            .build()
            .unwrap();
        let result = ToolResultBlock::builder()
            .tool_use_id("tu-1")
            .content(ToolResultContentBlock::Json(Document::from("sunny")))
            .content(ToolResultContentBlock::Image(image.clone()))
            .build()
            .unwrap();
        let point = CachePointBlock::builder()
            .r#type(CachePointType::Default)
            .build()
            .unwrap();
        vec![
            message(
                ConversationRole::User,
                vec![ContentBlock::Text("hi".into())],
            ),
            message(
                ConversationRole::Assistant,
                vec![
                    ContentBlock::Text("Let me look.".into()),
                    ContentBlock::ToolUse(tool_use),
                ],
            ),
            message(
                ConversationRole::User,
                vec![
                    ContentBlock::ToolResult(result),
                    ContentBlock::Image(image),
                    ContentBlock::CachePoint(point),
                ],
            ),
        ]
    }

    /// A chat of text messages has the fingerprint `fingerprint_messages`
    /// gives its (role, text) pairs, whichever path reads it.
    #[test]
    fn text_chat_fingerprint_is_the_pairs() {
        let texts = [
            (ConversationRole::User, "hi"),
            (ConversationRole::Assistant, "Hello! How can I help?"),
            (ConversationRole::User, "The weather in Paris, please."),
        ];
        let messages: Vec<Message> = texts
            .iter()
            .map(|(r, t)| message(r.clone(), vec![ContentBlock::Text((*t).into())]))
            .collect();
        let input = aws_sdk_bedrockruntime::operation::converse::ConverseInput::builder()
            .set_messages(Some(messages))
            .build()
            .unwrap();
        let reading = read(&ChatRequest::from(input), &CharEstimator::default());
        let pairs = texts.iter().map(|(r, t)| (r.as_str(), *t));
        assert_eq!(
            reading.fingerprint.messages,
            Some(tollgate_cost::fingerprint_messages(pairs))
        );
        // 1 + 6 + 8 tokens of text, 4 per message.
        assert_eq!(reading.estimate.input(), 15 + 12);
    }

    /// A tool configuration counts as its canonical JSON: measured by an
    /// estimator that counts by size, written out for one that reads the
    /// text, the same count either way.
    #[test]
    fn tool_configuration_counts_as_its_json() {
        use aws_sdk_bedrockruntime::types::{
            Tool, ToolConfiguration, ToolInputSchema, ToolSpecification,
        };
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "Ville, e.g. \"Orléans\""}},
            "required": ["city"]
        });
        let spec = ToolSpecification::builder()
            .name("get_weather")
            .description("The current weather in a city.")
            .input_schema(ToolInputSchema::Json(wire::document_from_json(&schema)))
            .build()
            .unwrap();
        let tools = ToolConfiguration::builder()
            .tools(Tool::ToolSpec(spec))
            .build()
            .unwrap();
        let input = aws_sdk_bedrockruntime::operation::converse::ConverseInput::builder()
            .messages(message(
                ConversationRole::User,
                vec![ContentBlock::Text("hi".into())],
            ))
            .tool_config(tools.clone())
            .build()
            .unwrap();
        let req = ChatRequest::from(input);
        let json = wire::tool_config_text(&tools).unwrap();

        // One token per character, so any miscount shows.
        let per_char = CharEstimator {
            chars_per_token: 1,
            per_message: 4,
        };
        /// Counts the text it is given as `per_char` does, never by size.
        struct Reads(CharEstimator, std::sync::Mutex<Vec<String>>);
        impl TokenEstimator for Reads {
            fn text_tokens(&self, text: &str) -> u64 {
                self.1.lock().unwrap().push(text.to_string());
                self.0.text_tokens(text)
            }
        }
        let reads = Reads(per_char, std::sync::Mutex::new(Vec::new()));
        let by_text = read(&req, &reads).estimate;
        assert_eq!(reads.1.lock().unwrap().last(), Some(&json));
        let by_size = read(&req, &per_char).estimate;
        assert_eq!(by_size, by_text);
        // "hi" 2 + 4; the tool configuration's characters (é one of them,
        // two bytes).
        let chars = json.chars().count() as u64;
        assert_eq!(chars, json.len() as u64 - 1);
        assert_eq!(by_size.input(), 6 + chars);
    }

    /// The one pass gives what each reader gives on its own: every
    /// message's canonical text hashed (a lone text block as its text),
    /// and every block counted as `block_tokens` counts it alone.
    #[test]
    fn one_pass_matches_each_reader_alone() {
        let messages = agent_turn();
        let input = aws_sdk_bedrockruntime::operation::converse::ConverseInput::builder()
            .set_messages(Some(messages.clone()))
            .build()
            .unwrap();
        let req = ChatRequest::from(input);
        let est = CharEstimator::default();
        let Reading {
            estimate,
            fingerprint,
        } = read(&req, &est);

        let mut h = Hasher::new();
        for m in &messages {
            h.piece(m.role().as_str().as_bytes());
            match m.content() {
                [ContentBlock::Text(t)] => h.piece(t.as_bytes()),
                _ => h.piece(wire::message_text(m, Binary::Hash).unwrap().as_bytes()),
            };
        }
        assert_eq!(fingerprint.messages, Some(h.finish()));
        assert_eq!(fingerprint.system, None);

        let alone: u64 = messages
            .iter()
            .map(|m| {
                m.content()
                    .iter()
                    .map(|c| block_tokens(&est, c))
                    .sum::<u64>()
                    + 4
            })
            .sum();
        assert_eq!(estimate.input(), alone);
        // Pinned: "hi" 1 + 4; "Let me look." 3 + the tool use's 97-char
        // JSON 25 + 4; the tool result's 154-char JSON 39 + its image
        // 3,000, the image 3,000, the cache point 0, + 4.
        assert_eq!(estimate.input(), 5 + 32 + 6043);
    }
}
