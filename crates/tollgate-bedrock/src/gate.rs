//! The [`Gate`], its builder, and what a call's decision resolves to: the
//! `Plan` (models in fallback order, attempts, cache points) and each
//! attempt's changes for its own model (`Plan::changes`), and the retry
//! rule of a call (`Gate::retry_rule`, run by `retry::run`). The Converse
//! path itself is in `converse.rs`, the stream in [`crate::stream`].

use crate::attrs::{self, Estimate};
use crate::error::GateError;
use crate::estimate::{CharEstimator, TokenEstimator};
use crate::request::ChatRequest;
use crate::retry::{Backoff, RetryBudget, Rule, Timeouts, DEFAULT_MAX_ATTEMPTS};
use crate::sdk::{AttemptChanges, Override};
use crate::wire::{self, Binary};
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::types::{ContentBlock, Message as SdkMessage, SystemContentBlock};
use aws_sdk_bedrockruntime::Client;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;
use tollgate_cache::{
    cache_key, retrieval_ids_of, CacheKey, FillRule, Inference, KeyInput, KeySpec, Message, Part,
    PromptCachePlanner, PromptTtl, ResponseCache, Segments,
};
use tollgate_cost::Ticket;
use tollgate_cost::{
    CacheTtl, CallEvent, Day, EventBuilder, EventNames, EventNamesCache, EventOptions, Fingerprint,
    Ledger, Mode, Name, Sink, Status, Tags, Usage,
};
use tollgate_engine::{Context, Decision, Live, PolicyHandle};
use tollgate_lang::ModelIdx;
use tollgate_lang::{CachePointSite, Model, Policy};
use tollgate_lang::{CacheSites, Latency, PriceTable, Prices, Tier};

/// Builds a [`Gate`].
pub struct GateBuilder {
    client: Client,
    policy: Arc<PolicyHandle>,
    cache: Option<Arc<ResponseCache>>,
    planner: Arc<PromptCachePlanner>,
    sink: Option<Arc<dyn Sink>>,
    estimator: Arc<dyn TokenEstimator>,
    backoff: Backoff,
    timeouts: Timeouts,
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

    /// Per-attempt time limits (defaults: [`Timeouts::default`]).
    pub fn timeouts(mut self, t: Timeouts) -> Self {
        self.timeouts = t;
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
            timeouts: self.timeouts,
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
    pub(crate) timeouts: Timeouts,
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
            .field("timeouts", &self.timeouts)
            .field("ledger", &self.ledger.is_some())
            .finish_non_exhaustive()
    }
}

/// What the decision says about one call, resolved to ids and numbers.
pub(crate) struct Plan {
    pub decision: Decision,
    /// The model of each place in the fallback order: the route's model,
    /// then its fallbacks (inline: routes name a few). A model stands
    /// twice when its `flex` place is followed by its default-tier retry.
    pub models: SmallVec<[ModelIdx; 4]>,
    /// The service tier each place sends.
    pub tiers: SmallVec<[Override<Tier>; 4]>,
    /// The service tier and latency option the application's own request
    /// asks for (`serviceTier`, `performanceConfig`), read once.
    pub own: (Option<Tier>, Option<Latency>),
    /// Places entered only after a throttle on the place before (see
    /// `retry::Rule::throttle_only`).
    pub throttle_only: SmallVec<[bool; 4]>,
    pub max_attempts: u32,
    pub retry_budget_pct: Option<f64>,
    /// The cache points the planner chose (for the decision's model; each
    /// attempt keeps those its own model supports).
    pub sites: Vec<CachePointSite>,
    pub prompt_ttl: PromptTtl,
    pub prompt_rule: Option<String>,
    pub estimate: Estimate,
}

