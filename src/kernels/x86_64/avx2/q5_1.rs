//! Q5_1 on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum4_i32, hsum_i32, load32,
    mul_sum_us8_pairs,
};
use crate::quant::{q5_1::BlockQ5_1, q8_0::BlockQ8_0};

/// Dot product of Q5_1 weights with Q8_0 activations, bit-identical to the reference
/// [`crate::quant::q5_1::vec_dot`], after ggml's AVX2 `ggml_vec_dot_q5_1_q8_1`: the unsigned
/// 5-bit values (nibble OR 0x10 where the high bit is set, 0..=31) times the activations and
/// the activations alone, summed exactly per block (|sumi| <= 32 * 31 * 128,
/// |suma| <= 32 * 128), four blocks per horizontal reduction; then the reference's float
/// step.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5_1], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read only the
    // borrowed blocks, and the stores write the 4 i32 of `si` and `sa`.
    unsafe {
        let mut sumf = 0.0f32;
        let mut wq = w.chunks_exact(4);
        let mut aq = a.chunks_exact(4);
        for (x, y) in (&mut wq).zip(&mut aq) {
            let s0 = isums(&x[0], &y[0]);
            let s1 = isums(&x[1], &y[1]);
            let s2 = isums(&x[2], &y[2]);
            let s3 = isums(&x[3], &y[3]);
            let mut si = [0i32; 4];
            let mut sa = [0i32; 4];
            let pi = si.as_mut_ptr() as *mut __m128i;
            let pa = sa.as_mut_ptr() as *mut __m128i;
            _mm_storeu_si128(pi, hsum4_i32([s0.0, s1.0, s2.0, s3.0]));
            _mm_storeu_si128(pa, hsum4_i32([s0.1, s1.1, s2.1, s3.1]));
            for (((x, y), sumi), suma) in x.iter().zip(y).zip(si).zip(sa) {
                sumf += finish(x, y, sumi, suma);
            }
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
unsafe fn isums(x: &BlockQ5_1, y: &BlockQ8_0) -> (__m256i, __m256i) {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let qy = load32(&y.qs);
        let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0x10));
        let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
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
unsafe fn finish(x: &BlockQ5_1, y: &BlockQ8_0, sumi: i32, suma: i32) -> f32 {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let dy = f16_to_f32(y.d);
        let s = dy * suma as f32;
        (f16_to_f32(x.d) * dy) * sumi as f32 + f16_to_f32(x.m) * s
    }
}
