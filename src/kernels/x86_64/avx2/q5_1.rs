//! Q5_1 on AVX2: the dot product with Q8_1 activations (ggml's `vec_dot` order).

use std::arch::x86_64::*;

use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum_ps, load32, mul_sum_us8_pairs,
};
use crate::quant::{q5_1::BlockQ5_1, q8_0::BlockQ8_1};

/// Bit-identical to [`crate::quant::q5_1::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q5_1_q8_1`):
/// as [`super::q4_1::vec_dot`] with the fifth bit OR-ed in (weights 0..=31, |lane| <= 4 * 31
/// * 128).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            summs = f16_to_f32(x.m).mul_add(f16_to_f32(y.s), summs);
            let d = _mm256_set1_ps(f16_to_f32(x.d) * f16_to_f32(y.d));
            let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0x10));
            let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
            let q = _mm256_cvtepi32_ps(mul_sum_us8_pairs(qx, load32(&y.qs)));
            acc = _mm256_fmadd_ps(d, q, acc);
        }
        hsum_ps(acc) + summs
    }
}
