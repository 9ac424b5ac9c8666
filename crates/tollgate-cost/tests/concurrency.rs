//! The ledger under concurrent recording: four threads record calls of
//! known cost for a mix of features and tenants; every group's total must
//! equal the sum of what was recorded for it, exactly (integer
//! nano-dollars), in memory and in a real Redis.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{policy, request};
use std::collections::BTreeMap;
use tollgate_cost::{Day, GroupKey, Ledger};

const THREADS: u64 = 4;
const FEATURES: [&str; 4] = ["kb", "chat", "agent", "docs"];
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

fn day() -> Day {
    Day::from_ymd(2026, 11, 26).unwrap()
}

/// Records `per_thread` calls from each of four threads; returns the
/// expected totals by (dimension, value).
fn hammer(ledger: &Ledger, per_thread: u64) -> BTreeMap<(String, String), i64> {
    let p = policy();
    let results: Vec<BTreeMap<(String, String), i64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let p = &p;
                scope.spawn(move || {
                    let mut want = BTreeMap::new();
                    for i in 0..per_thread {
                        let f = FEATURES[((i + t) % 4) as usize];
                        let tenant = TENANTS[((i * 7 + t) % 3) as usize];
                        let req =
                            request(p, &format!(r#"{{"feature": "{f}", "tenant": "{tenant}"}}"#));
                        // A cost unique enough that a lost or doubled add shows.
                        let nanos = 1_000_003 * (t + 1) + i * 17;
                        ledger.record(p, &req.context(p.schema()), day(), nanos);
                        for (dim, v) in [("feature", f), ("tenant", tenant)] {
                            *want.entry((dim.to_string(), v.to_string())).or_insert(0) +=
                                nanos as i64;
                        }
                    }
                    want
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut want = BTreeMap::new();
    for r in results {
        for (k, v) in r {
            *want.entry(k).or_insert(0) += v;
        }
    }
    want
}

fn check(ledger: &Ledger, want: &BTreeMap<(String, String), i64>) {
    assert_eq!(ledger.faults(), 0);
    for ((dim, v), total) in want {
        assert_eq!(
            ledger.total(GroupKey::new(dim, v), day()).unwrap(),
            *total,
            "{dim}={v}"
        );
    }
    // Every call is in exactly one feature group and one tenant group.
    let by_dim = |d: &str| {
        want.iter()
            .filter(|((dim, _), _)| dim == d)
            .map(|(_, v)| v)
            .sum::<i64>()
    };
    assert_eq!(by_dim("feature"), by_dim("tenant"));
}

#[test]
fn memory_ledger_totals_equal_the_recorded_sum_under_four_threads() {
    let ledger = Ledger::in_memory();
    let want = hammer(&ledger, 20_000);
    check(&ledger, &want);
}

#[cfg(feature = "redis")]
#[test]
fn redis_ledger_totals_equal_the_recorded_sum_under_four_threads() {
    use tollgate_cost::{LedgerConfig, SpendStore};
    use tollgate_cost::{RedisConfig, RedisStore};
    let server = common::RedisServer::start();
    let store = RedisStore::open(RedisConfig::new(server.url())).unwrap();
    let ledger = Ledger::new(store, LedgerConfig::default());
    let want = hammer(&ledger, 1_000);
    check(&ledger, &want);
    // A second process reading the same Redis sees the same totals.
    let other = RedisStore::open(RedisConfig::new(server.url())).unwrap();
    for ((dim, v), total) in &want {
        assert_eq!(other.total(GroupKey::new(dim, v), day()).unwrap(), *total);
    }
}
