//! A global allocator that counts the allocations of each thread separately, for tests that
//! assert "no allocation" while other test threads run in parallel (the harness's own thread
//! allocates on its own schedule). Include it with
//! `#[path = "util/thread_allocs.rs"] mod thread_allocs;` and read [`allocs`] before and after.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingThisThread;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the slot is gone during thread teardown; nothing to count then.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations (and reallocations) made so far by the calling thread.
pub fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

// SAFETY: forwards to the system allocator; only counts calls (a const-initialized
// thread-local `Cell` needs no allocation itself).
unsafe impl GlobalAlloc for CountingThisThread {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: CountingThisThread = CountingThisThread;
