//! What one attempt sends, and back from the SDK's errors to what the
//! retry loop needs.
//!
//! An attempt's input is the application's `ConverseInput` with only what
//! the attempt's plan changes: the model id, `maxTokens`, the planned
//! `cachePoint` blocks (after tools / system / the last message) and, on a
//! model without prompt caching, no cache points at all; and the route's
//! `serviceTier` / `performanceConfig` where the attempt's model offers
//! them (on another model, none: the default tier, standard latency).
//! Everything else is
//! sent as the application built it. Kept apart from the gate so the wire
//! shape is in one file a reader can check against Bedrock's API reference.

use crate::error::GateError;
use crate::request::ChatRequest;
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder;
use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, CacheTtl, ContentBlock, GuardrailStreamConfiguration,
    InferenceConfiguration, PerformanceConfigLatency, PerformanceConfiguration, ServiceTier,
    ServiceTierType, SystemContentBlock, Tool,
};
use aws_sdk_bedrockruntime::Client;
use std::borrow::Cow;
use std::time::Duration;
use tollgate_cache::PromptTtl;
use tollgate_lang::CachePointSite;
use tollgate_lang::{Latency, Tier};

/// Bedrock's limit on `cachePoint` blocks per request.
pub const MAX_CACHE_POINTS: usize = 4;

/// What one attempt changes in the request.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptChanges<'a> {
    /// The model id sent.
    pub model_id: &'a str,
    /// `maxTokens` (already clamped to the model's maximum output).
    pub max_tokens: Option<u32>,
    /// Where the gate adds cache points (only sites the model supports).
    pub sites: smallvec::SmallVec<[CachePointSite; 3]>,
    /// Their TTL (one the model supports).
    pub ttl: PromptTtl,
    /// The model has no prompt caching: every cache point is removed,
    /// the application's own too (the model would refuse the request).
    pub strip_cache_points: bool,
    /// `serviceTier`.
    pub service_tier: Override<Tier>,
    /// `performanceConfig.latency`.
    pub latency: Override<Latency>,
}

/// What an attempt does with a request field a decision may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Override<T> {
    /// Sent as the application set it (the route sets nothing).
    #[default]
    Keep,
    /// Left out: Bedrock's default (the route's choice is not offered by
    /// the attempt's model, or is the default itself).
    Unset,
    /// Sent with this value.
    Set(T),
}

fn set_tier(input: &mut ConverseInput, o: Override<Tier>) -> Result<(), GateError> {
    input.service_tier = match o {
        Override::Keep => return Ok(()),
        Override::Unset => None,
        Override::Set(t) => Some(
            ServiceTier::builder()
                .r#type(ServiceTierType::from(t.name()))
                .build()
                .map_err(|e| GateError::Request(e.to_string()))?,
        ),
    };
    Ok(())
}

fn set_latency(input: &mut ConverseInput, o: Override<Latency>) {
    input.performance_config = match o {
        Override::Keep => return,
        Override::Unset => None,
        Override::Set(l) => Some(
            PerformanceConfiguration::builder()
                .latency(PerformanceConfigLatency::from(l.name()))
                .build(),
        ),
    };
}

fn cache_point(ttl: PromptTtl) -> Result<CachePointBlock, GateError> {
    let ttl = match ttl {
        PromptTtl::FiveMinutes => CacheTtl::FiveMinutes,
        PromptTtl::OneHour => CacheTtl::OneHour,
    };
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .ttl(ttl)
        .build()
        .map_err(|e| GateError::Request(e.to_string()))
}

fn count_points(input: &ConverseInput) -> usize {
    let sys = input.system().iter().filter(|b| b.is_cache_point()).count();
    let msgs: usize = input
        .messages()
        .iter()
        .map(|m| m.content().iter().filter(|c| c.is_cache_point()).count())
        .sum();
    let tools = input.tool_config().map_or(0, |t| {
        t.tools().iter().filter(|t| t.is_cache_point()).count()
    });
    sys + msgs + tools
}

fn strip_points(input: &mut ConverseInput) {
    if let Some(s) = input.system.as_mut() {
        s.retain(|b| !b.is_cache_point());
    }
    for m in input.messages.iter_mut().flatten() {
        m.content.retain(|c| !c.is_cache_point());
    }
    if let Some(t) = input.tool_config.as_mut() {
        t.tools.retain(|t| !t.is_cache_point());
    }
}

