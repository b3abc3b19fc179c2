//! Q5_0 on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum_ps, load32, mul_sum_i8_pairs,
};
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// Dot product of Q5_0 weights with Q8_0 activations (reference:
/// [`crate::quant::q5_0::vec_dot`]), as ggml's AVX2 `ggml_vec_dot_q5_0_q8_0`: the signed
/// 5-bit value `q - 16` is built as the low nibble OR 0xF0 where the high bit is clear
/// (`n | 0xF0 == n - 16` as i8), in [-16, 15]; products in 8 exact i32 lanes
/// (|lane| <= 4 * 16 * 127); one FMA per block. Two accumulators.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read only the
    // borrowed blocks.
    unsafe {
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut wp = w.chunks_exact(2);
        let mut ap = a.chunks_exact(2);
        for (x, y) in (&mut wp).zip(&mut ap) {
            acc0 = block(&x[0], &y[0], acc0);
            acc1 = block(&x[1], &y[1], acc1);
        }
        for (x, y) in wp.remainder().iter().zip(ap.remainder()) {
            acc0 = block(x, y, acc0);
        }
        hsum_ps(_mm256_add_ps(acc0, acc1))
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block(x: &BlockQ5_0, y: &BlockQ8_0, acc: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let d = _mm256_set1_ps(f16_to_f32(x.d) * f16_to_f32(y.d));
        let hi = _mm256_andnot_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0xF0u8 as i8));
        let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
        let p = mul_sum_i8_pairs(qx, load32(&y.qs));
        _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc)
    }
}
