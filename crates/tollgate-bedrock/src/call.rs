//! The one prepared-call pipeline every operation runs: request ->
//! context -> decision (-> per-attempt plan) -> budget reservation ->
//! attempts through the one retry loop (`retry::run`) -> usage -> cost ->
//! event. [`Prepared`] holds what a call has read so far (the request, its
//! context, the policy it was decided under, its feature for the retry
//! budget) and builds every event the call writes: the answer's, the
//! error's and the budget's refusal. Converse (`converse.rs`), the stream
//! (`stream.rs`), embeddings (`embed.rs`) and batch (`batch.rs`) are thin
//! users of it.

use crate::attrs;
use crate::error::GateError;
use crate::gate::Gate;
use crate::plan::{model_id_of, Plan};
use crate::read::{read, Reading};
use crate::request::ChatRequest;
use crate::retry::Step;
use crate::sdk::{self, Failure};
use crate::usage::{cache_usage, ms};
use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use std::sync::Arc;
use std::time::Instant;
use tollgate_cost::{EventBuilder, EventNames, Mode, Status, Tags, Ticket, Usage};
use tollgate_engine::{Context, Decision, Live};
use tollgate_lang::{ModelIdx, Policy};

/// One call, read and ready to decide: its request and tags, the policy
/// it is decided under, its context, its estimate, when it started and
/// the mode its events carry.
pub(crate) struct Prepared<'a> {
    gate: &'a Gate,
    live: &'a Live,
    ctx: Context<'a>,
    req: &'a ChatRequest,
    tags: &'a Tags,
    reading: Reading,
    started: Instant,
    names: Arc<EventNames>,
    mode: Mode,
}

/// How a call went, for its settlement: what it cost and whether it
/// retried, and, for prompt caching, the model that answered and the
/// usage Bedrock reported (`None`: an estimate, not observed).
pub(crate) struct Spent<'u> {
    pub cost_nanos: u64,
    pub retried: bool,
    pub served: ModelIdx,
    pub usage: Option<&'u Usage>,
}

impl Gate {
    /// The request is one the gate can send.
    pub(crate) fn check_request(req: &ChatRequest) -> Result<(), GateError> {
        if req.input().messages().is_empty() {
            return Err(GateError::Request(
                "a request needs at least one message".into(),
            ));
        }
        Ok(())
    }

    /// Reads a call under `live` (the handle's current policy): the
    /// request's estimate and fingerprint, and its context (built-in
    /// attributes, tags, application attributes).
    pub(crate) fn prepare<'a>(
        &'a self,
        live: &'a Live,
        (req, tags): (&'a ChatRequest, &'a Tags),
        mode: Mode,
    ) -> Prepared<'a> {
        let reading = read(req, self.estimator());
        Prepared::resume(self, live, (req, tags), mode, Instant::now(), reading)
    }
}

