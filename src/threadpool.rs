//! A pool of persistent worker threads, created with a session, for splitting a matvec's rows.
//!
//! Dispatch and completion allocate nothing and, in the common case, make no syscall: the
//! caller publishes a job (a borrowed closure) by bumping an epoch counter, workers that are
//! spinning see it at once, everyone (the caller included) claims chunk indices from an atomic
//! counter, and the caller spins until every worker has reported done. Workers that have been
//! idle for a while (between tokens, say) sleep on a condition variable and are woken with one
//! `notify_all`; only then is there a syscall.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// How many times an idle worker polls for a job before it goes to sleep (~tens of µs), when
/// every thread has a core of its own.
const SPIN_LIMIT: u32 = 20_000;
/// How many of those polls are pure spins; the rest yield the time slice.
const PURE_SPINS: u32 = 2_000;
/// How many times the caller polls for its workers before it yields its time slice.
const CALLER_SPINS: u32 = 4_000;

/// The job being run: a type-erased pointer to the caller's closure.
#[derive(Clone, Copy)]
struct JobRef(*const (dyn Fn(usize, usize) + Sync));

struct Inner {
    /// Bumped (Release) after `job`, `next` and `n_chunks` are written for a new job.
    epoch: AtomicU64,
    job: UnsafeCell<Option<JobRef>>,
    next: AtomicUsize,
    n_chunks: AtomicUsize,
    /// Workers that have not finished the current job.
    pending: AtomicUsize,
    sleepers: AtomicUsize,
    shutdown: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the thread that owns the pool (in `run`, while no worker is
// reading it: all workers have finished the previous job, `pending == 0`) and read by workers
// only after they observe the epoch bump that follows the write (Release/Acquire). The closure
// it points to is `Sync`, so calling it from several threads is allowed.
unsafe impl Sync for Inner {}
// SAFETY: as above; the raw pointer is only dereferenced under that protocol.
unsafe impl Send for Inner {}

/// A fixed set of worker threads; `run` executes a closure over chunk indices on all of them.
pub struct ThreadPool {
    inner: Arc<Inner>,
    handles: Vec<JoinHandle<()>>,
    /// More threads than cores: nobody spins (a spinning thread would take the core a
    /// working one needs; measured: `-t 4` on 2 cores decoded at 10 tok/s instead of 126).
    oversubscribed: bool,
}

impl ThreadPool {
    /// A pool using `n_threads` threads in all: the caller plus `n_threads - 1` workers.
    pub fn new(n_threads: usize) -> std::io::Result<ThreadPool> {
        let inner = Arc::new(Inner {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            next: AtomicUsize::new(0),
            n_chunks: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let oversubscribed = n_threads > cores;
        let spin_limit = if oversubscribed { 0 } else { SPIN_LIMIT };
        let mut handles = Vec::new();
        for i in 1..n_threads.max(1) {
            let inner = Arc::clone(&inner);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("ferrite-worker-{i}"))
                    .spawn(move || worker(&inner, spin_limit, i))?,
            );
        }
        Ok(ThreadPool {
            inner,
            handles,
            oversubscribed,
        })
    }

    /// Threads that run a job (workers + the caller).
    pub fn n_threads(&self) -> usize {
        self.handles.len() + 1
    }

    /// Calls `f(i)` for every `i in 0..n_chunks`, spread over all threads, and returns when all
    /// calls have returned. `f` must tolerate being called concurrently for distinct `i`.
    pub fn run(&mut self, n_chunks: usize, f: &(dyn Fn(usize) + Sync)) {
        self.run_on(n_chunks, &|i, _| f(i))
    }

    /// As [`run`](Self::run), and tells each call which thread runs it: `f(i, thread)` with
    /// `thread < n_threads()` (0 is the caller), so calls can use per-thread scratch. Calls on
    /// one thread never overlap.
    pub fn run_on(&mut self, n_chunks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        let n_workers = self.handles.len();
        if n_workers == 0 || n_chunks <= 1 {
            (0..n_chunks).for_each(|i| f(i, 0));
            return;
        }
        let inner = &*self.inner;
        // SAFETY: `&mut self` means no other `run` is in progress, and the previous `run` only
        // returned once `pending` reached 0, so no worker reads `job` now. The pointer's
        // lifetime is erased; it is dereferenced only until `pending` returns to 0 below,
        // before this function returns and while `f` is still borrowed.
        unsafe {
            let ptr: *const (dyn Fn(usize, usize) + Sync + '_) = f;
            *inner.job.get() = Some(JobRef(std::mem::transmute::<
                *const (dyn Fn(usize, usize) + Sync + '_),
                *const (dyn Fn(usize, usize) + Sync + 'static),
            >(ptr)));
        }
        inner.next.store(0, Ordering::Relaxed);
        inner.n_chunks.store(n_chunks, Ordering::Relaxed);
        inner.pending.store(n_workers, Ordering::Relaxed);
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        if inner.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = inner.lock.lock().unwrap_or_else(|e| e.into_inner());
            inner.wake.notify_all();
        }
        work(inner, f, 0);
        // Wait for the workers. Spinning is right when they run on their own cores; when the
        // machine is oversubscribed a worker may be descheduled, and then yielding our time
        // slice lets it finish instead of burning the slice it needs.
        let mut spins = 0u32;
        let caller_spins = if self.oversubscribed { 0 } else { CALLER_SPINS };
        while inner.pending.load(Ordering::Acquire) != 0 {
            if spins < caller_spins {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Claims and runs chunks until none are left, as thread `thread`.
fn work(inner: &Inner, f: &(dyn Fn(usize, usize) + Sync), thread: usize) {
    let n = inner.n_chunks.load(Ordering::Relaxed);
    loop {
        let i = inner.next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        f(i, thread);
    }
}

fn worker(inner: &Inner, spin_limit: u32, thread: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        loop {
            let e = inner.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            if inner.shutdown.load(Ordering::Acquire) {
                return;
            }
            if spins < spin_limit {
                spins += 1;
                // Pure spinning for a short while, then polls that give the core away if
                // another thread (another session, another program) is waiting for it.
                if spins < PURE_SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            let mut g = inner.lock.lock().unwrap_or_else(|e| e.into_inner());
            inner.sleepers.fetch_add(1, Ordering::SeqCst);
            while inner.epoch.load(Ordering::SeqCst) == seen
                && !inner.shutdown.load(Ordering::SeqCst)
            {
                g = inner.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            inner.sleepers.fetch_sub(1, Ordering::SeqCst);
            spins = 0;
        }
        // SAFETY: the epoch bump we just observed (Acquire) happened after `job` was written
        // for this job, and the caller keeps the closure alive until we decrement `pending`.
        let job = unsafe { (*inner.job.get()).expect("job published before the epoch bump") };
        // SAFETY: see above: the closure outlives this call.
        let f = unsafe { &*job.0 };
        work(inner, f, thread);
        inner.pending.fetch_sub(1, Ordering::Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        {
            let _g = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            h.join().ok();
        }
    }
}

/// Splits `out` into `n_chunks` contiguous pieces of whole `granule`s and calls
/// `f(start, piece)` for each on the pool; `start` is the index of the piece's first element.
pub fn par_chunks_mut(
    pool: &mut ThreadPool,
    out: &mut [f32],
    granule: usize,
    f: &(dyn Fn(usize, &mut [f32]) + Sync),
) {
    let n = out.len();
    let units = n.div_ceil(granule.max(1));
    let n_chunks = units.min(pool.n_threads() * 4).max(1);
    let per = units.div_ceil(n_chunks) * granule.max(1);
    let base = SendPtr(out.as_mut_ptr());
    pool.run(n_chunks, &|c| {
        let start = c * per;
        if start >= n {
            return;
        }
        let len = per.min(n - start);
        let b = &base;
        // SAFETY: chunk `c` covers `[c*per, c*per+len)`; these ranges are disjoint for distinct
        // `c` and lie inside `out`, which is exclusively borrowed for the duration of `run`.
        let piece = unsafe { std::slice::from_raw_parts_mut(b.0.add(start), len) };
        f(start, piece);
    });
}

struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint sub-slices of one exclusively borrowed slice to threads.
unsafe impl Sync for SendPtr {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_runs_once() {
        for threads in 1..=4 {
            let mut pool = ThreadPool::new(threads).unwrap();
            for n in [0, 1, 2, 3, 7, 64, 1000] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(n, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn chunks_cover_the_slice_and_workers_wake_after_sleeping() {
        let mut pool = ThreadPool::new(3).unwrap();
        for round in 0..3 {
            let mut v = vec![0f32; 1001];
            par_chunks_mut(&mut pool, &mut v, 7, &|start, piece| {
                for (i, x) in piece.iter_mut().enumerate() {
                    *x = (start + i) as f32;
                }
            });
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as f32));
            if round == 1 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}