impl Plan {
    /// What the attempt on `self.models[idx]` changes in the request:
    /// its model id, the decision's cap clamped to that model's maximum
    /// output, and only the cache points and TTL it supports (none on a
    /// model without prompt caching). Every fact is the model's price-table
    /// entry's: `max_output_tokens` (unless the policy sets its own),
    /// `cache_sites` (Nova: none after the tools) and the 1-hour write price.
    pub(crate) fn changes<'a>(
        &'a self,
        policy: &Policy,
        model_id: &'a str,
        idx: usize,
    ) -> AttemptChanges<'a> {
        let model = policy.model(self.model_at(idx));
        let max_out = model.and_then(max_output_of);
        let max_tokens = match (self.decision.max_output_tokens, max_out) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, _) => a,
        };
        let offered = model.map(cache_sites_of).unwrap_or_default();
        let sites: SmallVec<[CachePointSite; 3]> = self
            .sites
            .iter()
            .copied()
            .filter(|s| match s {
                CachePointSite::System => offered.system,
                CachePointSite::Messages => offered.messages,
                CachePointSite::Tools => offered.tools,
            })
            .collect();
        AttemptChanges {
            model_id,
            max_tokens,
            sites,
            ttl: self.ttl_for(policy, idx),
            strip_cache_points: offered.is_empty(),
            service_tier: self.tiers.get(idx).copied().unwrap_or_default(),
            latency: latency_for(self.decision.latency, self.own.1, model),
        }
    }

    /// The latency option the attempt on `self.models[idx]` asks for:
    /// the route's where that model offers it, else the request's own
    /// where that model offers it (`None`: no `performanceConfig`,
    /// standard latency).
    pub(crate) fn latency_sent(&self, policy: &Policy, idx: usize) -> Option<Latency> {
        let model = policy.model(self.model_at(idx));
        match latency_for(self.decision.latency, self.own.1, model) {
            Override::Set(l) => Some(l),
            Override::Unset => None,
            Override::Keep => self.own.1,
        }
    }

    /// The decision as the budget prices it: the service tier and latency
    /// the first attempt asks for (the route's, else the request's own;
    /// the ledger prices them where the model's entry offers them).
    pub(crate) fn priced_decision(&self) -> Decision {
        let mut d = self.decision;
        d.service_tier = d.service_tier.or(self.own.0);
        d.latency = d.latency.or(self.own.1);
        d
    }

    /// Sets the places of the fallback order from `models` (the route's
    /// model, then its fallbacks): each at the route's service tier where
    /// that model's price-table entry prices the tier, else at the default
    /// tier; a `flex` place is followed by the same model at the default
    /// tier, entered only after a throttle, unless the route sets
    /// `tier_fallback = false`. A route without `service_tier` leaves the
    /// request's own tier on every place whose model offers it; a model
    /// that does not gets the default tier (Bedrock would refuse the
    /// request).
    pub(crate) fn set_models(&mut self, policy: &Policy, models: &[ModelIdx]) {
        let d = &self.decision;
        let tier_fallback = d
            .route
            .and_then(|r| policy.routes.get(r.index()))
            .is_none_or(|r| r.then.tier_fallback);
        self.models.clear();
        self.tiers.clear();
        self.throttle_only.clear();
        for &m in models {
            let tier = tier_for(d.service_tier, self.own.0, policy.model(m));
            self.models.push(m);
            self.tiers.push(tier);
            self.throttle_only.push(false);
            if tier == Override::Set(Tier::Flex) && tier_fallback {
                self.models.push(m);
                self.tiers.push(Override::Unset);
                self.throttle_only.push(true);
            }
        }
    }

    /// The model of the attempt on `self.models[idx]`.
    fn model_at(&self, idx: usize) -> ModelIdx {
        self.models.get(idx).copied().unwrap_or(self.decision.model)
    }

    /// The TTL the attempt on `self.models[idx]` writes at (for pricing
    /// and the planner): the planned one when that model's price table
    /// entry prices it, else the 5-minute TTL.
    pub(crate) fn ttl_for(&self, policy: &Policy, idx: usize) -> PromptTtl {
        match self.prompt_ttl {
            PromptTtl::OneHour
                if policy
                    .model(self.model_at(idx))
                    .is_some_and(|m| m.prices.cache_ttls().1) =>
            {
                PromptTtl::OneHour
            }
            _ => PromptTtl::FiveMinutes,
        }
    }
}

