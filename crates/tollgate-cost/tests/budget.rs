//! Hard budgets: reserve, settle, reject, downgrade, concurrency; for the
//! in-process store and (feature `redis`) a real Redis.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{decide, policy, request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use tollgate_cost::GLOBAL;
use tollgate_cost::{
    BudgetError, Day, FailMode, GroupKey, Ledger, LedgerConfig, MemoryStore, Reserve, SpendStore,
    StoreError,
};
use tollgate_lang::Policy;

const USD: i64 = 1_000_000_000;
/// Haiku 3.5 for a kb call of 500 input tokens capped at 500 output:
/// 500 x 800 + 500 x 4000.
const KB_ESTIMATE: i64 = 2_400_000;
const KB: &str = r#"{"feature": "kb", "tenant": "acme", "input_tokens": 500}"#;

fn day() -> Day {
    Day::from_ymd(2026, 11, 26).unwrap()
}

fn kb() -> GroupKey<'static> {
    GroupKey::new("feature", "kb")
}

#[expect(
    clippy::let_and_return,
    reason = "a tail-expression temporary would outlive `req` (edition 2021)"
)]
fn begin(ledger: &Ledger, p: &Policy, json: &str) -> Result<tollgate_cost::Ticket, BudgetError> {
    let req = request(p, json);
    let d = decide(p, &req);
    let ctx = req.context(p.schema());
    let t = ledger.begin(p, &d, &ctx, day());
    t
}

// --- scenarios, run against each store -----------------------------------------

fn reserve_then_settle_replaces_the_estimate(ledger: &Ledger) {
    let p = policy();
    let t = begin(ledger, &p, KB).unwrap();
    assert_eq!(t.reserved_nanos(), KB_ESTIMATE as u64);
    assert_eq!(ledger.total(kb(), day()).unwrap(), KB_ESTIMATE);
    let groups: Vec<_> = t
        .groups()
        .map(|g| (g.dim.to_owned(), g.value.to_owned()))
        .collect();
    assert_eq!(
        groups,
        [
            ("feature".to_owned(), "kb".to_owned()),
            ("tenant".to_owned(), "acme".to_owned())
        ],
        "the ledger's dimension and every budget's group_by"
    );
    t.settle(1_000_000);
    assert_eq!(ledger.total(kb(), day()).unwrap(), 1_000_000);
    assert_eq!(
        ledger
            .total(GroupKey::new("tenant", "acme"), day())
            .unwrap(),
        1_000_000
    );
}

fn a_call_that_would_cross_the_budget_is_rejected(ledger: &Ledger) {
    let p = policy();
    ledger.store().add(kb(), day(), USD - 2_000_000).unwrap();
    let err = begin(ledger, &p, KB).unwrap_err();
    assert_eq!(
        err,
        BudgetError::Exceeded {
            rule: "kb-daily".into(),
            group_by: "feature".into(),
            group: "kb".into(),
            spent_nanos: USD - 2_000_000,
            limit_nanos: USD as u64,
            estimate_nanos: KB_ESTIMATE as u64,
        }
    );
    assert_eq!(
        err.to_string(),
        "budget `kb-daily` is spent for feature `kb`: $0.9980 of $1.0000 used today, and this call may cost up to $0.0024"
    );
    assert_eq!(
        ledger.total(kb(), day()).unwrap(),
        USD - 2_000_000,
        "nothing reserved"
    );
    // Exactly at the limit is still allowed.
    let ledger2 = Ledger::in_memory();
    ledger2.store().add(kb(), day(), USD - KB_ESTIMATE).unwrap();
    let t = begin(&ledger2, &p, KB).unwrap();
    assert_eq!(ledger2.total(kb(), day()).unwrap(), USD);
    t.settle(KB_ESTIMATE as u64);
}

