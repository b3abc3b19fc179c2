//! `vec_dot` for every supported weight format, on seeded random data over odd numbers of
//! blocks (1, 3, 7, 11; odd lengths up to 353 for the float formats).
//!
//! Three checks per case:
//!
//! 1. ggml's accuracy bound (`tests/test-quantize-fns.cpp`): `|vec_dot - reference| / n` below
//!    `MAX_DOT_PRODUCT_ERROR` (0.02), `MAX_DOT_PRODUCT_ERROR_LOWBIT` (0.04) for Q2_K (the only
//!    LOWBIT type among ours), and `MAX_QUANTIZATION_REFERENCE_ERROR` (1e-4) for F32 (its
//!    `test_vec_dot_f32`). The reference is the f64 dot product of the dequantized weights
//!    with the original activations; where the test has a weight quantizer it also checks the
//!    original weights, as ggml's test does. The data has ggml's range (0.1 + 2 * [-1, 1]).
//! 2. Exactness of the integer path: `vec_dot` equals the f64 sum of the dequantized weights
//!    times the dequantized activations up to f32 rounding (relative 1e-5 of
//!    `sum |w_i * a_i|`, widened for formats with minimum terms, see [`magnitude`]). This
//!    catches indexing bugs the loose bound would miss.
//! 3. Consistency under dequantize -> requantize: the activations (and, where the test can
//!    quantize them, the weights) requantized from their own dequantized values give the
//!    same blocks and the same dot product (Q8_K activations: the same dot product up to
//!    f32 rounding, since its f32 scale `1/iscale` need not survive the round trip exactly).
//!
//! The K-formats, IQ4_NL and IQ4_XS use random valid blocks (random bytes, sane f16 scales) as
//! weights, so no quantizer is needed for them.

mod common;

use common::{
    dequantize_any, has_weight_quantizer, quantize_weights, random_blocks, AlignedBytes, Rng,
};
use ferrite::kernels;
use ferrite::quant::{self, DotOrder, GgmlType};

/// ggml `tests/test-quantize-fns.cpp`.
const MAX_DOT_PRODUCT_ERROR: f64 = 0.02;
const MAX_DOT_PRODUCT_ERROR_LOWBIT: f64 = 0.04;
const MAX_QUANTIZATION_REFERENCE_ERROR: f64 = 0.0001;

/// The bound ggml's test applies to `ty` (normalized by the row length).
fn max_dot_error(ty: GgmlType) -> f64 {
    match ty {
        GgmlType::Q2_K => MAX_DOT_PRODUCT_ERROR_LOWBIT,
        GgmlType::F32 => MAX_QUANTIZATION_REFERENCE_ERROR,
        _ => MAX_DOT_PRODUCT_ERROR,
    }
}