/// What an attempt on `model` sends as `serviceTier` for the route's
/// `tier`: the tier when the model's price-table entry prices it; else
/// (and for `default`) none, which Bedrock serves at the default tier.
/// When the route sets none, the request's `own` tier is kept, unless it
/// is `flex` or `priority` and the model's entry does not price it (then
/// none: Bedrock refuses a tier the model does not offer). A `reserved`
/// tier is kept: a reservation is the account's, not in the price table.
fn tier_for(tier: Option<Tier>, own: Option<Tier>, model: Option<&Model>) -> Override<Tier> {
    let offered = |t: Tier| model.is_some_and(|m| m.prices.offers_tier(t));
    match tier {
        None => match own {
            Some(t @ (Tier::Flex | Tier::Priority)) if !offered(t) => Override::Unset,
            _ => Override::Keep,
        },
        Some(Tier::Default) => Override::Unset,
        Some(t) if offered(t) => Override::Set(t),
        Some(_) => Override::Unset,
    }
}

/// As [`tier_for`], for `performanceConfig.latency`: `optimized` (the
/// route's or the request's own) only to a model whose price-table entry
/// has latency-optimized prices.
fn latency_for(
    latency: Option<Latency>,
    own: Option<Latency>,
    model: Option<&Model>,
) -> Override<Latency> {
    let offered = |l: Latency| model.is_some_and(|m| m.prices.offers_latency(l));
    match latency {
        None => match own {
            Some(l) if !offered(l) => Override::Unset,
            _ => Override::Keep,
        },
        Some(Latency::Standard) => Override::Unset,
        Some(l) if offered(l) => Override::Set(l),
        Some(_) => Override::Unset,
    }
}

/// The service tier and latency option the application's request asks
/// for (a value this crate's SDK does not know: none).
fn own_tier_and_latency(req: &ChatRequest) -> (Option<Tier>, Option<Latency>) {
    let input = req.input();
    (
        input
            .service_tier()
            .and_then(|t| Tier::parse(t.r#type().as_str())),
        input
            .performance_config()
            .and_then(|pc| Latency::parse(pc.latency().as_str())),
    )
}

/// Where a model takes cache points: its price-table entry's sites; a
/// model priced inline with a cache-read price takes them everywhere.
fn cache_sites_of(m: &Model) -> CacheSites {
    let sites = m.prices.cache_sites();
    if sites.is_empty() && m.prices.cache_read.is_some() {
        CacheSites::ALL
    } else {
        sites
    }
}

/// A model's maximum output tokens: the policy's own figure for it, else
/// the price table's.
fn max_output_of(m: &Model) -> Option<u32> {
    m.max_output_tokens.or(m.prices.max_output_tokens())
}

impl Gate {
    /// The retry rule of a call: `places` in its fallback order, the
    /// limit's attempts and retry budget, the gate's backoff, and the
    /// per-attempt time limit `timeout`.
    pub(crate) fn retry_rule<'a>(
        &'a self,
        places: usize,
        max_attempts: u32,
        retry_budget_pct: Option<f64>,
        feature: &'a str,
        timeout: std::time::Duration,
    ) -> Rule<'a> {
        Rule {
            places: places.max(1),
            max_attempts,
            budget: retry_budget_pct.map(|pct| (&*self.retry_budget, feature, pct)),
            backoff: &self.backoff,
            timeout,
            throttle_only: &[],
        }
    }
}

/// `max_attempts` and `retry_budget_pct` of the decision's `[[limit]]`
/// (the defaults without one).
pub(crate) fn limit_of(policy: &Policy, d: &Decision) -> (u32, Option<f64>) {
    let limit = d.limit.and_then(|l| policy.limits.get(l.index()));
    let max_attempts = limit
        .and_then(|l| l.then.max_attempts)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS)
        .max(1);
    (max_attempts, limit.and_then(|l| l.then.retry_budget_pct))
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

