//! tollgate's one Redis layer: the response cache, the embedding cache, the
//! spend ledger and budgets all reach Redis through a [`Redis`] handle.
//!
//! # Contents
//!
//! - [`RedisConfig`]: the one set of settings (URL, key prefix, connect
//!   and operation timeouts, pool size, breaker).
//! - [`Redis`]: a cheap-to-clone handle. Async callers use [`Redis::run`]
//!   (tokio, over `redis`'s multiplexed [`ConnectionManager`]); sync
//!   callers (command-line tools, analysis, threads without a runtime) use
//!   [`Redis::run_blocking`] over a small pool of blocking connections.
//!   Both paths share the configuration, the breaker and the counters.
//! - [`RedisError`]: the one error type.
//! - [`RedisStats`]: what the handle did.
//!
//! # Failure behaviour
//!
//! Every operation is bounded by `op_timeout`, and opening a connection by
//! `connect_timeout`. A timeout or a connection failure counts against the
//! circuit breaker: after `trip_after` consecutive ones, every call answers
//! [`RedisError::BackingOff`] at once for `backoff`, so a Redis that
//! black-holes packets costs callers nothing rather than a timeout each.
//! After the back-off the breaker is half-open: one call at a time goes
//! through as a probe, and every other call still answers `BackingOff`
//! at once; if the probe fails too the breaker trips again at once, if
//! it is answered the breaker closes and the count starts over (a probe
//! that ends neither way, such as a cancelled future, lets the next call
//! probe). An error *answered* by the server (a wrong type, a script
//! error) is returned as [`RedisError::Server`] and does not trip the
//! breaker: the server is reachable.
//!
//! On the async path a timed-out operation does not poison its connection:
//! the multiplexed connection matches replies to requests, and a reply
//! that comes after its caller gave up is discarded. On the blocking path
//! a connection that failed or timed out is dropped, never reused (its
//! next read could be the late reply).
//!
//! # URLs, TLS and ACL users
//!
//! `redis://[user:password@]host:port/db`; `rediss://` for TLS (rustls;
//! ElastiCache in-transit encryption), verified against the system's
//! roots, or against [`RedisConfig::tls_root_cert`] (a PEM certificate)
//! when set; a certificate they do not vouch for fails the connection
//! ([`RedisError::Connection`], naming `UnknownIssuer`). The first
//! `rediss://` handle installs rustls's aws-lc-rs provider process-wide
//! unless the application installed a provider first. A user and password
//! in the URL authenticate as an ACL user (`AUTH user password`,
//! ElastiCache RBAC); a password alone authenticates as the default user.
//! Refused credentials are a [`RedisError::Connection`] that says
//! `authentication failed for ACL user ...` (never the password).
//!
//! # Redis Cluster
//!
//! With [`RedisConfig::cluster`] set (see [`RedisConfig::cluster()`] for
//! the constructor), `url` lists seed nodes (comma-separated; ElastiCache's
//! configuration endpoint is one) and both paths use `redis`'s cluster
//! clients: each command goes to the primary owning its key's slot, and
//! `MOVED` and `ASK` redirections are followed (one more try; the breaker
//! paces retries of an outage). Operations get an [`AsyncConnection`] or a
//! [`BlockingConnection`] in both modes. A script or a pipeline must keep
//! to one slot: its keys share a hash tag, [`Redis::tag`] (`{PREFIX:GROUP}`);
//! [`slot`] computes a key's slot. Work over several groups is a sequence
//! of single-slot operations. While a failed primary's replica takes over,
//! operations on its slots fail and count as faults.
//!
//! # Runtime
//!
//! [`Redis::run`] must be polled on a tokio runtime with the time driver
//! (a plain `#[tokio::main]` or `#[tokio::test]` has it); polled
//! elsewhere it answers [`RedisError::Config`] instead of panicking. A
//! handle keeps its async connections on the runtime that first used them:
//! use one handle per runtime.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod breaker;
mod config;
mod conn;
mod error;

use breaker::{Breaker, Permit};
use config::redacted_all;
pub use config::RedisConfig;
use error::classify;
pub use error::RedisError;

pub use conn::{slot, AsyncConnection, BlockingConnection};
use conn::{AsyncInner, BlockingInner, Client};
pub use redis;

