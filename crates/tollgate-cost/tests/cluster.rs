//! The ledger on a real Redis Cluster (three masters, one replica each):
//! four threads reserve and settle calls of known cost on the blocking
//! path, every group's total comes out exact, and a budget still caps a
//! fleet of two ledgers exactly. A call counted in three groups (feature,
//! tenant, global) settles as a sequence of single-slot pipelines, one per
//! group.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../../tollgate-redis/tests/support/cluster.rs"]
mod cluster;
mod common;

use cluster::Cluster;
use common::{decide, policy, request};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;
use tollgate_cost::{BudgetError, Day, GroupKey, Ledger, LedgerConfig, Ticket};
use tollgate_cost::{RedisConfig, RedisStore, GLOBAL};
use tollgate_lang::Policy;

/// Haiku 3.5 for a kb call of 500 input tokens capped at 500 output.
const KB_ESTIMATE: i64 = 2_400_000;
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

fn day() -> Day {
    Day::from_ymd(2026, 12, 6).unwrap()
}

fn ledger(c: &Cluster) -> Ledger {
    let mut cfg = RedisConfig::cluster(c.seeds());
    cfg.op_timeout = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(2);
    let store = RedisStore::open(cfg).unwrap();
    Ledger::new(
        store,
        LedgerConfig {
            dims: vec!["feature".into(), "tenant".into(), GLOBAL.into()],
            ..LedgerConfig::default()
        },
    )
}

fn begin(l: &Ledger, p: &Policy, tenant: &str) -> Result<Ticket, BudgetError> {
    let json = format!(r#"{{"feature": "kb", "tenant": "{tenant}", "input_tokens": 500}}"#);
    let req = request(p, &json);
    let d = decide(p, &req);
    let ctx = req.context(p.schema());
    l.begin(p, &d, &ctx, day())
}

#[test]
fn four_threads_reserve_and_settle_exact_totals() {
    let c = Cluster::start();
    let l = ledger(&c);
    let p = policy();
    let per_thread = 40u64;
    let barrier = Barrier::new(4);
    let sums: Vec<BTreeMap<&str, i64>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u64)
            .map(|t| {
                let (l, p, barrier) = (&l, &p, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut sum = BTreeMap::new();
                    for i in 0..per_thread {
                        let tenant = TENANTS[((i + t) % 3) as usize];
                        let t0 = begin(l, p, tenant).unwrap();
                        assert_eq!(t0.reserved_nanos(), KB_ESTIMATE as u64);
                        // A cost unique enough that a lost or doubled add shows.
                        let actual = 1_000_003 * (t + 1) + i * 17;
                        t0.settle(actual);
                        *sum.entry(tenant).or_insert(0) += actual as i64;
                    }
                    sum
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by_tenant = BTreeMap::new();
    for s in sums {
        for (k, v) in s {
            *by_tenant.entry(k).or_insert(0i64) += v;
        }
    }
    let all: i64 = by_tenant.values().sum();
    assert_eq!(l.faults(), 0);
    assert_eq!(l.total(GroupKey::new("feature", "kb"), day()).unwrap(), all);
    assert_eq!(l.total(GroupKey::global(), day()).unwrap(), all);
    for (t, want) in &by_tenant {
        assert_eq!(
            l.total(GroupKey::new("tenant", t), day()).unwrap(),
            *want,
            "{t}"
        );
    }
    // 4 x 40 calls of 1_000_003 x (t + 1) + 17 i nano-dollars.
    assert_eq!(
        all,
        40 * 1_000_003 * (1 + 2 + 3 + 4) + 4 * 17 * (39 * 40 / 2)
    );
    // The first day was registered with the first settlement of each group.
    let first = l
        .store()
        .first_day(GroupKey::new("tenant", "acme"))
        .unwrap();
    assert_eq!(first, Some(day()));
}

/// Two ledgers (two pods), 16 threads, a nearly spent budget: exactly as
/// many calls as fit get through (the reservation script is atomic in its
/// slot), and the total lands on the budget's edge exactly.
#[test]
fn a_budget_caps_a_fleet_exactly() {
    const USD: i64 = 1_000_000_000;
    let c = Cluster::start();
    let ledgers = [ledger(&c), ledger(&c)];
    let kb = GroupKey::new("feature", "kb");
    ledgers[0].store().add(kb, day(), USD - 10_000_000).unwrap(); // room for 4
    let p = policy();
    let (granted, rejected) = (AtomicU64::new(0), AtomicU64::new(0));
    let barrier = Barrier::new(16);
    std::thread::scope(|s| {
        for i in 0..16 {
            let (l, p, barrier) = (&ledgers[i % 2], &p, &barrier);
            let (granted, rejected) = (&granted, &rejected);
            s.spawn(move || {
                barrier.wait();
                for _ in 0..4 {
                    match begin(l, p, "acme") {
                        Ok(t) => {
                            granted.fetch_add(1, Ordering::Relaxed);
                            t.settle(KB_ESTIMATE as u64);
                        }
                        Err(BudgetError::Exceeded { .. }) => {
                            rejected.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert_eq!(granted.load(Ordering::Relaxed), 4);
    assert_eq!(rejected.load(Ordering::Relaxed), 60);
    assert_eq!(
        ledgers[1].total(kb, day()).unwrap(),
        USD - 10_000_000 + 4 * KB_ESTIMATE
    );
    assert_eq!(ledgers[0].faults() + ledgers[1].faults(), 0);
}
