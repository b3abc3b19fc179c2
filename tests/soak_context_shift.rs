//! Soak: 20 000 tokens generated with context shift in a 512-token context (about 80 shifts),
//! sampling at temperature 0.8 and streaming the text as `ferrite run --context-shift` does,
//! on a full-attention model and on the sliding-window one (whose rings are re-laid at every
//! shift). After warm-up (the prompt and the first shift) nothing is allocated and the
//! resident set stays flat (`VmRSS` sampled every 1000 tokens).
//!
//! The session runs on one thread, the test's own, and the allocator counts that thread's
//! allocations only: the test harness's thread allocates on its own schedule (its "running
//! for over 60 seconds" notice), and the worker threads' decode is covered by
//! tests/no_alloc.rs (a shift runs on the calling thread).

#[path = "util/thread_allocs.rs"]
mod thread_allocs;
mod util;

use ferrite::memory::current_rss;
use ferrite::sampler::{Sampler, SamplerParams};
use ferrite::tokenizer::StreamDecoder;
use ferrite::{Model, Session, SessionConfig};

use thread_allocs::allocs;

const N_CTX: usize = 512;
const N_GEN: usize = 20_000;
const WARMUP: usize = 600;

struct Soak {
    shifts: usize,
    allocs_after_warmup: usize,
    rss: Vec<u64>,
}

fn soak(model: &Model, kv: ferrite::KvType) -> Soak {
    let cfg = SessionConfig {
        n_ctx: N_CTX,
        kv_type: kv,
        n_threads: 1,
        ..SessionConfig::default()
    };
    let mut sess = Session::new(model, &cfg).unwrap();
    let tok = model.tokenizer().unwrap();
    let params = SamplerParams {
        temperature: 0.8,
        seed: 42,
        ..SamplerParams::default()
    };
    let mut sampler = Sampler::new(params, model.hp.n_vocab).unwrap();
    let mut dec = StreamDecoder::new(tok);
    let prompt = tok.encode("Once upon a time", true, true).unwrap();
    // `ferrite run`'s default: keep the BOS token.
    let n_keep = 1;
    sess.prefill(&prompt).unwrap();
    let mut text_bytes = 0usize;
    let mut shifts = 0;
    let mut n_allocs = 0;
    let mut rss = Vec::new();
    for i in 0..N_GEN {
        let before = allocs();
        let id = sampler.sample(sess.logits().unwrap());
        sampler.accept(id);
        text_bytes += dec.push(tok, id).len();
        if sess.n_past() >= sess.n_ctx() {
            let n_discard = (sess.n_past() - n_keep) / 2;
            sess.shift(n_keep, n_discard).unwrap();
            shifts += 1;
        }
        sess.decode(id).unwrap();
        if i >= WARMUP {
            n_allocs += allocs() - before;
            if i % 1000 == 0 {
                rss.push(current_rss().expect("VmRSS (Linux)"));
            }
        }
    }
    assert!(text_bytes > 0);
    assert!(sess.n_past() <= N_CTX);
    Soak {
        shifts,
        allocs_after_warmup: n_allocs,
        rss,
    }
}

#[test]
fn twenty_thousand_tokens_with_context_shift_allocate_nothing_and_keep_rss_flat() {
    // The counter works.
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(allocs() > before && v.len() == 100);

    let synth = util::shared_dir().join("synth");
    for (name, kv) in [
        ("tiny-llama-Q4_K_M-mix.gguf", ferrite::KvType::F16),
        ("tiny-gemma3-Q8_0.gguf", ferrite::KvType::Q8_0),
    ] {
        let m = Model::load(synth.join(name)).unwrap();
        let s = soak(&m, kv);
        // Each shift frees (512 - 1) / 2 = 255 positions.
        assert!(
            s.shifts >= (N_GEN - N_CTX) / 256,
            "{name}: only {} shifts",
            s.shifts
        );
        assert_eq!(
            s.allocs_after_warmup, 0,
            "{name}: {} allocations after warm-up",
            s.allocs_after_warmup
        );
        let (lo, hi) = (*s.rss.iter().min().unwrap(), *s.rss.iter().max().unwrap());
        eprintln!(
            "{name}: {} shifts, VmRSS {}..{} KiB over {} samples",
            s.shifts,
            lo >> 10,
            hi >> 10,
            s.rss.len()
        );
        assert!(s.rss.len() >= 19);
        assert!(
            hi - lo <= 256 << 10,
            "{name}: VmRSS grew from {lo} to {hi} bytes"
        );
    }
}
