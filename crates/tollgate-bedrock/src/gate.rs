//! The [`Gate`]: one policy-governed Bedrock call.
//!
//! The path reads top to bottom, as docs/design.md's decision path does: request ->
//! attributes -> decision -> response-cache lookup -> Converse with the
//! routed model id, the effective `maxTokens` and the planned cache points
//! -> retries and fallback -> usage -> cost -> cache fill -> call event.
//! Every exit (hit, answer, error) writes exactly one event, because a
//! call that is not recorded cannot be budgeted, replayed or explained.

use crate::attrs::{self, Estimate};
use crate::error::GateError;
use crate::estimate::{CharEstimator, TokenEstimator};
use crate::request::{ChatRequest, Role};
use crate::retry::{classify, classify_status, Backoff, Class, RetryBudget, DEFAULT_MAX_ATTEMPTS};
use crate::sdk::{self, Failure, Parts};
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::Client;
use smallvec::SmallVec;
use std::sync::Arc;
use std::time::Instant;
use tollgate_cache::{
    cache_key, retrieval_ids_of, CacheKey, FillRule, Inference, KeyInput, KeySpec, Lookup, Message,
    Outcome, Part, PromptCachePlanner, PromptTtl, ResponseCache, Segments,
};
use tollgate_cost::budget::Ticket;
use tollgate_cost::{
    CacheOutcome, CacheTtl, CallEvent, Day, EventBuilder, EventNames, EventNamesCache,
    EventOptions, Fingerprint, Ledger, Mode, Name, Sink, Status, Tags, Usage,
};
use tollgate_engine::{Context, Decision, Live, PolicyHandle};
use tollgate_lang::policy::{CachePointSite, Policy};
use tollgate_lang::pricing::{PriceTable, Prices};
use tollgate_lang::ModelIdx;

/// One attempt of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The model id it was sent to.
    pub model_id: Name,
    /// Its error code, when it failed.
    pub error: Option<String>,
    /// Tokens it billed.
    pub usage: Usage,
}

/// A gated call's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The assistant's text.
    pub text: String,
    /// Bedrock's stop reason (`end_turn`, `max_tokens`, ...).
    pub stop_reason: String,
    /// Tokens billed, summed over attempts (zero on a cache hit).
    pub usage: Usage,
    /// The model id that answered (the route's, or a fallback's).
    pub model_id: Name,
    /// The model a prompt router invoked, when the id was a router.
    pub response_model_id: Option<String>,
    /// Bedrock's own `metrics.latencyMs`.
    pub bedrock_latency_ms: Option<u64>,
    /// Every attempt (empty on a cache hit).
    pub attempts: Vec<Attempt>,
    /// The event written for the call.
    pub event: CallEvent,
}

/// Builds a [`Gate`].
pub struct GateBuilder {
    client: Client,
    policy: Arc<PolicyHandle>,
    cache: Option<Arc<ResponseCache>>,
    planner: Arc<PromptCachePlanner>,
    sink: Option<Arc<dyn Sink>>,
    estimator: Arc<dyn TokenEstimator>,
    backoff: Backoff,
    event_options: EventOptions,
    ledger: Option<Ledger>,
    batch: Option<Arc<crate::batch::BatchQueue>>,
    embed_cache: Option<Arc<dyn tollgate_cache::Store>>,
    embed_options: crate::embed::EmbedOptions,
}

impl GateBuilder {
    /// The embedding cache (a tollgate-cache store: in process or Redis):
    /// a text embedded once is not sent again while its entry lives.
    pub fn embed_cache(mut self, store: Arc<dyn tollgate_cache::Store>) -> Self {
        self.embed_cache = Some(store);
        self
    }

    /// Default options of [`Gate::embed`].
    pub fn embed_options(mut self, o: crate::embed::EmbedOptions) -> Self {
        self.embed_options = o;
        self
    }

    /// A batch queue: [`Gate::send`] writes requests a `[[batch]]` rule
    /// matches to it instead of calling Bedrock.
    pub fn batch_queue(mut self, q: Arc<crate::batch::BatchQueue>) -> Self {
        self.batch = Some(q);
        self
    }

