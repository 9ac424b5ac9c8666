//! The shared store: Redis `GET` / `SET key value PX ttl`, binary values
//! ([`Entry::to_bytes`]), short socket timeouts, and a back-off after
//! errors. Cargo feature `redis`.
//!
//! Failure behaviour, the part that matters: every call is bounded by
//! `op_timeout` (read and write) and, when it must open a connection, by
//! `connect_timeout`. Any error or timeout is returned as a [`StoreError`]
//! and counted; [`ResponseCache`](crate::ResponseCache) then serves the
//! call uncached. After `trip_after` consecutive failures the store stops
//! trying for `backoff` and answers [`StoreError::Unavailable`] at once, so
//! a Redis that black-holes packets costs each call nothing rather than a
//! timeout; the first call after the back-off tries again.
//!
//! Why the synchronous client: the calls are single round trips bounded by
//! socket timeouts, the crate imposes no async runtime, and a small pool of
//! blocking connections gives each thread its own socket without a
//! multiplexer. A connection that failed or timed out is dropped, never
//! reused (a timed-out reply could otherwise be read by the next call).
//!
//! Keys are `key_prefix` + the 32 hex digits of the [`CacheKey`].

use crate::entry::Entry;
use crate::key::CacheKey;
use crate::store::{Put, Store, StoreError};
use parking_lot::Mutex;
use redis::{Client, Connection, RedisError};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Prepended to every key.
    pub key_prefix: String,
    /// Read and write timeout of each command.
    pub op_timeout: Duration,
    /// Timeout to open a connection (TCP connect and handshake).
    pub connect_timeout: Duration,
    /// Idle connections kept for reuse.
    pub pool_size: usize,
    /// Consecutive failures that start a back-off.
    pub trip_after: u32,
    /// How long calls skip Redis after tripping.
    pub backoff: Duration,
    /// Largest value written; larger entries are not stored.
    pub max_value_bytes: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            key_prefix: "tollgate:rc:".to_string(),
            op_timeout: Duration::from_millis(5),
            connect_timeout: Duration::from_millis(20),
            pool_size: 16,
            trip_after: 3,
            backoff: Duration::from_secs(1),
            max_value_bytes: 1 << 20,
        }
    }
}

/// Counters of a [`RedisStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedisStats {
    /// `GET`s answered (hit or miss).
    pub gets: u64,
    /// `SET`s done.
    pub sets: u64,
    /// Calls that failed with an error (connection refused or dropped,
    /// server error).
    pub errors: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Calls skipped during a back-off.
    pub skipped: u64,
    /// Values that did not decode (treated as misses).
    pub corrupt: u64,
    /// Connections opened.
    pub connects: u64,
}

#[derive(Default)]
struct Counters {
    gets: AtomicU64,
    sets: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    skipped: AtomicU64,
    corrupt: AtomicU64,
    connects: AtomicU64,
}

/// The Redis store.
pub struct RedisStore {
    client: Client,
    cfg: RedisConfig,
    pool: Mutex<Vec<Connection>>,
    failures: AtomicU32,
    /// Back-off end, in nanoseconds since `epoch` (0 = not backing off).
    down_until: AtomicU64,
    epoch: Instant,
    n: Counters,
}

impl RedisStore {
    /// A store for the server at `url` (`redis://host:port/db`). Nothing is
    /// connected yet: a server that is down makes calls miss, it does not
    /// make this fail. Only a malformed URL is an error.
    pub fn open(url: &str, cfg: RedisConfig) -> Result<RedisStore, StoreError> {
        let client = Client::open(url).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(RedisStore {
            client,
            cfg,
            pool: Mutex::new(Vec::new()),
            failures: AtomicU32::new(0),
            down_until: AtomicU64::new(0),
            epoch: Instant::now(),
            n: Counters::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &RedisConfig {
        &self.cfg
    }

    /// The Redis key of a cache key.
    pub fn redis_key(&self, key: CacheKey) -> String {
        format!("{}{:032x}", self.cfg.key_prefix, key.0)
    }

    /// Counters so far.
    pub fn stats(&self) -> RedisStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisStats {
            gets: l(&self.n.gets),
            sets: l(&self.n.sets),
            errors: l(&self.n.errors),
            timeouts: l(&self.n.timeouts),
            skipped: l(&self.n.skipped),
            corrupt: l(&self.n.corrupt),
            connects: l(&self.n.connects),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn backing_off(&self) -> bool {
        let until = self.down_until.load(Ordering::Relaxed);
        until != 0 && self.now_ns() < until
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        self.n.connects.fetch_add(1, Ordering::Relaxed);
        let con = self
            .client
            .get_connection_with_timeout(self.cfg.connect_timeout)?;
        con.set_read_timeout(Some(self.cfg.op_timeout))?;
        con.set_write_timeout(Some(self.cfg.op_timeout))?;
        Ok(con)
    }

    fn failed(&self, e: &RedisError) -> StoreError {
        let err = if e.is_timeout() {
            self.n.timeouts.fetch_add(1, Ordering::Relaxed);
            StoreError::Timeout
        } else {
            self.n.errors.fetch_add(1, Ordering::Relaxed);
            StoreError::Backend(e.to_string())
        };
        let f = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if f >= self.cfg.trip_after.max(1) {
            let backoff = u64::try_from(self.cfg.backoff.as_nanos()).unwrap_or(u64::MAX);
            let until = self.now_ns().saturating_add(backoff).max(1);
            self.down_until.store(until, Ordering::Relaxed);
            self.failures.store(0, Ordering::Relaxed);
        }
        err
    }

    /// Runs one command on a pooled (or new) connection.
    fn run<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        if self.backing_off() {
            self.n.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable);
        }
        let pooled = self.pool.lock().pop();
        let mut con = match pooled {
            Some(c) => c,
            None => self.connect().map_err(|e| self.failed(&e))?,
        };
        match f(&mut con) {
            Ok(v) => {
                self.failures.store(0, Ordering::Relaxed);
                self.down_until.store(0, Ordering::Relaxed);
                let mut pool = self.pool.lock();
                if pool.len() < self.cfg.pool_size {
                    pool.push(con);
                }
                Ok(v)
            }
            // The connection is dropped: its state is unknown.
            Err(e) => Err(self.failed(&e)),
        }
    }
}

impl Store for RedisStore {
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        let k = self.redis_key(key);
        let v: Option<Vec<u8>> = self.run(|c| redis::cmd("GET").arg(&k).query(c))?;
        self.n.gets.fetch_add(1, Ordering::Relaxed);
        match v {
            None => Ok(None),
            Some(bytes) => match Entry::from_bytes(&bytes) {
                Ok(e) => Ok(Some(Arc::new(e))),
                Err(e) => {
                    self.n.corrupt.fetch_add(1, Ordering::Relaxed);
                    Err(StoreError::Corrupt(e))
                }
            },
        }
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        let bytes = entry.to_bytes();
        if bytes.len() > self.cfg.max_value_bytes {
            return Ok(Put::TooLarge);
        }
        let k = self.redis_key(key);
        let px = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(|c| {
            redis::cmd("SET")
                .arg(&k)
                .arg(bytes.as_slice())
                .arg("PX")
                .arg(px)
                .query::<()>(c)
        })?;
        self.n.sets.fetch_add(1, Ordering::Relaxed);
        Ok(Put::Stored)
    }
}
