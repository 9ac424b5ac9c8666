//! The [`Store`] trait: where response-cache entries live.
//!
//! A store is a plain synchronous map from [`CacheKey`] to [`Entry`] with a
//! per-entry lifetime. Synchronous, because the in-process store answers in
//! nanoseconds (a future per hit would cost more than the hit) and the Redis
//! store bounds every call by a socket timeout of a few milliseconds, so a
//! caller on an async runtime may call it in place or hand it to a blocking
//! pool; no runtime is imposed on embedders. Errors are returned, not
//! hidden, so that [`ResponseCache`](crate::ResponseCache) can count them
//! and carry on uncached.

use crate::entry::{DecodeError, Entry};
use crate::key::CacheKey;
use std::sync::Arc;
use std::time::Duration;

/// What a `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The entry is stored.
    Stored,
    /// The entry is larger than the store accepts; nothing was stored.
    TooLarge,
}

/// Why a store call did not answer. The call goes on uncached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend did not answer within its timeout.
    #[error("cache store timed out")]
    Timeout,
    /// The backend failed recently and is skipped until its back-off ends.
    #[error("cache store is unavailable (backing off after errors)")]
    Unavailable,
    /// The backend answered with an error or the connection failed.
    #[error("cache store failed: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("cache entry could not be read: {0}")]
    Corrupt(DecodeError),
}

/// A response-cache store.
pub trait Store: Send + Sync {
    /// The live entry under `key`, if any.
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError>;

    /// Stores `entry` under `key` for `ttl`, replacing any entry there.
    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError>;
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        (**self).get(key)
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        (**self).put(key, entry, ttl)
    }
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        (**self).get(key)
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        (**self).put(key, entry, ttl)
    }
}
