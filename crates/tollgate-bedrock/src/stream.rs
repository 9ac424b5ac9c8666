//! [`Gate::converse_stream`]: ConverseStream under the policy, with the
//! stream guard.
//!
//! Every event Bedrock sends (message start, block starts, text, tool-use
//! and reasoning deltas, block stops, message stop, metadata) goes to the
//! caller as it arrives, in order, as the SDK's own
//! `ConverseStreamOutput`. The guard cancels early when
//! the repetition detector fires (`[[limit]] cancel_on_repetition`) or the
//! caller's output budget is spent: dropping the SDK's event receiver
//! closes the connection, which is the only way to stop Bedrock generating.
//!
//! Billing a stream that did not finish: Bedrock reports usage only in
//! the final `metadata` event, so a stream cut by the guard, an exception
//! frame or a dropped connection has none. The gate then bills its own
//! estimate, the whole input plus the output received, and marks the
//! usage as estimated ([`StreamSummary::usage_estimated`]). AWS does not
//! document whether abandoned output is billed (and one report says it is
//! billed in full), so this is a floor, never an overcharge.
//!
//! Up to its first event a stream is retried as [`Gate::converse`] is
//! (the same retry loop; the time limit is [`Timeouts::first_event`]):
//! an error answer, an exception frame or a dropped connection before
//! any event. Errors after the first event are not retried: part of the
//! answer has been delivered and billed, and a retry would pay again. A
//! stall longer than [`Timeouts::idle`] between two events ends the
//! stream with [`GateError::Timeout`].
//!
//! [`Timeouts::first_event`]: crate::Timeouts::first_event
//! [`Timeouts::idle`]: crate::Timeouts::idle

use crate::call::{Prepared, Spent};
use crate::error::GateError;
use crate::gate::Gate;
use crate::plan::Plan;
use crate::read::Reading;
use crate::repetition::RepetitionDetector;
use crate::request::ChatRequest;
use crate::retry::{GaveUp, Step};
use crate::sdk::{self, Failure};
use crate::usage::usage_of;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput};
use std::sync::Arc;
use std::time::Instant;
use tollgate_cache::PromptTtl;
use tollgate_cost::{CallEvent, CancelReason, Mode, Status, Tags, Ticket, Usage};
use tollgate_engine::{Decision, Live};
use tollgate_lang::{Latency, ModelIdx, Tier};

type Receiver = aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
    ConverseStreamOutput,
    ConverseStreamOutputError,
>;

/// Caller-side limits of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamOptions {
    /// Cancel once this many output tokens (estimated) have streamed.
    pub output_budget_tokens: Option<u64>,
}

/// What the caller receives from [`GateStream::next`]: the SDK's own
/// stream event, as Bedrock sent it.
pub type StreamEvent = ConverseStreamOutput;

/// The text of a text delta event.
pub fn text_delta(ev: &StreamEvent) -> Option<&str> {
    match ev {
        ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
            Some(ContentBlockDelta::Text(t)) => Some(t.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// The model finished (`messageStop` and the stream's end).
    Finished,
    /// The repetition detector fired.
    Repetition,
    /// The caller's output budget was spent.
    OutputBudget,
    /// The caller dropped the stream before its end.
    Caller,
    /// An exception frame or a transport error ended it.
    Error,
}

/// How a stream went, once it has ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    /// The text received.
    pub text: String,
    /// Bedrock's stop reason, when `messageStop` arrived.
    pub stop_reason: Option<String>,
    /// Tokens billed (estimated when no `metadata` event arrived).
    pub usage: Usage,
    /// `usage` is the gate's estimate, not Bedrock's count.
    pub usage_estimated: bool,
    /// Why it ended.
    pub cause: StopCause,
    /// The event written for it.
    pub event: CallEvent,
}

/// A gated ConverseStream. Read it with [`GateStream::next`]; dropping it
/// early cancels the call and still writes its event.
pub struct GateStream<'g> {
    gate: &'g Gate,
    live: Arc<Live>,
    req: ChatRequest,
    tags: Tags,
    feature: String,
    /// The call's limit's `retry_budget_pct`.
    retry_budget_pct: Option<f64>,
    /// The decision's `[[prompt_cache]]` rule, by name.
    prompt_rule: Option<String>,
    decision: Decision,
    served: ModelIdx,
    attempts: u32,
    reading: Reading,
    prompt_ttl: PromptTtl,
    rx: Option<Receiver>,
    /// The first event, read before the stream was handed over (`None`
    /// after it was yielded, or for a stream without events).
    first: Option<StreamEvent>,
    /// The longest wait for the next event.
    idle: std::time::Duration,
    started: Instant,
    text: String,
    detector: Option<RepetitionDetector>,
    budget: Option<u64>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
    invoked: Option<String>,
    /// The service tier the metadata event reports.
    service_tier: Option<Tier>,
    /// The latency option asked for, then the one the metadata reports.
    latency: Option<Latency>,
    summary: Option<StreamSummary>,
    ticket: Option<Ticket>,
    downgraded_from: Option<ModelIdx>,
}

