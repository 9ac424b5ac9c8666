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
//! - `RedisStore` (cargo feature `redis`): a fleet. `INCRBY` on one key per
//!   group and day with an absolute expiry; reservations run as one Lua
//!   script, so concurrent calls across processes cannot all slip past a
//!   budget.
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
pub use redis_store::{RedisConfig, RedisStore};

use crate::budget::FailMode;
use crate::spike::{SpikeAlert, SpikeConfig, SpikeWatch};
use crate::time::Day;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

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

pub use crate::budget::Ticket;

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

    /// A group's spend on a day, nano-dollars (reservations in flight included).
    pub fn total(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        self.inner.store.total(key, day)
    }

    /// Adds spend to groups directly (no budget), checking the spike alert.
    /// Store faults are counted, not returned.
    pub fn add(&self, groups: &[GroupKey<'_>], day: Day, nanos: u64) {
        let delta = i64::try_from(nanos).unwrap_or(i64::MAX);
        for &g in groups {
            self.add_one(g, day, delta);
        }
    }

    pub(crate) fn add_one(&self, key: GroupKey<'_>, day: Day, delta: i64) {
        match self.inner.store.add(key, day, delta) {
            Ok(total) => self.check_spike(key, day, total),
            Err(e) => self.fault(&e),
        }
    }

    pub(crate) fn check_spike(&self, key: GroupKey<'_>, day: Day, total: i64) {
        let Some(watch) = &self.inner.spike else {
            return;
        };
        match watch.observe(self.inner.store.as_ref(), key, day, total) {
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
