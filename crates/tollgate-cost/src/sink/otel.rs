//! A `tracing` span per call, with OpenTelemetry GenAI semantic-convention
//! field names, so `tracing-opentelemetry` (or any subscriber) exports it as
//! a GenAI client span.
//!
//! | field | value |
//! |---|---|
//! | `otel.name`, `otel.kind` | `"{operation} {model id}"`, `"client"` |
//! | `gen_ai.provider.name` | `"aws.bedrock"` |
//! | `gen_ai.operation.name` | `chat`, `text_completion`, `embeddings` |
//! | `gen_ai.request.model` | the model id sent |
//! | `gen_ai.response.model` | the prompt router's invoked model, else the model id |
//! | `gen_ai.request.max_tokens` | the output cap sent |
//! | `gen_ai.usage.input_tokens` | the **whole** prompt: uncached + cache read + cache write, as the convention asks (Bedrock's `inputTokens` alone excludes cached tokens) |
//! | `gen_ai.usage.output_tokens` | output tokens |
//! | `gen_ai.usage.cache_read.input_tokens` | cache reads |
//! | `gen_ai.usage.cache_creation.input_tokens` | cache writes (both TTLs) |
//! | `error.type` | the error type, for failed calls |
//! | `tollgate.*` | request id, alias, mode, status, cache, attempts, latency, cost (USD and nanos), cost avoided, policy hash, route rule, tags, cancel reason |
//!
//! An adapter opens [`call_span`] when the call starts (so the span's time is
//! the call's) and fills it with [`record_outcome`] at the end;
//! [`TracingSink`] does both at once for an event recorded after the fact,
//! and emits one `INFO` event inside the span for log-style subscribers.
//! Target: `tollgate::call`.

use super::{Sink, SinkError};
use crate::event::{CallEvent, Operation};
use tracing::field::Empty;
use tracing::Span;

/// The span target.
pub const TARGET: &str = "tollgate::call";

/// Opens the span of one call; usage and outcome fields start empty.
pub fn call_span(
    operation: Operation,
    model_id: &str,
    max_tokens: Option<u32>,
    request_id: &str,
) -> Span {
    let name = format!("{} {}", operation.name(), model_id);
    tracing::info_span!(
        target: "tollgate::call",
        "gen_ai",
        otel.name = name.as_str(),
        otel.kind = "client",
        gen_ai.provider.name = "aws.bedrock",
        gen_ai.operation.name = operation.name(),
        gen_ai.request.model = model_id,
        gen_ai.request.max_tokens = max_tokens.map(u64::from),
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        error.type = Empty,
        tollgate.request_id = request_id,
        tollgate.model = Empty,
        tollgate.mode = Empty,
        tollgate.status = Empty,
        tollgate.cache = Empty,
        tollgate.attempts = Empty,
        tollgate.latency_ms = Empty,
        tollgate.cost_usd = Empty,
        tollgate.cost_nanos = Empty,
        tollgate.cost_avoided_usd = Empty,
        tollgate.policy_hash = Empty,
        tollgate.rule.route = Empty,
        tollgate.feature = Empty,
        tollgate.tenant = Empty,
        tollgate.app = Empty,
        tollgate.use_case = Empty,
        tollgate.cancel_reason = Empty,
    )
}

/// Fills a [`call_span`] with the call's outcome.
pub fn record_outcome(span: &Span, ev: &CallEvent) {
    let u = &ev.usage;
    let response_model = ev.response_model_id.as_deref().unwrap_or(&ev.model_id);
    span.record("gen_ai.response.model", response_model);
    span.record("gen_ai.usage.input_tokens", u.total_input_tokens());
    span.record("gen_ai.usage.output_tokens", u.output_tokens);
    span.record(
        "gen_ai.usage.cache_read.input_tokens",
        u.cache_read_input_tokens,
    );
    span.record(
        "gen_ai.usage.cache_creation.input_tokens",
        u.cache_write_input_tokens,
    );
    if let Some(e) = &ev.error_type {
        span.record("error.type", e.as_str());
    }
    span.record("tollgate.model", ev.model.as_str());
    span.record("tollgate.mode", ev.mode.name());
    span.record("tollgate.status", ev.status.name());
    span.record("tollgate.cache", ev.cache.name());
    span.record("tollgate.attempts", u64::from(ev.attempts));
    span.record("tollgate.latency_ms", ev.latency_ms);
    span.record("tollgate.cost_usd", ev.cost_usd);
    span.record("tollgate.cost_nanos", ev.cost_nanos);
    span.record("tollgate.cost_avoided_usd", ev.cost_avoided_usd);
    span.record("tollgate.policy_hash", ev.policy_hash.as_str());
    if let Some(r) = &ev.rules.route {
        span.record("tollgate.rule.route", r.as_str());
    }
    let tags = [
        ("tollgate.feature", &ev.tags.feature),
        ("tollgate.tenant", &ev.tags.tenant),
        ("tollgate.app", &ev.tags.app),
        ("tollgate.use_case", &ev.tags.use_case),
    ];
    for (field, value) in tags {
        if let Some(v) = value {
            span.record(field, v.as_str());
        }
    }
    if let Some(r) = ev.cancel_reason {
        span.record("tollgate.cancel_reason", r.name());
    }
}

/// Emits each event as a [`call_span`] filled by [`record_outcome`], with one
/// `INFO` event inside it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl Sink for TracingSink {
    fn write(&self, ev: &CallEvent) -> Result<(), SinkError> {
        let span = call_span(
            ev.operation,
            &ev.model_id,
            ev.max_output_tokens,
            &ev.request_id,
        );
        if span.is_disabled() {
            return Ok(());
        }
        record_outcome(&span, ev);
        span.in_scope(|| {
            tracing::info!(
                target: "tollgate::call",
                cost_usd = ev.cost_usd,
                "bedrock call recorded"
            );
        });
        Ok(())
    }
}
