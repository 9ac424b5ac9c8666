//! The [`Gate`]: what it holds (private to this file), the small methods
//! the call paths read it through, and what every path shares about it:
//! its retry rule, the event builder over its options, event emission and
//! budget reservations. The builder is in `builder.rs`, the per-attempt
//! plan in `plan.rs`, the call pipeline in `call.rs`.

use crate::attrs::AttrIds;
use crate::embed::EmbedOptions;
use crate::estimate::TokenEstimator;
use crate::plan::Plan;
use crate::retry::{Backoff, RetryBudget, Rule, Timeouts};
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::Client;
use std::sync::Arc;
use tollgate_cache::{PromptCachePlanner, ResponseCache, Store};
use tollgate_cost::{
    CallEvent, Day, EventBuilder, EventNames, EventNamesCache, EventOptions, Ledger, Mode, Name,
    Sink, Ticket,
};
use tollgate_engine::{Context, Decision, PolicyHandle};
use tollgate_lang::{Policy, PriceTable, Prices};

/// What a [`GateBuilder`](crate::GateBuilder) hands the gate it builds.
pub(crate) struct Parts {
    pub client: Client,
    pub policy: Arc<PolicyHandle>,
    pub cache: Option<Arc<ResponseCache>>,
    pub planner: Arc<PromptCachePlanner>,
    pub sink: Option<Arc<dyn Sink>>,
    pub estimator: Arc<dyn TokenEstimator>,
    pub backoff: Backoff,
    pub timeouts: Timeouts,
    pub event_options: EventOptions,
    pub ledger: Option<Ledger>,
    pub batch: Option<Arc<crate::batch::BatchQueue>>,
    pub embed_cache: Option<Arc<dyn Store>>,
    pub embed_options: EmbedOptions,
}

/// A policy-governed Bedrock client. Cheap to share (`Arc` it); every
/// method takes `&self`.
pub struct Gate {
    client: Client,
    /// The client's region, which every call is priced at (shared by events).
    region: Option<Name>,
    policy: Arc<PolicyHandle>,
    /// The built-in attributes' slots in the handle's (fixed) schema.
    attr_ids: AttrIds,
    cache: Option<Arc<ResponseCache>>,
    planner: Arc<PromptCachePlanner>,
    sink: Option<Arc<dyn Sink>>,
    estimator: Arc<dyn TokenEstimator>,
    backoff: Backoff,
    timeouts: Timeouts,
    retry_budget: Arc<RetryBudget>,
    event_options: EventOptions,
    /// The current policy's names for events.
    event_names: EventNamesCache,
    ledger: Option<Ledger>,
    batch: Option<Arc<crate::batch::BatchQueue>>,
    embed_cache: Option<Arc<dyn Store>>,
    embed_options: EmbedOptions,
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

impl Gate {
    /// The gate over `p`. The client is rebuilt with the SDK's retries
    /// disabled: the gate counts, budgets and redirects every attempt
    /// itself.
    pub(crate) fn from_parts(p: Parts) -> Gate {
        let conf = p
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
            attr_ids: AttrIds::of(p.policy.schema()),
            policy: p.policy,
            cache: p.cache,
            planner: p.planner,
            sink: p.sink,
            estimator: p.estimator,
            backoff: p.backoff,
            timeouts: p.timeouts,
            retry_budget: Arc::new(RetryBudget::default()),
            event_options: p.event_options,
            event_names: EventNamesCache::new(),
            ledger: p.ledger,
            batch: p.batch,
            embed_cache: p.embed_cache,
            embed_options: p.embed_options,
        }
    }

    /// The SDK client (retries disabled).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The policy handle.
    pub fn policy(&self) -> &Arc<PolicyHandle> {
        &self.policy
    }

    /// The spend ledger, when the gate has one.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// The batch queue, when the gate has one.
    pub fn batch_queue(&self) -> Option<&crate::batch::BatchQueue> {
        self.batch.as_deref()
    }

    /// Retry spend and total spend of a feature in this process, nano-dollars,
    /// over the calls whose `[[limit]]` sets a `retry_budget_pct` (the calls
    /// that budget governs; other calls are not counted).
    pub fn retry_spend(&self, feature: &str) -> (u64, u64) {
        self.retry_budget.spend(feature)
    }

    /// The token estimator.
    pub(crate) fn estimator(&self) -> &dyn TokenEstimator {
        &*self.estimator
    }

    /// The built-in attributes' slots in the handle's schema.
    pub(crate) fn attr_ids(&self) -> &AttrIds {
        &self.attr_ids
    }

    /// The response cache, when the gate has one.
    pub(crate) fn response_cache(&self) -> Option<&ResponseCache> {
        self.cache.as_deref()
    }

    /// The prompt-cache planner.
    pub(crate) fn planner(&self) -> &PromptCachePlanner {
        &self.planner
    }

    /// The per-attempt time limits.
    pub(crate) fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The embedding cache, when the gate has one.
    pub(crate) fn embed_cache(&self) -> Option<&dyn Store> {
        self.embed_cache.as_deref()
    }

    /// The default options of [`Gate::embed`].
    pub(crate) fn embed_options(&self) -> EmbedOptions {
        self.embed_options
    }

    /// The current policy's names for events (shared, not copied).
    pub(crate) fn event_names(&self, policy: &Policy) -> Arc<EventNames> {
        self.event_names.get(policy, self.policy.schema())
    }

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
        Rule::new(
            places,
            max_attempts,
            retry_budget_pct.map(|pct| (&*self.retry_budget, feature, pct)),
            &self.backoff,
            timeout,
        )
    }

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
    ) -> Result<Option<Ticket>, crate::error::GateError> {
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
                plan.estimate().input(),
                Mode::Realtime,
            )
            .await?;
        if ticket.downgraded_from().is_some() {
            plan.set_models(policy, &[ticket.model()]);
        }
        Ok(Some(ticket))
    }

    /// Adds a call's cost to the day's spend (calls that reserve nothing:
    /// embeddings awaited, batch records in place).
    pub(crate) async fn record_spend(&self, policy: &Policy, ctx: &Context<'_>, nanos: u64) {
        if let Some(ledger) = &self.ledger {
            if nanos > 0 {
                ledger.record_async(policy, ctx, Day::today(), nanos).await;
            }
        }
    }

    /// [`Gate::record_spend`] for a sync caller (a batch output's reader).
    pub(crate) fn record_spend_blocking(&self, policy: &Policy, ctx: &Context<'_>, nanos: u64) {
        if let Some(ledger) = &self.ledger {
            ledger.record(policy, ctx, Day::today(), nanos);
        }
    }

    /// The events record the answer's text (`record_response_text`).
    pub(crate) fn records_response_text(&self) -> bool {
        self.event_options.record_response_text
    }

    /// An event of this gate: its options, its region, and the policy's
    /// `names` shared rather than copied.
    pub(crate) fn event_builder<'b, 'c>(
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

    /// Writes an event to the sink.
    pub(crate) fn emit(&self, e: &CallEvent) {
        if let Some(s) = &self.sink {
            // A sink that fails must not fail the call; sinks count their
            // own errors.
            let _ = s.write(e);
        }
    }

    fn prices_table(&self) -> &PriceTable {
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
}
