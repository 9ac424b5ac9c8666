//! The async ledger forms cost an in-process store nothing: a reservation
//! and its settlement through `Ledger::begin_with_input_async` and
//! `Ticket::settle_async` on a `MemoryStore` are ready at their first poll
//! (nothing awaited) and make exactly the allocations of the sync forms (a
//! ticket's group names): no boxed future, the store answered in place
//! (`SpendStore::backend`). Counted by a global allocator that counts the
//! test thread's allocations.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tollgate_cost::{Day, GroupKey, Ledger, Mode};

mod common;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a thread-local `Cell` of a `Copy` value (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is System's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller's contract is System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(Cell::get)
}

/// The future's output if it is ready at its first poll.
fn first_poll<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[test]
fn async_reserve_and_settle_in_process_allocate_what_the_sync_forms_do() {
    let ledger = Ledger::in_memory();
    let p = common::policy();
    let req = common::request(
        &p,
        r#"{"feature": "kb", "tenant": "acme", "input_tokens": 500}"#,
    );
    let d = common::decide(&p, &req);
    let ctx = req.context(p.schema());
    let day = Day::from_ymd(2026, 11, 26).unwrap();
    let mode = Mode::decided(&d);
    let sync_call = || {
        let t = ledger
            .begin_with_input(&p, &d, &ctx, day, 500, mode)
            .unwrap();
        assert_eq!(t.reserved_nanos(), 2_400_000);
        t.settle(1_000);
    };
    let async_call = || {
        let done = first_poll(async {
            let t = ledger
                .begin_with_input_async(&p, &d, &ctx, day, 500, mode)
                .await
                .unwrap();
            assert_eq!(t.reserved_nanos(), 2_400_000);
            t.settle_async(1_000).await;
        });
        assert!(done.is_some(), "an in-process store is answered in place");
    };
    // First use done (each group's counter), then 100 calls each way.
    sync_call();
    async_call();
    let sync = allocations(|| (0..100).for_each(|_| sync_call()));
    let asynchronous = allocations(|| (0..100).for_each(|_| async_call()));
    // 10 per call either way (the ticket's groups, the settlement's items).
    assert_eq!((sync, asynchronous), (1_000, 1_000));
    let kb = GroupKey::new("feature", "kb");
    assert_eq!(ledger.total(kb, day).unwrap(), 202 * 1_000);
}
