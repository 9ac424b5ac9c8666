//! The Redis spend store (cargo feature `redis`): one ledger for a fleet.
//!
//! Keys (`PREFIX` defaults to `tollgate`):
//!
//! | key | holds |
//! |---|---|
//! | `PREFIX:spend:YYYY-MM-DD:DIM:VALUE` | the group's nano-dollars that day (`INCRBY`), expiring `retention_days` after the day (`EXPIREAT`, so every writer sets the same instant) |
//! | `PREFIX:first:DIM:VALUE` | the group's first day (`SET NX`), refreshed to `retention_days` |
//! | `PREFIX:alerted:YYYY-MM-DD:DIM:VALUE` | the spike alert fired (`SET NX EX`: once per fleet) |
//!
//! A reservation is one Lua script (`GET`, compare, `INCRBY`): atomic on
//! the server, so concurrent calls from any number of processes cannot all
//! pass a budget, and no call is refused because of another's transient
//! over-count (which `INCRBY`-then-`DECRBY` would cause). Lua compares in
//! doubles: exact while a group spends under 2^53 nano-dollars
//! (9,007,199 USD) a day.
//!
//! Settlements send all of a call's groups in one pipeline. Connections come
//! from a small pool, each with connect and I/O timeouts; after a failed
//! connect the store answers [`StoreError::Unavailable`] at once for
//! `retry_after` instead of waiting on every call, so a Redis outage costs
//! calls nothing but their accounting (the ledger counts each fault).

use super::{GroupKey, Reserve, SpendStore, StoreError};
use crate::time::Day;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Key prefix (default `tollgate`).
    pub prefix: String,
    /// Connections kept (default 8).
    pub pool_size: usize,
    /// Connect timeout (default 200 ms).
    pub connect_timeout: Duration,
    /// Read and write timeout (default 200 ms).
    pub io_timeout: Duration,
    /// After a failed connect, fail fast this long (default 1 s).
    pub retry_after: Duration,
    /// Days a group's daily total is kept (default 100).
    pub retention_days: u32,
}

impl RedisConfig {
    /// Defaults for a URL.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: "tollgate".to_owned(),
            pool_size: 8,
            connect_timeout: Duration::from_millis(200),
            io_timeout: Duration::from_millis(200),
            retry_after: Duration::from_secs(1),
            retention_days: 100,
        }
    }
}

/// Spend per group and day, in Redis.
pub struct RedisStore {
    client: redis::Client,
    cfg: RedisConfig,
    pool: Vec<Mutex<Option<redis::Connection>>>,
    next: AtomicUsize,
    reserve: redis::Script,
    /// Milliseconds after `epoch` before which connecting is not retried.
    down_until_ms: AtomicU64,
    epoch: Instant,
    /// Groups whose first day this process already registered, per day.
    registered: Mutex<HashSet<(String, String, Day)>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: &redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

impl RedisStore {
    /// A store for a Redis URL; connects lazily (a bad URL is an error now).
    pub fn new(cfg: RedisConfig) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(cfg.url.as_str()).map_err(|e| {
            StoreError::Unavailable(format!("invalid Redis URL `{}`: {e}", cfg.url))
        })?;
        let pool = (0..cfg.pool_size.max(1))
            .map(|_| Mutex::new(None))
            .collect();
        Ok(RedisStore {
            client,
            cfg,
            pool,
            next: AtomicUsize::new(0),
            reserve: redis::Script::new(RESERVE_LUA),
            down_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            registered: Mutex::new(HashSet::new()),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn slot(&self) -> Option<MutexGuard<'_, Option<redis::Connection>>> {
        let n = self.pool.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Some(Ok(g)) = self.pool.get((start + i) % n).map(Mutex::try_lock) {
                return Some(g);
            }
        }
        // Every connection is busy: wait for one.
        let m = self.pool.get(start.checked_rem(n)?)?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `f` on a pooled connection, connecting if needed; a broken
    /// connection is dropped so the next use reconnects.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let Some(mut slot) = self.slot() else {
            return Err(StoreError::Unavailable("no connection slot".to_owned()));
        };
        if slot.is_none() {
            if self.now_ms() < self.down_until_ms.load(Ordering::Relaxed) {
                return Err(StoreError::Unavailable(
                    "Redis was unreachable moments ago".to_owned(),
                ));
            }
            match self.connect() {
                Ok(c) => *slot = Some(c),
                Err(e) => {
                    let retry = u64::try_from(self.cfg.retry_after.as_millis()).unwrap_or(u64::MAX);
                    self.down_until_ms
                        .store(self.now_ms().saturating_add(retry), Ordering::Relaxed);
                    return Err(unavailable(&e));
                }
            }
        }
        let Some(conn) = slot.as_mut() else {
            return Err(StoreError::Unavailable("no connection".to_owned()));
        };
        match f(conn) {
            Ok(v) => Ok(v),
            Err(e) if broken(&e) => {
                *slot = None;
                Err(unavailable(&e))
            }
            Err(e) => Err(StoreError::Protocol(e.to_string())),
        }
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let c = self
            .client
            .get_connection_with_timeout(self.cfg.connect_timeout)?;
        c.set_read_timeout(Some(self.cfg.io_timeout))?;
        c.set_write_timeout(Some(self.cfg.io_timeout))?;
        Ok(c)
    }

