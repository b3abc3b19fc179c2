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

/// `(a0 + a1, a2 + a3, b0 + b1, b2 + b3)`: SSE3's `_mm_hadd_ps`.
fn hadd(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
    [a[0] + a[1], a[2] + a[3], b[0] + b[1], b[2] + b[3]]
}

/// ggml's `ggml_vec_dot_f32` (`ggml-cpu/vec.cpp`, the `GGML_SIMD` branch) with the AVX
/// mappings of `simd-mappings.h`, written out statement by statement, independently of
/// `quant::f32`. The leftover loop `sumf += x[i]*y[i]` (`float sumf`) is written as GCC 12
/// (`-O3 -mavx2 -mfma`, llama.cpp's x86 flags) compiles it: vectorized by 8 and then by 4
/// (`vmulps`: the products rounded to f32, then added one by one with `vaddss`), the last
/// one to three contracted to `vfmadd231ss`.
fn ggml_vec_dot_f32(x: &[f32], y: &[f32]) -> f32 {
    const GGML_F32_STEP: usize = 32;
    const GGML_F32_EPR: usize = 8;
    const GGML_F32_ARR: usize = GGML_F32_STEP / GGML_F32_EPR;
    let n = x.len();
    let np = n & !(GGML_F32_STEP - 1);
    let mut sum = [[0.0f32; GGML_F32_EPR]; GGML_F32_ARR];
    for i in (0..np).step_by(GGML_F32_STEP) {
        for (j, s) in sum.iter_mut().enumerate() {
            for (l, s) in s.iter_mut().enumerate() {
                let k = i + j * GGML_F32_EPR + l;
                // GGML_F32_VEC_FMA(sum[j], ax[j], ay[j]): _mm256_fmadd_ps(ax, ay, sum).
                *s = x[k].mul_add(y[k], *s);
            }
        }
    }
    // GGML_F32_VEC_REDUCE(sumf, sum) (GGML_F32x8_REDUCE).
    let mut offset = GGML_F32_ARR >> 1;
    while offset > 0 {
        // x[i] = _mm256_add_ps(x[i], x[offset+i]) for i < offset.
        let (head, tail) = sum.split_at_mut(offset);
        for (s, t) in head.iter_mut().zip(tail.iter()) {
            for (s, &t) in s.iter_mut().zip(t) {
                *s += t;
            }
        }
        offset >>= 1;
    }
    let t0: [f32; 4] = std::array::from_fn(|l| sum[0][l] + sum[0][4 + l]);
    let t1 = hadd(t0, t0);
    let mut sumf = hadd(t1, t1)[0];
    // Leftovers.
    let mut i = np;
    while i + 8 <= n {
        let p: [f32; 8] = std::array::from_fn(|l| x[i + l] * y[i + l]);
        for v in p {
            sumf += v;
        }
        i += 8;
    }
    if i + 4 <= n {
        let p: [f32; 4] = std::array::from_fn(|l| x[i + l] * y[i + l]);
        for v in p {
            sumf += v;
        }
        i += 4;
    }
    while i < n {
        sumf = x[i].mul_add(y[i], sumf);
        i += 1;
    }
    sumf
}

/// llamafile's `tinyBLAS<8, __m256, __m256, float, float, float>` (`llamafile/sgemm.cpp`,
/// AVX2) for one output, written out: `gemm_bloc`'s `Cv = madd(Av, Bv, Cv)` over the row in
/// steps of `KN` = 8 (`_mm256_fmadd_ps`), then `hsum(__m256)`. `None` where
/// `tinyBLAS::matmul` refuses the row length (`k % KN != 0`).
fn tinyblas_f32(a: &[f32], b: &[f32]) -> Option<f32> {
    const KN: usize = 8;
    let k = a.len();
    if !k.is_multiple_of(KN) {
        return None;
    }
    let mut cv = [0.0f32; KN];
    for l in (0..k).step_by(KN) {
        for (e, c) in cv.iter_mut().enumerate() {
            *c = a[l + e].mul_add(b[l + e], *c);
        }
    }
    // hsum(__m256): _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x)) ...
    let x: [f32; 4] = std::array::from_fn(|l| cv[4 + l] + cv[l]);
    // ... hsum(__m128): x = x + movehl(x, x); x = add_ss(x, movehdup(x)).
    let x = [x[0] + x[2], x[1] + x[3]];
    Some(x[0] + x[1])
}

/// Random f32 of several magnitudes (so that products and sums round).
fn f32_data(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let e = (rng.next_u64() % 7) as i32 - 3;
            rng.uniform(-2.0, 2.0) * 2f32.powi(e)
        })
        .collect()
}

/// Lengths with every leftover pattern: none, under 4, 4..8, 8 and more, and long rows.
const F32_LENGTHS: [usize; 24] = [
    0, 1, 2, 3, 4, 5, 7, 8, 12, 13, 20, 31, 32, 33, 36, 39, 40, 44, 63, 64, 100, 255, 264, 4127,
];

#[test]
fn f32_vec_dot_is_ggml_vec_dot_f32_written_out() {
    let mut rng = Rng::new(0xF32_0001);
    let (mut cases, mut not_left_to_right, mut not_all_fused) = (0, 0, 0);
    for n in F32_LENGTHS {
        for _ in 0..8 {
            let (w, a) = (f32_data(n, &mut rng), f32_data(n, &mut rng));
            let want = ggml_vec_dot_f32(&w, &a);
            let got = quant::f32::vec_dot(&w, &a);
            assert_eq!(got.to_bits(), want.to_bits(), "n={n}: {got:e} vs {want:e}");
            // The data tells the orders apart: a plain left-to-right sum, and leftovers all
            // fused (the C source read with contraction and no vectorization), differ often.
            let plain = w.iter().zip(&a).fold(0.0f32, |s, (&x, &y)| s + x * y);
            not_left_to_right += usize::from(plain.to_bits() != want.to_bits());
            let np = n / 32 * 32;
            let head = ggml_vec_dot_f32(&w[..np], &a[..np]);
            let fused = w[np..]
                .iter()
                .zip(&a[np..])
                .fold(head, |s, (&x, &y)| x.mul_add(y, s));
            not_all_fused += usize::from(fused.to_bits() != want.to_bits());
            cases += 1;
        }
    }
    assert!(
        not_left_to_right > cases / 4,
        "{not_left_to_right} of {cases}"
    );
    assert!(not_all_fused > cases / 10, "{not_all_fused} of {cases}");
}

#[test]
fn f32_llamafile_is_tinyblas_written_out() {
    let mut rng = Rng::new(0xF32_0002);
    let (mut cases, mut tinyblas) = (0, 0);
    for n in F32_LENGTHS {
        for _ in 0..8 {
            let (w, a) = (f32_data(n, &mut rng), f32_data(n, &mut rng));
            // llama.cpp falls back to `ggml_vec_dot_f32` where tinyBLAS refuses the length.
            let want = tinyblas_f32(&w, &a).unwrap_or_else(|| ggml_vec_dot_f32(&w, &a));
            let got = quant::f32::vec_dot_llamafile(&w, &a);
            assert_eq!(got.to_bits(), want.to_bits(), "n={n}: {got:e} vs {want:e}");
            tinyblas += usize::from(n % 8 == 0);
            cases += 1;
        }
    }
    assert!(
        tinyblas >= cases / 4,
        "{tinyblas} of {cases} through tinyBLAS"
    );
}