/// Counters of a [`Redis`] handle (both paths, every store sharing it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedisStats {
    /// Operations answered by Redis (including server errors).
    pub ops: u64,
    /// Operations that timed out.
    pub timeouts: u64,
    /// Operations whose connection failed or broke.
    pub errors: u64,
    /// Operations answered with a server error.
    pub server_errors: u64,
    /// Operations skipped while the breaker was open (or half-open with
    /// its probe in flight).
    pub skipped: u64,
    /// Times the breaker tripped.
    pub trips: u64,
    /// Connections set up (async connection managers and blocking connections).
    pub connects: u64,
}

#[derive(Default)]
struct Counters {
    ops: AtomicU64,
    timeouts: AtomicU64,
    errors: AtomicU64,
    server_errors: AtomicU64,
    skipped: AtomicU64,
    trips: AtomicU64,
    connects: AtomicU64,
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

struct Inner {
    client: Client,
    cfg: RedisConfig,
    managers: Box<[Mutex<Option<AsyncConnection>>]>,
    next: AtomicUsize,
    blocking: Mutex<Vec<BlockingConnection>>,
    breaker: Breaker,
    n: Counters,
}

/// A handle on one Redis deployment: configuration, connections, breaker
/// and counters. Clones share all of them, so a response cache and a
/// ledger built on clones of one handle share its connections and its
/// breaker.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("cfg", &self.inner.cfg)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A handle for `cfg`. Nothing is connected yet: a server that is down
    /// makes operations fail, it does not make this fail. Only a malformed
    /// URL or certificate is an error.
    pub fn new(cfg: RedisConfig) -> Result<Redis, RedisError> {
        if cfg.key_prefix.contains(['{', '}']) {
            return Err(RedisError::Config(format!(
                "the key prefix `{}` contains a brace: keys carry it in a hash tag",
                cfg.key_prefix
            )));
        }
        if conn::seeds(&cfg.url).iter().any(|u| is_tls_url(u)) {
            ensure_tls_provider();
        }
        let client = open_client(&cfg).map_err(|e| {
            RedisError::Config(format!(
                "invalid Redis URL `{}`: {e}",
                redacted_all(&cfg.url)
            ))
        })?;
        let managers = (0..cfg.pool_size.max(1))
            .map(|_| Mutex::new(None))
            .collect();
        Ok(Redis {
            inner: Arc::new(Inner {
                client,
                breaker: Breaker::new(cfg.trip_after, cfg.backoff),
                cfg,
                managers,
                next: AtomicUsize::new(0),
                blocking: Mutex::new(Vec::new()),
                n: Counters::default(),
            }),
        })
    }