    /// A spend ledger (in process or Redis): `[[budget]]` rules apply only
    /// with one. Each call reserves its worst-case estimate before it is
    /// sent and settles to its real cost after.
    pub fn ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// A response cache (`[[cache]]` rules apply only with one).
    pub fn cache(mut self, cache: Arc<ResponseCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// A prompt-cache planner shared with other gates.
    pub fn planner(mut self, planner: Arc<PromptCachePlanner>) -> Self {
        self.planner = planner;
        self
    }

    /// Where call events go.
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// A token estimator other than ~4 characters per token.
    pub fn estimator(mut self, e: Arc<dyn TokenEstimator>) -> Self {
        self.estimator = e;
        self
    }

    /// Backoff between attempts.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// Event options (app tag, text capture).
    pub fn event_options(mut self, o: EventOptions) -> Self {
        self.event_options = o;
        self
    }

    /// The gate. The client is rebuilt with the SDK's retries disabled:
    /// the gate counts, budgets and redirects every attempt itself.
    pub fn build(self) -> Gate {
        let conf = self
            .client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        // Bedrock bills a call at its source region's rate: the client's region.
        let region = conf.region().map(|r| Name::from(r.as_ref()));
        Gate {
            client: Client::from_conf(conf),
            region,
            attr_ids: attrs::AttrIds::of(self.policy.schema()),
            policy: self.policy,
            cache: self.cache,
            planner: self.planner,
            sink: self.sink,
            estimator: self.estimator,
            backoff: self.backoff,
            retry_budget: Arc::new(RetryBudget::default()),
            event_options: self.event_options,
            event_names: EventNamesCache::new(),
            ledger: self.ledger,
            batch: self.batch,
            embed_cache: self.embed_cache,
            embed_options: self.embed_options,
        }
    }
}

/// A policy-governed Bedrock client. Cheap to share (`Arc` it); every
/// method takes `&self`.
pub struct Gate {
    pub(crate) client: Client,
    /// The client's region, which every call is priced at (shared by events).
    pub(crate) region: Option<Name>,
    pub(crate) policy: Arc<PolicyHandle>,
    /// The built-in attributes' slots in the handle's (fixed) schema.
    pub(crate) attr_ids: attrs::AttrIds,
    pub(crate) cache: Option<Arc<ResponseCache>>,
    pub(crate) planner: Arc<PromptCachePlanner>,
    pub(crate) sink: Option<Arc<dyn Sink>>,
    pub(crate) estimator: Arc<dyn TokenEstimator>,
    pub(crate) backoff: Backoff,
    pub(crate) retry_budget: Arc<RetryBudget>,
    pub(crate) event_options: EventOptions,
    /// The current policy's names for events.
    pub(crate) event_names: EventNamesCache,
    pub(crate) ledger: Option<Ledger>,
    pub(crate) batch: Option<Arc<crate::batch::BatchQueue>>,
    pub(crate) embed_cache: Option<Arc<dyn tollgate_cache::Store>>,
    pub(crate) embed_options: crate::embed::EmbedOptions,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("cache", &self.cache.is_some())
            .field("sink", &self.sink.is_some())
            .field("backoff", &self.backoff)
            .field("ledger", &self.ledger.is_some())
            .finish_non_exhaustive()
    }
}

/// What the decision says about one call, resolved to ids and numbers.
pub(crate) struct Plan {
    pub decision: Decision,
    /// The route's model, then its fallbacks (inline: routes name a few).
    pub models: SmallVec<[ModelIdx; 4]>,
    pub max_attempts: u32,
    pub retry_budget_pct: Option<f64>,
    /// The request in SDK types for the first attempt (taken by it; a
    /// retry maps the request again with [`Plan::parts_again`]).
    pub parts: Parts,
    /// The cache points the planner chose.
    pub sites: Vec<CachePointSite>,
    pub prompt_ttl: PromptTtl,
    pub prompt_rule: Option<String>,
    pub estimate: Estimate,
}

impl Plan {
    /// The first attempt's request, moved out: most calls make one
    /// attempt, and cloning the SDK types per attempt cost more than the
    /// gate's whole decision.
    pub(crate) fn take_parts(&mut self) -> Parts {
        std::mem::replace(&mut self.parts, Parts::empty())
    }

    /// The request mapped again for a retry (the same mapping `plan` made).
    pub(crate) fn parts_again(&self, req: &ChatRequest) -> Result<Parts, GateError> {
        sdk::parts(
            req,
            self.decision.max_output_tokens,
            &self.sites,
            self.prompt_ttl,
        )
    }
}