impl<'a> Prepared<'a> {
    /// A call read again after its start (a stream's end): the same
    /// policy, reading and start, its context rebuilt.
    pub(crate) fn resume(
        gate: &'a Gate,
        live: &'a Live,
        (req, tags): (&'a ChatRequest, &'a Tags),
        mode: Mode,
        started: Instant,
        reading: Reading,
    ) -> Prepared<'a> {
        let mut ctx = Context::new(gate.policy().schema());
        attrs::fill_ids(&mut ctx, gate.attr_ids(), req, tags, &reading.estimate);
        let names = gate.event_names(live.policy());
        Prepared {
            gate,
            live,
            ctx,
            req,
            tags,
            reading,
            started,
            names,
            mode,
        }
    }

    /// Scores the policy's learned routers on the last user turn, before
    /// deciding.
    pub(crate) fn score_routers(&mut self) {
        if let Some(p) = self.req.last_user_text() {
            tollgate_engine::score_routers(self.live.policy(), &mut self.ctx, p);
        }
    }

    /// The gate the call runs on.
    pub(crate) fn gate(&self) -> &'a Gate {
        self.gate
    }

    /// When the call started.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// What the gate read from the request.
    pub(crate) fn reading(&self) -> Reading {
        self.reading
    }

    /// The policy the call is decided under.
    pub(crate) fn policy(&self) -> &'a Policy {
        self.live.policy()
    }

    /// The call's context.
    pub(crate) fn ctx(&self) -> &Context<'a> {
        &self.ctx
    }

    /// The request.
    pub(crate) fn req(&self) -> &'a ChatRequest {
        self.req
    }

    /// The policy's names for events.
    pub(crate) fn names(&self) -> &Arc<EventNames> {
        &self.names
    }

    /// The decision alone (embeddings and batch: no attempts to plan).
    pub(crate) fn decide(&self) -> Decision {
        self.live.decide(&self.ctx)
    }

    /// The decision resolved to the call's plan.
    pub(crate) fn plan(&self) -> Result<Plan, GateError> {
        let planner = self.gate.planner();
        Plan::decide(
            planner,
            self.policy(),
            self.live,
            &self.ctx,
            self.req,
            self.reading.estimate,
        )
    }

    /// The feature the retry budget counts the call under: the `feature`
    /// attribute, else the tag.
    pub(crate) fn feature(&self) -> &'a str {
        self.gate
            .attr_ids()
            .feature(&self.ctx)
            .or(self.tags.feature.as_deref())
            .unwrap_or("")
    }

    /// The SDK input of the attempt at `step`: the request with what the
    /// plan changes for that place's model.
    pub(crate) fn attempt_input(&self, plan: &Plan, step: Step) -> Result<ConverseInput, Failure> {
        let policy = self.policy();
        let model_id = model_id_of(&self.names, policy, plan.model_at(step.pos()));
        let changes = plan.changes(policy, model_id.as_str(), step.pos());
        sdk::attempt_input(self.req, &changes).map_err(|e| Failure::Request(e.to_string()))
    }

    /// Reserves the plan's estimate under the decision's `[[budget]]`
    /// rule; a refusal is the error to write with [`Prepared::rejected`].
    pub(crate) async fn reserve(&self, plan: &mut Plan) -> Result<Option<Ticket>, GateError> {
        self.gate.reserve(self.policy(), &self.ctx, plan).await
    }

    /// Every event of the call starts here: the gate's options, the
    /// decision, the call's mode, tags, fingerprint and latency so far.
    pub(crate) fn event<'b>(&'b self, d: &'b Decision) -> EventBuilder<'b, 'a> {
        self.gate
            .event_builder(self.policy(), d, &self.ctx, self.names.clone())
            .mode(self.mode)
            .tags(self.tags.clone())
            .fingerprint(self.reading.fingerprint)
            .latency_ms(ms(self.started))
    }

    /// Writes the event of a call a budget refused (Bedrock not called)
    /// and returns its error.
    pub(crate) fn rejected(&self, d: &Decision, error: GateError) -> GateError {
        let event = self
            .event(d)
            .status(Status::Rejected)
            .error_type(error.error_type())
            .attempts(0)
            .build();
        self.gate.emit(&event);
        error
    }

    /// Writes the event of a call whose attempts failed, releases its
    /// reservation (failed attempts bill nothing) and returns its error.
    pub(crate) async fn failed(
        &self,
        d: &Decision,
        (served, attempts): (ModelIdx, u32),
        error: GateError,
        ticket: Option<Ticket>,
    ) -> GateError {
        let mut b = self
            .event(d)
            .served_model(served)
            .status(Status::Error)
            .error_type(error.error_type())
            .attempts(attempts);
        if let Some(orig) = ticket.as_ref().and_then(Ticket::downgraded_from) {
            b = b.downgraded_from(orig);
        }
        let event = b.build();
        if let Some(t) = ticket {
            t.cancel_async().await;
        }
        self.gate.emit(&event);
        error
    }
}

impl Gate {
    /// After a call is priced: its cost against the feature's retry
    /// budget and, under a `[[prompt_cache]]` rule, the usage Bedrock
    /// reported for the planner to learn from.
    pub(crate) fn spent(
        &self,
        policy: &Policy,
        (retry_budget_pct, feature): (Option<f64>, &str),
        prompt_rule: Option<&str>,
        s: Spent<'_>,
    ) {
        self.record_retry_spend(retry_budget_pct, feature, s.cost_nanos, s.retried);
        if let (Some(rule), Some(usage)) = (prompt_rule, s.usage) {
            let model_id = policy.model(s.served).map(|m| m.id.as_str()).unwrap_or("");
            self.planner().observe(rule, model_id, &cache_usage(usage));
        }
    }
}
