//! Q5_0 on AVX2: the dot product with Q8_0 activations (ggml's `vec_dot` order).

use std::arch::x86_64::*;

use super::q8_0::PREFETCH_AHEAD;
use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum_ps, load32, mul_sum_i8_pairs,
};
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// Bit-identical to [`crate::quant::q5_0::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q5_0_q8_0`):
/// the weights `q - 16` as i8 (ggml's trick: the nibble OR 0xF0 where the fifth bit is clear),
/// per block eight exact i32 lanes (|lane| <= 4 * 16 * 127), `acc = fma(d_w * d_a, lanes,
/// acc)`, `hsum_float_8` at the end.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            _mm_prefetch::<_MM_HINT_T1>(
                (x as *const BlockQ5_0 as *const i8).wrapping_add(PREFETCH_AHEAD),
            );
            let d = _mm256_set1_ps(f16_to_f32(x.d) * f16_to_f32(y.d));
            let hi = _mm256_andnot_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0xF0u8 as i8));
            let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
            let q = _mm256_cvtepi32_ps(mul_sum_i8_pairs(qx, load32(&y.qs)));
            acc = _mm256_fmadd_ps(d, q, acc);
        }
        hsum_ps(acc)
    }
}

/// The Q5_0 blocks `w` as Q8_0 blocks of their unsigned 5-bit quants `q` (0..=31; the values
/// are `q - 16`) and the same scales, for [`super::q8_0::tile_x4_q5`]: the nibble OR `0x10`
/// where the fifth bit is set.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn to_unsigned(w: &[BlockQ5_0], out: &mut [BlockQ8_0]) {
    // SAFETY: the CPU features are this function's contract; each store writes the 32 bytes
    // of one output block's `qs`.
    unsafe {
        for (x, y) in w.iter().zip(out.iter_mut()) {
            y.d = x.d;
            let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0x10));
            let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
            _mm256_storeu_si256(y.qs.as_mut_ptr() as *mut __m256i, qx);
        }
    }
}

/// [`crate::quant::q5_0::to_q8_0`] with the unpacking of [`vec_dot`]: the same bytes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn to_q8_0(w: &[BlockQ5_0], out: &mut [BlockQ8_0]) {
    // SAFETY: the CPU features are this function's contract; each store writes the 32 bytes
    // of one output block's `qs`.
    unsafe {
        for (x, y) in w.iter().zip(out.iter_mut()) {
            y.d = x.d;
            let hi = _mm256_andnot_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0xF0u8 as i8));
            let qx = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
            _mm256_storeu_si256(y.qs.as_mut_ptr() as *mut __m256i, qx);
        }
    }
}
