//! The spend ledger: integer nano-dollars per group and UTC day.
//!
//! A *group* is a dimension and a value: `feature = kb`, `tenant = acme`,
//! or the one `global` group. Every call's cost is added to its group in
//! each tracked dimension: the ledger's own (`feature` by default), the
//! `group_by` of every `[[budget]]` rule of the live policy, and the spike
//! alert's. A budget therefore caps its group's *whole* spend for the day,
//! whichever rule decided each call; the rule's `when` chooses which calls
//! the cap is enforced on. A request without the dimension's attribute is
//! counted under the empty value.
//!
//! Two stores implement [`SpendStore`]:
//!
//! - [`MemoryStore`]: one process. A sharded table of atomic counters; an
//!   update hashes the borrowed key, takes a shard's read lock and does one
//!   `fetch_add` (no allocation; goal <= 100 ns).
//! - `RedisStore` (cargo feature `redis`): a fleet, over the one Redis
//!   layer (`tollgate-redis`: one `RedisConfig`, breaker and error type,
//!   shared with the response cache). `INCRBY` on one key per group and day
//!   with an absolute expiry; reservations run as one Lua script, so
//!   concurrent calls across processes cannot all slip past a budget.
//!
//! # Sync and async
//!
//! Every ledger operation has a sync form ([`Ledger::begin_with_input`],
//! [`Ticket::settle`](crate::Ticket::settle), [`Ledger::record`], ...) for callers without a
//! runtime (command-line tools, analysis), and an async form
//! ([`Ledger::begin_with_input_async`], [`Ticket::settle_async`](crate::Ticket::settle_async),
//! [`Ledger::record_async`], ...) that the Bedrock gate awaits. Both run
//! one implementation. A store says how async callers reach it with
//! [`SpendStore::backend`]: the Redis store's own async methods are awaited
//! (no round trip runs synchronously on an async worker); an in-process
//! store is called in place, so its async path is its sync path with no
//! future boxed and nothing allocated. The sync forms poll that same
//! implementation once, through the store's sync methods: it is ready at
//! the first poll.
//!
//! The figures are also attributes rules can read: [`SpendAttributes`]
//! fills `spend.<group>_today_usd` float slots before a decision.
//! In-flight reservations count in the totals until they are settled.

mod attrs;
mod memory;
#[cfg(feature = "redis")]
mod redis_store;

pub use attrs::SpendAttributes;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, DEFAULT_RETENTION_DAYS};
#[cfg(feature = "redis")]
pub use tollgate_redis::{Redis, RedisConfig, RedisError};

use crate::spike::{SpikeAlert, SpikeConfig, SpikeWatch};
use crate::time::Day;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

/// What a budget does when the spend store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// The call goes on unbudgeted; the fault is counted.
    #[default]
    Open,
    /// The call is refused.
    Closed,
}

/// The dimension of the one all-traffic group (`group_by = "global"`).
pub const GLOBAL: &str = "global";

/// One group: a dimension (an attribute name, or `global`) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupKey<'a> {
    /// Attribute name (`feature`, `tenant`, ...) or [`GLOBAL`].
    pub dim: &'a str,
    /// The attribute's value (empty for `global` or when absent).
    pub value: &'a str,
}

impl<'a> GroupKey<'a> {
    /// A group.
    pub fn new(dim: &'a str, value: &'a str) -> GroupKey<'a> {
        GroupKey { dim, value }
    }

    /// The all-traffic group.
    pub fn global() -> GroupKey<'static> {
        GroupKey {
            dim: GLOBAL,
            value: "",
        }
    }
}

/// The outcome of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// Reserved; the group's total after it.
    Granted {
        /// Nano-dollars, the reservation included.
        total: i64,
    },
    /// It would pass the limit; nothing was added.
    Denied {
        /// Nano-dollars already counted.
        total: i64,
    },
}

/// The store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is unreachable or failed (Redis down, timeout).
    #[error("the spend store is unavailable: {0}")]
    Unavailable(String),
    /// The store answered something unexpected.
    #[error("the spend store answered unexpectedly: {0}")]
    Protocol(String),
}