    /// The settings.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.cfg
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.cfg.key_prefix
    }

    /// Counters so far.
    pub fn stats(&self) -> RedisStats {
        let n = &self.inner.n;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisStats {
            ops: l(&n.ops),
            timeouts: l(&n.timeouts),
            errors: l(&n.errors),
            server_errors: l(&n.server_errors),
            skipped: l(&n.skipped),
            trips: l(&n.trips),
            connects: l(&n.connects),
        }
    }

    /// Whether the breaker is open now (calls are skipped): backing off,
    /// or half-open with its one probe in flight.
    pub fn backing_off(&self) -> bool {
        self.inner.breaker.open()
    }

    /// Records an operation's end in the counters and the breaker, then
    /// gives back its permit (a probe's place, once the breaker knows).
    fn settle<T>(&self, permit: Permit<'_>, r: Result<T, RedisError>) -> Result<T, RedisError> {
        let n = &self.inner.n;
        match &r {
            Ok(_) => {
                bump(&n.ops);
                self.inner.breaker.success();
            }
            Err(RedisError::Server(_)) => {
                bump(&n.ops);
                bump(&n.server_errors);
                self.inner.breaker.success();
            }
            Err(e) => {
                bump(if *e == RedisError::Timeout {
                    &n.timeouts
                } else {
                    &n.errors
                });
                if e.is_fault() && self.inner.breaker.fault() {
                    bump(&n.trips);
                }
            }
        }
        drop(permit);
        r
    }

    /// The breaker's permit for one operation, or [`RedisError::BackingOff`]
    /// (counted as skipped).
    fn admit(&self) -> Result<Permit<'_>, RedisError> {
        self.inner.breaker.admit().ok_or_else(|| {
            bump(&self.inner.n.skipped);
            RedisError::BackingOff
        })
    }

    /// One of the pooled async connections, set up on first use, and its
    /// place in the pool.
    fn manager(&self) -> Result<(AsyncConnection, usize), RedisError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisError::Config(
                "the async Redis path needs a tokio runtime (use the blocking path without one)"
                    .to_owned(),
            ));
        }
        let m = &self.inner.managers;
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % m.len().max(1);
        let Some(slot) = m.get(i) else {
            return Err(RedisError::Config("no connection slot".to_owned()));
        };
        let mut slot = slot.lock();
        if let Some(c) = slot.as_ref() {
            return Ok((c.clone(), i));
        }
        let cfg = &self.inner.cfg;
        let c = match &self.inner.client {
            Client::Single(client) => {
                // One connection attempt per reconnect: the breaker, not
                // the manager, decides how soon to try again.
                let mcfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(cfg.connect_timeout))
                    .set_response_timeout(Some(cfg.op_timeout))
                    .set_number_of_retries(0);
                let c = ConnectionManager::new_lazy_with_config(client.clone(), mcfg)
                    .map_err(|e| classify(&e, &cfg.url))?;
                AsyncInner::Single(c)
            }
            // Connects in the background on this runtime; the first
            // operation waits for the slot map.
            Client::Cluster(client) => AsyncInner::Cluster(
                client.get_pending_async_connection_with_config(cluster_params(cfg)),
            ),
        };
        let c = AsyncConnection(c);
        bump(&self.inner.n.connects);
        *slot = Some(c.clone());
        Ok((c, i))
    }

    /// After a fault on a cluster connection, its place in the pool is
    /// emptied: the next operation there opens a new one, which learns
    /// the slot map afresh from the seeds (a promoted replica included)
    /// instead of waiting on a node that is gone.
    fn forget_cluster_connection(&self, i: usize) {
        if let Some(slot) = self.inner.managers.get(i) {
            let mut slot = slot.lock();
            if matches!(slot.as_ref(), Some(AsyncConnection(AsyncInner::Cluster(_)))) {
                *slot = None;
            }
        }
    }

    /// Runs one async operation on a pooled connection, bounded by
    /// `op_timeout` (plus `connect_timeout` when the connection is new or
    /// reconnecting). `op` gets its own handle on the connection:
    ///
    /// ```no_run
    /// # async fn f(redis: &tollgate_redis::Redis) -> Result<(), tollgate_redis::RedisError> {
    /// let v: Option<Vec<u8>> = redis
    ///     .run(|mut c| async move { redis::cmd("GET").arg("k").query_async(&mut c).await })
    ///     .await?;
    /// # Ok(()) }
    /// # use tollgate_redis::redis;
    /// ```
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(AsyncConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let permit = self.admit()?;
        let (conn, i) = match self.manager() {
            Ok(c) => c,
            Err(e) => return self.settle(permit, Err(e)),
        };
        let cfg = &self.inner.cfg;
        let limit = cfg.op_timeout.saturating_add(cfg.connect_timeout);
        let r = match tokio::time::timeout(limit, op(conn)).await {
            Err(_) => Err(RedisError::Timeout),
            Ok(Err(e)) => Err(classify(&e, &cfg.url)),
            Ok(Ok(v)) => Ok(v),
        };
        if r.as_ref().is_err_and(RedisError::is_fault) {
            self.forget_cluster_connection(i);
        }
        self.settle(permit, r)
    }

    /// Runs one operation on a pooled blocking connection, for callers
    /// without an async runtime. Never call it on an async worker thread:
    /// it blocks for up to `op_timeout` (in cluster mode, up to twice that
    /// when a redirection or a node failure makes it try again).
    pub fn run_blocking<T>(
        &self,
        op: impl FnOnce(&mut BlockingConnection) -> redis::RedisResult<T>,
    ) -> Result<T, RedisError> {
        let permit = self.admit()?;
        let pooled = self.inner.blocking.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => match self.connect_blocking() {
                Ok(c) => c,
                Err(e) => return self.settle(permit, Err(e)),
            },
        };
        let r = op(&mut conn).map_err(|e| classify(&e, &self.inner.cfg.url));
        match &r {
            Ok(_) | Err(RedisError::Server(_)) => {
                let mut pool = self.inner.blocking.lock();
                if pool.len() < self.inner.cfg.pool_size.max(1) {
                    pool.push(conn);
                }
            }
            // The connection is dropped: its state is unknown.
            Err(_) => {}
        }
        self.settle(permit, r)
    }

    fn connect_blocking(&self) -> Result<BlockingConnection, RedisError> {
        bump(&self.inner.n.connects);
        let cfg = &self.inner.cfg;
        let err = |e: redis::RedisError| classify(&e, &cfg.url);
        let c = match &self.inner.client {
            Client::Single(client) => {
                let c = client
                    .get_connection_with_timeout(cfg.connect_timeout)
                    .map_err(err)?;
                c.set_read_timeout(Some(cfg.op_timeout)).map_err(err)?;
                c.set_write_timeout(Some(cfg.op_timeout)).map_err(err)?;
                BlockingInner::Single(c)
            }
            Client::Cluster(client) => {
                let c = client
                    .get_connection_with_config(cluster_params(cfg))
                    .map_err(err)?;
                c.set_write_timeout(Some(nonzero(cfg.op_timeout)))
                    .map_err(err)?;
                BlockingInner::Cluster(Box::new(c))
            }
        };
        Ok(BlockingConnection(c))
    }

    /// The hash tag of one group's keys: `{PREFIX:GROUP}`. Every key a
    /// multi-key script or pipeline touches starts with its group's tag,
    /// so in a Redis Cluster they all hash to one slot (and on one server
    /// the tag is just part of the name).
    pub fn tag(&self, group: &str) -> String {
        format!("{{{}:{group}}}", self.prefix())
    }
}

