//! [`RedisError`]: why an operation did not answer, classified from the
//! client's errors (a timeout, a broken connection, a server error, an
//! authentication failure named with its user).

/// Why a Redis operation did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// No reply within `op_timeout` (or no connection within `connect_timeout`).
    #[error("Redis did not answer in time")]
    Timeout,
    /// The breaker is open: Redis failed repeatedly and is skipped until
    /// the back-off ends.
    #[error("Redis is skipped for now (backing off after repeated failures)")]
    BackingOff,
    /// The connection could not be opened or broke.
    #[error("Redis connection failed: {0}")]
    Connection(String),
    /// Redis answered with an error, or with a reply of the wrong shape.
    #[error("Redis answered with an error: {0}")]
    Server(String),
    /// The configuration cannot work (a malformed URL, an unreadable
    /// certificate, no tokio runtime on the async path).
    #[error("Redis configuration: {0}")]
    Config(String),
}

impl RedisError {
    /// Whether the error counts against the breaker (Redis unreachable or slow).
    pub fn is_fault(&self) -> bool {
        matches!(self, RedisError::Timeout | RedisError::Connection(_))
    }
}

/// The ACL user a URL logs in as: the name before `:password@`, or
/// `default` when there is none.
pub(crate) fn url_user(url: &str) -> &str {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => url
            .get(s + 3..at)
            .and_then(|creds| creds.split(':').next())
            .filter(|u| !u.is_empty())
            .unwrap_or("default"),
        _ => "default",
    }
}

/// Our error for one of `redis`'s, for a handle on `url`.
pub(crate) fn classify(e: &redis::RedisError, url: &str) -> RedisError {
    if e.kind() == redis::ErrorKind::AuthenticationFailed {
        // `redis` drops the server's `WRONGPASS` text; say what it means.
        // A connection failure: it counts against the breaker, so a wrong
        // password does not cost the server a handshake per call.
        RedisError::Connection(format!(
            "authentication failed for ACL user `{}`: wrong password, or the user \
             is unknown or disabled ({e})",
            url_user(url)
        ))
    } else if e.is_timeout() {
        RedisError::Timeout
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        RedisError::Connection(e.to_string())
    } else {
        RedisError::Server(e.to_string())
    }
}
