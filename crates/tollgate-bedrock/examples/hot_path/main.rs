//! One hot-path figure, for `scripts/guard-hot-path`: sets the operation
//! up, runs it a few times unmeasured, then `N` times inside [`measured`],
//! the one function callgrind counts (`--toggle-collect`). It prints the
//! operations run and the heap allocations they made:
//!
//! ```text
//! ops 10240 allocations 0
//! ```
//!
//! Instructions per operation are callgrind's collected total over `ops`.
//! Figures (the first argument):
//!
//! - `decide-example`, `decide-50`, `decide-1000`, `decide-10000`: build a
//!   request's context from borrowed values and decide, over the requests
//!   `benches/decide.rs` uses, on the example policy and the generated ones
//! - `load-1000`: parse + check + compile the generated 1,000-rule policy
//! - `cache-key-4k`: the response-cache key of a 4 KiB prompt
//! - `price`: pricing one call's usage
//! - `router-4k`: scoring a 4 KiB prompt with the shipped learned router
//! - `gate-raw`, `gate`: one Converse call against the loopback Bedrock,
//!   with the raw SDK or through the gate (their difference is what the
//!   gate adds per call)
//! - `gate-tool-raw`, `gate-tool`: the same for an agent's tool-use turn
//!   (a tool spec, a `toolUse` / `toolResult` history, a `tool_use` answer)
//!
//! ```sh
//! cargo build --profile test --workspace --all-features --examples
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*hot_path*measured*' target/debug/examples/hot_path decide-50
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;
mod figures;
#[path = "../../tests/support/overhead_rig.rs"]
mod rig;

mod alloc;

use std::hint::black_box;

/// Runs `op` `n` times; the only code callgrind counts. Returns the heap
/// allocations made meanwhile.
#[inline(never)]
fn measured(n: u64, op: &mut dyn FnMut()) -> u64 {
    let before = alloc::count();
    for _ in 0..n {
        op();
    }
    alloc::count() - before
}

/// Warms `op` up with `warm` unmeasured runs (lazy statics, first-use
/// caches such as a regex's per-thread scratch space), then measures `n`
/// runs and prints them.
fn run(warm: u64, n: u64, op: &mut dyn FnMut()) {
    for _ in 0..warm {
        op();
    }
    let allocations = measured(black_box(n), op);
    println!("ops {n} allocations {allocations}");
}

fn main() {
    let figure = std::env::args().nth(1).unwrap_or_default();
    match figure.as_str() {
        "decide-example" => figures::decide(figures::Policy::Example, run),
        "decide-50" => figures::decide(figures::Policy::Generated(50), run),
        "decide-1000" => figures::decide(figures::Policy::Generated(1000), run),
        "decide-10000" => figures::decide(figures::Policy::Generated(10_000), run),
        "load-1000" => figures::load(1000, run),
        "cache-key-4k" => figures::key_4k(run),
        "price" => figures::pricing(run),
        "router-4k" => figures::router_4k(run),
        "gate-raw" | "gate" => gate(figure == "gate", false),
        "gate-tool-raw" | "gate-tool" => gate(figure == "gate-tool", true),
        _ => {
            eprintln!(
                "usage: hot_path decide-example|decide-50|decide-1000|decide-10000|\
                 load-1000|cache-key-4k|price|router-4k|gate-raw|gate|gate-tool-raw|gate-tool"
            );
            std::process::exit(2);
        }
    }
}

/// Calls per gate figure: enough that a one-off (a buffer growing once)
/// moves the per-call figure by well under a percent.
const CALLS: u64 = 200;

/// Converse calls, raw or through the gate. Both modes first make 20 calls
/// of each kind, so one-time set-up (connections, the policy's event names)
/// is the same in both and cancels out of their difference.
fn gate(through_gate: bool, tool_use: bool) {
    // From here on nothing is freed (see `alloc`): glibc's malloc would do
    // more or less work per call depending on the heap's layout.
    alloc::bump_from_now_on();
    let r = rig::rig();
    let turn = if tool_use {
        rig::Turn::Tool
    } else {
        rig::Turn::Text
    };
    let w = rig::Workload::new(&r, turn);
    r.rt.block_on(async {
        for _ in 0..20 {
            w.raw(&r).await;
            w.gate(&r).await;
        }
    });
    let allocations = measured(black_box(CALLS), &mut || {
        r.rt.block_on(async {
            if through_gate {
                w.gate(&r).await;
            } else {
                w.raw(&r).await;
            }
        })
    });
    println!("ops {CALLS} allocations {allocations}");
    if !alloc::bump_held() {
        eprintln!("the bump arena ran out: the gate figure includes glibc's malloc");
        std::process::exit(1);
    }
}