/// What to do after a failed attempt.
pub(crate) enum AfterFailure {
    /// Stop: the error to return, and whether the last failure was a throttle.
    GiveUp { error: GateError, throttled: bool },
    /// Try again on `plan.models[model]`.
    Retry { model: usize },
}

impl Gate {
    /// The retry rule shared by `converse` and `converse_stream`: record the
    /// attempt against the feature's retry budget (when its limit has one),
    /// then retry a retryable failure while attempts and budget remain,
    /// moving to the next fallback model on throttling.
    pub(crate) fn after_failure(
        &self,
        plan: &Plan,
        feature: &str,
        failure: Failure,
        attempt: u32,
        model: usize,
    ) -> AfterFailure {
        self.record_retry_spend(plan.retry_budget_pct, feature, 0, attempt > 1);
        let class = match &failure {
            Failure::Service { code, .. } => classify(code),
            Failure::Status { status, .. } => classify_status(*status),
            _ => Class::Fatal,
        };
        let budget_ok = plan
            .retry_budget_pct
            .is_none_or(|pct| self.retry_budget.allows(feature, pct));
        if class == Class::Fatal || attempt >= plan.max_attempts || !budget_ok {
            let throttled = failure.is_throttling();
            let error = if class != Class::Fatal && attempt < plan.max_attempts && !budget_ok {
                GateError::RetryBudget {
                    feature: feature.to_string(),
                    code: failure.code().into_owned(),
                }
            } else {
                failure.into_error(attempt)
            };
            return AfterFailure::GiveUp { error, throttled };
        }
        let next = if class == Class::RetryFallback && model + 1 < plan.models.len() {
            model + 1
        } else {
            model
        };
        AfterFailure::Retry { model: next }
    }
}

impl Gate {
    /// Records a call's (or failed attempt's) cost against its feature's
    /// retry budget: only for calls whose limit sets `retry_budget_pct`,
    /// the calls that budget governs (the others skip its lock).
    pub(crate) fn record_retry_spend(
        &self,
        retry_budget_pct: Option<f64>,
        feature: &str,
        nanos: u64,
        is_retry: bool,
    ) {
        if retry_budget_pct.is_some() {
            self.retry_budget.record(feature, nanos, is_retry);
        }
    }
}

/// A model's id, shared from the policy's names when they have it.
pub(crate) fn model_id_of(names: &EventNames, policy: &Policy, m: ModelIdx) -> Name {
    match names.model(m) {
        Some((_, id)) => id.clone(),
        None => policy
            .model(m)
            .map(|m| Name::from(&m.id))
            .unwrap_or_default(),
    }
}

pub(crate) fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn fingerprint(req: &ChatRequest) -> Fingerprint {
    let system: Vec<&str> = req.system.iter().map(String::as_str).collect();
    Fingerprint::of(
        &system,
        req.messages
            .iter()
            .map(|m| (m.role.as_str(), m.text.as_str())),
    )
}

pub(crate) fn cost_ttl(t: PromptTtl) -> CacheTtl {
    match t {
        PromptTtl::FiveMinutes => CacheTtl::FiveMinutes,
        PromptTtl::OneHour => CacheTtl::OneHour,
    }
}

pub(crate) fn cache_usage(u: &Usage) -> tollgate_cache::Usage {
    tollgate_cache::Usage {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write_input_tokens,
    }
}

/// Usage from the SDK's `TokenUsage`.
pub(crate) fn usage_of(u: &aws_sdk_bedrockruntime::types::TokenUsage, ttl: PromptTtl) -> Usage {
    use aws_sdk_bedrockruntime::types::CacheTtl as SdkTtl;
    let details: Vec<(CacheTtl, i32)> = u
        .cache_details()
        .iter()
        .map(|d| {
            let t = match d.ttl() {
                SdkTtl::OneHour => CacheTtl::OneHour,
                _ => CacheTtl::FiveMinutes,
            };
            (t, d.input_tokens())
        })
        .collect();
    Usage::from_bedrock(
        u.input_tokens(),
        u.output_tokens(),
        u.cache_read_input_tokens(),
        u.cache_write_input_tokens(),
        &details,
        cost_ttl(ttl),
    )
}

