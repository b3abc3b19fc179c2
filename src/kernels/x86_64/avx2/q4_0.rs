//! Q4_0 on AVX2: the dot products with Q8_0 activations (ggml's `vec_dot` order and its
//! repacked GEMV/GEMM order).

use std::arch::x86_64::*;

use super::{bytes_from_nibbles_32, f16_to_f32, hsum_i32, hsum_ps, load32, mul_sum_i8_pairs};
use crate::quant::{q4_0::BlockQ4_0, q8_0::BlockQ8_0};

/// The 32 weights of a block as i8 in -8..=7, in value order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn weights(x: &BlockQ4_0) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the block's quants.
    unsafe { _mm256_sub_epi8(bytes_from_nibbles_32(&x.qs), _mm256_set1_epi8(8)) }
}

/// Bit-identical to [`crate::quant::q4_0::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q4_0_q8_0`):
/// per block eight exact i32 lanes (|lane| <= 4 * 8 * 127), `acc = fma(d_w * d_a, lanes,
/// acc)`, `hsum_float_8` at the end.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let d = _mm256_set1_ps(f16_to_f32(x.d) * f16_to_f32(y.d));
            let q = _mm256_cvtepi32_ps(mul_sum_i8_pairs(weights(x), load32(&y.qs)));
            acc = _mm256_fmadd_ps(d, q, acc);
        }
        hsum_ps(acc)
    }
}

/// Bit-identical to [`crate::quant::q4_0::vec_dot_repacked`] (ggml's repacked
/// `ggml_gemv/gemm_q4_0_8x8_q8_0`, AVX2): per block the exact integer sum, `acc = fma(sum,
/// d_w * d_a, acc)`, in the GEMV and the GEMM alike.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_repacked(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only.
    unsafe {
        let mut acc = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let sumi = hsum_i32(mul_sum_i8_pairs(weights(x), load32(&y.qs)));
            acc = (sumi as f32).mul_add(f16_to_f32(x.d) * f16_to_f32(y.d), acc);
        }
        acc
    }
}
