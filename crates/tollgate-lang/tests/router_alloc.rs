//! Scoring a prompt with a learned router allocates nothing: a counting
//! global allocator watches `RouterModel::score` over prompts of many
//! sizes, up to 4 KiB and beyond, ASCII and not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations of the current thread (other test threads do
/// not disturb the count).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

use tollgate_lang::{RouterModel, RouterPrices, HEADS};

#[test]
fn scoring_allocates_nothing() {
    let bits = 12;
    let weights: Vec<f32> = (0..(HEADS << bits))
        .map(|i| (i % 13) as f32 / 100.0)
        .collect();
    let m = RouterModel::new(
        bits,
        RouterPrices {
            strong_input: 3.0,
            strong_output: 15.0,
            weak_input: 0.8,
            weak_output: 4.0,
        },
        [0.0; HEADS],
        [[0.01; HEADS]; 2],
        weights,
        "",
    )
    .unwrap();
    let texts: Vec<String> = vec![
        String::new(),
        "a".into(),
        "What is 2 + 2?".into(),
        "Ünïcödé wörds, 数学 and math: ∫ x dx = x²/2 + C".repeat(40),
        "Explain why the sky is blue, step by step.\n\n".repeat(100),
    ];
    let before = allocations();
    let mut sum = 0.0;
    for t in &texts {
        let s = m.score(t);
        sum += s.gain + s.gain_per_usd;
    }
    let after = allocations();
    assert_eq!(after - before, 0, "scoring allocated");
    assert!(sum.is_finite());
}
