//! The connections an operation is given: to one server, or to a Redis
//! Cluster (routed by each command's key slot, following `MOVED` and
//! `ASK`). One type per path, so stores write their commands once.

use redis::aio::ConnectionManager;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// The client a handle opens its connections with.
#[allow(
    clippy::large_enum_variant,
    reason = "one per handle, made once: its size costs nothing"
)]
pub(crate) enum Client {
    /// One server (or a primary behind one endpoint).
    Single(redis::Client),
    /// A Redis Cluster, found from its seed nodes.
    Cluster(redis::cluster::ClusterClient),
}

/// The async connection [`Redis::run`](crate::Redis::run) hands to an
/// operation: `redis`'s multiplexed [`ConnectionManager`] on one server,
/// or its async cluster connection in cluster mode. Use it as any
/// `redis` async connection (`cmd.query_async(&mut c)`,
/// `script.invoke_async(&mut c)`, `pipe.query_async(&mut c)`). In cluster
/// mode every command goes to the primary owning its key's slot, and a
/// pipeline must keep to one slot (keys sharing a hash tag).
#[derive(Clone)]
pub struct AsyncConnection(pub(crate) AsyncInner);

#[derive(Clone)]
pub(crate) enum AsyncInner {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for AsyncConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            AsyncInner::Single(c) => c.req_packed_command(cmd),
            AsyncInner::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            AsyncInner::Single(c) => c.req_packed_commands(pipeline, offset, count),
            AsyncInner::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            AsyncInner::Single(c) => c.get_db(),
            AsyncInner::Cluster(c) => c.get_db(),
        }
    }
}

/// The blocking connection [`Redis::run_blocking`](crate::Redis::run_blocking)
/// hands to an operation: one server's connection, or a blocking cluster
/// connection (connections to the nodes it has met, routed by key slot,
/// following `MOVED` and `ASK`). Use it as any `redis` connection
/// (`cmd.query(c)`, `script.invoke(c)`); a pipeline must keep to one slot.
pub struct BlockingConnection(pub(crate) BlockingInner);

pub(crate) enum BlockingInner {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl redis::ConnectionLike for BlockingConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match &mut self.0 {
            BlockingInner::Single(c) => c.req_packed_command(cmd),
            BlockingInner::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match &mut self.0 {
            BlockingInner::Single(c) => c.req_packed_commands(cmd, offset, count),
            BlockingInner::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match &mut self.0 {
            BlockingInner::Single(c) => c.req_command(cmd),
            BlockingInner::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            BlockingInner::Single(c) => c.get_db(),
            BlockingInner::Cluster(c) => c.get_db(),
        }
    }

    fn supports_pipelining(&self) -> bool {
        match &self.0 {
            BlockingInner::Single(c) => c.supports_pipelining(),
            // `redis`'s blocking cluster connection says no, yet sends a
            // pipeline whole to the node of its first key (redirections
            // followed): right for the single-slot pipelines tollgate
            // sends, which is what this type documents.
            BlockingInner::Cluster(_) => true,
        }
    }

    fn check_connection(&mut self) -> bool {
        match &mut self.0 {
            BlockingInner::Single(c) => c.check_connection(),
            BlockingInner::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match &self.0 {
            BlockingInner::Single(c) => c.is_open(),
            BlockingInner::Cluster(c) => c.is_open(),
        }
    }
}

/// The seed nodes of a cluster `url`: URLs separated by commas (blanks
/// around them ignored).
pub(crate) fn seeds(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The slot of `key` in a Redis Cluster: CRC16 of its hash tag (the part
/// between the first `{` and the next `}`, when not empty) or of the whole
/// key, as the cluster and `redis`'s router compute it. Keys of one slot
/// can share a script or a pipeline.
pub fn slot(key: impl AsRef<[u8]>) -> redis::cluster_routing::Slot {
    redis::cluster_routing::Slot::for_key(key)
}