/// Adds the planned cache points where the site does not already end
/// with one, up to Bedrock's limit of [`MAX_CACHE_POINTS`].
fn add_points(
    input: &mut ConverseInput,
    sites: &[CachePointSite],
    ttl: PromptTtl,
) -> Result<(), GateError> {
    let mut room = MAX_CACHE_POINTS.saturating_sub(count_points(input));
    for site in [
        CachePointSite::Tools,
        CachePointSite::System,
        CachePointSite::Messages,
    ] {
        if room == 0 || !sites.contains(&site) {
            continue;
        }
        let added = match site {
            CachePointSite::Tools => match input.tool_config.as_mut() {
                Some(t)
                    if !t.tools.is_empty() && !t.tools.last().is_some_and(Tool::is_cache_point) =>
                {
                    t.tools.push(Tool::CachePoint(cache_point(ttl)?));
                    true
                }
                _ => false,
            },
            CachePointSite::System => match input.system.as_mut() {
                Some(s)
                    if !s.is_empty()
                        && !s.last().is_some_and(SystemContentBlock::is_cache_point) =>
                {
                    s.push(SystemContentBlock::CachePoint(cache_point(ttl)?));
                    true
                }
                _ => false,
            },
            CachePointSite::Messages => match input.messages.as_mut().and_then(|m| m.last_mut()) {
                Some(m) if !m.content.last().is_some_and(ContentBlock::is_cache_point) => {
                    m.content.push(ContentBlock::CachePoint(cache_point(ttl)?));
                    true
                }
                _ => false,
            },
        };
        if added {
            room -= 1;
        }
    }
    Ok(())
}

/// The input one attempt sends: the request's, with the attempt's changes.
pub fn attempt_input(
    req: &ChatRequest,
    a: &AttemptChanges<'_>,
) -> Result<ConverseInput, GateError> {
    let mut input = req.input().clone();
    input.model_id = Some(a.model_id.to_string());
    if a.max_tokens.is_some() {
        let inf = input
            .inference_config
            .get_or_insert_with(|| InferenceConfiguration::builder().build());
        inf.max_tokens = a.max_tokens.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    }
    if a.strip_cache_points {
        strip_points(&mut input);
    } else {
        add_points(&mut input, &a.sites, a.ttl)?;
    }
    set_tier(&mut input, a.service_tier)?;
    set_latency(&mut input, a.latency);
    Ok(input)
}

/// A Converse call carrying every field of `input`.
pub fn converse_call(client: &Client, input: ConverseInput) -> ConverseFluentBuilder {
    // Optional parts are set only when present: each builder call moves
    // the whole (large) fluent builder.
    let mut c = client
        .converse()
        .set_model_id(input.model_id)
        .set_messages(input.messages);
    if input.system.is_some() {
        c = c.set_system(input.system);
    }
    if input.inference_config.is_some() {
        c = c.set_inference_config(input.inference_config);
    }
    if input.tool_config.is_some() {
        c = c.set_tool_config(input.tool_config);
    }
    if input.guardrail_config.is_some()
        || input.additional_model_request_fields.is_some()
        || input.prompt_variables.is_some()
        || input.additional_model_response_field_paths.is_some()
        || input.request_metadata.is_some()
        || input.performance_config.is_some()
        || input.service_tier.is_some()
        || input.output_config.is_some()
    {
        c = c
            .set_guardrail_config(input.guardrail_config)
            .set_additional_model_request_fields(input.additional_model_request_fields)
            .set_prompt_variables(input.prompt_variables)
            .set_additional_model_response_field_paths(input.additional_model_response_field_paths)
            .set_request_metadata(input.request_metadata)
            .set_performance_config(input.performance_config)
            .set_service_tier(input.service_tier)
            .set_output_config(input.output_config);
    }
    c
}

/// A ConverseStream call carrying every field of `input`; the guardrail is
/// the stream one when the request came from a `ConverseStreamInput`, else
/// the Converse one with the default processing mode.
pub fn converse_stream_call(
    client: &Client,
    input: ConverseInput,
    stream_guardrail: Option<&GuardrailStreamConfiguration>,
) -> ConverseStreamFluentBuilder {
    let guardrail = stream_guardrail.cloned().or_else(|| {
        input.guardrail_config.as_ref().map(|g| {
            GuardrailStreamConfiguration::builder()
                .guardrail_identifier(g.guardrail_identifier())
                .guardrail_version(g.guardrail_version())
                .trace(g.trace().clone())
                .build()
        })
    });
    client
        .converse_stream()
        .set_model_id(input.model_id)
        .set_messages(input.messages)
        .set_system(input.system)
        .set_inference_config(input.inference_config)
        .set_tool_config(input.tool_config)
        .set_guardrail_config(guardrail)
        .set_additional_model_request_fields(input.additional_model_request_fields)
        .set_prompt_variables(input.prompt_variables)
        .set_additional_model_response_field_paths(input.additional_model_response_field_paths)
        .set_request_metadata(input.request_metadata)
        .set_performance_config(input.performance_config)
        .set_service_tier(input.service_tier)
        .set_output_config(input.output_config)
}

