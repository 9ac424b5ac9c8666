//! [`Gate::converse`]: one Converse call under the policy.
//!
//! The path reads top to bottom: request -> attributes -> decision ->
//! response-cache lookup -> budget reserve -> attempts (each planned for
//! its own model, see `Plan::changes` in `plan.rs`) -> usage -> cost ->
//! cache fill -> call event. Every exit (hit, answer, error) writes
//! exactly one event, because a call that is not recorded cannot be
//! budgeted, replayed or explained.

use crate::call::{Prepared, Spent};
use crate::error::GateError;
use crate::gate::Gate;
use crate::plan::{model_id_of, Plan};
use crate::request::ChatRequest;
use crate::response::{Attempt, ChatResponse};
use crate::sdk::{self, Failure};
use crate::usage::{cache_usage, usage_of};
use crate::wire::{self, Binary};
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{self as sdk_types, StopReason, TokenUsage};
use tollgate_cache::{Fill, Lookup, Outcome};
use tollgate_cost::{CacheOutcome, CallEvent, Mode, Tags, Ticket, Usage};
use tollgate_engine::Decision;
use tollgate_lang::{Latency, ModelIdx, Policy};

/// The attempts' result.
struct Sent {
    out: ConverseOutput,
    attempts: Vec<Attempt>,
    served: ModelIdx,
    /// The latency option the answering attempt asked for.
    latency: Option<Latency>,
}

/// The last attempt's failure.
struct Failed {
    error: GateError,
    throttled: bool,
    attempts: u32,
    model: ModelIdx,
}

impl Gate {
    /// One Converse call under the policy: decide, serve from the response
    /// cache or call Bedrock (with tollgate's retries and fallback), price
    /// it, fill the cache, and write the call event. The request is sent
    /// as built, except what the decision changes (model id, `maxTokens`,
    /// cache points).
    pub async fn converse(
        &self,
        req: &ChatRequest,
        tags: &Tags,
    ) -> Result<ChatResponse, GateError> {
        Gate::check_request(req)?;
        // Converse is a real-time call even when a `[[batch]]` rule
        // matched: on-demand prices.
        let live = self.policy().current();
        let mut call = self.prepare(&live, (req, tags), Mode::Realtime);
        // Learned routers score the last user turn before deciding.
        call.score_routers();
        let mut plan = call.plan()?;
        let d = *plan.decision();
        // The paths only some calls take (a response cache, a budget, a
        // failure) are boxed: their code stays out of this future's poll,
        // whose every call runs from a cold instruction cache.
        let mut fill = None;
        if d.cache.is_some() && self.response_cache().is_some() {
            if let Some(hit) = boxed(self.lookup(&call, &d, &mut fill)).await {
                return Ok(hit);
            }
        }
        let ticket = if self.ledger().is_some() {
            match boxed(call.reserve(&mut plan)).await {
                Ok(t) => t,
                Err(error) => return Err(boxed(refused(&call, &d, error, fill)).await),
            }
        } else {
            None
        };
        // Pinned where it is built: awaited by value, the attempts' future
        // (the SDK's send future inside: several KiB) would be copied. In
        // a block of its own, so its storage is free again for what the
        // answer's exit holds across its await (the response, ~1 KiB):
        // the two overlap in this future instead of adding up.
        let sent = {
            let attempts = std::pin::pin!(self.attempts(&call, &plan));
            attempts.await
        };
        match sent {
            Ok(sent) => {
                // Priced and answered in place; only a budget's settlement
                // and a cache fill wait on a store, in a boxed future.
                let resp = self.answered(&call, &plan, sent, ticket.as_ref());
                if ticket.is_some() || fill.is_some() {
                    boxed(settle_and_fill(&call, &plan, &resp, ticket, fill)).await;
                }
                self.emit(&resp.event);
                Ok(resp)
            }
            Err(f) => Err(boxed(gave_up(&call, &d, f, ticket, fill)).await),
        }
    }

