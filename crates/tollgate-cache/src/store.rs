//! The [`Store`] trait: where response-cache entries live.
//!
//! A store is a map from [`CacheKey`] to [`Entry`] with a per-entry
//! lifetime. Its trait is synchronous: that is the way in for callers
//! without a runtime, and the whole story for in-process stores, which
//! answer in nanoseconds (a future per hit would cost more than the hit).
//!
//! Async callers go through [`get_async`] and [`put_async`]: a store that
//! does I/O says so with [`Store::backend`], and its own async methods are
//! awaited (the Redis store: no round trip runs synchronously on an async
//! worker); every other store is called in place. That is the sync fast
//! path beside the async one: an in-process hit through [`get_async`] is
//! one extra match on a returned tag, with no future boxed and nothing
//! allocated (the async function's state lives in the caller's future).
//!
//! Errors are returned, not hidden, so that
//! [`ResponseCache`](crate::ResponseCache) can count them and carry on
//! uncached.

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

/// How a store answers an async caller ([`Store::backend`]).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Backend<'a> {
    /// In place, through the synchronous methods (in-process stores).
    InPlace,
    /// Through the Redis store's async methods.
    #[cfg(feature = "redis")]
    Redis(&'a crate::redis_store::RedisStore),
    /// Through the tiered store's async methods (its near tier in place,
    /// its far store as that store asks).
    Tiered(&'a crate::tiered::TieredStore),
    #[doc(hidden)]
    _Lifetime(std::marker::PhantomData<&'a ()>),
}

/// A response-cache store.
pub trait Store: Send + Sync {
    /// The live entry under `key`, if any.
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError>;

    /// Stores `entry` under `key` for `ttl`, replacing any entry there.
    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError>;

    /// How async callers reach the store: [`Backend::InPlace`] (the
    /// default) for a store that answers without I/O.
    fn backend(&self) -> Backend<'_> {
        Backend::InPlace
    }
}

/// [`Store::get`] for an async caller: awaited for a store that does I/O,
/// in place otherwise.
pub async fn get_async<S: Store + ?Sized>(
    store: &S,
    key: CacheKey,
) -> Result<Option<Arc<Entry>>, StoreError> {
    match store.backend() {
        #[cfg(feature = "redis")]
        Backend::Redis(r) => r.get_async(key).await,
        Backend::Tiered(t) => t.get_async(key).await,
        _ => store.get(key),
    }
}

/// [`Store::put`] for an async caller: awaited for a store that does I/O,
/// in place otherwise.
pub async fn put_async<S: Store + ?Sized>(
    store: &S,
    key: CacheKey,
    entry: Arc<Entry>,
    ttl: Duration,
) -> Result<Put, StoreError> {
    match store.backend() {
        #[cfg(feature = "redis")]
        Backend::Redis(r) => r.put_async(key, entry, ttl).await,
        Backend::Tiered(t) => t.put_async(key, entry, ttl).await,
        _ => store.put(key, entry, ttl),
    }
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        (**self).get(key)
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        (**self).put(key, entry, ttl)
    }

    fn backend(&self) -> Backend<'_> {
        (**self).backend()
    }
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn get(&self, key: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        (**self).get(key)
    }

    fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) -> Result<Put, StoreError> {
        (**self).put(key, entry, ttl)
    }

    fn backend(&self) -> Backend<'_> {
        (**self).backend()
    }
}