/// The HTTP status of what an SDK error was read from, when it was an
/// HTTP response (an event-stream frame has none), and the wait its
/// headers ask for.
pub trait RawStatus {
    /// The status code.
    fn http_status(&self) -> Option<u16>;
    /// The wait a `Retry-After` (seconds) or `x-amz-retry-after`
    /// (milliseconds) header asks for; the longer when both are sent.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

impl RawStatus for HttpResponse {
    fn http_status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }

    fn retry_after(&self) -> Option<Duration> {
        let h = self.headers();
        let secs = h.get("retry-after").and_then(parse_retry_after);
        let millis = h
            .get("x-amz-retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis);
        secs.max(millis)
    }
}

/// A `Retry-After` value in seconds (`"2"`, `"1.5"`). The HTTP-date form
/// is not used by Bedrock and reads as no header.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    v.parse::<f64>()
        .ok()
        .and_then(|f| Duration::try_from_secs_f64(f).ok())
}

impl RawStatus for aws_smithy_types::event_stream::RawMessage {
    fn http_status(&self) -> Option<u16> {
        None
    }
}

/// What an SDK error means to the retry loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bedrock answered with a modeled or coded error.
    Service {
        /// Error code.
        code: String,
        /// Message.
        message: String,
        /// The wait its `Retry-After` / `x-amz-retry-after` header asks for.
        retry_after: Option<Duration>,
    },
    /// An HTTP error status without a Bedrock error code (a proxy or load
    /// balancer in front of the endpoint answered).
    Status {
        /// The HTTP status; the code the caller and the event see is
        /// `HTTP 503` and the like.
        status: u16,
        /// The SDK's description.
        message: String,
        /// The wait its `Retry-After` / `x-amz-retry-after` header asks for.
        retry_after: Option<Duration>,
    },
    /// The connection failed or was dropped before an answer.
    Transport(String),
    /// No answer (for a stream: no first event) within the per-attempt
    /// time limit.
    Timeout(Duration),
    /// The response could not be read.
    Malformed(String),
    /// The SDK could not build the request.
    Request(String),
}

impl Failure {
    /// From any SDK error.
    pub fn of<E, R>(e: SdkError<E, R>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: RawStatus + std::fmt::Debug,
    {
        let text = DisplayErrorContext(&e).to_string();
        match e {
            SdkError::ServiceError(se) => {
                let retry_after = se.raw().retry_after();
                let err = se.err();
                match err.code() {
                    Some(code) => Failure::Service {
                        code: code.to_string(),
                        message: err.message().unwrap_or_default().to_string(),
                        retry_after,
                    },
                    None => {
                        let status = se.raw().http_status().unwrap_or(0);
                        if status >= 400 {
                            Failure::Status {
                                status,
                                message: text,
                                retry_after,
                            }
                        } else {
                            Failure::Malformed(text)
                        }
                    }
                }
            }
            SdkError::ResponseError(_) => Failure::Malformed(text),
            SdkError::ConstructionFailure(_) => Failure::Request(text),
            _ => Failure::Transport(text),
        }
    }

    /// The error code (`TransportError`, `AttemptTimeout`,
    /// `MalformedResponse`, `InvalidRequest` for the others).
    pub fn code(&self) -> Cow<'_, str> {
        match self {
            Failure::Service { code, .. } => Cow::Borrowed(code),
            Failure::Status { status, .. } => Cow::Owned(format!("HTTP {status}")),
            Failure::Transport(_) => Cow::Borrowed("TransportError"),
            Failure::Timeout(_) => Cow::Borrowed("AttemptTimeout"),
            Failure::Malformed(_) => Cow::Borrowed("MalformedResponse"),
            Failure::Request(_) => Cow::Borrowed("InvalidRequest"),
        }
    }

    /// The wait the failed response's headers ask for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Service { retry_after, .. } | Failure::Status { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Throttling: Bedrock's `ThrottlingException`, or a bare HTTP 429.
    pub fn is_throttling(&self) -> bool {
        match self {
            Failure::Service { code, .. } => {
                code == "ThrottlingException" || code == "TooManyRequestsException"
            }
            Failure::Status { status, .. } => *status == 429,
            _ => false,
        }
    }

    /// The error the caller sees after the last attempt.
    pub fn into_error(self, attempts: u32) -> GateError {
        match self {
            Failure::Service { code, message, .. } => GateError::Bedrock {
                code,
                message,
                attempts,
            },
            Failure::Status {
                status, message, ..
            } => GateError::Bedrock {
                code: format!("HTTP {status}"),
                message,
                attempts,
            },
            Failure::Transport(t) => GateError::Transport(t),
            Failure::Timeout(d) => GateError::Timeout {
                after_ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                attempts,
            },
            Failure::Malformed(t) => GateError::Malformed(t),
            Failure::Request(t) => GateError::Request(t),
        }
    }
}
