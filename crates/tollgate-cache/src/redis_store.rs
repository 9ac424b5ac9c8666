//! The shared store: Redis `GET` / `SET key value PX ttl`, binary values
//! ([`Entry::to_bytes`]), over the one Redis layer (`tollgate-redis`).
//! Cargo feature `redis`.
//!
//! Two ways in, one store:
//!
//! - async ([`RedisStore::get_async`], [`RedisStore::put_async`]): what
//!   [`ResponseCache::lookup_async`](crate::ResponseCache::lookup_async)
//!   and the Bedrock gate await. No round trip runs synchronously on an
//!   async worker: a Redis that stalls holds the awaiting call only.
//! - sync (the [`Store`] trait): for callers without a runtime; it blocks
//!   the calling thread for up to the operation timeout.
//!
//! Failure behaviour is the layer's: every operation is bounded by
//! `op_timeout` (and `connect_timeout` to open a connection), errors and
//! timeouts come back as a [`StoreError`] and are counted, and after
//! `trip_after` consecutive faults the breaker skips Redis for `backoff`
//! ([`StoreError::Unavailable`] at once). [`ResponseCache`](crate::ResponseCache)
//! then serves the call uncached.
//!
//! Keys are `key_prefix` + `:rc:` + the 32 hex digits of the [`CacheKey`].

use crate::entry::Entry;
use crate::key::CacheKey;
use crate::store::{Backend, Put, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tollgate_redis::redis;
use tollgate_redis::{Redis, RedisConfig, RedisError};

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> StoreError {
        match e {
            RedisError::Timeout => StoreError::Timeout,
            RedisError::BackingOff => StoreError::Unavailable,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// Counters of a [`RedisStore`]: its own, and those of the Redis handle it
/// uses (shared with any other store on the same handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedisStats {
    /// `GET`s answered (hit or miss).
    pub gets: u64,
    /// `SET`s done.
    pub sets: u64,
    /// Operations that failed with an error (connection refused or
    /// dropped, server error).
    pub errors: u64,
    /// Operations that timed out.
    pub timeouts: u64,
    /// Operations skipped while the breaker was open.
    pub skipped: u64,
    /// Values that did not decode (treated as misses).
    pub corrupt: u64,
    /// Connections set up.
    pub connects: u64,
}

#[derive(Default)]
struct Counters {
    gets: AtomicU64,
    sets: AtomicU64,
    corrupt: AtomicU64,
}

/// The Redis store.
pub struct RedisStore {
    redis: Redis,
    max_value_bytes: usize,
    n: Counters,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("redis", &self.redis)
            .field("max_value_bytes", &self.max_value_bytes)
            .finish_non_exhaustive()
    }
}

/// Largest value written by default: larger entries are not stored.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;

impl RedisStore {
    /// A store on a Redis handle (which other stores may share).
    pub fn new(redis: Redis) -> RedisStore {
        RedisStore {
            redis,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            n: Counters::default(),
        }
    }

    /// A store with a handle of its own. Nothing is connected yet: a server
    /// that is down makes calls miss, it does not make this fail. Only a
    /// malformed URL is an error.
    pub fn open(cfg: RedisConfig) -> Result<RedisStore, StoreError> {
        Ok(RedisStore::new(Redis::new(cfg)?))
    }

    /// Entries larger than `n` bytes encoded are not stored (default 1 MiB).
    pub fn max_value_bytes(mut self, n: usize) -> RedisStore {
        self.max_value_bytes = n;
        self
    }

    /// The Redis handle.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// The Redis key of a cache key.
    pub fn redis_key(&self, key: CacheKey) -> String {
        format!("{}:rc:{:032x}", self.redis.prefix(), key.0)
    }

    /// Counters so far.
    pub fn stats(&self) -> RedisStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let r = self.redis.stats();
        RedisStats {
            gets: l(&self.n.gets),
            sets: l(&self.n.sets),
            errors: r.errors + r.server_errors,
            timeouts: r.timeouts,
            skipped: r.skipped,
            corrupt: l(&self.n.corrupt),
            connects: r.connects,
        }
    }

    fn decode(&self, v: Option<Vec<u8>>) -> Result<Option<Arc<Entry>>, StoreError> {
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

    fn set_cmd(&self, key: CacheKey, entry: &Entry, ttl: Duration) -> Option<redis::Cmd> {
        let bytes = entry.to_bytes();
        if bytes.len() > self.max_value_bytes {
            return None;
        }
        let px = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key))
            .arg(bytes.as_slice())
            .arg("PX")
            .arg(px);
        Some(cmd)
    }

    /// The live entry under `key`, awaited.
    pub async fn get_async(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(key));
        let v: Option<Vec<u8>> = self
            .redis
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        self.decode(v)
    }

    /// Stores `entry` under `key` for `ttl`, awaited.
    pub async fn put_async(
        &self,
        key: CacheKey,
        entry: Arc<Entry>,
        ttl: Duration,
    ) -> Result<Put, StoreError> {
        let Some(cmd) = self.set_cmd(key, &entry, ttl) else {
            return Ok(Put::TooLarge);
        };
        self.redis
            .run(|mut c| async move { cmd.query_async::<()>(&mut c).await })
            .await?;
        self.n.sets.fetch_add(1, Ordering::Relaxed);
        Ok(Put::Stored)
    }
}

impl Store for RedisStore {
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        let k = self.redis_key(key);
        let v: Option<Vec<u8>> = self
            .redis
            .run_blocking(|c| redis::cmd("GET").arg(&k).query(c))?;
        self.decode(v)
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        let Some(cmd) = self.set_cmd(key, &entry, ttl) else {
            return Ok(Put::TooLarge);
        };
        self.redis.run_blocking(|c| cmd.query::<()>(c))?;
        self.n.sets.fetch_add(1, Ordering::Relaxed);
        Ok(Put::Stored)
    }

    fn backend(&self) -> Backend<'_> {
        Backend::Redis(self)
    }
}
