//! Q5_0 on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum4_i32, hsum_i32, load32,
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
    // borrowed blocks, and the store writes the 4 i32 of `si`.
    unsafe {
        let mut sumf = 0.0f32;
        let mut wq = w.chunks_exact(4);
        let mut aq = a.chunks_exact(4);
        for (x, y) in (&mut wq).zip(&mut aq) {
            let s = hsum4_i32([
                isum(&x[0], &y[0]),
                isum(&x[1], &y[1]),
                isum(&x[2], &y[2]),
                isum(&x[3], &y[3]),
            ]);
            let mut si = [0i32; 4];
            _mm_storeu_si128(si.as_mut_ptr() as *mut __m128i, s);
            for ((x, y), sumi) in x.iter().zip(y).zip(si) {
                sumf += finish(x, y, sumi);
            }
        }
        for (x, y) in wq.remainder().iter().zip(aq.remainder()) {
            sumf += finish(x, y, hsum_i32(isum(x, y)));
        }
        sumf
    }
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
