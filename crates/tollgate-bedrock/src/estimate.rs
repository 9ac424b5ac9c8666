//! Token estimates before the call.
//!
//! Rules read `input_tokens` before Bedrock has counted anything, and an
//! aborted stream has no usage to bill from. Bedrock's `CountTokens` is
//! exact but costs a round trip per call, which would dwarf the decision;
//! so the default is the usual ~4 characters per token plus a small
//! per-message overhead, and the estimator is a trait so an application can
//! plug in a real tokenizer.

/// Estimates token counts of text.
pub trait TokenEstimator: Send + Sync {
    /// Tokens in a piece of text.
    fn text_tokens(&self, text: &str) -> u64;

    /// Fixed overhead per message (role markers, separators).
    fn message_overhead(&self) -> u64 {
        4
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
        let chars = text.chars().count() as u64;
        chars.div_ceil(u64::from(self.chars_per_token.max(1)))
    }

    fn message_overhead(&self) -> u64 {
        u64::from(self.per_message)
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
}
