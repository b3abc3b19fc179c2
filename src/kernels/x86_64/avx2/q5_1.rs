//! Q5_1 on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum_ps, load32, mul_sum_us8_pairs,
};
use crate::quant::{q5_1::BlockQ5_1, q8_0::BlockQ8_0};

/// Dot product of Q5_1 weights with Q8_0 activations (reference:
/// [`crate::quant::q5_1::vec_dot`]), after ggml's AVX2 `ggml_vec_dot_q5_1_q8_1`: the unsigned
/// 5-bit values (nibble OR 0x10 where the high bit is set, 0..=31) times the activations in 8
/// exact i32 lanes (|lane| <= 4 * 31 * 127), plus `m d_a sum(q_a)` with the activation sum
/// derived by `maddubs(1, q_a)` in its own accumulator.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5_1], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read only the
    // borrowed blocks.
    unsafe {
        let ones = _mm256_set1_epi8(1);
        let mut acc = _mm256_setzero_ps();
        let mut acc_m = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let dy = f16_to_f32(y.d);
            let qy = load32(&y.qs);
            let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0x10));
            let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
            let xy = mul_sum_us8_pairs(qx, qy);
            let sy = mul_sum_us8_pairs(ones, qy);
            acc = _mm256_fmadd_ps(
                _mm256_set1_ps(f16_to_f32(x.d) * dy),
                _mm256_cvtepi32_ps(xy),
                acc,
            );
            acc_m = _mm256_fmadd_ps(
                _mm256_set1_ps(f16_to_f32(x.m) * dy),
                _mm256_cvtepi32_ps(sy),
                acc_m,
            );
        }
        hsum_ps(_mm256_add_ps(acc, acc_m))
    }
}