impl Gate {
    /// Starts a gate over an SDK client and a policy handle.
    pub fn builder(client: Client, policy: Arc<PolicyHandle>) -> GateBuilder {
        GateBuilder {
            client,
            policy,
            cache: None,
            planner: Arc::new(PromptCachePlanner::default()),
            sink: None,
            estimator: Arc::new(CharEstimator::default()),
            backoff: Backoff::default(),
            event_options: EventOptions::default(),
            ledger: None,
            batch: None,
            embed_cache: None,
            embed_options: crate::embed::EmbedOptions::default(),
        }
    }

    /// The spend ledger, when the gate has one.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// Reserves the call's estimate under the decision's `[[budget]]` rule
    /// (`None`: the gate has no ledger). On a downgrade the plan's models
    /// become the downgrade target alone: the fallbacks were chosen for the
    /// expensive model.
    pub(crate) fn reserve(
        &self,
        policy: &Policy,
        ctx: &Context<'_>,
        plan: &mut Plan,
    ) -> Result<Option<Ticket>, GateError> {
        let Some(ledger) = &self.ledger else {
            return Ok(None);
        };
        // The call goes out now, in real time or streamed: on-demand prices
        // even when a `[[batch]]` rule matched.
        let ticket = ledger.begin_with_input(
            policy,
            &plan.decision,
            ctx,
            Day::today(),
            plan.estimate.input(),
            Mode::Realtime,
        )?;
        if ticket.downgraded_from().is_some() {
            plan.models = smallvec::smallvec![ticket.model()];
        }
        Ok(Some(ticket))
    }

    /// An event of this gate: its options, and the policy's names shared
    /// rather than copied.
    pub(crate) fn event_builder<'b, 'c>(
        &'b self,
        policy: &'b Policy,
        d: &'b Decision,
        ctx: &'b Context<'c>,
    ) -> EventBuilder<'b, 'c> {
        self.event_builder_named(policy, d, ctx, self.event_names.get(policy, ctx.schema()))
    }

    /// [`Gate::event_builder`] with the names already in hand.
    pub(crate) fn event_builder_named<'b, 'c>(
        &'b self,
        policy: &'b Policy,
        d: &'b Decision,
        ctx: &'b Context<'c>,
        names: Arc<EventNames>,
    ) -> EventBuilder<'b, 'c> {
        let b = CallEvent::builder(policy, d, ctx)
            .options(&self.event_options)
            .names(names);
        match &self.region {
            Some(r) => b.region(r.clone()),
            None => b,
        }
    }

    /// The event of a call a budget refused (Bedrock not called).
    #[allow(clippy::too_many_arguments)] // one event's inputs; a struct would only rename them
    pub(crate) fn rejected_event(
        &self,
        policy: &Policy,
        d: &Decision,
        ctx: &Context<'_>,
        req: &ChatRequest,
        tags: &Tags,
        started: Instant,
        error: &GateError,
        mode: tollgate_cost::Mode,
    ) -> CallEvent {
        self.event_builder(policy, d, ctx)
            .mode(mode)
            .tags(tags.clone())
            .fingerprint(fingerprint(req))
            .latency_ms(ms(started))
            .status(Status::Rejected)
            .error_type(error.error_type())
            .attempts(0)
            .build()
    }

    /// The SDK client (retries disabled).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The policy handle.
    pub fn policy(&self) -> &Arc<PolicyHandle> {
        &self.policy
    }

    /// Retry spend and total spend of a feature in this process, nano-dollars,
    /// over the calls whose `[[limit]]` sets a `retry_budget_pct` (the calls
    /// that budget governs; other calls are not counted).
    pub fn retry_spend(&self, feature: &str) -> (u64, u64) {
        self.retry_budget.spend(feature)
    }

    pub(crate) fn prices_table(&self) -> &PriceTable {
        self.policy
            .load_options()
            .prices
            .as_ref()
            .unwrap_or_else(|| PriceTable::builtin())
    }

    /// Prices for a prompt router's invoked model (`None`: price the
    /// routed model as usual).
    pub(crate) fn router_prices(&self, invoked: Option<&str>) -> Option<Prices> {
        self.prices_table().lookup(invoked?)
    }

    pub(crate) fn emit(&self, e: &CallEvent) {
        if let Some(s) = &self.sink {
            // A sink that fails must not fail the call; sinks count their
            // own errors.
            let _ = s.write(e);
        }
    }

