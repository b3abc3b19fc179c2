//! Q4_1 on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{
    add_lanes_in_order, bytes_from_nibbles_32, f16_to_f32, f16x8, hsum8_i32, hsum_i32, load32,
    mul_sum_us8_pairs,
};
use crate::quant::{q4_1::BlockQ4_1, q8_0::BlockQ8_0};

/// Dot product of Q4_1 weights with Q8_0 activations, bit-identical to the reference
/// [`crate::quant::q4_1::vec_dot`], after ggml's AVX2 `ggml_vec_dot_q4_1_q8_1`: the unsigned
/// nibbles (0..=15) times the activations and the activations alone, summed exactly per block
/// (|sumi| <= 32 * 15 * 128, |suma| <= 32 * 128), eight blocks per horizontal reduction and float step; then
/// the reference's float step.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ4_1], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read only the
    // borrowed blocks.
    unsafe {
        let mut sumf = 0.0f32;
        let mut wq = w.chunks_exact(8);
        let mut aq = a.chunks_exact(8);
        for (x, y) in (&mut wq).zip(&mut aq) {
            let mut vi = [_mm256_setzero_si256(); 8];
            let mut va = [_mm256_setzero_si256(); 8];
            for k in 0..8 {
                (vi[k], va[k]) = isums(&x[k], &y[k]);
            }
            let sumi = _mm256_cvtepi32_ps(hsum8_i32(vi));
            let suma = _mm256_cvtepi32_ps(hsum8_i32(va));
            // The reference's float step, lane k for block k (same operations, no FMA).
            let dx = f16x8(std::array::from_fn(|k| x[k].d));
            let m = f16x8(std::array::from_fn(|k| x[k].m));
            let dy = f16x8(std::array::from_fn(|k| y[k].d));
            let s = _mm256_mul_ps(dy, suma);
            let t = _mm256_add_ps(
                _mm256_mul_ps(_mm256_mul_ps(dx, dy), sumi),
                _mm256_mul_ps(m, s),
            );
            sumf = add_lanes_in_order(sumf, t);
        }
        for (x, y) in wq.remainder().iter().zip(aq.remainder()) {
            let (si, sa) = isums(x, y);
            sumf += finish(x, y, hsum_i32(si), hsum_i32(sa));
        }
        sumf
    }
}

/// The exact integer sums of one block, 8 lanes each: weights times activations, and the
/// activations alone (ggml's Q8_1 `s`, derived with `maddubs(1, q_a)`, |.| <= 32 * 128).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn isums(x: &BlockQ4_1, y: &BlockQ8_0) -> (__m256i, __m256i) {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let qy = load32(&y.qs);
        let qx = bytes_from_nibbles_32(&x.qs);
        (
            mul_sum_us8_pairs(qx, qy),
            mul_sum_us8_pairs(_mm256_set1_epi8(1), qy),
        )
    }
}

/// The reference's float step for one block:
/// `s = d_a * suma; sumf += (d_w * d_a) * sumi + m * s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish(x: &BlockQ4_1, y: &BlockQ8_0, sumi: i32, suma: i32) -> f32 {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let dy = f16_to_f32(y.d);
        let s = dy * suma as f32;
        (f16_to_f32(x.d) * dy) * sumi as f32 + f16_to_f32(x.m) * s
    }
}