fn a_downgrade_budget_serves_the_cheaper_model(ledger: &Ledger) {
    let p = policy();
    let chat = GroupKey::new("feature", "chat");
    // Sonnet 4 estimate: 1000 x 3000 + 1000 (limit cap) x 15000 = 18M; 10M left.
    ledger.store().add(chat, day(), USD - 10_000_000).unwrap();
    let t = begin(ledger, &p, r#"{"feature": "chat", "input_tokens": 1000}"#).unwrap();
    assert_eq!(t.model(), p.model_by_alias("haiku").unwrap());
    assert_eq!(t.downgraded_from(), p.model_by_alias("sonnet"));
    // Haiku's estimate, reserved without a limit check: 1000 x 800 + 1000 x 4000.
    assert_eq!(t.reserved_nanos(), 4_800_000);
    assert_eq!(
        ledger.total(chat, day()).unwrap(),
        USD - 10_000_000 + 4_800_000
    );
    t.settle(1_000_000);
    assert_eq!(ledger.total(chat, day()).unwrap(), USD - 9_000_000);
}

fn cancel_releases_and_drop_keeps_the_reservation(ledger: &Ledger) {
    let p = policy();
    begin(ledger, &p, KB).unwrap().cancel();
    assert_eq!(ledger.total(kb(), day()).unwrap(), 0);
    assert_eq!(
        ledger
            .total(GroupKey::new("tenant", "acme"), day())
            .unwrap(),
        0
    );
    drop(begin(ledger, &p, KB).unwrap());
    assert_eq!(ledger.total(kb(), day()).unwrap(), KB_ESTIMATE);
    assert_eq!(
        ledger
            .total(GroupKey::new("tenant", "acme"), day())
            .unwrap(),
        KB_ESTIMATE
    );
}

fn a_budget_caps_its_groups_whole_day(ledger: &Ledger) {
    // tenant-daily ($0.50 for agent calls, by tenant) sees acme's kb spend too.
    let p = policy();
    let t = begin(ledger, &p, KB).unwrap();
    t.settle(499_000_000);
    let err = begin(
        ledger,
        &p,
        r#"{"feature": "agent", "tenant": "acme", "input_tokens": 100}"#,
    )
    .unwrap_err();
    assert!(matches!(err, BudgetError::Exceeded { ref rule, .. } if rule == "tenant-daily"));
    // Another tenant is unaffected.
    let t = begin(
        ledger,
        &p,
        r#"{"feature": "agent", "tenant": "globex", "input_tokens": 100}"#,
    )
    .unwrap();
    t.settle(0);
}

/// Many threads at once against a nearly spent budget: exactly as many
/// calls as fit get through, and the total never passes the budget.
fn concurrent_calls_cannot_slip_past_the_budget(ledgers: &[Ledger]) {
    let p = Arc::new(policy());
    ledgers[0]
        .store()
        .add(kb(), day(), USD - 10_000_000)
        .unwrap(); // room for 4 estimates
    let threads = 64;
    let barrier = Arc::new(Barrier::new(threads));
    let granted = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        for i in 0..threads {
            let (p, barrier, granted, rejected) = (
                Arc::clone(&p),
                Arc::clone(&barrier),
                Arc::clone(&granted),
                Arc::clone(&rejected),
            );
            let ledger = ledgers[i % ledgers.len()].clone();
            s.spawn(move || {
                barrier.wait();
                for _ in 0..4 {
                    match begin(&ledger, &p, KB) {
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
    let total = ledgers[0].total(kb(), day()).unwrap();
    assert_eq!(granted.load(Ordering::Relaxed), 4);
    assert_eq!(rejected.load(Ordering::Relaxed), 64 * 4 - 4);
    assert_eq!(total, USD - 10_000_000 + 4 * KB_ESTIMATE);
    assert!(total <= USD + KB_ESTIMATE);
}

/// Real costs below the estimate free room as calls settle; the total still
/// never passes the budget by more than one estimate.
fn concurrent_calls_with_varying_costs_stay_within_one_estimate(ledgers: &[Ledger]) {
    let p = Arc::new(policy());
    ledgers[0]
        .store()
        .add(kb(), day(), USD - 50_000_000)
        .unwrap();
    let threads = 32;
    let barrier = Arc::new(Barrier::new(threads));
    std::thread::scope(|s| {
        for i in 0..threads {
            let (p, barrier) = (Arc::clone(&p), Arc::clone(&barrier));
            let ledger = ledgers[i % ledgers.len()].clone();
            s.spawn(move || {
                barrier.wait();
                for j in 0..20u64 {
                    if let Ok(t) = begin(&ledger, &p, KB) {
                        // Between 10% and 100% of the estimate.
                        let actual = KB_ESTIMATE as u64 * (1 + (i as u64 * 7 + j) % 10) / 10;
                        t.settle(actual);
                    }
                    let total = ledger.total(kb(), day()).unwrap();
                    assert!(total <= USD + KB_ESTIMATE, "total {total}");
                }
            });
        }
    });
    let total = ledgers[0].total(kb(), day()).unwrap();
    assert!(
        total <= USD,
        "every reservation fit, and no call cost more than its estimate: {total}"
    );
    assert!(total > USD - KB_ESTIMATE, "the budget was used up: {total}");
}

// --- in process -----------------------------------------------------------------

#[test]
fn memory_reserve_then_settle_replaces_the_estimate() {
    reserve_then_settle_replaces_the_estimate(&Ledger::in_memory());
}

#[test]
fn memory_a_call_that_would_cross_the_budget_is_rejected() {
    a_call_that_would_cross_the_budget_is_rejected(&Ledger::in_memory());
}

#[test]
fn memory_a_downgrade_budget_serves_the_cheaper_model() {
    a_downgrade_budget_serves_the_cheaper_model(&Ledger::in_memory());
}

#[test]
fn memory_cancel_releases_and_drop_keeps_the_reservation() {
    cancel_releases_and_drop_keeps_the_reservation(&Ledger::in_memory());
}

#[test]
fn memory_a_budget_caps_its_groups_whole_day() {
    a_budget_caps_its_groups_whole_day(&Ledger::in_memory());
}

#[test]
fn memory_concurrent_calls_cannot_slip_past_the_budget() {
    concurrent_calls_cannot_slip_past_the_budget(&[Ledger::in_memory()]);
}

#[test]
fn memory_concurrent_calls_with_varying_costs_stay_within_one_estimate() {
    concurrent_calls_with_varying_costs_stay_within_one_estimate(&[Ledger::in_memory()]);
}

#[test]
fn calls_without_a_budget_rule_only_count() {
    let ledger = Ledger::in_memory();
    let p = policy();
    let t = begin(&ledger, &p, r#"{"feature": "docs", "input_tokens": 10}"#).unwrap();
    assert_eq!(t.reserved_nanos(), 0);
    assert_eq!(t.budget_rule(), None);
    t.settle(7);
    assert_eq!(
        ledger
            .total(GroupKey::new("feature", "docs"), day())
            .unwrap(),
        7
    );
    // A request without the dimension's attribute counts under "".
    let t = begin(&ledger, &p, r#"{"input_tokens": 10}"#).unwrap();
    t.settle(3);
    assert_eq!(
        ledger.total(GroupKey::new("feature", ""), day()).unwrap(),
        3
    );
    assert_eq!(
        ledger.total(GroupKey::global(), day()).unwrap(),
        0,
        "no rule groups globally"
    );
    assert_eq!(GroupKey::global().dim, GLOBAL);
}

/// A store that is always down.
struct DownStore;

impl SpendStore for DownStore {
    fn add(&self, _: GroupKey<'_>, _: Day, _: i64) -> Result<i64, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn try_reserve(&self, _: GroupKey<'_>, _: Day, _: i64, _: i64) -> Result<Reserve, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn total(&self, _: GroupKey<'_>, _: Day) -> Result<i64, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn first_day(&self, _: GroupKey<'_>) -> Result<Option<Day>, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn mark_alerted(&self, _: GroupKey<'_>, _: Day) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
}

#[test]
fn a_down_store_fails_open_by_default_and_counts_the_fault() {
    let p = policy();
    let ledger = Ledger::new(DownStore, LedgerConfig::default());
    let t = begin(&ledger, &p, KB).unwrap();
    assert_eq!(t.reserved_nanos(), 0);
    assert_eq!(ledger.faults(), 1);
    t.settle(5);
    assert_eq!(ledger.faults(), 2);
}

#[test]
fn a_down_store_fails_closed_when_asked() {
    let p = policy();
    let cfg = LedgerConfig {
        fail_mode: FailMode::Closed,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::new(DownStore, cfg);
    let err = begin(&ledger, &p, KB).unwrap_err();
    assert!(matches!(err, BudgetError::StoreUnavailable { ref rule, .. } if rule == "kb-daily"));
    assert_eq!(
        err.to_string(),
        "budget `kb-daily` cannot be checked: the spend store is unavailable: down"
    );
    // Calls no budget applies to still go on.
    begin(&ledger, &p, r#"{"feature": "docs"}"#)
        .unwrap()
        .settle(1);
}

#[test]
fn memory_store_reserves_up_to_the_limit_exactly() {
    let s = MemoryStore::new();
    assert_eq!(
        s.try_reserve(kb(), day(), 60, 100).unwrap(),
        Reserve::Granted { total: 60 }
    );
    assert_eq!(
        s.try_reserve(kb(), day(), 41, 100).unwrap(),
        Reserve::Denied { total: 60 }
    );
    assert_eq!(
        s.try_reserve(kb(), day(), 40, 100).unwrap(),
        Reserve::Granted { total: 100 }
    );
    assert_eq!(s.add(kb(), day(), -30).unwrap(), 70);
    assert_eq!(
        s.total(kb(), day().plus(1)).unwrap(),
        0,
        "days are separate"
    );
}

/// The async forms (what the Bedrock gate awaits) give the sync forms'
/// totals: reserve, settle, reject, cancel and record.
async fn the_async_forms_reserve_settle_reject_and_record(ledger: &Ledger) {
    let p = policy();
    let req = request(&p, KB);
    let d = decide(&p, &req);
    let ctx = req.context(p.schema());
    let mode = tollgate_cost::Mode::decided(&d);
    let t = ledger
        .begin_with_input_async(&p, &d, &ctx, day(), 500, mode)
        .await
        .unwrap();
    assert_eq!(t.reserved_nanos(), KB_ESTIMATE as u64);
    assert_eq!(ledger.total_async(kb(), day()).await.unwrap(), KB_ESTIMATE);
    t.settle_async(1_000_000).await;
    assert_eq!(ledger.total_async(kb(), day()).await.unwrap(), 1_000_000);
    let acme = GroupKey::new("tenant", "acme");
    assert_eq!(ledger.total_async(acme, day()).await.unwrap(), 1_000_000);
    // A cancelled reservation is released.
    let t = ledger
        .begin_with_input_async(&p, &d, &ctx, day(), 500, mode)
        .await
        .unwrap();
    assert_eq!(ledger.total(kb(), day()).unwrap(), 1_000_000 + KB_ESTIMATE);
    t.cancel_async().await;
    assert_eq!(ledger.total(kb(), day()).unwrap(), 1_000_000);
    // Spend without a budget check, in every group of the call.
    ledger.record_async(&p, &ctx, day(), 7).await;
    assert_eq!(ledger.total(kb(), day()).unwrap(), 1_000_007);
    assert_eq!(ledger.total(acme, day()).unwrap(), 1_000_007);
    // Nearly spent: refused, nothing reserved.
    ledger
        .store()
        .add(kb(), day(), USD - 1_000_007 - 1)
        .unwrap();
    let err = ledger
        .begin_with_input_async(&p, &d, &ctx, day(), 500, mode)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BudgetError::Exceeded { spent_nanos, .. } if spent_nanos == USD - 1),
        "{err:?}"
    );
    assert_eq!(ledger.total(kb(), day()).unwrap(), USD - 1);
    // Rules read the same figures, awaited.
    let attrs = tollgate_cost::SpendAttributes::new(p.schema());
    let req = request(&p, r#"{"feature": "kb", "input_tokens": 10}"#);
    let mut ctx = req.context(p.schema());
    attrs.fill_async(ledger, &mut ctx, day()).await.unwrap();
    let slot = p.schema().id("spend.feature_today_usd").unwrap();
    assert!(
        matches!(ctx.get(slot), tollgate_engine::Slot::Float(f) if f == 0.999_999_999),
        "{:?}",
        ctx.get(slot)
    );
    assert_eq!(ledger.faults(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn async_forms_in_process() {
    the_async_forms_reserve_settle_reject_and_record(&Ledger::in_memory()).await;
}

// --- Redis ------------------------------------------------------------------------

#[cfg(feature = "redis")]
mod redis_backed {
    use super::*;
    use common::RedisServer;
    use tollgate_cost::{RedisConfig, RedisStore};
    use tollgate_redis::redis;

    fn ledger(server: &RedisServer) -> Ledger {
        let store = RedisStore::open(RedisConfig::new(server.url())).unwrap();
        Ledger::new(store, LedgerConfig::default())
    }

    #[test]
    fn redis_reserve_then_settle_replaces_the_estimate() {
        let server = RedisServer::start();
        reserve_then_settle_replaces_the_estimate(&ledger(&server));
    }

    #[test]
    fn redis_a_call_that_would_cross_the_budget_is_rejected() {
        let server = RedisServer::start();
        a_call_that_would_cross_the_budget_is_rejected(&ledger(&server));
    }

    #[test]
    fn redis_a_downgrade_budget_serves_the_cheaper_model() {
        let server = RedisServer::start();
        a_downgrade_budget_serves_the_cheaper_model(&ledger(&server));
    }

    #[test]
    fn redis_cancel_releases_and_drop_keeps_the_reservation() {
        let server = RedisServer::start();
        cancel_releases_and_drop_keeps_the_reservation(&ledger(&server));
    }

    #[test]
    fn redis_a_budget_caps_its_groups_whole_day() {
        let server = RedisServer::start();
        a_budget_caps_its_groups_whole_day(&ledger(&server));
    }

    /// Two ledgers (two processes of a fleet) on one Redis.
    #[test]
    fn redis_concurrent_calls_cannot_slip_past_the_budget() {
        let server = RedisServer::start();
        concurrent_calls_cannot_slip_past_the_budget(&[ledger(&server), ledger(&server)]);
    }

    #[test]
    fn redis_concurrent_calls_with_varying_costs_stay_within_one_estimate() {
        let server = RedisServer::start();
        concurrent_calls_with_varying_costs_stay_within_one_estimate(&[
            ledger(&server),
            ledger(&server),
        ]);
    }

    #[test]
    fn redis_down_fails_open_fast_and_counts_faults() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store =
            RedisStore::open(RedisConfig::new(format!("redis://127.0.0.1:{port}/"))).unwrap();
        let ledger = Ledger::new(store, LedgerConfig::default());
        let p = policy();
        let started = std::time::Instant::now();
        for _ in 0..100 {
            let t = begin(&ledger, &p, KB).unwrap();
            assert_eq!(t.reserved_nanos(), 0);
            t.settle(1);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(ledger.faults(), 200);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn redis_async_forms() {
        let server = RedisServer::start();
        let l = ledger(&server);
        the_async_forms_reserve_settle_reject_and_record(&l).await;
        // Every operation went through the one Redis layer's handle.
        let s = match l.store().backend() {
            tollgate_cost::Backend::Redis(r) => r.redis().stats(),
            _ => panic!("a Redis store answers async callers through its own methods"),
        };
        assert_eq!((s.timeouts, s.errors, s.skipped), (0, 0, 0), "{s:?}");
    }

    #[test]
    fn redis_keys_expire_and_remember_the_first_day() {
        let server = RedisServer::start();
        let store = RedisStore::open(RedisConfig::new(server.url())).unwrap();
        assert_eq!(store.first_day(kb()).unwrap(), None);
        assert_eq!(store.add(kb(), day(), 5).unwrap(), 5);
        assert_eq!(store.add(kb(), day().plus(2), 7).unwrap(), 7);
        assert_eq!(store.first_day(kb()).unwrap(), Some(day()));
        assert_eq!(store.totals(kb(), day(), 3).unwrap(), vec![5, 0, 7]);
        assert!(store.mark_alerted(kb(), day()).unwrap());
        assert!(!store.mark_alerted(kb(), day()).unwrap());
        let client = redis::Client::open(server.url()).unwrap();
        let mut c = client.get_connection().unwrap();
        let key = format!("{{tollgate:feature:kb}}:spend:{}", day());
        let at: i64 = redis::cmd("EXPIRETIME").arg(&key).query(&mut c).unwrap();
        assert_eq!(at, day().plus(100).start().unix_ms() / 1000);
        let v: i64 = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
        assert_eq!(v, 5);
    }
}