/// The request's fingerprint: text blocks as their text, every other
/// block by its canonical JSON (binary content by the hash of its bytes),
/// so two requests differing only in an image or a tool result differ.
pub(crate) fn fingerprint(req: &ChatRequest) -> Fingerprint {
    let input = req.input();
    let system: Vec<Cow<'_, str>> = input.system().iter().map(system_text).collect();
    let system: Vec<&str> = system.iter().map(|s| s.as_ref()).collect();
    let messages: Vec<(&str, Cow<'_, str>)> = input
        .messages()
        .iter()
        .map(|m| (m.role().as_str(), message_text(m)))
        .collect();
    Fingerprint::of(&system, messages.iter().map(|(r, t)| (*r, t.as_ref())))
}

fn system_text(b: &SystemContentBlock) -> Cow<'_, str> {
    match b {
        SystemContentBlock::Text(t) => Cow::Borrowed(t.as_str()),
        other => Cow::Owned(
            wire::system_to_json(std::slice::from_ref(other), Binary::Hash)
                .map(|j| j.to_string())
                .unwrap_or_else(|_| "{\"unknown\":true}".into()),
        ),
    }
}

/// A message's text when it is one text block (the form fingerprints had
/// before messages carried other blocks), else its canonical JSON.
fn message_text(m: &SdkMessage) -> Cow<'_, str> {
    match m.content() {
        [ContentBlock::Text(t)] => Cow::Borrowed(t.as_str()),
        _ => Cow::Owned(
            wire::message_to_json(m, Binary::Hash)
                .map(|j| j.to_string())
                .unwrap_or_else(|_| "{\"unknown\":true}".into()),
        ),
    }
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
            timeouts: Timeouts::default(),
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
    /// expensive model. Awaited: a Redis ledger's reservation (one Lua
    /// script) holds this call only, never the runtime's worker.
    pub(crate) async fn reserve(
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
        let ticket = ledger
            .begin_with_input_async(
                policy,
                &plan.priced_decision(),
                ctx,
                Day::today(),
                plan.estimate.input(),
                Mode::Realtime,
            )
            .await?;
        if ticket.downgraded_from().is_some() {
            plan.set_models(policy, &[ticket.model()]);
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
        decision.max_output_tokens = match (decision.max_output_tokens, req.requested_max_tokens())
        {
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
        let (max_attempts, retry_budget_pct) = limit_of(policy, &decision);
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
        let mut plan = Plan {
            decision,
            models: SmallVec::new(),
            tiers: SmallVec::new(),
            own: own_tier_and_latency(req),
            throttle_only: SmallVec::new(),
            max_attempts,
            retry_budget_pct,
            sites,
            prompt_ttl,
            prompt_rule,
            estimate,
        };
        plan.set_models(policy, &models);
        Ok(plan)
    }

    /// The response-cache key of a request under the decision, when a
    /// `[[cache]]` rule applies and the gate has a cache. Every block is
    /// keyed canonically (binary content by the hash of its bytes); the
    /// application's own cache points are not (they do not change the
    /// answer). A request holding a variant the SDK does not know has no
    /// key: it is passed through, never cached.
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
        let c = crate::canonical::Canonical::of(req.input())?;
        let system: Vec<&str> = c.system.iter().map(|s| s.as_ref()).collect();
        let parts: Vec<Vec<Part<'_>>> = c
            .messages
            .iter()
            .map(|m| {
                m.1.iter()
                    .map(|(kind, text)| match kind {
                        None => Part::Text(text.as_ref()),
                        Some(k) => Part::Blob {
                            kind: k,
                            bytes: text.as_bytes(),
                        },
                    })
                    .collect()
            })
            .collect();
        let messages: Vec<Message<'_>> = c
            .messages
            .iter()
            .zip(parts.iter())
            .map(|(m, p)| Message {
                role: if m.0 {
                    tollgate_cache::Role::User
                } else {
                    tollgate_cache::Role::Assistant
                },
                content: p,
            })
            .collect();
        let tools: Vec<&str> = c.tools.iter().map(String::as_str).collect();
        let stop: Vec<&str> = c.stop.iter().map(String::as_str).collect();
        let input = KeyInput {
            system: &system,
            messages: &messages,
            retrieval_ids: retrieval_ids_of(ctx),
            model_id,
            inference: Inference {
                max_tokens: d.max_output_tokens,
                temperature: c.temperature,
                top_p: c.top_p,
                stop: &stop,
            },
            tools: &tools,
        };
        Some((cache_key(&spec, &input), fill))
    }
}