    /// Decides and resolves everything the call needs.
    pub(crate) fn plan(
        &self,
        policy: &Policy,
        live: &Live,
        ctx: &Context<'_>,
        req: &ChatRequest,
        estimate: Estimate,
    ) -> Result<Plan, GateError> {
        let mut decision = live.decide(ctx);
        // The request's own cap applies even when the policy does not
        // declare `requested_max_tokens` (the engine reads it only then).
        decision.max_output_tokens = match (decision.max_output_tokens, req.inference.max_tokens) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        policy
            .model(decision.model)
            .ok_or(GateError::NoModel(decision.model.index()))?;
        let mut models: SmallVec<[ModelIdx; 4]> = smallvec::smallvec![decision.model];
        if let Some(r) = decision.route.and_then(|r| policy.routes.get(r.index())) {
            models.extend(
                r.then
                    .fallback
                    .iter()
                    .copied()
                    .filter(|m| policy.model(*m).is_some()),
            );
        }
        let limit = decision.limit.and_then(|l| policy.limits.get(l.index()));
        let max_attempts = limit
            .and_then(|l| l.then.max_attempts)
            .unwrap_or(DEFAULT_MAX_ATTEMPTS)
            .max(1);
        let retry_budget_pct = limit.and_then(|l| l.then.retry_budget_pct);
        let seg = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let segments = Segments {
            tools: seg(estimate.tools),
            system: seg(estimate.system),
            messages: seg(estimate.messages),
        };
        let prompt = self.planner.plan_decision(policy, &decision, segments);
        let sites: Vec<CachePointSite> = prompt
            .as_ref()
            .map(|p| p.points.iter().map(|pt| pt.site).collect())
            .unwrap_or_default();
        let prompt_ttl = prompt.as_ref().map_or(PromptTtl::FiveMinutes, |p| p.ttl);
        let prompt_rule = decision
            .prompt_cache
            .and_then(|r| policy.prompt_caches.get(r.index()))
            .map(|r| r.name.clone());
        let parts = sdk::parts(req, decision.max_output_tokens, &sites, prompt_ttl)?;
        Ok(Plan {
            decision,
            models,
            max_attempts,
            retry_budget_pct,
            parts,
            sites,
            prompt_ttl,
            prompt_rule,
            estimate,
        })
    }

