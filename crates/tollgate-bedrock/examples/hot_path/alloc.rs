//! The measurement binary's global allocator: counts allocations for every
//! figure and, for the gate figures, hands out memory from a bump arena.
//!
//! Why a bump arena for the gate: its figure is the difference of two
//! totals of about 510,000 instructions per call (a raw SDK call and a
//! gated one), and glibc's malloc does more or less internal work
//! (consolidating free chunks) depending on the heap's layout, which moves
//! each total by thousands of instructions from run to run - as much as the
//! gate's own work moves when it changes. A bump allocation costs the same
//! few instructions every time and a free costs nothing, so the difference
//! follows the code; allocations stay guarded by their count. The other
//! figures keep glibc's malloc: decide, the cache key and pricing do not
//! allocate, and loading varies by hundredths of a percent with it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Bytes the arena reserves (the kernel commits only the pages touched):
/// the gate figures use about 40 MB.
const ARENA: usize = 1 << 30;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BUMP: AtomicBool = AtomicBool::new(false);
static EXHAUSTED: AtomicBool = AtomicBool::new(false);
static START: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Allocations and reallocations so far (each is a trip through the
/// allocator).
pub fn count() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Reserves the arena and serves every later allocation from it.
pub fn bump_from_now_on() {
    let layout = Layout::from_size_align(ARENA, 4096).expect("arena layout");
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { System.alloc(layout) };
    assert!(!p.is_null(), "cannot reserve the bump arena");
    START.store(p as usize, Ordering::Relaxed);
    NEXT.store(p as usize, Ordering::Relaxed);
    BUMP.store(true, Ordering::Release);
}

/// Whether every allocation since [`bump_from_now_on`] came from the arena.
pub fn bump_held() -> bool {
    !EXHAUSTED.load(Ordering::Relaxed)
}

fn in_arena(p: *mut u8) -> bool {
    let start = START.load(Ordering::Relaxed);
    start != 0 && (p as usize) >= start && (p as usize) < start + ARENA
}

/// Memory from the arena, or null when it is full.
fn bump(l: Layout) -> *mut u8 {
    let end = START.load(Ordering::Relaxed) + ARENA;
    let mut cur = NEXT.load(Ordering::Relaxed);
    loop {
        let at = (cur + l.align() - 1) & !(l.align() - 1);
        let Some(next) = at.checked_add(l.size()).filter(|&n| n <= end) else {
            EXHAUSTED.store(true, Ordering::Relaxed);
            return std::ptr::null_mut();
        };
        match NEXT.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return at as *mut u8,
            Err(now) => cur = now,
        }
    }
}

/// Counts allocations; bump-allocates once the arena is on, else (and when
/// the arena is full) forwards to `System`.
pub struct Counting;

// SAFETY: `System` serves what the arena does not; arena blocks are
// aligned as asked, never handed out twice, and never returned to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if BUMP.load(Ordering::Acquire) {
            let p = bump(l);
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: the caller's layout is passed on as given.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if !in_arena(p) {
            // SAFETY: `p` came from `System.alloc` with this layout.
            unsafe { System.dealloc(p, l) }
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if !BUMP.load(Ordering::Acquire) && !in_arena(p) {
            // SAFETY: `p` came from `System` with layout `l`.
            return unsafe { System.realloc(p, l, n) };
        }
        // SAFETY: `realloc`'s contract makes `n` a valid size for `l`'s
        // alignment.
        let new = unsafe { Layout::from_size_align_unchecked(n, l.align()) };
        let mut q = bump(new);
        if q.is_null() {
            // SAFETY: as above, a valid non-zero layout.
            q = unsafe { System.alloc(new) };
        }
        if !q.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do
            // not overlap (`q` is fresh).
            unsafe { std::ptr::copy_nonoverlapping(p, q, l.size().min(n)) };
            // SAFETY: `p` is released once, as `dealloc` would.
            unsafe { self.dealloc(p, l) };
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;
