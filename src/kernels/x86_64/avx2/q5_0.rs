//! Q5_0 on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, dot_q8_0_blocks, f16_to_f32, f16x8, load32,
    mul_sum_i8_pairs,
};
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// Dot product of Q5_0 weights with Q8_0 activations, bit-identical to the reference
/// [`crate::quant::q5_0::vec_dot`]: as ggml's AVX2 `ggml_vec_dot_q5_0_q8_0`, the signed value
/// `q - 16` is the low nibble OR 0xF0 where the high bit is clear (`n | 0xF0 == n - 16` as
/// i8), in [-16, 15]; products summed exactly per block (|sumi| <= 32 * 16 * 127), four
/// blocks per horizontal reduction; then the reference's `sumf += (d_w * d_a) * sumi`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read only the
    // borrowed blocks.
    unsafe { dot_q8_0_blocks!(w, a, isum, finish8, finish) }
}

/// The 8-lane exact integer dot product of one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn isum(x: &BlockQ5_0, y: &BlockQ8_0) -> __m256i {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let hi = _mm256_andnot_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0xF0u8 as i8));
        let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
        mul_sum_i8_pairs(qx, load32(&y.qs))
    }
}

/// The reference's float step for one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish(x: &BlockQ5_0, y: &BlockQ8_0, sumi: i32) -> f32 {
    // SAFETY: the CPU features are this function's contract.
    unsafe { (f16_to_f32(x.d) * f16_to_f32(y.d)) * sumi as f32 }
}

/// The reference's float step for eight blocks at once (lane k: block k).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish8(x: &[BlockQ5_0], y: &[BlockQ8_0], sumi: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let dx = f16x8(std::array::from_fn(|k| x[k].d));
        let dy = f16x8(std::array::from_fn(|k| y[k].d));
        _mm256_mul_ps(_mm256_mul_ps(dx, dy), sumi)
    }
}
