//! A global allocator that counts the allocations, and the bytes live, of each thread
//! separately, for tests that assert "no allocation" or measure a heap while other test
//! threads run in parallel (the harness's own thread allocates on its own schedule). Include it
//! with `#[path = "util/thread_allocs.rs"] mod thread_allocs;`.

#![allow(dead_code)] // each test binary uses a part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingThisThread;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// One allocation of `bytes` more (negative: freed) by this thread.
fn count(calls: usize, bytes: isize) {
    // `try_with`: the slots are gone during thread teardown; nothing to count then.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + calls));
    let _ = LIVE.try_with(|c| c.set(c.get() + bytes));
}

/// Allocations (and reallocations) made so far by the calling thread.
pub fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

/// Bytes allocated and not yet freed by the calling thread (memory freed by another thread
/// than the one that allocated it is counted on the freeing thread).
pub fn live_bytes() -> isize {
    LIVE.with(|c| c.get())
}

/// `f()` and the allocations the calling thread made while running it.
pub fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = allocs();
    let r = f();
    (allocs() - before, r)
}

// SAFETY: forwards to the system allocator; only counts calls and sizes (const-initialized
// thread-local `Cell`s need no allocation themselves).
unsafe impl GlobalAlloc for CountingThisThread {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(1, l.size() as isize);
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(0, -(l.size() as isize));
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(1, n as isize - l.size() as isize);
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: CountingThisThread = CountingThisThread;