    /// The response-cache key of a request under the decision, when a
    /// `[[cache]]` rule applies and the gate has a cache.
    pub(crate) fn key_of<'a>(
        &self,
        policy: &'a Policy,
        d: &Decision,
        ctx: &Context<'a>,
        req: &ChatRequest,
    ) -> Option<(CacheKey, FillRule)> {
        self.cache.as_ref()?;
        let spec = KeySpec::from_decision(policy, d, ctx)?;
        let fill = FillRule::from_decision(policy, d)?;
        let model_id = policy.model(d.model)?.id.as_str();
        let system: Vec<&str> = req.system.iter().map(String::as_str).collect();
        let parts: Vec<Part<'_>> = req.messages.iter().map(|m| Part::Text(&m.text)).collect();
        let messages: Vec<Message<'_>> = req
            .messages
            .iter()
            .zip(parts.iter())
            .map(|(m, p)| Message {
                role: match m.role {
                    Role::User => tollgate_cache::Role::User,
                    Role::Assistant => tollgate_cache::Role::Assistant,
                },
                content: std::slice::from_ref(p),
            })
            .collect();
        let tools_owned: Vec<String> = req.tools.iter().map(|t| t.canonical()).collect();
        let tools: Vec<&str> = tools_owned.iter().map(String::as_str).collect();
        let stop: Vec<&str> = req
            .inference
            .stop_sequences
            .iter()
            .map(String::as_str)
            .collect();
        let input = KeyInput {
            system: &system,
            messages: &messages,
            retrieval_ids: retrieval_ids_of(ctx),
            model_id,
            inference: Inference {
                max_tokens: d.max_output_tokens,
                temperature: req.inference.temperature,
                top_p: req.inference.top_p,
                stop: &stop,
            },
            tools: &tools,
        };
        Some((cache_key(&spec, &input), fill))
    }

    #[allow(clippy::too_many_arguments)] // one event's inputs; a struct would only rename them
    fn event<'b, 'c>(
        &'b self,
        policy: &'b Policy,
        d: &'b Decision,
        ctx: &'b Context<'c>,
        names: &Arc<EventNames>,
        req: &ChatRequest,
        tags: &Tags,
        started: Instant,
    ) -> EventBuilder<'b, 'c> {
        // Converse is a real-time call even when a `[[batch]]` rule matched
        // (no queue, or called directly): on-demand prices, not batch ones.
        self.event_builder_named(policy, d, ctx, names.clone())
            .mode(Mode::Realtime)
            .tags(tags.clone())
            .fingerprint(fingerprint(req))
            .latency_ms(ms(started))
    }

    /// One Converse call under the policy: decide, serve from the response
    /// cache or call Bedrock (with tollgate's retries and fallback), price
    /// it, fill the cache, and write the call event.
    pub async fn converse(
        &self,
        req: &ChatRequest,
        tags: &Tags,
    ) -> Result<ChatResponse, GateError> {
        let started = Instant::now();
        if req.messages.is_empty() {
            return Err(GateError::Request(
                "a request needs at least one message".into(),
            ));
        }
        let live = self.policy.current();
        let policy = live.policy();
        let schema = self.policy.schema();
        let estimate = Estimate::of(req, &*self.estimator);
        let mut ctx = Context::new(schema);
        attrs::fill_ids(&mut ctx, &self.attr_ids, req, tags, &estimate);
        // Learned routers score the last user turn before deciding.
        if let Some(p) = req.last_user_text() {
            tollgate_engine::routers::score_routers(policy, &mut ctx, p);
        }
        let mut plan = self.plan(policy, &live, &ctx, req, estimate)?;
        let d = plan.decision;
        // The policy's names, shared by the event and the attempts.
        let names = self.event_names.get(policy, schema);

        // Response cache.
        let keyed = self.key_of(policy, &d, &ctx, req);
        let mut fill = None;
        if let (Some(cache), Some((key, rule))) = (self.cache.as_deref(), keyed) {
            let hit = match cache.lookup(key, rule) {
                Lookup::Hit(e) => Some(e),
                Lookup::InFlight(w) => w.await,
                Lookup::Miss(f) => {
                    fill = Some(f);
                    None
                }
            };
            if let Some(entry) = hit {
                let event = self
                    .event(policy, &d, &ctx, &names, req, tags, started)
                    .cache(CacheOutcome::Hit)
                    .attempts(0)
                    .cost_avoided_nanos(entry.cost_nanos)
                    .build();
                self.emit(&event);
                return Ok(ChatResponse {
                    text: String::from_utf8_lossy(&entry.body).into_owned(),
                    stop_reason: entry.stop_reason.as_str().to_string(),
                    usage: Usage::default(),
                    model_id: Name::from(&entry.model_id),
                    response_model_id: None,
                    bedrock_latency_ms: None,
                    attempts: Vec::new(),
                    event,
                });
            }
        }

        // Budget: reserve the worst case before anything is sent.
        let ticket = match self.reserve(policy, &ctx, &mut plan) {
            Ok(t) => t,
            Err(error) => {
                if let Some(f) = fill.take() {
                    f.complete(Outcome::Failed);
                }
                let event = self.rejected_event(
                    policy,
                    &d,
                    &ctx,
                    req,
                    tags,
                    started,
                    &error,
                    Mode::Realtime,
                );
                self.emit(&event);
                return Err(error);
            }
        };
        let downgraded_from = ticket.as_ref().and_then(Ticket::downgraded_from);

        let feature = self
            .attr_ids
            .feature(&ctx)
            .or(tags.feature.as_deref())
            .unwrap_or("");
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut cur = 0usize;
        let mut parts = plan.take_parts();
        let out = loop {
            let m = plan.models.get(cur).copied().unwrap_or(d.model);
            let model_id = model_id_of(&names, policy, m);
            let p = parts;
            // Optional parts are set only when present: each builder call
            // moves the whole (large) fluent builder.
            let mut call = self
                .client
                .converse()
                .model_id(model_id.as_str())
                .set_messages(Some(p.messages))
                .inference_config(p.inference);
            if !p.system.is_empty() {
                call = call.set_system(Some(p.system));
            }
            if p.tool_config.is_some() {
                call = call.set_tool_config(p.tool_config);
            }
            // Not boxed: a box of the SDK's send future (several KiB) cost
            // an allocation and a copy per call, and measured slower.
            let sent = call.send().await;
            let n = attempts.len() as u32 + 1;
            let failure = match sent {
                Ok(out) => {
                    attempts.push(Attempt {
                        model_id,
                        error: None,
                        usage: out
                            .usage()
                            .map(|u| usage_of(u, plan.prompt_ttl))
                            .unwrap_or_default(),
                    });
                    break out;
                }
                Err(e) => Failure::of(e),
            };
            attempts.push(Attempt {
                model_id,
                error: Some(failure.code().into_owned()),
                usage: Usage::default(),
            });
            let next = match self.after_failure(&plan, feature, failure, n, cur) {
                AfterFailure::Retry { model } => match plan.parts_again(req) {
                    Ok(p) => Ok((model, p)),
                    Err(error) => Err((error, false)),
                },
                AfterFailure::GiveUp { error, throttled } => Err((error, throttled)),
            };
            match next {
                Ok((model, p)) => {
                    cur = model;
                    parts = p;
                }
                Err((error, throttled)) => {
                    if let Some(f) = fill.take() {
                        f.complete(if throttled {
                            Outcome::Throttled
                        } else {
                            Outcome::Failed
                        });
                    }
                    let mut b = self
                        .event(policy, &d, &ctx, &names, req, tags, started)
                        .served_model(m)
                        .status(Status::Error)
                        .error_type(error.error_type())
                        .attempts(n);
                    if let Some(orig) = downgraded_from {
                        b = b.downgraded_from(orig);
                    }
                    let event = b.build();
                    // Failed attempts bill nothing: release the reservation.
                    if let Some(t) = ticket {
                        t.cancel();
                    }
                    self.emit(&event);
                    return Err(error);
                }
            }
            tokio::time::sleep(self.backoff.delay(n)).await;
        };

        let served = plan.models.get(cur).copied().unwrap_or(d.model);
        let text: String = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content()
                    .iter()
                    .filter_map(|c| c.as_text().ok())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        let stop_reason = out.stop_reason().as_str().to_string();
        let usage = attempts.iter().fold(Usage::default(), |mut acc, a| {
            acc.add(&a.usage);
            acc
        });
        let invoked = out
            .trace()
            .and_then(|t| t.prompt_router())
            .and_then(|r| r.invoked_model_id())
            .map(str::to_string);
        let router_prices = self.router_prices(invoked.as_deref());
        let mut b = self
            .event(policy, &d, &ctx, &names, req, tags, started)
            .served_model(served)
            .attempts(attempts.len() as u32)
            .usage(usage)
            .text(req.last_user_text().unwrap_or(""), &text);
        if let Some(p) = router_prices.as_ref() {
            b = b.prices(p);
        }
        // Billed at the tier and latency the response reports.
        if let Some(t) = out
            .service_tier()
            .and_then(|t| tollgate_lang::pricing::Tier::parse(t.r#type().as_str()))
        {
            b = b.service_tier(t);
        }
        if let Some(pc) = out.performance_config() {
            b = b.latency_optimized(pc.latency().as_str() == "optimized");
        }
        if let Some(id) = &invoked {
            b = b.response_model_id(id.clone());
        }
        if let Some(orig) = downgraded_from {
            b = b.downgraded_from(orig);
        }
        let event = b.build();
        if let Some(t) = ticket {
            t.settle(event.cost_nanos);
        }
        self.record_retry_spend(
            plan.retry_budget_pct,
            feature,
            event.cost_nanos,
            attempts.len() > 1,
        );
        if let Some(rule) = &plan.prompt_rule {
            let model_id = policy.model(served).map(|m| m.id.as_str()).unwrap_or("");
            self.planner.observe(rule, model_id, &cache_usage(&usage));
        }
        let model_id = attempts
            .last()
            .map(|a| a.model_id.clone())
            .unwrap_or_else(|| model_id_of(&names, policy, served));
        if let Some(f) = fill.take() {
            let entry = tollgate_cache::Entry::new(
                text.clone().into_bytes(),
                tollgate_cache::StopReason::parse(&stop_reason),
                cache_usage(&usage),
                event.cost_nanos,
                &model_id,
            );
            f.complete(Outcome::Answered {
                entry: &entry,
                guardrail_flagged: stop_reason == "guardrail_intervened",
            });
        }
        self.emit(&event);
        Ok(ChatResponse {
            text,
            stop_reason,
            usage,
            model_id,
            response_model_id: invoked,
            bedrock_latency_ms: out
                .metrics()
                .and_then(|m| u64::try_from(m.latency_ms()).ok()),
            attempts,
            event,
        })
    }
}
