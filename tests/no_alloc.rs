//! After a session is created, decoding a token performs no heap allocation: the forward pass,
//! the thread pool's dispatch, sampling and streaming detokenization included. A counting
//! global allocator counts every allocation of the test's thread and the threads started
//! after it began (the session's workers), not the test harness's own.

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ferrite::sampler::{Sampler, SamplerParams};
use ferrite::tokenizer::StreamDecoder;
use ferrite::{Model, Session, SessionConfig};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Set by the test: threads first seen after it (the session's workers) are counted.
static ARMED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// 0 unseen, 1 not counted (the harness's own threads, seen before `ARMED`), 2 counted.
    static KIND: Cell<u8> = const { Cell::new(0) };
}

/// Counts an allocation of a counted thread: the test's thread and those it starts, not the
/// test harness's main thread, which allocates on its own schedule (printing, bookkeeping).
fn count() {
    let _ = KIND.try_with(|k| {
        if k.get() == 0 {
            k.set(if ARMED.load(Ordering::SeqCst) { 2 } else { 1 });
        }
        if k.get() == 2 {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
    });
}

/// Makes the calling thread, and every thread first seen from now on, counted.
fn arm() {
    KIND.with(|k| k.set(2));
    ARMED.store(true, Ordering::SeqCst);
}

// SAFETY: forwards to the system allocator; only counts calls (a const-initialized
// thread-local `Cell` needs no allocation itself).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Decodes `warmup` then `n` tokens with sampling and detokenization; returns the number of
/// allocations during the last `n`.
fn allocations_while_decoding(model: &Model, threads: usize, n: usize) -> usize {
    let cfg = SessionConfig {
        n_ctx: 256,
        n_threads: threads,
        ..SessionConfig::default()
    };
    let mut sess = Session::new(model, &cfg).unwrap();
    let tok = model.tokenizer().unwrap();
    let mut sampler = Sampler::new(
        SamplerParams {
            seed: 7,
            ..SamplerParams::default()
        },
        model.hp.n_vocab,
    )
    .unwrap();
    let mut dec = StreamDecoder::new(tok);
    let prompt = tok.encode("Once upon a time", true, true).unwrap();
    sess.prefill(&prompt).unwrap();
    let mut sink = 0usize;
    let mut step = |sess: &mut Session, sampler: &mut Sampler, dec: &mut StreamDecoder| {
        let id = sampler.sample(sess.logits().unwrap());
        sampler.accept(id);
        sink += dec.push(tok, id).len();
        sess.decode(id).unwrap();
    };
    for _ in 0..4 {
        step(&mut sess, &mut sampler, &mut dec);
    }
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..n {
        step(&mut sess, &mut sampler, &mut dec);
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert!(sink < usize::MAX);
    after - before
}

#[test]
fn decoding_allocates_nothing() {
    arm();
    // The counter works: an allocation is seen.
    let before = ALLOCS.load(Ordering::SeqCst);
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(ALLOCS.load(Ordering::SeqCst) > before && v.len() == 100);

    let synth = util::shared_dir().join("synth");
    for name in [
        "tiny-llama-Q4_K_M-mix.gguf",
        "tiny-gemma3-Q8_0.gguf",
        "tiny-gpt2-Q8_0.gguf",
        "tiny-qwen3-Q4_K_M-mix.gguf",
    ] {
        let m = Model::load(synth.join(name)).unwrap();
        for threads in [1, 2] {
            let n = allocations_while_decoding(&m, threads, 64);
            assert_eq!(
                n, 0,
                "{name}, {threads} threads: {n} allocations in 64 tokens"
            );
        }
    }
    let gemma = Model::load(util::gemma_path()).unwrap();
    assert_eq!(allocations_while_decoding(&gemma, 2, 64), 0, "gemma3 270m");
}
