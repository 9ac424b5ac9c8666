//! The [`GateBuilder`]: the SDK client, the policy handle, and what the
//! gate may use (caches, sink, ledger, batch queue, estimator, backoff,
//! time limits, event options), handed to the [`Gate`] it builds.

use crate::embed::EmbedOptions;
use crate::estimate::{CharEstimator, TokenEstimator};
use crate::gate::{Gate, Parts};
use crate::retry::{Backoff, Timeouts};
use aws_sdk_bedrockruntime::Client;
use std::sync::Arc;
use tollgate_cache::{PromptCachePlanner, ResponseCache};
use tollgate_cost::{EventOptions, Ledger, Sink};
use tollgate_engine::PolicyHandle;

/// Builds a [`Gate`].
pub struct GateBuilder {
    parts: Parts,
}

impl Gate {
    /// Starts a gate over an SDK client and a policy handle.
    pub fn builder(client: Client, policy: Arc<PolicyHandle>) -> GateBuilder {
        GateBuilder {
            parts: Parts {
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
                embed_options: EmbedOptions::default(),
            },
        }
    }
}

impl GateBuilder {
    /// The embedding cache (a tollgate-cache store: in process or Redis):
    /// a text embedded once is not sent again while its entry lives.
    pub fn embed_cache(mut self, store: Arc<dyn tollgate_cache::Store>) -> Self {
        self.parts.embed_cache = Some(store);
        self
    }

    /// Default options of [`Gate::embed`].
    pub fn embed_options(mut self, o: EmbedOptions) -> Self {
        self.parts.embed_options = o;
        self
    }

    /// A batch queue: [`Gate::send`] writes requests a `[[batch]]` rule
    /// matches to it instead of calling Bedrock.
    pub fn batch_queue(mut self, q: Arc<crate::batch::BatchQueue>) -> Self {
        self.parts.batch = Some(q);
        self
    }

    /// A spend ledger (in process or Redis): `[[budget]]` rules apply only
    /// with one. Each call reserves its worst-case estimate before it is
    /// sent and settles to its real cost after.
    pub fn ledger(mut self, ledger: Ledger) -> Self {
        self.parts.ledger = Some(ledger);
        self
    }

    /// A response cache (`[[cache]]` rules apply only with one).
    pub fn cache(mut self, cache: Arc<ResponseCache>) -> Self {
        self.parts.cache = Some(cache);
        self
    }

    /// A prompt-cache planner shared with other gates.
    pub fn planner(mut self, planner: Arc<PromptCachePlanner>) -> Self {
        self.parts.planner = planner;
        self
    }

    /// Where call events go.
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.parts.sink = Some(sink);
        self
    }

    /// A token estimator other than ~4 characters per token.
    pub fn estimator(mut self, e: Arc<dyn TokenEstimator>) -> Self {
        self.parts.estimator = e;
        self
    }

    /// Backoff between attempts.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.parts.backoff = b;
        self
    }

    /// Per-attempt time limits (defaults: [`Timeouts::default`]).
    pub fn timeouts(mut self, t: Timeouts) -> Self {
        self.parts.timeouts = t;
        self
    }

    /// Event options (app tag, text capture).
    pub fn event_options(mut self, o: EventOptions) -> Self {
        self.parts.event_options = o;
        self
    }

    /// The gate. The client is rebuilt with the SDK's retries disabled:
    /// the gate counts, budgets and redirects every attempt itself.
    pub fn build(self) -> Gate {
        Gate::from_parts(self.parts)
    }
}