    /// A response-cache hit (the stored message and stop reason), or a
    /// miss with the fill to complete in `fill`. A stored `tool_use`
    /// answer is served only while the rule opts in (`cache_tool_use`).
    async fn lookup<'f>(
        &'f self,
        call: &Prepared<'_>,
        d: &Decision,
        fill: &mut Option<Fill<'f>>,
    ) -> Option<ChatResponse> {
        let cache = self.response_cache()?;
        let (key, rule) = crate::canonical::key_of(call.policy(), d, call.ctx(), call.req())?;
        // Awaited: a Redis store's round trip holds this call only, never
        // the worker; an in-process store answers in place.
        let entry = match cache.lookup_async(key, rule).await {
            Lookup::Hit(e) => e,
            Lookup::InFlight(w) => w.await?,
            Lookup::Miss(f) => {
                *fill = Some(f);
                return None;
            }
        };
        if entry.stop_reason == tollgate_cache::StopReason::ToolUse
            && !cache_tool_use(call.policy(), d)
        {
            return None;
        }
        let output = cached_output(&entry.body, entry.stop_reason.as_str())?;
        let event = call
            .event(d)
            .cache(CacheOutcome::Hit)
            .attempts(0)
            .cost_avoided_nanos(entry.cost_nanos)
            .build();
        self.emit(&event);
        Some(ChatResponse {
            output,
            usage: Usage::default(),
            model_id: tollgate_cost::Name::from(&entry.model_id),
            response_model_id: None,
            attempts: Vec::new(),
            event,
        })
    }

    /// Sends the attempts: each planned for its model, retried and moved
    /// to fallbacks by the one retry loop (`retry::run`).
    async fn attempts(&self, call: &Prepared<'_>, plan: &Plan) -> Result<Sent, Failed> {
        let mut attempts: Vec<Attempt> = Vec::new();
        let rule = plan.retry_rule(self, call.feature(), self.timeouts().attempt);
        let sent = crate::retry::run(
            &rule,
            |step: crate::retry::Step| async move {
                let input = call.attempt_input(plan, step)?;
                // Not boxed: a box of the SDK's send future (several KiB) cost
                // an allocation and a copy per call, and measured slower.
                std::pin::pin!(sdk::converse_call(self.client(), input).send())
                    .await
                    .map_err(Failure::of)
            },
            |step, r| {
                let (error, usage) = match r {
                    Ok(out) => {
                        let ttl = plan.ttl_for(call.policy(), step.pos());
                        (
                            None,
                            out.usage().map(|u| usage_of(u, ttl)).unwrap_or_default(),
                        )
                    }
                    Err(f) => (Some(f.code().into_owned()), Usage::default()),
                };
                attempts.push(Attempt {
                    model_id: model_id_of(call.names(), call.policy(), plan.model_at(step.pos())),
                    error,
                    usage,
                });
            },
        )
        .await;
        match sent {
            Ok((out, step)) => Ok(Sent {
                out,
                attempts,
                served: plan.model_at(step.pos()),
                latency: plan.latency_sent(call.policy(), step.pos()),
            }),
            Err(g) => Err(Failed {
                throttled: g.throttled(),
                attempts: g.step().n(),
                model: plan.model_at(g.step().pos()),
                error: g.into_error(),
            }),
        }
    }

    /// The answer exit: price it, observe prompt caching, and build the
    /// response with its event (written by the caller, after the budget's
    /// settlement and the cache fill, if any).
    fn answered(
        &self,
        call: &Prepared<'_>,
        plan: &Plan,
        sent: Sent,
        ticket: Option<&Ticket>,
    ) -> ChatResponse {
        let usage = sent.attempts.iter().fold(Usage::default(), |mut acc, a| {
            acc.add(&a.usage);
            acc
        });
        let invoked = sent
            .out
            .trace()
            .and_then(|t| t.prompt_router())
            .and_then(|r| r.invoked_model_id())
            .map(str::to_string);
        let event = answer_event(call, plan, &sent, usage, invoked.clone(), ticket);
        let spent = Spent {
            cost_nanos: event.cost_nanos,
            retried: sent.attempts.len() > 1,
            served: sent.served,
            usage: Some(&usage),
        };
        let budget = (plan.retry_budget_pct(), call.feature());
        self.spent(call.policy(), budget, plan.prompt_rule(), spent);
        let model_id = sent
            .attempts
            .last()
            .map(|a| a.model_id.clone())
            .unwrap_or_else(|| model_id_of(call.names(), call.policy(), sent.served));
        ChatResponse {
            output: sent.out,
            usage,
            model_id,
            response_model_id: invoked,
            attempts: sent.attempts,
            event,
        }
    }
}

/// After an answer: the budget's reservation settled at its cost, and the
/// response cache filled with it.
async fn settle_and_fill(
    call: &Prepared<'_>,
    plan: &Plan,
    resp: &ChatResponse,
    ticket: Option<Ticket>,
    fill: Option<Fill<'_>>,
) {
    if let Some(t) = ticket {
        t.settle_async(resp.event.cost_nanos).await;
    }
    if let Some(f) = fill {
        fill_cache(
            f,
            (call.policy(), plan.decision()),
            &resp.output,
            &resp.usage,
            resp.event.cost_nanos,
            &resp.model_id,
        )
        .await;
    }
}

/// A future boxed behind `dyn`, so its code is not inlined into the
/// caller's poll (for paths few calls take).
fn boxed<'a, T>(
    f: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    Box::pin(f)
}

/// The exit of a call its budget refused: the cache fill (if any) given
/// up, the refusal's event written.
async fn refused(
    call: &Prepared<'_>,
    d: &Decision,
    error: GateError,
    fill: Option<Fill<'_>>,
) -> GateError {
    if let Some(f) = fill {
        f.complete_async(Outcome::Failed).await;
    }
    call.rejected(d, error)
}

