//! One `Model` shared by four sessions on four threads (issue 7): each session generates
//! greedily from its own prompt while the others run, and each gives exactly the ids it gives
//! when run alone. Synthetic models of every architecture, and Gemma 3 270M.

mod util;

use std::path::Path;
use std::sync::Barrier;

use ferrite::{Model, Session, SessionConfig};

const PROMPTS: [&str; 4] = [
    "The capital of France is",
    "Once upon a time, in a land far away,",
    "fn main() { println!(\"hello\"); }",
    "1, 2, 3, 4, 5,",
];

/// The argmax, ties to the lowest id (as `--temp 0`).
fn argmax(logits: &[f32]) -> u32 {
    ferrite::ops::argmax(logits) as u32
}

/// Greedy generation of `n` tokens after `prompt` in a fresh session, waiting at `start` (when
/// given) so that all threads decode at the same time.
fn greedy(
    model: &Model,
    prompt: &str,
    n: usize,
    threads: usize,
    start: Option<&Barrier>,
) -> Vec<u32> {
    let tok = model.tokenizer().unwrap();
    let ids = tok.encode(prompt, tok.add_bos_default(), true).unwrap();
    let cfg = SessionConfig {
        n_ctx: 64,
        n_threads: threads,
        ..SessionConfig::default()
    };
    let mut s = Session::new(model, &cfg).unwrap();
    if let Some(b) = start {
        b.wait();
    }
    let mut out = Vec::with_capacity(n);
    let mut next = argmax(s.prefill(&ids).unwrap());
    for _ in 0..n {
        out.push(next);
        next = argmax(s.decode(next).unwrap());
    }
    out
}

fn check(path: &Path, n: usize, threads: usize) {
    let model = Model::load(path).unwrap();
    let alone: Vec<Vec<u32>> = PROMPTS
        .iter()
        .map(|p| greedy(&model, p, n, threads, None))
        .collect();
    // The prompts lead to different continuations (random-weight models can fall into the
    // same loop from two prompts, so not necessarily four), so a session that read another's
    // state would show.
    let mut distinct = alone.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 3, "{}: {alone:?}", path.display());
    for round in 0..2 {
        let start = Barrier::new(PROMPTS.len());
        let together: Vec<Vec<u32>> = std::thread::scope(|sc| {
            let handles: Vec<_> = PROMPTS
                .iter()
                .map(|p| {
                    let (model, start) = (&model, &start);
                    sc.spawn(move || greedy(model, p, n, threads, Some(start)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
            assert_eq!(
                a,
                t,
                "{} round {round}: prompt {i} differs when run beside the others",
                path.display()
            );
        }
    }
}

#[test]
fn model_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Model>();
}

#[test]
fn four_sessions_on_four_threads_synthetic_models() {
    for arch in ["llama", "qwen2", "qwen3", "gemma3", "gpt2"] {
        let p = util::shared_dir().join(format!("synth/tiny-{arch}-Q4_K_M-mix.gguf"));
        check(&p, 24, 1);
    }
    // Sessions with their own worker threads too: eight threads in all. (Kept to one model:
    // the pools spin while waiting, so oversubscribing a small machine is slow.)
    check(
        &util::shared_dir().join("synth/tiny-llama-Q8_0.gguf"),
        16,
        2,
    );
}

#[test]
fn four_sessions_on_four_threads_gemma() {
    check(&util::gemma_path(), 12, 1);
}
