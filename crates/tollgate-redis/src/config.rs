//! [`RedisConfig`]: how to reach Redis and how hard to try, with URLs
//! shown redacted (no password in a log line).

use std::time::Duration;

/// How to reach Redis and how hard to try: one type for every store.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db` or `rediss://...` (TLS). In
    /// cluster mode: one or more seed nodes, separated by commas (an
    /// ElastiCache configuration endpoint is one seed).
    pub url: String,
    /// Redis Cluster mode (default off): commands are routed by their
    /// key's slot, `MOVED` and `ASK` redirections are followed, and the
    /// slot map is learned from the seeds in `url`.
    pub cluster: bool,
    /// Prepended to every key (default `tollgate`). Each store adds its own
    /// part after it (`:rc:` for responses, `:spend:` for the ledger, ...);
    /// keys of one group carry it in a hash tag ([`Redis::tag`](crate::Redis::tag)). It must
    /// not contain `{` or `}`.
    pub key_prefix: String,
    /// Timeout to open a connection: TCP, TLS and `AUTH` (default 200 ms).
    pub connect_timeout: Duration,
    /// Timeout of each operation, from sending it to its reply, on both
    /// paths (default 50 ms).
    pub op_timeout: Duration,
    /// Connections kept: multiplexed async connections used in turn, and
    /// at most this many idle blocking ones (default 4).
    pub pool_size: usize,
    /// Consecutive timeouts or connection failures that trip the breaker
    /// (default 3).
    pub trip_after: u32,
    /// How long calls skip Redis after the breaker trips (default 1 s).
    pub backoff: Duration,
    /// For `rediss://`: the PEM certificate of the authority that signed
    /// the server's certificate, instead of the system's roots.
    pub tls_root_cert: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisConfig {
    /// The URL's password is not printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted_all(&self.url))
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("op_timeout", &self.op_timeout)
            .field("pool_size", &self.pool_size)
            .field("trip_after", &self.trip_after)
            .field("backoff", &self.backoff)
            .field("tls_root_cert", &self.tls_root_cert.as_ref().map(Vec::len))
            .finish()
    }
}

/// `scheme://user:***@host...` for a URL with credentials.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let creds = url.get(s + 3..at).unwrap_or("");
            let user = creds.split(':').next().unwrap_or("");
            format!(
                "{}{user}:***{}",
                url.get(..s + 3).unwrap_or(""),
                url.get(at..).unwrap_or("")
            )
        }
        _ => url.to_owned(),
    }
}

/// [`redacted`] for each URL of a comma-separated list.
pub(crate) fn redacted_all(urls: &str) -> String {
    urls.split(',').map(redacted).collect::<Vec<_>>().join(",")
}

impl Default for RedisConfig {
    /// The defaults for a local server, `redis://127.0.0.1:6379/`.
    fn default() -> Self {
        RedisConfig::new("redis://127.0.0.1:6379/")
    }
}

impl RedisConfig {
    /// The defaults for a Redis Cluster reached through `seeds` (node URLs;
    /// one is enough, more survive a seed being down when connecting).
    pub fn cluster<S: AsRef<str>>(seeds: impl IntoIterator<Item = S>) -> RedisConfig {
        let urls: Vec<String> = seeds.into_iter().map(|s| s.as_ref().to_owned()).collect();
        RedisConfig {
            cluster: true,
            ..RedisConfig::new(urls.join(","))
        }
    }

    /// The defaults for a URL.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            cluster: false,
            key_prefix: "tollgate".to_owned(),
            connect_timeout: Duration::from_millis(200),
            op_timeout: Duration::from_millis(50),
            pool_size: 4,
            trip_after: 3,
            backoff: Duration::from_secs(1),
            tls_root_cert: None,
        }
    }
}
