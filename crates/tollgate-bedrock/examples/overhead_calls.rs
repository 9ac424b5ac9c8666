//! N Converse calls through the loopback Bedrock, either all raw SDK calls
//! or all through the gate, for counting what the gate adds with tools
//! that noise does not move: instructions (`scripts/overhead-instructions`
//! runs this under callgrind) and heap allocations (counted here). `raw`
//! and `gate` send the short text prompt; `tool-raw` and `tool-gate` the
//! agent's tool-use turn of the overhead bench; `page-raw` and `page-gate`
//! that turn with a 16 KiB page in its tool result.
//!
//! ```sh
//! cargo run --release -p tollgate-bedrock --example overhead_calls -- gate 1000
//! ```
//!
//! Both modes first make 20 calls of each kind, so one-time set-up
//! (connections, the policy's event names) is the same in both runs and
//! cancels out of a difference.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/overhead_rig.rs"]
mod rig;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter has no effect on the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on as given.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System.alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `p` came from `System` with layout `l`.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if !matches!(
        mode.as_str(),
        "raw" | "gate" | "tool-raw" | "tool-gate" | "page-raw" | "page-gate"
    ) || n == 0
    {
        eprintln!("usage: overhead_calls raw|gate|tool-raw|tool-gate|page-raw|page-gate N");
        std::process::exit(2);
    }
    let r = rig::rig();
    let turn = match mode.split('-').next() {
        Some("tool") => rig::Turn::Tool,
        Some("page") => rig::Turn::Page,
        _ => rig::Turn::Text,
    };
    let w = rig::Workload::new(&r, turn);
    r.rt.block_on(async {
        for _ in 0..20 {
            w.raw(&r).await;
            w.gate(&r).await;
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed);
        let t = Instant::now();
        for _ in 0..n {
            if mode.ends_with("raw") {
                w.raw(&r).await;
            } else {
                w.gate(&r).await;
            }
        }
        let per = f64::from(n);
        println!(
            "{mode}: {n} calls, {:.1} µs/call, {:.1} heap allocations/call",
            t.elapsed().as_secs_f64() * 1e6 / per,
            (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / per
        );
    });
}
