//! The Redis spend store (cargo feature `redis`): one ledger for a fleet,
//! over the one Redis layer (`tollgate-redis`).
//!
//! Keys (`PREFIX` is the layer's `key_prefix`, default `tollgate`); every
//! key of a group starts with the group's hash tag `{PREFIX:DIM:VALUE}`:
//!
//! | key | holds |
//! |---|---|
//! | `{PREFIX:DIM:VALUE}:spend:YYYY-MM-DD` | the group's nano-dollars that day (`INCRBY`), expiring `retention_days` after the day (`EXPIREAT`, so every writer sets the same instant) |
//! | `{PREFIX:DIM:VALUE}:first` | the group's first day (`SET NX`), refreshed to `retention_days` |
//! | `{PREFIX:DIM:VALUE}:alerted:YYYY-MM-DD` | the spike alert fired (`SET NX EX`: once per fleet) |
//!
//! In a Redis Cluster (`RedisConfig::cluster`) the tag puts all of a
//! group's keys in one slot, so each script and pipeline below touches one
//! slot and stays atomic: a reservation (the day's total and the first
//! day), a settlement (the total, its expiry and the first day), the days
//! of a report (`MGET`). An operation over several groups (a call's
//! settlement across its feature, tenant and global groups) is a sequence
//! of such single-slot pipelines, one per group, in the order given; on a
//! single server it is one pipeline. If one of the sequence fails, the
//! groups before it are counted and the rest are not: the ledger counts
//! the fault, as for any failed settlement.
//!
//! A reservation is one Lua script (`GET`, compare, `INCRBY`): atomic on
//! the server, so concurrent calls from any number of processes cannot all
//! pass a budget, and no call is refused because of another's transient
//! over-count (which `INCRBY`-then-`DECRBY` would cause). Lua compares in
//! doubles: exact while a group spends under 2^53 nano-dollars
//! (9,007,199 USD) a day.
//!
//! Two ways in, one store:
//!
//! - async (`*_async` methods, awaited by the ledger's async methods:
//!   [`Ledger::begin_with_input_async`](crate::Ledger::begin_with_input_async),
//!   [`Ticket::settle_async`](crate::Ticket::settle_async), ...): the
//!   Bedrock gate's way. No round trip runs synchronously on an async
//!   worker: a Redis that stalls holds the awaiting call only.
//! - sync (the [`SpendStore`] trait): for callers without a runtime
//!   (command-line tools, analysis); it blocks the calling thread for up to
//!   the operation timeout.
//!
//! Settlements send all of a call's groups in one pipeline. Failure
//! behaviour is the layer's: every operation is bounded by `op_timeout`
//! (and `connect_timeout` to open a connection), and after `trip_after`
//! consecutive faults the breaker skips Redis for `backoff`, answering
//! [`StoreError::Unavailable`] at once, so a Redis outage costs calls
//! nothing but their accounting (the ledger counts each fault).

use super::{Backend, GroupKey, Reserve, SpendStore, StoreError};
use crate::time::Day;
use std::collections::HashSet;
use std::sync::Mutex;
use tollgate_redis::redis;
use tollgate_redis::{Redis, RedisConfig, RedisError};

const RESERVE_LUA: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return {0, cur}
end
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'NX')
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {1, total}
";

/// Days a group's daily total is kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 100;

