//! Ledger updates: the in-process store against the goal (<= 100 ns per
//! update) and against the obvious alternatives: a bare atomic (the floor)
//! and a `Mutex<HashMap>` keyed by owned strings (what the sharded table
//! replaces).
//!
//! Run: `cargo bench -p tollgate-cost --bench ledger`. The last lines
//! printed are the comparison, read from criterion's estimates.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use criterion::{criterion_group, Criterion};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{median, show, verdict};
use tollgate_cost::{Day, GroupKey, MemoryStore, SpendStore};

fn groups(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("feature-{i:04}")).collect()
}

fn bench(c: &mut Criterion) {
    let day = Day::from_ymd(2026, 11, 26).unwrap();
    let mut g = c.benchmark_group("ledger");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));

    let store = MemoryStore::new();
    let key = GroupKey::new("feature", "kb");
    g.bench_function("memory_add_one_group", |b| {
        b.iter(|| black_box(store.add(black_box(key), day, 1_234).unwrap_or(0)))
    });

    let names = groups(1000);
    for n in &names {
        let _ = store.add(GroupKey::new("feature", n), day, 0);
    }
    g.bench_function("memory_add_1000_groups", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            let k = GroupKey::new("feature", &names[i]);
            black_box(store.add(black_box(k), day, 1_234).unwrap_or(0))
        })
    });

    g.bench_function("memory_try_reserve", |b| {
        b.iter(|| black_box(store.try_reserve(black_box(key), day, 1, i64::MAX).is_ok()))
    });

    // Two threads (the machine's two cores) updating the same 1000 groups.
    g.bench_function("memory_add_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..2 {
                    let (store, names) = (&store, &names);
                    s.spawn(move || {
                        let mut i = t * 500;
                        for _ in 0..iters / 2 {
                            i = (i + 1) % names.len();
                            let k = GroupKey::new("feature", &names[i]);
                            black_box(store.add(k, day, 1).unwrap_or(0));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });

    let atomic = AtomicI64::new(0);
    g.bench_function("baseline_atomic_fetch_add", |b| {
        b.iter(|| black_box(atomic.fetch_add(black_box(1_234), Ordering::AcqRel)))
    });

    let naive: Mutex<HashMap<(String, String, u32), i64>> = Mutex::new(HashMap::new());
    g.bench_function("baseline_mutex_hashmap_1000_groups", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            let mut m = naive.lock().unwrap();
            let e = m
                .entry(("feature".to_owned(), names[i].clone(), day.0))
                .or_insert(0);
            *e += 1_234;
            black_box(*e)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn report() {
    println!("\ncomparison (criterion medians, this run; goal: <= 100 ns per ledger update):");
    let goal = 100.0;
    for (what, id) in [
        ("one hot group", "ledger/memory_add_one_group"),
        ("1000 groups, rotating", "ledger/memory_add_1000_groups"),
        (
            "2 threads, 1000 groups (per update)",
            "ledger/memory_add_2_threads",
        ),
        ("try_reserve (CAS)", "ledger/memory_try_reserve"),
    ] {
        if let Some(t) = median(id) {
            println!(
                "  MemoryStore {what:<38} {:>9}  {}",
                show(t),
                verdict(t <= goal)
            );
        }
    }
    if let (Some(ours), Some(naive), Some(floor)) = (
        median("ledger/memory_add_1000_groups"),
        median("ledger/baseline_mutex_hashmap_1000_groups"),
        median("ledger/baseline_atomic_fetch_add"),
    ) {
        println!(
            "  vs Mutex<HashMap<(String, String, day)>> {:>9} ({:.1}x slower than MemoryStore)",
            show(naive),
            naive / ours
        );
        println!(
            "  vs a bare AtomicI64::fetch_add (floor)   {:>9}",
            show(floor)
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
