//! Cluster mode against a real Redis Cluster (three masters, one replica
//! each) started per test: both paths route every command by its key's
//! slot, a script and a pipeline over one hash tag run on one node, and
//! `MOVED` and `ASK` redirections (a slot moved under a running handle)
//! are followed.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;
use support::cluster::Cluster;
use tollgate_redis::{redis, slot, Redis, RedisConfig};

fn handle(c: &Cluster) -> Redis {
    let mut cfg = RedisConfig::cluster(c.seeds());
    // Generous for a loaded 2-core machine (no operation may fail here).
    cfg.op_timeout = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(2);
    Redis::new(cfg).unwrap()
}

const SCRIPT: &str = "redis.call('INCRBY', KEYS[1], ARGV[1]) \
                      return redis.call('INCRBY', KEYS[2], ARGV[1])";

#[tokio::test]
async fn the_async_path_routes_by_slot() {
    let c = Cluster::start();
    let r = handle(&c);
    // Forty keys: they spread over all three masters.
    let masters: BTreeSet<u16> = (0..40).map(|i| c.master_of(&format!("k{i}"))).collect();
    assert_eq!(masters.len(), 3);
    for i in 0..40 {
        let k = format!("k{i}");
        r.run(|mut c| async move {
            redis::cmd("SET")
                .arg(&k)
                .arg(i)
                .query_async::<()>(&mut c)
                .await
        })
        .await
        .unwrap();
    }
    for i in 0..40 {
        let k = format!("k{i}");
        let v: i64 = r
            .run(|mut c| async move { redis::cmd("GET").arg(&k).query_async(&mut c).await })
            .await
            .unwrap();
        assert_eq!(v, i);
    }
    // A two-key script and a pipeline over one tag: one slot, one node.
    let (a, b) = (format!("{}:a", r.tag("g")), format!("{}:b", r.tag("g")));
    assert_eq!(a, "{tollgate:g}:a");
    assert_eq!(slot(&a), slot(&b));
    let script = redis::Script::new(SCRIPT);
    for want in [5, 10] {
        let mut inv = script.prepare_invoke();
        inv.key(&a).key(&b).arg(5);
        let v: i64 = r
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await
            .unwrap();
        assert_eq!(v, want);
    }
    let mut pipe = redis::pipe();
    pipe.cmd("GET").arg(&a).cmd("INCRBY").arg(&b).arg(1);
    let v: (i64, i64) = r
        .run(|mut c| async move { pipe.query_async(&mut c).await })
        .await
        .unwrap();
    assert_eq!(v, (10, 11));
    let st = r.stats();
    assert_eq!((st.ops, st.errors, st.timeouts), (83, 0, 0), "{st:?}");
}

#[test]
fn the_blocking_path_routes_by_slot() {
    let c = Cluster::start();
    let r = handle(&c);
    for i in 0..40 {
        r.run_blocking(|c| redis::cmd("SET").arg(format!("k{i}")).arg(i).query::<()>(c))
            .unwrap();
    }
    for i in 0..40 {
        let v: i64 = r
            .run_blocking(|c| redis::cmd("GET").arg(format!("k{i}")).query(c))
            .unwrap();
        assert_eq!(v, i);
    }
    let (a, b) = (format!("{}:a", r.tag("g")), format!("{}:b", r.tag("g")));
    let script = redis::Script::new(SCRIPT);
    for want in [5, 10] {
        let v: i64 = r
            .run_blocking(|c| script.key(&a).key(&b).arg(5).invoke(c))
            .unwrap();
        assert_eq!(v, want);
    }
    let v: (i64, i64) = r
        .run_blocking(|c| {
            redis::pipe()
                .cmd("GET")
                .arg(&a)
                .cmd("INCRBY")
                .arg(&b)
                .arg(1)
                .query(c)
        })
        .unwrap();
    assert_eq!(v, (10, 11));
    let st = r.stats();
    // One blocking cluster connection, pooled and reused.
    assert_eq!((st.ops, st.errors, st.connects), (83, 0, 1), "{st:?}");
}

/// A slot moves from one master to another under running handles: while
/// it migrates, a key already moved is answered after `ASK`; once it has
/// moved, after `MOVED`. Neither path sees an error.
#[tokio::test]
async fn moved_and_ask_redirections_are_followed() {
    let c = Cluster::start();
    let r = handle(&c);
    let (old, new) = ("{m}:old", "{m}:new");
    for k in [old, new] {
        r.run_blocking(|c| redis::cmd("SET").arg(k).arg(k).query::<()>(c))
            .unwrap();
    }
    let get_async = |k: &'static str| {
        let r = r.clone();
        async move {
            r.run(
                |mut c| async move { redis::cmd("GET").arg(k).query_async::<String>(&mut c).await },
            )
            .await
        }
    };
    // Both paths have learned the slot map.
    assert_eq!(get_async(old).await.unwrap(), old);
    let mut migration = c.migrate_slot_of(new);
    // `new` is on the target already, `old` still on the source: `ASK`.
    migration.move_key(new);
    assert_eq!(get_async(new).await.unwrap(), new);
    let get = |k: &str| r.run_blocking(|c| redis::cmd("GET").arg(k).query::<String>(c));
    assert_eq!(get(new).unwrap(), new);
    assert_eq!(get(old).unwrap(), old);
    // The slot is the target's: `MOVED`.
    migration.move_key(old);
    migration.finish();
    assert_eq!(get_async(old).await.unwrap(), old);
    assert_eq!(get(old).unwrap(), old);
    let st = r.stats();
    assert_eq!(
        (st.errors, st.server_errors, st.timeouts),
        (0, 0, 0),
        "{st:?}"
    );
}