impl std::fmt::Debug for GateStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateStream")
            .field("text_len", &self.text.len())
            .field("done", &self.summary.is_some())
            .finish_non_exhaustive()
    }
}

/// A stream opened: its first event read, and what its end needs.
struct Opened {
    started: Instant,
    reading: Reading,
    feature: String,
    decision: Decision,
    retry_budget_pct: Option<f64>,
    prompt_rule: Option<String>,
    detector: Option<RepetitionDetector>,
    served: ModelIdx,
    attempts: u32,
    prompt_ttl: PromptTtl,
    latency: Option<Latency>,
    rx: Receiver,
    first: Option<StreamEvent>,
    ticket: Option<Ticket>,
}

impl Gate {
    /// One ConverseStream call under the policy. Retries and fallback
    /// apply to the initial request; the returned stream yields deltas.
    /// Streams are not served from the response cache.
    pub async fn converse_stream(
        &self,
        req: ChatRequest,
        tags: Tags,
        opts: StreamOptions,
    ) -> Result<GateStream<'_>, GateError> {
        Gate::check_request(&req)?;
        let live = self.policy().current();
        let o = self.open(&live, &req, &tags).await?;
        Ok(GateStream {
            gate: self,
            live,
            req,
            tags,
            feature: o.feature,
            retry_budget_pct: o.retry_budget_pct,
            prompt_rule: o.prompt_rule,
            decision: o.decision,
            served: o.served,
            attempts: o.attempts,
            reading: o.reading,
            prompt_ttl: o.prompt_ttl,
            rx: Some(o.rx),
            first: o.first,
            idle: self.timeouts().idle,
            started: o.started,
            text: String::new(),
            detector: o.detector,
            budget: opts.output_budget_tokens,
            stop_reason: None,
            usage: None,
            invoked: None,
            service_tier: None,
            latency: o.latency,
            summary: None,
            downgraded_from: o.ticket.as_ref().and_then(Ticket::downgraded_from),
            ticket: o.ticket,
        })
    }

    /// Decides, reserves and sends the stream's attempts up to its first
    /// event; a refusal or a failure writes its event here.
    async fn open(&self, live: &Live, req: &ChatRequest, tags: &Tags) -> Result<Opened, GateError> {
        let call = self.prepare(live, (req, tags), Mode::Stream);
        let mut plan = call.plan()?;
        let ticket = match call.reserve(&mut plan).await {
            Ok(t) => t,
            Err(error) => return Err(call.rejected(plan.decision(), error)),
        };
        let policy = call.policy();
        let d = *plan.decision();
        let ((rx, first), step) = match self.first_event(&call, &plan).await {
            Ok(v) => v,
            Err(g) => {
                // Nothing streamed, nothing billed.
                let at = (plan.model_at(g.step().pos()), g.step().n());
                return Err(call.failed(&d, at, g.into_error(), ticket).await);
            }
        };
        let detector = d
            .limit
            .and_then(|l| policy.limits.get(l.index()))
            .filter(|l| l.then.cancel_on_repetition)
            .map(|l| RepetitionDetector::new(l.then.repetition.ngram, l.then.repetition.repeats));
        Ok(Opened {
            started: call.started(),
            reading: call.reading(),
            feature: call.feature().to_string(),
            decision: d,
            retry_budget_pct: plan.retry_budget_pct(),
            prompt_rule: plan.prompt_rule().map(str::to_string),
            detector,
            served: plan.model_at(step.pos()),
            attempts: step.n(),
            prompt_ttl: plan.ttl_for(policy, step.pos()),
            latency: plan.latency_sent(policy, step.pos()),
            rx,
            first,
            ticket,
        })
    }

    /// The attempts up to a first event, through the one retry loop (the
    /// time limit is [`Timeouts::first_event`]).
    ///
    /// [`Timeouts::first_event`]: crate::Timeouts::first_event
    async fn first_event(
        &self,
        call: &Prepared<'_>,
        plan: &Plan,
    ) -> Result<((Receiver, Option<StreamEvent>), Step), GaveUp> {
        let rule = plan.retry_rule(self, call.feature(), self.timeouts().first_event);
        crate::retry::run(
            &rule,
            |step: Step| async move {
                let input = call.attempt_input(plan, step)?;
                let guardrail = call.req().stream_guardrail();
                // Boxed: the SDK's send future is several KiB, and keeping it
                // inline made every poll of the gate's future move it.
                let send = sdk::converse_stream_call(self.client(), input, guardrail).send();
                let mut rx = Box::pin(send).await.map_err(Failure::of)?.stream;
                // Up to its first event a stream is retried like any call.
                let first = rx.recv().await.map_err(first_event_failure)?;
                Ok((rx, first))
            },
            |_, _| {},
        )
        .await
    }
}