/// The client for `cfg`: one server, or a cluster from its seeds.
fn open_client(cfg: &RedisConfig) -> redis::RedisResult<Client> {
    let certs = || redis::TlsCertificates {
        client_tls: None,
        root_cert: cfg.tls_root_cert.clone(),
    };
    if !cfg.cluster {
        return Ok(Client::Single(match &cfg.tls_root_cert {
            None => redis::Client::open(cfg.url.as_str())?,
            Some(_) => redis::Client::build_with_tls(cfg.url.as_str(), certs())?,
        }));
    }
    let mut b = redis::cluster::ClusterClient::builder(conn::seeds(&cfg.url))
        .connection_timeout(nonzero(cfg.connect_timeout))
        .response_timeout(nonzero(cfg.op_timeout))
        // One more try after a redirection or a broken node connection,
        // soon: the breaker, not the client, paces retries of an outage.
        .retries(1)
        .min_retry_wait(1)
        .max_retry_wait(
            nonzero(cfg.op_timeout)
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
        );
    if cfg.tls_root_cert.is_some() {
        b = b.certs(certs());
    }
    Ok(Client::Cluster(b.build()?))
}

/// The cluster connection's timeouts.
fn cluster_params(cfg: &RedisConfig) -> redis::cluster::ClusterConfig {
    redis::cluster::ClusterConfig::new()
        .set_connection_timeout(nonzero(cfg.connect_timeout))
        .set_response_timeout(nonzero(cfg.op_timeout))
}

