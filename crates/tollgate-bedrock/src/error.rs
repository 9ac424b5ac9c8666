//! The gate's errors.
//!
//! One enum the caller can match on: what Bedrock said (with its error
//! code, so callers can tell a throttle from a validation error), what the
//! transport did, and what the policy could not answer. SDK error types are
//! not exposed: they change with every SDK release, and the caller needs
//! the code and the attempts, not the SDK's layering.

/// Why a gated call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Bedrock answered with an error after the last attempt.
    #[error("bedrock returned `{code}` after {attempts} attempt(s): {message}")]
    Bedrock {
        /// The error code (`ThrottlingException`, `ValidationException`, ...).
        code: String,
        /// Bedrock's message.
        message: String,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The connection failed or was reset (not retried: the request may
    /// have reached the model and been billed).
    #[error("connection to bedrock failed: {0}")]
    Transport(String),
    /// Bedrock's response could not be read (malformed JSON, a broken
    /// event-stream frame).
    #[error("unreadable response from bedrock: {0}")]
    Malformed(String),
    /// The request cannot be sent (no messages, an SDK builder refused it).
    #[error("invalid request: {0}")]
    Request(String),
    /// The policy names a model it does not define (a reload race).
    #[error("policy has no model at index {0}")]
    NoModel(usize),
    /// The retry budget of the feature stopped the retries.
    #[error("retry budget of feature `{feature}` is spent; last error `{code}`")]
    RetryBudget {
        /// The feature.
        feature: String,
        /// The last attempt's error code.
        code: String,
    },
    /// A stream error frame from Bedrock, mid-stream.
    #[error("stream failed with `{code}`: {message}")]
    Stream {
        /// The exception type.
        code: String,
        /// Its message.
        message: String,
    },
}

impl GateError {
    /// The error's type name as call events record it.
    pub fn error_type(&self) -> String {
        match self {
            GateError::Bedrock { code, .. }
            | GateError::RetryBudget { code, .. }
            | GateError::Stream { code, .. } => code.clone(),
            GateError::Transport(_) => "TransportError".to_string(),
            GateError::Malformed(_) => "MalformedResponse".to_string(),
            GateError::Request(_) => "InvalidRequest".to_string(),
            GateError::NoModel(_) => "NoModel".to_string(),
        }
    }
}