/// Counters of spend per group and day, in nano-dollars.
///
/// Totals are `i64` (what Redis `INCRBY` holds: 9.2 billion USD per group
/// per day). They never go below zero in use: a settlement subtracts at most
/// what its reservation added.
pub trait SpendStore: Send + Sync {
    /// Adds `delta` (may be negative) to a group's day; the new total.
    fn add(&self, key: GroupKey<'_>, day: Day, delta: i64) -> Result<i64, StoreError>;

    /// Adds `amount` only if the total stays at or below `limit`, atomically.
    fn try_reserve(
        &self,
        key: GroupKey<'_>,
        day: Day,
        amount: i64,
        limit: i64,
    ) -> Result<Reserve, StoreError>;

    /// Adds several deltas on one day; the new totals, in order. Redis
    /// sends them in one round trip.
    fn add_many(&self, items: &[(GroupKey<'_>, i64)], day: Day) -> Result<Vec<i64>, StoreError> {
        items.iter().map(|&(k, d)| self.add(k, day, d)).collect()
    }

    /// A group's total for a day (0 when nothing was recorded).
    fn total(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError>;

    /// Totals of `days` consecutive days from `first`.
    fn totals(&self, key: GroupKey<'_>, first: Day, days: u32) -> Result<Vec<i64>, StoreError> {
        (0..days).map(|i| self.total(key, first.plus(i))).collect()
    }

    /// The first day anything was recorded for the group (within the
    /// store's retention); `None` for a group never seen.
    fn first_day(&self, key: GroupKey<'_>) -> Result<Option<Day>, StoreError>;

    /// Marks that the group's spike alert fired on `day`; `true` the first
    /// time (across the fleet, for a shared store).
    fn mark_alerted(&self, key: GroupKey<'_>, day: Day) -> Result<bool, StoreError>;

    /// How async callers reach the store: [`Backend::InPlace`] (the
    /// default) for a store that answers without I/O.
    fn backend(&self) -> Backend<'_> {
        Backend::InPlace
    }
}

/// How a store answers an async caller ([`SpendStore::backend`]).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Backend<'a> {
    /// In place, through the synchronous methods (in-process stores).
    InPlace,
    /// Through the Redis store's async methods.
    #[cfg(feature = "redis")]
    Redis(&'a RedisStore),
    #[doc(hidden)]
    _Lifetime(std::marker::PhantomData<&'a ()>),
}

/// Which way a ledger operation reaches its store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// The sync trait methods (sync callers; the Redis store blocks).
    Sync,
    /// Awaited: a store that does I/O through its async methods, an
    /// in-process store in place.
    Async,
}

/// A store reached one way: the one place the ledger's operations touch
/// their store.
pub(crate) struct At<'a> {
    store: &'a dyn SpendStore,
    via: Via,
}

impl<'a> At<'a> {
    fn io(&self) -> Backend<'a> {
        match self.via {
            Via::Async => self.store.backend(),
            Via::Sync => Backend::InPlace,
        }
    }

    pub(crate) async fn add(
        &self,
        key: GroupKey<'_>,
        day: Day,
        delta: i64,
    ) -> Result<i64, StoreError> {
        match self.io() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.add_async(key, day, delta).await,
            _ => self.store.add(key, day, delta),
        }
    }

    pub(crate) async fn add_many(
        &self,
        items: &[(GroupKey<'_>, i64)],
        day: Day,
    ) -> Result<Vec<i64>, StoreError> {
        match self.io() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.add_many_async(items, day).await,
            _ => self.store.add_many(items, day),
        }
    }

    pub(crate) async fn try_reserve(
        &self,
        key: GroupKey<'_>,
        day: Day,
        amount: i64,
        limit: i64,
    ) -> Result<Reserve, StoreError> {
        match self.io() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.try_reserve_async(key, day, amount, limit).await,
            _ => self.store.try_reserve(key, day, amount, limit),
        }
    }

    pub(crate) async fn total(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        match self.io() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.total_async(key, day).await,
            _ => self.store.total(key, day),
        }
    }

    pub(crate) async fn totals(
        &self,
        key: GroupKey<'_>,
        first: Day,
        days: u32,
    ) -> Result<Vec<i64>, StoreError> {
        match self.io() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.totals_async(key, first, days).await,
            _ => self.store.totals(key, first, days),
        }
    }

    pub(crate) async fn first_day(&self, key: GroupKey<'_>) -> Result<Option<Day>, StoreError> {
        match self.io() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.first_day_async(key).await,
            _ => self.store.first_day(key),
        }
    }

    pub(crate) async fn mark_alerted(
        &self,
        key: GroupKey<'_>,
        day: Day,
    ) -> Result<bool, StoreError> {
        match self.io() {
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.mark_alerted_async(key, day).await,
            _ => self.store.mark_alerted(key, day),
        }
    }
}

/// Runs a ledger operation on the calling thread: how the sync forms call
/// the one implementation. Under [`Via::Sync`] every store call inside is
/// a synchronous one, so the future is ready at its first poll, made with a
/// no-op waker (nothing allocated). Should a future ever not be ready, the
/// thread parks until it is woken rather than giving up.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = TaskContext::from_waker(Waker::noop());
    if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
        return v;
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// How the ledger behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerConfig {
    /// Dimensions every call is counted in, besides budget and alert ones
    /// (default `["feature"]`).
    pub dims: Vec<String>,
    /// What a budget does when the store is unavailable (default: the call
    /// goes on, the fault is counted).
    pub fail_mode: FailMode,
    /// Output tokens a budget estimate assumes only for a model whose price
    /// entry gives neither `max_output_tokens` nor `context_window`, on a
    /// call the decision does not cap (default 4096); every other call
    /// reserves the smaller of its cap and the model's maximum output.
    pub default_output_estimate: u32,
    /// The spike alert (normally from `[alerts.spend_spike]`).
    pub spike: Option<SpikeConfig>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            dims: vec!["feature".to_owned()],
            fail_mode: FailMode::Open,
            default_output_estimate: 4096,
            spike: None,
        }
    }
}