/// `d`, or 1 ms when zero (`redis` refuses zero timeouts).
fn nonzero(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// Whether `url` asks for TLS (`rediss://`, any case).
fn is_tls_url(url: &str) -> bool {
    url.get(..9)
        .is_some_and(|s| s.eq_ignore_ascii_case("rediss://"))
}

/// Makes sure rustls has a process-wide crypto provider before `redis`
/// builds a TLS client: rustls panics when it has none and cannot pick one
/// from its features alone (none enabled, or both `ring` and `aws-lc-rs`
/// enabled by different crates of an application). A provider the
/// application installed is kept; otherwise aws-lc-rs (the AWS SDK's) is
/// installed.
fn ensure_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed one first: it is used.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// Whether the calling thread is in a tokio runtime (where [`Redis::run`]
/// works and [`spawn`] runs a task).
pub fn on_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `fut` as a task of the calling thread's tokio runtime: for a store
/// write that code which cannot await (a `Drop`, a stream's end) hands
/// off instead of blocking its thread on Redis. `false`, and `fut` is
/// dropped unpolled, when the thread has no runtime ([`on_runtime`]).
pub fn spawn<F>(fut: F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            drop(h.spawn(fut));
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
// Test code: a failed unwrap or panic is a failed test.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::redacted;
    use crate::error::url_user;

    #[test]
    fn urls_with_credentials_are_redacted() {
        assert_eq!(
            redacted("rediss://app:s3cret@cache.example:6380/0"),
            "rediss://app:***@cache.example:6380/0"
        );
        assert_eq!(
            redacted("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
    }

    #[test]
    fn the_acl_user_of_a_url() {
        assert_eq!(url_user("rediss://alice:s3cret@h:6380/0"), "alice");
        assert_eq!(url_user("redis://:pw@h:6379/"), "default");
        assert_eq!(url_user("redis://h:6379/"), "default");
    }

    #[test]
    fn an_authentication_failure_says_so_without_the_password() {
        let e = redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        let ours = classify(&e, "rediss://alice:s3cret@h:6380/");
        assert!(ours.is_fault());
        let text = ours.to_string();
        assert!(
            text.contains("authentication failed for ACL user `alice`: wrong password"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn tls_urls_are_recognised_in_any_case() {
        assert!(is_tls_url("rediss://u:p@h:6380/0"));
        assert!(is_tls_url("REDISS://h"));
        assert!(!is_tls_url("redis://h:6379/"));
        assert!(!is_tls_url("rediss:/"));
    }

    #[test]
    fn a_malformed_url_is_a_config_error() {
        let e = Redis::new(RedisConfig::new("http://nowhere")).unwrap_err();
        assert!(matches!(e, RedisError::Config(_)), "{e:?}");
    }

    #[test]
    fn the_breaker_trips_after_consecutive_faults_and_half_opens() {
        let b = Breaker::new(2, Duration::from_millis(30));
        assert!(!b.fault());
        assert!(!b.open());
        assert!(b.fault());
        assert!(b.open());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!b.open());
        // Half-open: one more fault trips it again at once.
        assert!(b.fault());
        assert!(b.open());
        b.success();
        assert!(!b.open());
        assert!(!b.fault());
    }

    #[test]
    fn half_open_admits_one_probe_at_a_time() {
        let b = Breaker::new(1, Duration::from_millis(30));
        let closed = b.admit().expect("a closed breaker admits");
        assert_eq!(closed.probe, 0);
        drop(closed);
        assert!(b.fault());
        assert!(b.admit().is_none(), "open: refused");
        std::thread::sleep(Duration::from_millis(40));
        assert!(!b.open(), "half-open, no probe yet");
        let probe = b.admit().expect("the probe");
        assert_ne!(probe.probe, 0);
        assert!(b.open(), "half-open with its probe in flight");
        for _ in 0..5 {
            assert!(b.admit().is_none(), "one probe at a time");
        }
        // The probe fails: a full back-off again, then one new probe.
        assert!(b.fault());
        drop(probe);
        assert!(b.admit().is_none());
        std::thread::sleep(Duration::from_millis(40));
        let probe = b.admit().expect("a new probe");
        assert!(b.admit().is_none());
        // The probe is answered: closed, every call admitted.
        b.success();
        drop(probe);
        assert!(!b.open());
        let (x, y) = (b.admit().unwrap(), b.admit().unwrap());
        assert_eq!((x.probe, y.probe), (0, 0));
    }

    #[test]
    fn a_probe_dropped_unsettled_lets_the_next_call_probe() {
        let b = Breaker::new(1, Duration::from_millis(20));
        assert!(b.fault());
        std::thread::sleep(Duration::from_millis(30));
        let probe = b.admit().expect("the probe");
        assert!(b.admit().is_none());
        // Cancelled (or ended in a non-fault, non-answer error).
        drop(probe);
        assert!(!b.open());
        let next = b.admit().expect("the next probe");
        assert_ne!(next.probe, 0);
        assert!(b.admit().is_none());
    }

    #[test]
    fn concurrent_callers_at_half_open_get_exactly_one_probe() {
        let b = Breaker::new(1, Duration::from_millis(20));
        assert!(b.fault());
        std::thread::sleep(Duration::from_millis(30));
        let (start, hold) = (std::sync::Barrier::new(8), std::sync::Barrier::new(8));
        let probes: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (b, start, hold) = (&b, &start, &hold);
                    s.spawn(move || {
                        start.wait();
                        let p = b.admit();
                        // Every permit is held until all have asked.
                        hold.wait();
                        p.map_or(0, |p| p.probe)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(probes.iter().filter(|p| **p != 0).count(), 1, "{probes:?}");
        assert_eq!(probes.iter().filter(|p| **p == 0).count(), 7, "{probes:?}");
    }

    /// A port that accepts connections (the kernel's backlog) and never
    /// answers: every operation times out.
    fn black_hole() -> (std::net::TcpListener, RedisConfig) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let cfg = RedisConfig {
            op_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(100),
            pool_size: 1,
            trip_after: 1,
            // Long enough that a caller descheduled on a loaded machine
            // still asks within the probe's timeout plus the back-off.
            backoff: Duration::from_millis(200),
            ..RedisConfig::new(format!("redis://127.0.0.1:{port}/"))
        };
        (l, cfg)
    }

    async fn ping(r: Redis) -> Result<String, RedisError> {
        r.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
    }

    #[tokio::test]
    async fn half_open_sends_one_async_probe_and_refuses_the_rest() {
        let (_hole, cfg) = black_hole();
        let r = Redis::new(cfg).unwrap();
        assert_eq!(ping(r.clone()).await, Err(RedisError::Timeout));
        assert_eq!(ping(r.clone()).await, Err(RedisError::BackingOff));
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Eight concurrent calls when the back-off has ended: one probes
        // (and waits out its timeout), seven are refused at once.
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            set.spawn(ping(r.clone()));
        }
        let mut got = Vec::new();
        while let Some(res) = set.join_next().await {
            got.push(res.unwrap());
        }
        assert_eq!(timeouts_and_refusals(&got), (1, 7), "{got:?}");
        assert!(r.backing_off(), "the probe's fault tripped it again");
        let st = r.stats();
        assert_eq!((st.timeouts, st.skipped, st.trips), (2, 8, 2), "{st:?}");
    }

    /// How many of `got` timed out and how many the breaker refused.
    fn timeouts_and_refusals<T>(got: &[Result<T, RedisError>]) -> (usize, usize) {
        let count = |e: RedisError| {
            got.iter()
                .filter(|g| matches!(g, Err(x) if *x == e))
                .count()
        };
        (count(RedisError::Timeout), count(RedisError::BackingOff))
    }

    #[test]
    fn half_open_sends_one_blocking_probe_and_refuses_the_rest() {
        let (_hole, cfg) = black_hole();
        let r = Redis::new(cfg).unwrap();
        let ping = |r: &Redis| r.run_blocking(|c| redis::cmd("PING").query::<String>(c));
        assert_eq!(ping(&r), Err(RedisError::Timeout));
        assert_eq!(ping(&r), Err(RedisError::BackingOff));
        std::thread::sleep(Duration::from_millis(250));
        let start = std::sync::Barrier::new(8);
        let got: Vec<Result<String, RedisError>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (r, start) = (&r, &start);
                    s.spawn(move || {
                        start.wait();
                        ping(r)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(timeouts_and_refusals(&got), (1, 7), "{got:?}");
        let st = r.stats();
        assert_eq!((st.timeouts, st.skipped, st.trips), (2, 8, 2), "{st:?}");
    }

    #[test]
    fn the_async_path_without_a_runtime_is_an_error_not_a_panic() {
        let r = Redis::new(RedisConfig::new("redis://127.0.0.1:1/")).unwrap();
        let fut =
            r.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await });
        let mut fut = std::pin::pin!(fut);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Err(RedisError::Config(_))) => {}
            other => panic!("{:?}", other.map(|r| r.map(|_| ()))),
        }
    }
}
