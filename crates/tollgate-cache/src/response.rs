//! The response cache: a [`Store`], single-flight and the rules of what is
//! stored, behind one lookup.
//!
//! ```text
//! lookup(key) -> Hit(entry)          serve it; entry.cost_nanos is what it avoided
//!             -> Miss(fill)          call the model, then fill.complete(outcome)
//!             -> InFlight(wait)      an identical call is out: wait (block or .await);
//!                                    Some(entry) = serve it, None = call yourself
//! ```
//!
//! Async callers use [`ResponseCache::lookup_async`] and
//! [`Fill::complete_async`]: the same protocol, with the store's I/O
//! awaited rather than run on the caller's thread (see [`crate::store`]).
//!
//! Nothing fails because the cache did: a store error on `get` is a miss, a
//! store error on `put` is counted and the answer still goes back to the
//! caller (and to any waiters).

use crate::cacheable::{cacheable, FillRule, NotCached, Outcome};
use crate::entry::Entry;
use crate::flight::{Flight, Flights, Join, Waiter};
use crate::key::CacheKey;
use crate::stats::{bump, CacheStats, Counters};
use crate::store::{Put, Store, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Settings of a [`ResponseCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Coalesce concurrent identical misses (single-flight).
    pub single_flight: bool,
    /// How long a blocking waiter waits for the leader before calling
    /// itself (async waiters are bounded by the caller's own timeout).
    pub follower_wait: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            single_flight: true,
            follower_wait: Duration::from_secs(120),
        }
    }
}

/// A response cache over a store.
pub struct ResponseCache {
    store: Arc<dyn Store>,
    flights: Option<Flights>,
    cfg: CacheConfig,
    n: Arc<Counters>,
}

/// What a lookup found.
pub enum Lookup<'c> {
    /// A live entry.
    Hit(Arc<Entry>),
    /// Nothing: call the model, then complete the fill.
    Miss(Fill<'c>),
    /// An identical call is in flight: wait for it.
    InFlight(Wait),
}

/// How a call's result was handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillResult {
    /// Stored.
    Stored,
    /// Not stored, and why.
    NotStored(NotCached),
    /// Cacheable, but the store failed (counted; the call is unaffected).
    StoreFailed(StoreError),
}

/// A model call's result, owned (for [`ResponseCache::get_or_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// The model answered.
    Answered {
        /// The answer.
        entry: Entry,
        /// A guardrail flagged it.
        guardrail_flagged: bool,
    },
    /// Throttled.
    Throttled,
    /// Failed.
    Failed,
}

impl CallResult {
    /// The borrowed view the cache judges.
    pub fn outcome(&self) -> Outcome<'_> {
        match self {
            CallResult::Answered {
                entry,
                guardrail_flagged,
            } => Outcome::Answered {
                entry,
                guardrail_flagged: *guardrail_flagged,
            },
            CallResult::Throttled => Outcome::Throttled,
            CallResult::Failed => Outcome::Failed,
        }
    }
}

/// What [`ResponseCache::get_or_call`] served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// From the store.
    Hit(Arc<Entry>),
    /// The answer of an identical call that was in flight.
    Shared(Arc<Entry>),
    /// This call's own result, and what the cache did with it.
    Called {
        /// The call's result.
        result: CallResult,
        /// Stored or not.
        fill: FillResult,
    },
}

impl ResponseCache {
    /// A cache over `store`.
    pub fn new(store: impl Store + 'static, cfg: CacheConfig) -> ResponseCache {
        ResponseCache::with_store(Arc::new(store), cfg)
    }

    /// A cache over a shared store.
    pub fn with_store(store: Arc<dyn Store>, cfg: CacheConfig) -> ResponseCache {
        ResponseCache {
            store,
            flights: cfg.single_flight.then(Flights::new),
            cfg,
            n: Arc::new(Counters::default()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Counters so far.
    pub fn stats(&self) -> CacheStats {
        self.n.snapshot()
    }

    /// Identical calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.flights.as_ref().map_or(0, Flights::len)
    }

    /// Looks `key` up; `rule` is what the matched `[[cache]]` rule says
    /// about storing, used if this lookup becomes the call that fills.
    pub fn lookup(&self, key: CacheKey, rule: FillRule) -> Lookup<'_> {
        let found = self.store.get(key);
        self.looked_up(key, rule, found)
    }

    /// [`ResponseCache::lookup`] for an async caller: a store that does
    /// I/O is awaited, an in-process store answers in place.
    pub async fn lookup_async(&self, key: CacheKey, rule: FillRule) -> Lookup<'_> {
        let found = crate::store::get_async(&*self.store, key).await;
        self.looked_up(key, rule, found)
    }