type SpikeCallback = Box<dyn Fn(&SpikeAlert) + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) store: Box<dyn SpendStore>,
    pub(crate) cfg: LedgerConfig,
    pub(crate) spike: Option<SpikeWatch>,
    callbacks: RwLock<Vec<SpikeCallback>>,
    faults: AtomicU64,
}

/// The spend ledger: a store, the dimensions it counts, budgets and the
/// spike alert. Cheap to clone (shared).
#[derive(Clone)]
pub struct Ledger {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("cfg", &self.inner.cfg)
            .field("faults", &self.faults())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// A ledger over a store.
    pub fn new(store: impl SpendStore + 'static, cfg: LedgerConfig) -> Ledger {
        let spike = cfg.spike.clone().map(SpikeWatch::new);
        Ledger {
            inner: Arc::new(Inner {
                store: Box::new(store),
                cfg,
                spike,
                callbacks: RwLock::new(Vec::new()),
                faults: AtomicU64::new(0),
            }),
        }
    }

    /// An in-process ledger with the default configuration.
    pub fn in_memory() -> Ledger {
        Ledger::new(MemoryStore::new(), LedgerConfig::default())
    }

    /// The store.
    pub fn store(&self) -> &dyn SpendStore {
        self.inner.store.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &LedgerConfig {
        &self.inner.cfg
    }

    /// Store faults so far (each one let a call go on unaccounted or
    /// unbudgeted, or refused it under [`FailMode::Closed`]).
    pub fn faults(&self) -> u64 {
        self.inner.faults.load(Ordering::Relaxed)
    }

    pub(crate) fn fault(&self, e: &StoreError) {
        let n = self.inner.faults.fetch_add(1, Ordering::Relaxed);
        if n.is_power_of_two() || n == 0 {
            tracing::warn!(target: "tollgate::ledger", error = %e, faults = n + 1, "spend store fault");
        }
    }

    /// Calls `f` with every spike alert from now on.
    pub fn on_spike(&self, f: impl Fn(&SpikeAlert) + Send + Sync + 'static) {
        let mut cbs = self
            .inner
            .callbacks
            .write()
            .unwrap_or_else(|p| p.into_inner());
        cbs.push(Box::new(f));
    }

    /// The store, reached one way.
    pub(crate) fn at(&self, via: Via) -> At<'_> {
        At {
            store: self.inner.store.as_ref(),
            via,
        }
    }

    /// A group's spend on a day, nano-dollars (reservations in flight included).
    pub fn total(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        self.inner.store.total(key, day)
    }

    /// [`Ledger::total`], awaited.
    pub async fn total_async(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        self.at(Via::Async).total(key, day).await
    }

    /// Adds spend to groups directly (no budget), checking the spike alert.
    /// Store faults are counted, not returned.
    pub fn add(&self, groups: &[GroupKey<'_>], day: Day, nanos: u64) {
        block_on(self.add_at(Via::Sync, groups, day, nanos));
    }

    /// [`Ledger::add`], awaited.
    pub async fn add_async(&self, groups: &[GroupKey<'_>], day: Day, nanos: u64) {
        self.add_at(Via::Async, groups, day, nanos).await;
    }

    pub(crate) async fn add_at(&self, via: Via, groups: &[GroupKey<'_>], day: Day, nanos: u64) {
        let delta = i64::try_from(nanos).unwrap_or(i64::MAX);
        for &g in groups {
            self.add_one(via, g, day, delta).await;
        }
    }

    pub(crate) async fn add_one(&self, via: Via, key: GroupKey<'_>, day: Day, delta: i64) {
        match self.at(via).add(key, day, delta).await {
            Ok(total) => self.check_spike(via, key, day, total).await,
            Err(e) => self.fault(&e),
        }
    }

    pub(crate) async fn check_spike(&self, via: Via, key: GroupKey<'_>, day: Day, total: i64) {
        let Some(watch) = &self.inner.spike else {
            return;
        };
        match watch.observe(&self.at(via), key, day, total).await {
            Ok(Some(alert)) => {
                tracing::warn!(
                    target: "tollgate::alert",
                    alert = "spend_spike",
                    group_by = alert.group_by.as_str(),
                    group = alert.group.as_str(),
                    day = %alert.day,
                    spend_usd = alert.spend_usd,
                    trailing_mean_usd = alert.trailing_mean_usd,
                    threshold_usd = alert.threshold_usd,
                    "spend spike: {}={} spent ${:.2} today against a trailing mean of ${:.2}",
                    alert.group_by, alert.group, alert.spend_usd, alert.trailing_mean_usd
                );
                let cbs = self
                    .inner
                    .callbacks
                    .read()
                    .unwrap_or_else(|p| p.into_inner());
                for cb in cbs.iter() {
                    cb(&alert);
                }
            }
            Ok(None) => {}
            Err(e) => self.fault(&e),
        }
    }
}

/// Nano-dollars `u64` -> store `i64`, saturating.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