impl GateStream<'_> {
    /// The next event; `None` once the stream has ended (its summary is
    /// then in [`GateStream::summary`]). An error ends the stream.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, GateError>> {
        let rx = self.rx.as_mut()?;
        let got = match self.first.take() {
            Some(ev) => Ok(Some(ev)),
            None => match tokio::time::timeout(self.idle, rx.recv()).await {
                Ok(r) => r,
                Err(_) => {
                    let err = GateError::Timeout {
                        after_ms: u64::try_from(self.idle.as_millis()).unwrap_or(u64::MAX),
                        attempts: self.attempts,
                    };
                    self.finish(StopCause::Error, Some(&err));
                    return Some(Err(err));
                }
            },
        };
        match got {
            Ok(Some(ev)) => {
                self.observe(&ev);
                Some(Ok(ev))
            }
            Ok(None) => {
                self.finish(StopCause::Finished, None);
                None
            }
            Err(e) => {
                let err = stream_error(e, self.attempts);
                self.finish(StopCause::Error, Some(&err));
                Some(Err(err))
            }
        }
    }

    /// What the gate reads from an event on its way to the caller: text
    /// for the guard, the stop reason, usage and the router's model.
    fn observe(&mut self, ev: &ConverseStreamOutput) {
        match ev {
            ConverseStreamOutput::ContentBlockDelta(d) => {
                let Some(ContentBlockDelta::Text(t)) = d.delta() else {
                    return;
                };
                self.text.push_str(t);
                if self.detector.as_mut().is_some_and(|det| det.push(t)) {
                    self.finish(StopCause::Repetition, None);
                } else if self
                    .budget
                    .is_some_and(|b| self.gate.estimator().text_tokens(&self.text) >= b)
                {
                    self.finish(StopCause::OutputBudget, None);
                }
            }
            ConverseStreamOutput::MessageStop(m) => {
                self.stop_reason = Some(m.stop_reason.as_str().to_string());
            }
            ConverseStreamOutput::Metadata(m) => {
                self.usage = m.usage.as_ref().map(|u| usage_of(u, self.prompt_ttl));
                self.invoked = m
                    .trace
                    .as_ref()
                    .and_then(|t| t.prompt_router())
                    .and_then(|r| r.invoked_model_id())
                    .map(str::to_string);
                if let Some(t) = m.service_tier.as_ref() {
                    self.service_tier = Tier::parse(t.r#type().as_str());
                }
                if let Some(l) = m
                    .performance_config
                    .as_ref()
                    .and_then(|pc| Latency::parse(pc.latency().as_str()))
                {
                    self.latency = Some(l);
                }
            }
            _ => {}
        }
    }

    /// Reads the stream to its end and returns its summary.
    pub async fn collect(mut self) -> Result<StreamSummary, GateError> {
        let mut first_err = None;
        while let Some(r) = self.next().await {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match (first_err, self.summary.take()) {
            (Some(e), _) => Err(e),
            (None, Some(s)) => Ok(s),
            (None, None) => Err(GateError::Malformed(
                "stream ended without a summary".into(),
            )),
        }
    }

    /// The summary, once the stream has ended.
    pub fn summary(&self) -> Option<&StreamSummary> {
        self.summary.as_ref()
    }

    /// Takes the summary, once the stream has ended.
    pub fn take_summary(&mut self) -> Option<StreamSummary> {
        self.summary.take()
    }

    /// Cancels the stream now (as the caller).
    pub fn cancel(&mut self) {
        if self.rx.is_some() {
            self.finish(StopCause::Caller, None);
        }
    }

    fn finish(&mut self, cause: StopCause, err: Option<&GateError>) {
        // Dropping the receiver closes the connection: Bedrock stops.
        self.rx = None;
        let (usage, estimated) = match self.usage {
            Some(u) => (u, false),
            None => {
                let est = self.gate.estimator();
                (
                    Usage::new(self.reading.estimate.input(), est.text_tokens(&self.text)),
                    true,
                )
            }
        };
        let event = self.event(cause, err, usage, estimated);
        // The stream ends in a poll or a drop, which cannot await: on a
        // runtime a Redis ledger settles in a task of its own.
        if let Some(t) = self.ticket.take() {
            t.settle_detached(event.cost_nanos);
        }
        let spent = Spent {
            cost_nanos: event.cost_nanos,
            retried: self.attempts > 1,
            served: self.served,
            // An estimate teaches the prompt-cache planner nothing.
            usage: (!estimated).then_some(&usage),
        };
        let budget = (self.retry_budget_pct, self.feature.as_str());
        let rule = self.prompt_rule.as_deref();
        self.gate.spent(self.live.policy(), budget, rule, spent);
        self.gate.emit(&event);
        self.summary = Some(StreamSummary {
            text: self.text.clone(),
            stop_reason: self.stop_reason.clone(),
            usage,
            usage_estimated: estimated,
            cause,
            event,
        });
    }

    /// The stream's event: its cause and error, the usage billed (Bedrock's
    /// or the estimate), at the tier the metadata reports and the latency
    /// served.
    fn event(
        &self,
        cause: StopCause,
        err: Option<&GateError>,
        usage: Usage,
        estimated: bool,
    ) -> CallEvent {
        let call = Prepared::resume(
            self.gate,
            &self.live,
            (&self.req, &self.tags),
            Mode::Stream,
            self.started,
            self.reading,
        );
        let status = match cause {
            StopCause::Finished => Status::Ok,
            StopCause::Error => Status::Error,
            _ => Status::Cancelled,
        };
        let mut b = call
            .event(&self.decision)
            .served_model(self.served)
            .attempts(self.attempts)
            .status(status)
            .usage(usage)
            .usage_estimated(estimated)
            .text(self.req.last_user_text().unwrap_or(""), &self.text);
        let reason = match cause {
            StopCause::Repetition => Some(CancelReason::Repetition),
            StopCause::Caller => Some(CancelReason::Caller),
            StopCause::OutputBudget => Some(CancelReason::OutputBudget),
            StopCause::Finished | StopCause::Error => None,
        };
        if let Some(r) = reason {
            b = b.cancel_reason(r);
        }
        if let Some(e) = err {
            b = b.error_type(e.error_type());
        }
        let router_prices = self.gate.router_prices(self.invoked.as_deref());
        if let Some(p) = router_prices.as_ref() {
            b = b.prices(p);
        }
        if let Some(id) = &self.invoked {
            b = b.response_model_id(id.clone());
        }
        if let Some(t) = self.service_tier {
            b = b.service_tier(t);
        }
        if let Some(l) = self.latency {
            b = b.latency(l);
        }
        if let Some(orig) = self.downgraded_from {
            b = b.downgraded_from(orig);
        }
        b.build()
    }
}

/// A failure before a stream's first event, for the retry loop: an
/// exception frame by its type (no headers to read a wait from), a
/// dropped connection as a transport error.
fn first_event_failure(
    e: aws_sdk_bedrockruntime::error::SdkError<
        ConverseStreamOutputError,
        aws_smithy_types::event_stream::RawMessage,
    >,
) -> Failure {
    match stream_error(e, 1) {
        GateError::Stream { code, message } => Failure::Service {
            code,
            message,
            retry_after: None,
        },
        GateError::Transport(t) => Failure::Transport(t),
        GateError::Request(t) => Failure::Request(t),
        other => Failure::Malformed(other.to_string()),
    }
}

/// An error inside the stream. Exception frames carry their type only in
/// the `:exception-type` header (lowerCamel on the wire, e.g.
/// `modelStreamErrorException`), so the SDK's error metadata has no code:
/// the code comes from the modeled variant.
fn stream_error(
    e: aws_sdk_bedrockruntime::error::SdkError<
        ConverseStreamOutputError,
        aws_smithy_types::event_stream::RawMessage,
    >,
    attempts: u32,
) -> GateError {
    use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
    if let SdkError::ServiceError(se) = &e {
        let err = se.err();
        let code = match err {
            ConverseStreamOutputError::InternalServerException(_) => {
                Some("InternalServerException")
            }
            ConverseStreamOutputError::ModelStreamErrorException(_) => {
                Some("ModelStreamErrorException")
            }
            ConverseStreamOutputError::ValidationException(_) => Some("ValidationException"),
            ConverseStreamOutputError::ThrottlingException(_) => Some("ThrottlingException"),
            ConverseStreamOutputError::ServiceUnavailableException(_) => {
                Some("ServiceUnavailableException")
            }
            other => other.code(),
        };
        if let Some(code) = code {
            return GateError::Stream {
                code: code.to_string(),
                message: err.message().unwrap_or_default().to_string(),
            };
        }
    }
    Failure::of(e).into_error(attempts)
}

impl Drop for GateStream<'_> {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.finish(StopCause::Caller, None);
        }
    }
}