impl From<RedisError> for StoreError {
    /// An answer Redis gave (an error reply, a reply of the wrong shape) is
    /// [`StoreError::Protocol`]; everything else (timeout, breaker open,
    /// connection, configuration) is [`StoreError::Unavailable`].
    fn from(e: RedisError) -> StoreError {
        match e {
            RedisError::Server(m) => StoreError::Protocol(m),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Spend per group and day, in Redis.
pub struct RedisStore {
    redis: Redis,
    retention_days: u32,
    reserve: redis::Script,
    /// Groups whose first day this process already registered, per day.
    registered: Mutex<HashSet<(String, String, Day)>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("redis", &self.redis)
            .field("retention_days", &self.retention_days)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on a Redis handle (which other stores, such as the response
    /// cache, may share: one set of connections, one breaker).
    pub fn new(redis: Redis) -> RedisStore {
        RedisStore {
            redis,
            retention_days: DEFAULT_RETENTION_DAYS,
            reserve: redis::Script::new(RESERVE_LUA),
            registered: Mutex::new(HashSet::new()),
        }
    }

    /// A store with a handle of its own. Nothing is connected yet: a server
    /// that is down makes operations fail (counted by the ledger), it does
    /// not make this fail. Only a malformed URL or certificate is an error.
    pub fn open(cfg: RedisConfig) -> Result<RedisStore, StoreError> {
        Ok(RedisStore::new(Redis::new(cfg)?))
    }

    /// Days a group's daily total is kept (default 100; at least 2).
    pub fn retention_days(mut self, days: u32) -> RedisStore {
        self.retention_days = days;
        self
    }

    /// The Redis handle.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// The group's hash tag, `{PREFIX:DIM:VALUE}`: every key of the group
    /// starts with it (one slot in a cluster).
    fn tag(&self, key: GroupKey<'_>) -> String {
        self.redis.tag(&format!("{}:{}", key.dim, key.value))
    }

    /// `{PREFIX:DIM:VALUE}:spend:YYYY-MM-DD`: the group's total that day.
    pub fn spend_key(&self, key: GroupKey<'_>, day: Day) -> String {
        format!("{}:spend:{day}", self.tag(key))
    }

    /// `{PREFIX:DIM:VALUE}:first`: the group's first day.
    pub fn first_key(&self, key: GroupKey<'_>) -> String {
        format!("{}:first", self.tag(key))
    }

    /// `{PREFIX:DIM:VALUE}:alerted:YYYY-MM-DD`: the day's spike alert fired.
    pub fn alerted_key(&self, key: GroupKey<'_>, day: Day) -> String {
        format!("{}:alerted:{day}", self.tag(key))
    }

    /// The items each settlement pipeline carries: all of them on one
    /// server; one group each in a cluster (a pipeline keeps to one slot),
    /// sent in sequence.
    fn batches<'a, 'k>(
        &self,
        items: &'a [(GroupKey<'k>, i64)],
    ) -> std::slice::Chunks<'a, (GroupKey<'k>, i64)> {
        let n = if self.redis.config().cluster {
            1
        } else {
            items.len().max(1)
        };
        items.chunks(n)
    }

    /// Unix seconds at which a day's total expires.
    fn expire_at(&self, day: Day) -> i64 {
        day.plus(self.retention_days.max(2)).start().unix_ms() / 1000
    }

    fn retention_secs(&self) -> u64 {
        u64::from(self.retention_days.max(2)) * 86_400
    }

    /// Whether this process still has to register the group's first day.
    fn needs_registration(&self, key: GroupKey<'_>, day: Day) -> bool {
        let mut reg = self.registered.lock().unwrap_or_else(|p| p.into_inner());
        if reg.len() > 100_000 {
            reg.clear();
        }
        reg.insert((key.dim.to_owned(), key.value.to_owned(), day))
    }

    fn forget_registration(&self, key: GroupKey<'_>, day: Day) {
        let mut reg = self.registered.lock().unwrap_or_else(|p| p.into_inner());
        reg.remove(&(key.dim.to_owned(), key.value.to_owned(), day));
    }

    /// The pipeline of `add_many`, and the groups it registers.
    fn add_pipe<'k>(
        &self,
        items: &[(GroupKey<'k>, i64)],
        day: Day,
    ) -> (redis::Pipeline, Vec<GroupKey<'k>>) {
        let mut pipe = redis::pipe();
        let mut registering = Vec::new();
        for &(key, delta) in items {
            pipe.cmd("INCRBY").arg(self.spend_key(key, day)).arg(delta);
            pipe.cmd("EXPIREAT")
                .arg(self.spend_key(key, day))
                .arg(self.expire_at(day))
                .ignore();
            if self.needs_registration(key, day) {
                registering.push(key);
                pipe.cmd("SET")
                    .arg(self.first_key(key))
                    .arg(day.0)
                    .arg("NX")
                    .ignore();
                pipe.cmd("EXPIRE")
                    .arg(self.first_key(key))
                    .arg(self.retention_secs())
                    .ignore();
            }
        }
        (pipe, registering)
    }

    /// A failed pipeline did not register its groups: the next add tries again.
    fn added(
        &self,
        res: Result<Vec<i64>, RedisError>,
        registering: Vec<GroupKey<'_>>,
        day: Day,
    ) -> Result<Vec<i64>, StoreError> {
        if res.is_err() {
            for key in registering {
                self.forget_registration(key, day);
            }
        }
        Ok(res?)
    }

    fn reserve_call<'s>(
        &'s self,
        key: GroupKey<'_>,
        day: Day,
        amount: i64,
        limit: i64,
    ) -> redis::ScriptInvocation<'s> {
        let mut inv = self.reserve.prepare_invoke();
        inv.key(self.spend_key(key, day))
            .key(self.first_key(key))
            .arg(amount)
            .arg(limit)
            .arg(self.expire_at(day))
            .arg(day.0)
            .arg(self.retention_secs());
        inv
    }