/// The exit of a call whose attempts failed: the cache fill (if any)
/// given up, the reservation released, the error's event written.
async fn gave_up(
    call: &Prepared<'_>,
    d: &Decision,
    f: Failed,
    ticket: Option<Ticket>,
    fill: Option<Fill<'_>>,
) -> GateError {
    if let Some(fl) = fill {
        fl.complete_async(if f.throttled {
            Outcome::Throttled
        } else {
            Outcome::Failed
        })
        .await;
    }
    call.failed(d, (f.model, f.attempts), f.error, ticket).await
}

/// The answer's event: the answering model and its attempts, usage
/// priced at the tier and latency the response reports (a prompt
/// router's invoked model at its own prices).
fn answer_event(
    call: &Prepared<'_>,
    plan: &Plan,
    sent: &Sent,
    usage: Usage,
    invoked: Option<String>,
    ticket: Option<&Ticket>,
) -> CallEvent {
    let router_prices = call.gate().router_prices(invoked.as_deref());
    let out = &sent.out;
    // The answer's text is copied only for an event that records it.
    let text = if call.gate().records_response_text() {
        output_text(out)
    } else {
        String::new()
    };
    let mut b = call
        .event(plan.decision())
        .served_model(sent.served)
        .attempts(sent.attempts.len() as u32)
        .usage(usage)
        .text(call.req().last_user_text().unwrap_or(""), &text);
    if let Some(p) = router_prices.as_ref() {
        b = b.prices(p);
    }
    // Billed at the tier and latency the response reports; a response
    // without `performanceConfig` was served at the latency asked for.
    if let Some(t) = out
        .service_tier()
        .and_then(|t| tollgate_lang::Tier::parse(t.r#type().as_str()))
    {
        b = b.service_tier(t);
    }
    let served_latency = out
        .performance_config()
        .and_then(|pc| Latency::parse(pc.latency().as_str()))
        .or(sent.latency);
    if let Some(l) = served_latency {
        b = b.latency(l);
    }
    if let Some(id) = invoked {
        b = b.response_model_id(id);
    }
    if let Some(orig) = ticket.and_then(Ticket::downgraded_from) {
        b = b.downgraded_from(orig);
    }
    b.build()
}

/// The `[[cache]]` rule of the decision opts in to storing and serving
/// answers that stop to call a tool.
fn cache_tool_use(policy: &Policy, d: &Decision) -> bool {
    d.cache
        .and_then(|c| policy.caches.get(c.index()))
        .is_some_and(|r| r.then.cache_tool_use)
}

/// The text blocks of an output message, joined.
pub(crate) fn output_text(out: &ConverseOutput) -> String {
    out.output()
        .and_then(|o| o.as_message().ok())
        .map(|m| {
            m.content()
                .iter()
                .filter_map(|c| c.as_text().ok())
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default()
}

/// Stores the whole output message, unless it stops for a tool use the
/// rule does not opt in to, or holds a block the SDK does not know (both:
/// nothing stored, and waiters call Bedrock themselves). The store is
/// awaited.
async fn fill_cache(
    f: Fill<'_>,
    (policy, d): (&Policy, &Decision),
    out: &ConverseOutput,
    usage: &Usage,
    cost_nanos: u64,
    model_id: &str,
) {
    let stop = out.stop_reason();
    // The message's canonical text, binary parts in base64: what
    // `message_from_json` reads back.
    let body = out
        .output()
        .and_then(|o| o.as_message().ok())
        .and_then(|m| wire::message_text(m, Binary::Base64).ok());
    let tool_use_refused = *stop == StopReason::ToolUse && !cache_tool_use(policy, d);
    let Some(body) = body.filter(|_| !tool_use_refused) else {
        f.complete_async(Outcome::Failed).await;
        return;
    };
    let entry = tollgate_cache::Entry::new(
        body.into_bytes(),
        tollgate_cache::StopReason::parse(stop.as_str()),
        cache_usage(usage),
        cost_nanos,
        model_id,
    );
    f.complete_async(Outcome::Answered {
        entry: &entry,
        guardrail_flagged: *stop == StopReason::GuardrailIntervened,
    })
    .await;
}

/// The SDK output of a cached entry: its message and stop reason, zero
/// usage (nothing was billed). `None` when the body is not a stored
/// message (an entry written by an older gate): the call then goes to
/// Bedrock.
fn cached_output(body: &[u8], stop: &str) -> Option<ConverseOutput> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = wire::message_from_json(&json).ok()?;
    let usage = TokenUsage::builder()
        .input_tokens(0)
        .output_tokens(0)
        .total_tokens(0)
        .build()
        .ok()?;
    ConverseOutput::builder()
        .output(sdk_types::ConverseOutput::Message(message))
        .stop_reason(StopReason::from(stop))
        .usage(usage)
        .build()
        .ok()
}