    fn looked_up(
        &self,
        key: CacheKey,
        rule: FillRule,
        found: Result<Option<Arc<Entry>>, StoreError>,
    ) -> Lookup<'_> {
        match found {
            Ok(Some(e)) => {
                self.n.hits.add(key.0, 1);
                self.n.avoided_nanos.add(key.0, e.cost_nanos);
                return Lookup::Hit(e);
            }
            Ok(None) => {}
            Err(_) => bump(&self.n.get_errors),
        }
        bump(&self.n.misses);
        let flight = match self.flights.as_ref().map(|f| f.join(key)) {
            None => None,
            Some(Join::Leader(f)) => Some(f),
            Some(Join::Follower(w)) => {
                bump(&self.n.waited);
                return Lookup::InFlight(Wait {
                    waiter: w,
                    key,
                    n: Arc::clone(&self.n),
                });
            }
        };
        Lookup::Miss(Fill {
            cache: self,
            key,
            rule,
            flight,
        })
    }

    /// Lookup, call on a miss, store what may be stored: the whole protocol
    /// for a synchronous caller.
    pub fn get_or_call(
        &self,
        key: CacheKey,
        rule: FillRule,
        call: impl FnOnce() -> CallResult,
    ) -> Served {
        match self.lookup(key, rule) {
            Lookup::Hit(e) => Served::Hit(e),
            Lookup::Miss(fill) => {
                let result = call();
                let fill = fill.complete(result.outcome());
                Served::Called { result, fill }
            }
            Lookup::InFlight(w) => match w.wait(self.cfg.follower_wait) {
                Some(e) => Served::Shared(e),
                None => {
                    let result = call();
                    let (fill, _) = self.store_outcome(key, &rule, result.outcome());
                    Served::Called { result, fill }
                }
            },
        }
    }

    /// Stores a result if it may be stored; returns what happened and the
    /// entry waiters may share (a cacheable answer, stored or not).
    fn store_outcome(
        &self,
        key: CacheKey,
        rule: &FillRule,
        outcome: Outcome<'_>,
    ) -> (FillResult, Option<Arc<Entry>>) {
        let entry = match self.storable(rule, outcome) {
            Ok(e) => e,
            Err(not) => return (not, None),
        };
        let put = self.store.put(key, Arc::clone(&entry), rule.ttl);
        (self.stored(put), Some(entry))
    }

    /// [`ResponseCache::store_outcome`] with the store awaited.
    async fn store_outcome_async(
        &self,
        key: CacheKey,
        rule: &FillRule,
        outcome: Outcome<'_>,
    ) -> (FillResult, Option<Arc<Entry>>) {
        let entry = match self.storable(rule, outcome) {
            Ok(e) => e,
            Err(not) => return (not, None),
        };
        let put = crate::store::put_async(&*self.store, key, Arc::clone(&entry), rule.ttl).await;
        (self.stored(put), Some(entry))
    }

    fn storable(&self, rule: &FillRule, outcome: Outcome<'_>) -> Result<Arc<Entry>, FillResult> {
        match cacheable(&outcome, rule) {
            Ok(e) => Ok(Arc::new(e.clone())),
            Err(why) => {
                self.n.not_stored(why);
                Err(FillResult::NotStored(why))
            }
        }
    }

    fn stored(&self, put: Result<Put, StoreError>) -> FillResult {
        match put {
            Ok(Put::Stored) => {
                bump(&self.n.stored);
                FillResult::Stored
            }
            Ok(Put::TooLarge) => {
                self.n.not_stored(NotCached::TooLarge);
                FillResult::NotStored(NotCached::TooLarge)
            }
            Err(e) => {
                bump(&self.n.put_errors);
                FillResult::StoreFailed(e)
            }
        }
    }
}

/// The duty of the call that missed: report how the call ended. Dropping
/// it without [`Fill::complete`] releases any waiters to call themselves.
pub struct Fill<'c> {
    cache: &'c ResponseCache,
    key: CacheKey,
    rule: FillRule,
    flight: Option<Arc<Flight>>,
}

impl Fill<'_> {
    /// The key being filled.
    pub fn key(&self) -> CacheKey {
        self.key
    }

    /// Stores the result if it may be stored and hands a cacheable answer
    /// to the waiters.
    pub fn complete(mut self, outcome: Outcome<'_>) -> FillResult {
        let (fill, share) = self.cache.store_outcome(self.key, &self.rule, outcome);
        self.release(share);
        fill
    }

    /// [`Fill::complete`] for an async caller: the store is awaited.
    pub async fn complete_async(mut self, outcome: Outcome<'_>) -> FillResult {
        let (fill, share) = self
            .cache
            .store_outcome_async(self.key, &self.rule, outcome)
            .await;
        self.release(share);
        fill
    }

    fn release(&mut self, share: Option<Arc<Entry>>) {
        if let (Some(f), Some(flights)) = (self.flight.take(), self.cache.flights.as_ref()) {
            flights.finish(self.key, &f, share);
        }
    }
}

impl Drop for Fill<'_> {
    fn drop(&mut self) {
        self.release(None);
    }
}

/// Waiting for an identical call in flight. Block with [`Wait::wait`] or
/// `.await` it: `Some(entry)` is the leader's answer, `None` means call
/// the model yourself.
pub struct Wait {
    waiter: Waiter,
    key: CacheKey,
    n: Arc<Counters>,
}

impl Wait {
    /// Blocks until the leader finishes or `limit` passes.
    pub fn wait(self, limit: Duration) -> Option<Arc<Entry>> {
        let (key, n) = (self.key, Arc::clone(&self.n));
        let r = self.waiter.wait(limit);
        count_wait(&n, key, r.as_deref());
        r
    }
}

fn count_wait(n: &Counters, key: CacheKey, r: Option<&Entry>) {
    match r {
        Some(e) => {
            bump(&n.shared);
            n.avoided_nanos.add(key.0, e.cost_nanos);
        }
        None => bump(&n.fallbacks),
    }
}

impl Future for Wait {
    type Output = Option<Arc<Entry>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let r = Pin::new(&mut self.waiter).poll(cx);
        if let Poll::Ready(r) = &r {
            count_wait(&self.n, self.key, r.as_deref());
        }
        r
    }
}