    fn spend_key(&self, key: GroupKey<'_>, day: Day) -> String {
        format!("{}:spend:{day}:{}:{}", self.cfg.prefix, key.dim, key.value)
    }

    fn first_key(&self, key: GroupKey<'_>) -> String {
        format!("{}:first:{}:{}", self.cfg.prefix, key.dim, key.value)
    }

    fn alerted_key(&self, key: GroupKey<'_>, day: Day) -> String {
        format!(
            "{}:alerted:{day}:{}:{}",
            self.cfg.prefix, key.dim, key.value
        )
    }

    /// Unix seconds at which a day's total expires.
    fn expire_at(&self, day: Day) -> i64 {
        day.plus(self.cfg.retention_days.max(2)).start().unix_ms() / 1000
    }

    fn retention_secs(&self) -> u64 {
        u64::from(self.cfg.retention_days.max(2)) * 86_400
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
}

impl SpendStore for RedisStore {
    fn add(&self, key: GroupKey<'_>, day: Day, delta: i64) -> Result<i64, StoreError> {
        let totals = self.add_many(&[(key, delta)], day)?;
        totals
            .first()
            .copied()
            .ok_or_else(|| StoreError::Protocol("no reply to INCRBY".to_owned()))
    }

    fn add_many(&self, items: &[(GroupKey<'_>, i64)], day: Day) -> Result<Vec<i64>, StoreError> {
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
        let res: Result<Vec<i64>, StoreError> = self.with_conn(|c| pipe.query(c));
        if res.is_err() {
            for key in registering {
                self.forget_registration(key, day);
            }
        }
        res
    }

    fn try_reserve(
        &self,
        key: GroupKey<'_>,
        day: Day,
        amount: i64,
        limit: i64,
    ) -> Result<Reserve, StoreError> {
        let spend = self.spend_key(key, day);
        let first = self.first_key(key);
        let (granted, total): (i64, i64) = self.with_conn(|c| {
            self.reserve
                .key(&spend)
                .key(&first)
                .arg(amount)
                .arg(limit)
                .arg(self.expire_at(day))
                .arg(day.0)
                .arg(self.retention_secs())
                .invoke(c)
        })?;
        Ok(if granted == 1 {
            Reserve::Granted { total }
        } else {
            Reserve::Denied { total }
        })
    }

    fn total(&self, key: GroupKey<'_>, day: Day) -> Result<i64, StoreError> {
        let k = self.spend_key(key, day);
        let v: Option<i64> = self.with_conn(|c| redis::cmd("GET").arg(&k).query(c))?;
        Ok(v.unwrap_or(0))
    }

    fn totals(&self, key: GroupKey<'_>, first: Day, days: u32) -> Result<Vec<i64>, StoreError> {
        if days == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for i in 0..days {
            cmd.arg(self.spend_key(key, first.plus(i)));
        }
        let v: Vec<Option<i64>> = self.with_conn(|c| cmd.query(c))?;
        Ok(v.into_iter().map(|x| x.unwrap_or(0)).collect())
    }

    fn first_day(&self, key: GroupKey<'_>) -> Result<Option<Day>, StoreError> {
        let k = self.first_key(key);
        let v: Option<u32> = self.with_conn(|c| redis::cmd("GET").arg(&k).query(c))?;
        Ok(v.map(Day))
    }

    fn mark_alerted(&self, key: GroupKey<'_>, day: Day) -> Result<bool, StoreError> {
        let k = self.alerted_key(key, day);
        let v: Option<String> = self.with_conn(|c| {
            redis::cmd("SET")
                .arg(&k)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(2 * 86_400)
                .query(c)
        })?;
        Ok(v.is_some())
    }
}
