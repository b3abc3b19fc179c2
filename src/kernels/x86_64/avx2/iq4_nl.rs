//! IQ4_NL on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_ps, load32, mul_sum_i8_pairs};
use crate::quant::{
    iq4_nl::{BlockIQ4NL, KVALUES},
    q8_0::BlockQ8_0,
};

/// Dot product of IQ4_NL weights with Q8_0 activations (reference:
/// [`crate::quant::iq4_nl::vec_dot`]), as ggml's AVX2 `ggml_vec_dot_iq4_nl_q8_0`: each nibble
/// indexes the 16-entry codebook with one `pshufb` per 16 values; the codebook values (in
/// [-127, 113]) times the activations in 8 exact i32 lanes (|lane| <= 4 * 127 * 127); one FMA
/// per block. Two accumulators.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockIQ4NL], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the 16-byte
    // codebook and the borrowed blocks.
    unsafe {
        let values = _mm_loadu_si128(KVALUES.as_ptr() as *const __m128i);
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut wp = w.chunks_exact(2);
        let mut ap = a.chunks_exact(2);
        for (x, y) in (&mut wp).zip(&mut ap) {
            acc0 = block(values, &x[0], &y[0], acc0);
            acc1 = block(values, &x[1], &y[1], acc1);
        }
        for (x, y) in wp.remainder().iter().zip(ap.remainder()) {
            acc0 = block(values, x, y, acc0);
        }
        hsum_ps(_mm256_add_ps(acc0, acc1))
    }
}

/// The 32 codebook values of 16 bytes of nibbles, in value order (low nibbles first).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn lookup_32(values: __m128i, qs: &[u8; 16]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 16 bytes of `qs`
    // (unaligned).
    unsafe {
        let bits = _mm_loadu_si128(qs.as_ptr() as *const __m128i);
        let m4 = _mm_set1_epi8(0x0F);
        let lo = _mm_shuffle_epi8(values, _mm_and_si128(bits, m4));
        let hi = _mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16::<4>(bits), m4));
        _mm256_set_m128i(hi, lo)
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block(values: __m128i, x: &BlockIQ4NL, y: &BlockQ8_0, acc: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let d = _mm256_set1_ps(f16_to_f32(y.d) * f16_to_f32(x.d));
        let p = mul_sum_i8_pairs(lookup_32(values, &x.qs), load32(&y.qs));
        _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc)
    }
}
