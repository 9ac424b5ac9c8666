//! The async way into an in-process store costs nothing: a response-cache
//! hit through `ResponseCache::lookup_async` on a `MemoryStore` is ready
//! at its first poll (nothing awaited) and makes exactly the allocations a
//! `ResponseCache::lookup` hit makes (none): no boxed future, the store
//! answered in place (`Store::backend`). Counted by a global allocator
//! that counts the test thread's allocations.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tollgate_cache::{
    CacheConfig, CacheKey, CallResult, Entry, FillRule, Lookup, MemoryConfig, MemoryStore,
    ResponseCache, StopReason, Usage,
};

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

const RULE: FillRule = FillRule {
    ttl: Duration::from_secs(60),
    cache_truncated: false,
};

fn hit(l: Option<Lookup<'_>>) {
    match l {
        Some(Lookup::Hit(e)) => assert_eq!(e.body, b"answer"),
        Some(_) => panic!("the entry is stored: a hit"),
        None => panic!("an in-process store is answered in place, ready at the first poll"),
    }
}

#[test]
fn an_in_process_hit_through_the_async_path_allocates_what_the_sync_one_does() {
    let cache = ResponseCache::new(
        MemoryStore::new(MemoryConfig::default()),
        CacheConfig::default(),
    );
    let entry = Entry {
        body: b"answer".to_vec(),
        stop_reason: StopReason::EndTurn,
        usage: Usage {
            input: 100,
            output: 20,
            cache_read: 0,
            cache_write: 0,
        },
        cost_nanos: 1_000,
        model_id: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
        created_unix_ms: 1_764_140_000_000,
    };
    let key = CacheKey(7);
    cache.get_or_call(key, RULE, || CallResult::Answered {
        entry,
        guardrail_flagged: false,
    });
    // First use done (lazy state), then 1,000 hits each way.
    hit(Some(cache.lookup(key, RULE)));
    hit(first_poll(cache.lookup_async(key, RULE)));
    let sync = allocations(|| {
        for _ in 0..1_000 {
            hit(Some(cache.lookup(key, RULE)));
        }
    });
    let asynchronous = allocations(|| {
        for _ in 0..1_000 {
            hit(first_poll(cache.lookup_async(key, RULE)));
        }
    });
    assert_eq!((sync, asynchronous), (0, 0));
    assert_eq!(cache.stats().hits, 2_002);
}
