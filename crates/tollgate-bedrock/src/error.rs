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
        /// The error code (`ThrottlingException`, `ValidationException`, ...;
        /// `HTTP 503` and the like when an error status came without one).
        code: String,
        /// Bedrock's message.
        message: String,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The connection failed or was reset, on the last attempt.
    #[error("connection to bedrock failed: {0}")]
    Transport(String),
    /// No answer within the per-attempt time limit on the last attempt
    /// (for a stream: no first event, or no next event within the idle
    /// limit).
    #[error("bedrock sent nothing within {after_ms} ms (attempt {attempts})")]
    Timeout {
        /// The limit that ran out, milliseconds.
        after_ms: u64,
        /// Attempts made, the first included.
        attempts: u32,
    },
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
    /// A `[[budget]]` rule with `action = "reject"` refused the call:
    /// its daily budget cannot take this call's estimate. Bedrock was not
    /// called.
    #[error("budget `{rule}` is spent for {group_by} `{group}`: {spent_nanos} of {limit_nanos} nano-USD used today, and this call may cost up to {estimate_nanos}")]
    BudgetExceeded {
        /// The `[[budget]]` rule.
        rule: String,
        /// Its `group_by` (or `global`).
        group_by: String,
        /// The request's group value.
        group: String,
        /// The group's spend today, reservations included, nano-dollars.
        spent_nanos: i64,
        /// `daily_usd`, nano-dollars.
        limit_nanos: u64,
        /// This call's worst-case estimate, nano-dollars.
        estimate_nanos: u64,
    },
    /// The spend store could not answer and the ledger fails closed.
    #[error("budget `{rule}` cannot be checked: {message}")]
    BudgetUnavailable {
        /// The `[[budget]]` rule.
        rule: String,
        /// The store's error.
        message: String,
    },
    /// A batch job would break one of Bedrock's per-job quotas
    /// ([`JobLimits`](crate::JobLimits)); nothing was submitted.
    #[error("batch quota `{limit}` is {quota}, and {scope} has {count}")]
    BatchQuota {
        /// The quota's name, as the Service Quotas console shows it.
        limit: String,
        /// Its value.
        quota: u64,
        /// What broke it: `the job`, or `file <name>`.
        scope: String,
        /// The count (records or bytes, as the quota counts).
        count: u64,
    },
    /// A batch job ended without outputs to read (`Failed`, `Stopped`,
    /// `Expired`), or was not done by the deadline it was waited for.
    #[error("batch job `{job_arn}` is {state}: {message}")]
    BatchJob {
        /// The job's ARN.
        job_arn: String,
        /// Its state, as Bedrock names it.
        state: String,
        /// Bedrock's message for the job (or why the wait ended).
        message: String,
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
            GateError::Timeout { .. } => "AttemptTimeout".to_string(),
            GateError::Malformed(_) => "MalformedResponse".to_string(),
            GateError::Request(_) => "InvalidRequest".to_string(),
            GateError::NoModel(_) => "NoModel".to_string(),
            GateError::BudgetExceeded { .. } => "BudgetExceeded".to_string(),
            GateError::BudgetUnavailable { .. } => "BudgetUnavailable".to_string(),
            GateError::BatchQuota { .. } => "BatchQuota".to_string(),
            GateError::BatchJob { .. } => "BatchJob".to_string(),
        }
    }
}

impl From<tollgate_cost::BudgetError> for GateError {
    fn from(e: tollgate_cost::BudgetError) -> GateError {
        match e {
            tollgate_cost::BudgetError::Exceeded {
                rule,
                group_by,
                group,
                spent_nanos,
                limit_nanos,
                estimate_nanos,
            } => GateError::BudgetExceeded {
                rule,
                group_by,
                group,
                spent_nanos,
                limit_nanos,
                estimate_nanos,
            },
            tollgate_cost::BudgetError::StoreUnavailable { rule, source } => {
                GateError::BudgetUnavailable {
                    rule,
                    message: source.to_string(),
                }
            }
            // `BudgetError` is non-exhaustive: a future refusal still
            // refuses the call.
            other => GateError::BudgetUnavailable {
                rule: String::new(),
                message: other.to_string(),
            },
        }
    }
}
