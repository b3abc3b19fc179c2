//! Attention's head units against the plain one-head path, bit for bit. A model whose query
//! heads share KV heads in groups of three or more (Qwen2.5: seven a KV head) takes its heads
//! up to four at a time (`attn_quads` in `src/session.rs`: each K and V row converted once for
//! the unit; a group that is not a multiple of four ends in a unit of fewer heads, computed
//! with copies of its last). The same model written with one KV head per query head (the K
//! and V projections repeated, so every head sees the same keys and values) goes one head at
//! a time: its logits must hold the same bits, at every thread count, through a prefill and
//! the decode steps after it (one token: the chunks are the token's head units).

#[path = "util/gguf_builder.rs"]
mod builder;
mod common;

use builder::{temp_file, Builder};
use common::Rng;
use ferrite::{Model, Session, SessionConfig};

const HEAD_DIM: usize = 32;
const N_FF: usize = 64;
const N_VOCAB: usize = 40;

/// Deterministic values in [-0.25, 0.25], different for each tensor (`seed`).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.uniform(-0.25, 0.25)).collect()
}

/// A two-layer llama of `n_head` heads; its K and V projections are those of `n_kv_base` KV
/// heads, written as `n_kv` heads (each base head repeated `n_kv / n_kv_base` times, in the
/// order the query heads use them).
fn model(n_head: usize, n_kv_base: usize, n_kv: usize) -> Vec<u8> {
    let n_embd = n_head * HEAD_DIM;
    let mut b = Builder::default();
    b.str("general.architecture", "llama");
    for (k, v) in [
        ("llama.context_length", 256),
        ("llama.embedding_length", n_embd),
        ("llama.block_count", 2),
        ("llama.feed_forward_length", N_FF),
        ("llama.attention.head_count", n_head),
        ("llama.attention.head_count_kv", n_kv),
    ] {
        b.u32(k, v as u32);
    }
    b.f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
    let e = n_embd as u64;
    b.tensor_f32(
        "token_embd.weight",
        &[e, N_VOCAB as u64],
        &values(n_embd * N_VOCAB, 1),
    );
    b.tensor_f32("output_norm.weight", &[e], &vec![1.0; n_embd]);
    for l in 0..2u64 {
        let p = |n: &str| format!("blk.{l}.{n}");
        let seed = 100 * (l + 1);
        b.tensor_f32(&p("attn_norm.weight"), &[e], &vec![1.0; n_embd]);
        b.tensor_f32(&p("attn_q.weight"), &[e, e], &values(n_embd * n_embd, seed));
        // K and V: n_kv_base heads of HEAD_DIM rows (each of n_embd values), each repeated.
        let rep = n_kv / n_kv_base;
        for (name, s) in [("attn_k.weight", seed + 1), ("attn_v.weight", seed + 2)] {
            let base = values(n_kv_base * HEAD_DIM * n_embd, s);
            let rows: Vec<f32> = base
                .chunks_exact(HEAD_DIM * n_embd)
                .flat_map(|head| std::iter::repeat_n(head, rep).flatten())
                .copied()
                .collect();
            b.tensor_f32(&p(name), &[e, (n_kv * HEAD_DIM) as u64], &rows);
        }
        b.tensor_f32(
            &p("attn_output.weight"),
            &[e, e],
            &values(n_embd * n_embd, seed + 3),
        );
        b.tensor_f32(&p("ffn_norm.weight"), &[e], &vec![1.0; n_embd]);
        let f = N_FF as u64;
        b.tensor_f32(
            &p("ffn_gate.weight"),
            &[e, f],
            &values(n_embd * N_FF, seed + 4),
        );
        b.tensor_f32(
            &p("ffn_up.weight"),
            &[e, f],
            &values(n_embd * N_FF, seed + 5),
        );
        b.tensor_f32(
            &p("ffn_down.weight"),
            &[f, e],
            &values(n_embd * N_FF, seed + 6),
        );
    }
    b.build()
}

/// The logits after a prefill of 37 tokens and after each of 6 decode steps.
fn run(path: &std::path::Path, threads: usize) -> Vec<Vec<f32>> {
    let m = Model::load(path).unwrap();
    let cfg = SessionConfig {
        n_ctx: 64,
        n_threads: threads,
        ..SessionConfig::default()
    };
    let mut s = Session::new(&m, &cfg).unwrap();
    let prompt: Vec<u32> = (0..37).map(|i| (i * 7 % N_VOCAB) as u32).collect();
    let mut out = vec![s.prefill(&prompt).unwrap().to_vec()];
    for i in 0..6 {
        out.push(s.decode((i * 11 % N_VOCAB) as u32).unwrap().to_vec());
    }
    out
}

fn check(n_head: usize, n_kv: usize) {
    let grouped = temp_file("grouped", &model(n_head, n_kv, n_kv));
    let plain = temp_file("plain", &model(n_head, n_kv, n_head));
    let want = run(&plain, 1);
    assert!(want.iter().flatten().all(|v| v.is_finite()));
    for threads in [1, 2, 3] {
        for (path, what) in [(&grouped, "grouped"), (&plain, "one KV head a head")] {
            let got = run(path, threads);
            for (step, (g, w)) in got.iter().zip(&want).enumerate() {
                let same = g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{n_head} heads, {n_kv} KV heads, {what}, {threads} threads: logits of step \
                     {step} differ from the one-head path"
                );
            }
        }
    }
    let _ = std::fs::remove_file(grouped);
    let _ = std::fs::remove_file(plain);
}

#[test]
fn seven_heads_a_kv_head_match_the_one_head_path() {
    // Units of four and three heads (Qwen2.5-0.5B's grouping).
    check(7, 1);
}

#[test]
fn three_and_eight_heads_a_kv_head_match_the_one_head_path() {
    // Units of three (a copy of the last head fills the fourth lane), then two whole fours.
    check(6, 2);
    check(8, 1);
}