/// Row lengths to test: odd numbers of blocks, and odd lengths for the one-value "blocks".
fn lengths(ty: GgmlType) -> Vec<usize> {
    let bs = ty.block_size();
    if bs == 1 {
        vec![1, 3, 7, 11, 33, 97, 353]
    } else {
        [1, 3, 7, 11].iter().map(|nb| nb * bs).collect()
    }
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// Whether the kernel for `ty` adds a minimum/offset term separately from the scaled quants
/// (`m * s` for Q4_1/Q5_1, `dmin * sum(m * bsums)` for Q2_K/Q4_K/Q5_K).
fn has_min_terms(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(ty, Q4_1 | Q5_1 | Q2_K | Q4_K | Q5_K)
}

/// A scale for the rounding error of `vec_dot`: `sum_i |w_i| * |a_i|`, plus
/// `2 * max_block |w| * |a_i|` for formats with minimum terms (the kernels add `d * q` and
/// the minimum separately, and each can exceed `|w_i|`; both are bounded by
/// `|w_i| + |min| <= 2 * max_block |w|` for values that span the block's range). The
/// rounding error of a correct kernel is a small multiple of `2^-24` times this.
fn magnitude(w: &[f32], a: &[f32], block: usize, min_terms: bool) -> f64 {
    w.chunks(block)
        .zip(a.chunks(block))
        .map(|(w, a)| {
            let extra = if min_terms {
                2.0 * w.iter().fold(0.0f64, |m, &x| m.max(f64::from(x.abs())))
            } else {
                0.0
            };
            w.iter()
                .zip(a)
                .map(|(&x, &y)| (f64::from(x.abs()) + extra) * f64::from(y.abs()))
                .sum::<f64>()
        })
        .sum()
}

/// Extra rounding of Q8_1 activations (Q4_1/Q5_1): ggml stores `s = d * sum(q_a)` as f16,
/// computed from the unrounded f32 `d`, so each block's minimum term `m * s` is off from
/// `m * d_f16 * sum(q_a)` by up to about 2^-10 of `|m| * sum |a_i|` (`|m| <= max_block |w|`).
fn q8_1_slack(ty: GgmlType, w: &[f32], a: &[f32]) -> f64 {
    if ty.vec_dot_type() != GgmlType::Q8_1 {
        return 0.0;
    }
    w.chunks(32)
        .zip(a.chunks(32))
        .map(|(w, a)| {
            let m = w.iter().fold(0.0f64, |m, &x| m.max(f64::from(x.abs())));
            m * a.iter().map(|&x| f64::from(x.abs())).sum::<f64>() * 2f64.powi(-10)
        })
        .sum()
}

fn quantize_act(ty: GgmlType, x: &[f32]) -> AlignedBytes {
    let at = ty.vec_dot_type();
    let mut out = AlignedBytes::zeroed(at.row_bytes(x.len()).expect("whole blocks"));
    quant::quantize_activation(at, x, out.bytes_mut()).expect("layout");
    out
}

fn check_dot(ty: GgmlType) {
    let mut rng = Rng::new(0xD07_0000 ^ ((ty as u64) << 8));
    let bound = max_dot_error(ty);
    let at = ty.vec_dot_type();
    let mut cases = 0;
    for n in lengths(ty) {
        let nb = n / ty.block_size();
        for trial in 0..3 {
            let ctx = format!("{ty} n={n} trial={trial}");

            // Weights: quantized from random floats, or random valid blocks.
            let (w_orig, wq) = if has_weight_quantizer(ty) {
                let w = rng.data(n, 0.1, 2.0);
                let q = quantize_weights(ty, &w);
                (Some(w), q)
            } else {
                (None, random_blocks(ty, nb, &mut rng))
            };
            let w = dequantize_any(ty, wq.bytes(), n);
            assert!(w.iter().all(|v| v.is_finite()), "{ctx}: weights not finite");

            let act = rng.data(n, 0.1, 2.0);
            let aq = quantize_act(ty, &act);
            let a = dequantize_any(at, aq.bytes(), n);

            let got = quant::vec_dot(ty, wq.bytes(), aq.bytes()).expect("layout");
            assert!(got.is_finite(), "{ctx}: vec_dot = {got}");
            let got64 = f64::from(got);

            // 1. ggml's bound.
            let err = (got64 - dot64(&w, &act)).abs() / n as f64;
            assert!(
                err < bound,
                "{ctx}: |vec_dot - dot(dequant w, x)| / n = {err} >= {bound}"
            );
            if let Some(w_orig) = &w_orig {
                let err = (got64 - dot64(w_orig, &act)).abs() / n as f64;
                assert!(
                    err < bound,
                    "{ctx}: |vec_dot - dot(w, x)| / n = {err} >= {bound}"
                );
            }

            // 2. The integer path equals the per-element recomputation up to f32 rounding.
            // Float formats add n products in f32 (worst case n * 2^-24 relative); the block
            // formats add a few terms per block.
            let adds = if ty.block_size() == 1 { n } else { 4 * nb };
            let rel = (1e-5f64).max(1.01 * adds as f64 * 2f64.powi(-24));
            let exact = dot64(&w, &a);
            let tol = rel * magnitude(&w, &a, ty.block_size(), has_min_terms(ty))
                + q8_1_slack(ty, &w, &a);
            assert!(
                (got64 - exact).abs() <= tol,
                "{ctx}: vec_dot = {got}, per-element recomputation = {exact}, \
                 diff {} > tol {tol}",
                (got64 - exact).abs()
            );

            // 2b. The other kernel orders (tiled, tinyBLAS, repacked; see `DotOrder`) add the
            // same products in another order: within the same bound.
            for order in [
                DotOrder::Tiled,
                DotOrder::Llamafile,
                DotOrder::RepackedGemm,
                DotOrder::RepackedGemv,
            ] {
                let mut out = [0.0f32];
                kernels::matvec_order(&mut out, ty, wq.bytes(), aq.bytes(), order);
                assert!(
                    (f64::from(out[0]) - exact).abs() <= tol,
                    "{ctx}: {order:?} order gives {}, per-element recomputation {exact}",
                    out[0]
                );
            }

            // 3. Requantizing dequantized data is consistent.
            let aq2 = quantize_act(ty, &a);
            let got2 = quant::vec_dot(ty, wq.bytes(), aq2.bytes()).expect("layout");
            if at == GgmlType::Q8_K {
                assert!(
                    (f64::from(got2) - got64).abs() <= tol,
                    "{ctx}: requantized Q8_K activations: {got2} vs {got}"
                );
            } else if at == GgmlType::Q8_1 {
                // d and the quants come back; s (from the unrounded d) need not.
                for (b2, b) in aq2.bytes().chunks(36).zip(aq.bytes().chunks(36)) {
                    assert_eq!((&b2[..2], &b2[4..]), (&b[..2], &b[4..]), "{ctx}");
                }
                assert!(
                    (f64::from(got2) - got64).abs() <= tol,
                    "{ctx}: requantized Q8_1 activations: {got2} vs {got}"
                );
            } else {
                assert_eq!(aq2.bytes(), aq.bytes(), "{ctx}: activations not idempotent");
                assert_eq!(got2.to_bits(), got.to_bits(), "{ctx}");
            }
            if has_weight_quantizer(ty) {
                let wq2 = quantize_weights(ty, &w);
                assert_eq!(wq2.bytes(), wq.bytes(), "{ctx}: weights not idempotent");
            }
            cases += 1;
        }
    }
    assert!(cases > 0);
}

macro_rules! dot_tests {
    ($($fn_name:ident => $ty:ident),* $(,)?) => {
        $(
            #[test]
            fn $fn_name() {
                check_dot(GgmlType::$ty);
            }
        )*
    };
}

dot_tests! {
    dot_f32 => F32,
    dot_f16 => F16,
    dot_bf16 => BF16,
    dot_q4_0 => Q4_0,
    dot_q4_1 => Q4_1,
    dot_q5_0 => Q5_0,
    dot_q5_1 => Q5_1,
    dot_q8_0 => Q8_0,
    dot_iq4_nl => IQ4_NL,
    dot_q2_k => Q2_K,
    dot_q3_k => Q3_K,
    dot_q4_k => Q4_K,
    dot_q5_k => Q5_K,
    dot_q6_k => Q6_K,
    dot_iq4_xs => IQ4_XS,
}

/// ggml's own test data and size (`generate_data`: `0.1 + 2 * cos(i + offset)`, 32 * 128
/// values), for the formats the test can quantize: the error against the unquantized dot
/// product, normalized by the length, is within ggml's bound.
#[test]
fn ggml_test_data_within_bounds() {
    let n = 32 * 128;
    let gen = |offset: f64| -> Vec<f32> {
        (0..n)
            .map(|i| (0.1 + 2.0 * (i as f64 + offset).cos()) as f32)
            .collect()
    };
    let (w, x) = (gen(0.0), gen(1.0));
    for ty in common::FORMATS
        .into_iter()
        .filter(|&t| has_weight_quantizer(t))
    {
        let wq = quantize_weights(ty, &w);
        let aq = quantize_act(ty, &x);
        let got = quant::vec_dot(ty, wq.bytes(), aq.bytes()).expect("layout");
        let err = (f64::from(got) - dot64(&w, &x)).abs() / n as f64;
        assert!(err < max_dot_error(ty), "{ty}: error {err}");
    }
}

/// ggml multiplies Q4_1/Q5_1 with Q8_1 activations, whose `s = fp16(d_f32 * sum(qs))` uses
/// the unrounded f32 scale and is stored as f16. Emulate ggml's reference path
/// (`quantize_row_q8_1_ref` and the generic dot product) and check that ours agrees to f32
/// rounding (the slack also allows the f16 rounding of `s`).
#[test]
fn q4_1_q5_1_agree_with_ggml_q8_1_path() {
    use half::f16;
    let mut rng = Rng::new(0x0081);
    for ty in [GgmlType::Q4_1, GgmlType::Q5_1] {
        for nb in [1usize, 3, 7, 11] {
            let n = nb * 32;
            let w = rng.data(n, 0.1, 2.0);
            let x = rng.data(n, 0.1, 2.0);
            let wq = quantize_weights(ty, &w);
            let aq = quantize_act(ty, &x);
            let ours = f64::from(quant::vec_dot(ty, wq.bytes(), aq.bytes()).unwrap());

            // ggml: quantize_row_q8_1_ref + ggml_vec_dot_q{4,5}_1_q8_1_generic.
            let wdeq = dequantize_any(ty, wq.bytes(), n);
            let ts = ty.type_size();
            let (mut ggml, mut slack) = (0.0f32, 0.0f64);
            for b in 0..nb {
                let xb = &x[b * 32..(b + 1) * 32];
                let amax = xb.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let qs: Vec<i32> = xb.iter().map(|&v| (v * id).round() as i32).collect();
                let s = f16::from_f32(qs.iter().sum::<i32>() as f32 * d).to_f32();
                let blk = &wq.bytes()[b * ts..(b + 1) * ts];
                let dw = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                let m = f16::from_le_bytes([blk[2], blk[3]]).to_f32();
                // The weight quants, recovered from the dequantized values.
                let sumi: i32 = (0..32)
                    .map(|j| {
                        let q = if dw != 0.0 {
                            ((wdeq[b * 32 + j] - m) / dw).round() as i32
                        } else {
                            0
                        };
                        q * qs[j]
                    })
                    .sum();
                let dy = f16::from_f32(d).to_f32();
                ggml += (dw * dy) * sumi as f32 + m * s;
                slack += f64::from((m * s).abs()) * 2f64.powi(-10);
                slack += f64::from(((dw * dy) * sumi as f32).abs()) * 1e-6;
            }
            let diff = (ours - f64::from(ggml)).abs();
            assert!(
                diff <= slack + 1e-6,
                "{ty} nb={nb}: ours {ours}, ggml's Q8_1 path {ggml}, diff {diff} > {slack}"
            );
        }
    }
}
