//! IQ4_NL on AVX2: the dot product with Q8_0 activations.

use std::arch::x86_64::*;

use super::{dot_q8_0_blocks, f16_to_f32, f16x8, load32, mul_sum_i8_pairs};
use crate::quant::{
    iq4_nl::{BlockIQ4NL, KVALUES},
    q8_0::BlockQ8_0,
};

/// Dot product of IQ4_NL weights with Q8_0 activations, bit-identical to the reference
/// [`crate::quant::iq4_nl::vec_dot`]: as ggml's AVX2 `ggml_vec_dot_iq4_nl_q8_0`, each nibble
/// indexes the 16-entry codebook with one `pshufb` per 16 values ([`lookup_32`]); codebook
/// values (in [-127, 113]) times activations summed exactly per block
/// (|sumi| <= 32 * 127 * 127), eight blocks per horizontal reduction and float step; then the reference's
/// `sumf += (d_a * d_w) * sumi`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockIQ4NL], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read only the
    // borrowed blocks.
    unsafe { dot_q8_0_blocks!(w, a, isum, finish8, finish) }
}

/// The 8-lane exact integer dot product of one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn isum(x: &BlockIQ4NL, y: &BlockQ8_0) -> __m256i {
    // SAFETY: the CPU features are this function's contract.
    unsafe {
        let values = _mm_loadu_si128(KVALUES.as_ptr() as *const __m128i);
        mul_sum_i8_pairs(lookup_32(values, &x.qs), load32(&y.qs))
    }
}

/// The reference's float step for one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish(x: &BlockIQ4NL, y: &BlockQ8_0, sumi: i32) -> f32 {
    // SAFETY: the CPU features are this function's contract.
    unsafe { (f16_to_f32(y.d) * f16_to_f32(x.d)) * sumi as f32 }
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

/// The reference's float step for eight blocks at once (lane k: block k).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish8(x: &[BlockIQ4NL], y: &[BlockQ8_0], sumi: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let dx = f16x8(std::array::from_fn(|k| x[k].d));
        let dy = f16x8(std::array::from_fn(|k| y[k].d));
        _mm256_mul_ps(_mm256_mul_ps(dy, dx), sumi)
    }
}