    fn mark_cmd(&self, key: GroupKey<'_>, day: Day) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.alerted_key(key, day))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(2 * 86_400);
        cmd
    }

    fn totals_cmd(&self, key: GroupKey<'_>, first: Day, days: u32) -> redis::Cmd {
        let mut cmd = redis::cmd("MGET");
        for i in 0..days {
            cmd.arg(self.spend_key(key, first.plus(i)));
        }
        cmd
    }

    /// [`SpendStore::add_many`], awaited.
    pub async fn add_many_async(
        &self,
        items: &[(GroupKey<'_>, i64)],
        day: Day,
    ) -> Result<Vec<i64>, StoreError> {
        let mut totals = Vec::with_capacity(items.len());
        for batch in self.batches(items) {
            let (pipe, registering) = self.add_pipe(batch, day);
            let res = self
                .redis
                .run(|mut c| async move { pipe.query_async(&mut c).await })
                .await;
            totals.extend(self.added(res, registering, day)?);
        }
        Ok(totals)
    }

    /// [`SpendStore::add`], awaited.
    pub async fn add_async(
        &self,
        key: GroupKey<'_>,
        day: Day,
        delta: i64,
    ) -> Result<i64, StoreError> {
        first_total(self.add_many_async(&[(key, delta)], day).await?)
    }

    /// [`SpendStore::try_reserve`], awaited (the same Lua script).
    pub async fn try_reserve_async(
        &self,
        key: GroupKey<'_>,
        day: Day,
        amount: i64,
        limit: i64,
    ) -> Result<Reserve, StoreError> {
        let inv = self.reserve_call(key, day, amount, limit);
        let r: (i64, i64) = self
            .redis
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await?;
        Ok(reserved(r))
    }

    /// [`SpendStore::total`], awaited.
    pub async fn total_async(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.spend_key(key, day));
        let v: Option<i64> = self
            .redis
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// [`SpendStore::totals`], awaited.
    pub async fn totals_async(
        &self,
        key: GroupKey<'_>,
        first: Day,
        days: u32,
    ) -> Result<Vec<i64>, StoreError> {
        if days == 0 {
            return Ok(Vec::new());
        }
        let cmd = self.totals_cmd(key, first, days);
        let v: Vec<Option<i64>> = self
            .redis
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(v.into_iter().map(|x| x.unwrap_or(0)).collect())
    }

    /// [`SpendStore::first_day`], awaited.
    pub async fn first_day_async(&self, key: GroupKey<'_>) -> Result<Option<Day>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.first_key(key));
        let v: Option<u32> = self
            .redis
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(v.map(Day))
    }

    /// [`SpendStore::mark_alerted`], awaited.
    pub async fn mark_alerted_async(
        &self,
        key: GroupKey<'_>,
        day: Day,
    ) -> Result<bool, StoreError> {
        let cmd = self.mark_cmd(key, day);
        let v: Option<String> = self
            .redis
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(v.is_some())
    }
}

fn first_total(totals: Vec<i64>) -> Result<i64, StoreError> {
    totals
        .first()
        .copied()
        .ok_or_else(|| StoreError::Protocol("no reply to INCRBY".to_owned()))
}

fn reserved((granted, total): (i64, i64)) -> Reserve {
    if granted == 1 {
        Reserve::Granted { total }
    } else {
        Reserve::Denied { total }
    }
}

impl SpendStore for RedisStore {
    fn add(&self, key: GroupKey<'_>, day: Day, delta: i64) -> Result<i64, StoreError> {
        first_total(self.add_many(&[(key, delta)], day)?)
    }

    fn add_many(&self, items: &[(GroupKey<'_>, i64)], day: Day) -> Result<Vec<i64>, StoreError> {
        let mut totals = Vec::with_capacity(items.len());
        for batch in self.batches(items) {
            let (pipe, registering) = self.add_pipe(batch, day);
            let res = self.redis.run_blocking(|c| pipe.query(c));
            totals.extend(self.added(res, registering, day)?);
        }
        Ok(totals)
    }

    fn try_reserve(
        &self,
        key: GroupKey<'_>,
        day: Day,
        amount: i64,
        limit: i64,
    ) -> Result<Reserve, StoreError> {
        let inv = self.reserve_call(key, day, amount, limit);
        Ok(reserved(self.redis.run_blocking(|c| inv.invoke(c))?))
    }

    fn total(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        let k = self.spend_key(key, day);
        let v: Option<i64> = self
            .redis
            .run_blocking(|c| redis::cmd("GET").arg(&k).query(c))?;
        Ok(v.unwrap_or(0))
    }

    fn totals(&self, key: GroupKey<'_>, first: Day, days: u32) -> Result<Vec<i64>, StoreError> {
        if days == 0 {
            return Ok(Vec::new());
        }
        let cmd = self.totals_cmd(key, first, days);
        let v: Vec<Option<i64>> = self.redis.run_blocking(|c| cmd.query(c))?;
        Ok(v.into_iter().map(|x| x.unwrap_or(0)).collect())
    }

    fn first_day(&self, key: GroupKey<'_>) -> Result<Option<Day>, StoreError> {
        let k = self.first_key(key);
        let v: Option<u32> = self
            .redis
            .run_blocking(|c| redis::cmd("GET").arg(&k).query(c))?;
        Ok(v.map(Day))
    }

    fn mark_alerted(&self, key: GroupKey<'_>, day: Day) -> Result<bool, StoreError> {
        let cmd = self.mark_cmd(key, day);
        let v: Option<String> = self.redis.run_blocking(|c| cmd.query(c))?;
        Ok(v.is_some())
    }

    fn backend(&self) -> Backend<'_> {
        Backend::Redis(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tollgate_redis::slot;

    fn store(cluster: bool) -> RedisStore {
        let cfg = RedisConfig {
            cluster,
            ..RedisConfig::new("redis://127.0.0.1:1/")
        };
        RedisStore::new(Redis::new(cfg).unwrap())
    }

    #[test]
    fn a_groups_keys_share_one_hash_tag() {
        let s = store(false);
        let day = Day::from_ymd(2026, 12, 6).unwrap();
        let kb = GroupKey::new("feature", "kb");
        assert_eq!(
            s.spend_key(kb, day),
            "{tollgate:feature:kb}:spend:2026-12-06"
        );
        assert_eq!(s.first_key(kb), "{tollgate:feature:kb}:first");
        assert_eq!(
            s.alerted_key(kb, day),
            "{tollgate:feature:kb}:alerted:2026-12-06"
        );
    }

    /// Every script and pipeline of one group lands in one slot, whatever
    /// the value (braces included), on every day; different groups spread.
    #[test]
    fn the_keys_of_each_script_compute_the_same_slot() {
        let s = store(true);
        let day = Day::from_ymd(2026, 12, 6).unwrap();
        let mut slots = HashSet::new();
        for v in ["kb", "acme corp", "a}b", "{x}", "}", "", "ünï"] {
            let g = GroupKey::new("tenant", v);
            let reserve = [s.spend_key(g, day), s.first_key(g)];
            let report: Vec<String> = (0..30).map(|i| s.spend_key(g, day.plus(i))).collect();
            let first = slot(&reserve[0]);
            assert_eq!(slot(&reserve[1]), first, "{v}");
            assert_eq!(slot(s.alerted_key(g, day)), first, "{v}");
            assert!(report.iter().all(|k| slot(k) == first), "{v}");
            // A settlement pipeline of one group: one slot.
            let (pipe, _) = s.add_pipe(&[(g, 5)], day);
            for cmd in pipe.cmd_iter() {
                let key = cmd.args_iter().nth(1);
                if let Some(redis::Arg::Simple(k)) = key {
                    assert_eq!(slot(k), first, "{v}");
                }
            }
            slots.insert(format!("{first:?}"));
        }
        // Seven groups, six tags: `}` ends the tag of value `}` where that
        // of the empty value ends (two groups in one slot is harmless).
        assert_eq!(slots.len(), 6, "{slots:?}");
        // In a cluster a settlement over several groups is one pipeline per
        // group; on one server, one pipeline.
        let (a, b) = (
            GroupKey::new("feature", "kb"),
            GroupKey::new("tenant", "acme"),
        );
        assert_eq!(s.batches(&[(a, 1), (b, 2)]).count(), 2);
        assert_eq!(store(false).batches(&[(a, 1), (b, 2)]).count(), 1);
    }
}
