//! The spend ledger: the in-process store, and the ledger's figures as
//! attributes rules read.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{decide, policy, request};
use tollgate_cost::{Day, GroupKey, Ledger, MemoryStore, SpendAttributes, SpendStore};
use tollgate_engine::{decide_reference, Slot};
use tollgate_lang::{Schema, Type};

fn day() -> Day {
    Day::from_ymd(2026, 11, 26).unwrap()
}

#[test]
fn spend_attributes_let_rules_read_todays_spend() {
    let p = policy();
    let attrs = SpendAttributes::new(p.schema());
    assert_eq!(attrs.dims().collect::<Vec<_>>(), ["feature", "global"]);
    let ledger = Ledger::in_memory();
    let req = request(&p, r#"{"feature": "docs", "input_tokens": 10}"#);
    let mut ctx = req.context(p.schema());
    attrs.fill(&ledger, &mut ctx, day()).unwrap();
    let slot = p.schema().id("spend.feature_today_usd").unwrap();
    assert!(matches!(ctx.get(slot), Slot::Float(f) if f == 0.0));
    assert_eq!(
        decide_reference(&p, &ctx).route,
        None,
        "under $2: the default route"
    );

    ledger.record(&p, &ctx, day(), 2_500_000_000);
    attrs.fill(&ledger, &mut ctx, day()).unwrap();
    assert!(matches!(ctx.get(slot), Slot::Float(f) if f == 2.5));
    let d = decide_reference(&p, &ctx);
    assert_eq!(p.routes[d.route.unwrap().index()].name, "docs-over-spend");
    // Another day starts from zero.
    attrs.fill(&ledger, &mut ctx, day().plus(1)).unwrap();
    assert!(matches!(ctx.get(slot), Slot::Float(f) if f == 0.0));
}

#[test]
fn a_request_without_the_group_attribute_leaves_the_spend_attribute_missing() {
    let p = policy();
    let attrs = SpendAttributes::new(p.schema());
    let ledger = Ledger::in_memory();
    let req = request(&p, r#"{"input_tokens": 10}"#);
    let mut ctx = req.context(p.schema());
    attrs.fill(&ledger, &mut ctx, day()).unwrap();
    assert!(matches!(
        ctx.get(p.schema().id("spend.feature_today_usd").unwrap()),
        Slot::Missing
    ));
    // The global group needs no attribute.
    assert!(matches!(
        ctx.get(p.schema().id("spend.global_today_usd").unwrap()),
        Slot::Float(_)
    ));
}

#[test]
fn only_float_attributes_over_string_groups_are_spend_attributes() {
    let schema = Schema::new()
        .with("feature", Type::String)
        .and_then(|s| s.with("n", Type::Int))
        .and_then(|s| s.with("spend.feature_today_usd", Type::Float))
        .and_then(|s| s.with("spend.n_today_usd", Type::Float))
        .and_then(|s| s.with("spend.missing_today_usd", Type::Float))
        .and_then(|s| s.with("spend.global_today_usd", Type::Int))
        .unwrap();
    let attrs = SpendAttributes::new(&schema);
    assert_eq!(attrs.dims().collect::<Vec<_>>(), ["feature"]);
}

#[test]
fn the_ledger_counts_every_call_in_each_tracked_dimension() {
    let p = policy();
    let ledger = Ledger::in_memory();
    for (json, nanos) in [
        (r#"{"feature": "kb", "tenant": "acme"}"#, 5),
        (r#"{"feature": "kb", "tenant": "globex"}"#, 7),
        (r#"{"feature": "chat", "tenant": "acme"}"#, 11),
    ] {
        let req = request(&p, json);
        let d = decide(&p, &req);
        ledger
            .begin(&p, &d, &req.context(p.schema()), day())
            .unwrap()
            .settle(nanos);
    }
    let total = |dim, value| ledger.total(GroupKey::new(dim, value), day()).unwrap();
    assert_eq!((total("feature", "kb"), total("feature", "chat")), (12, 11));
    assert_eq!(
        (total("tenant", "acme"), total("tenant", "globex")),
        (16, 7)
    );
}

#[test]
fn the_memory_store_remembers_first_days_and_alerts_once() {
    let s = MemoryStore::new();
    let kb = GroupKey::new("feature", "kb");
    assert_eq!(s.first_day(kb).unwrap(), None);
    s.add(kb, day().plus(3), 1).unwrap();
    s.add(kb, day(), 0).unwrap(); // a zero-cost event still starts the history
    s.add(kb, day().plus(5), 1).unwrap();
    assert_eq!(s.first_day(kb).unwrap(), Some(day()));
    assert_eq!(s.totals(kb, day(), 6).unwrap(), vec![0, 0, 0, 1, 0, 1]);
    assert!(s.mark_alerted(kb, day()).unwrap());
    assert!(!s.mark_alerted(kb, day()).unwrap());
    assert!(s.mark_alerted(kb, day().plus(1)).unwrap());
    assert!(s
        .mark_alerted(GroupKey::new("feature", "chat"), day())
        .unwrap());
}

#[test]
fn the_memory_store_prunes_days_past_its_retention() {
    let s = MemoryStore::with_retention(10);
    let kb = GroupKey::new("feature", "kb");
    s.add(kb, day(), 5).unwrap();
    s.add(kb, day().plus(10), 1).unwrap();
    assert_eq!(s.total(kb, day()).unwrap(), 5, "10 days back is kept");
    s.add(kb, day().plus(11), 1).unwrap();
    assert_eq!(s.total(kb, day()).unwrap(), 0, "11 days back is pruned");
    assert_eq!(s.total(kb, day().plus(10)).unwrap(), 1);
}

#[test]
fn concurrent_updates_from_many_threads_are_all_counted() {
    let s = MemoryStore::new();
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (s, names) = (&s, &names);
            scope.spawn(move || {
                for i in 0..10_000 {
                    let g = &names[(i * 7 + t) % names.len()];
                    s.add(GroupKey::new("feature", g), day(), 3).unwrap();
                }
            });
        }
    });
    let sum: i64 = names
        .iter()
        .map(|g| s.total(GroupKey::new("feature", g), day()).unwrap())
        .sum();
    assert_eq!(sum, 8 * 10_000 * 3);
}
