//! F16 on AVX2 (F16C conversions): the dot products with F16 activations in ggml's
//! `vec_dot` order and llamafile's `tinyBLAS` order. The products of two f16 are exact in
//! f32, so only the order of the fused multiply-adds and of the reduction matters.

use std::arch::x86_64::*;

use super::matvec::prefetch_lines;
use super::q8_0::PREFETCH_AHEAD;

use crate::quant::lanes;

/// Eight f16 from `p` widened to f32 (`_mm256_cvtph_ps`, exact).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `p` must be valid for reading 8 values.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8(p: *const half::f16) -> __m256 {
    // SAFETY: the caller's contract (unaligned 16-byte load).
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
}

/// Bit-identical to [`crate::quant::f16::vec_dot`] (ggml's AVX2 `ggml_vec_dot_f16`): groups
/// of 32 into four 8-lane `_mm256_fmadd_ps` accumulators, reduced as `GGML_F32x8_REDUCE`
/// ([`lanes::reduce_f32x8x4`]); the last `n % 32` products added in f64 as the reference.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[half::f16], a: &[half::f16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let np = w.len() / 32 * 32;
    // SAFETY: the CPU features are this function's contract; every load reads 8 values at
    // `i + 8k < np <= len` of the borrowed slices, and the stores write the local array; a
    // prefetch never faults (its address is formed with `wrapping_add`).
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        for i in (0..np).step_by(32) {
            // Decode streams a matrix row after row through this kernel: fetch the
            // weights PREFETCH_AHEAD bytes ahead (the next rows) into L2.
            prefetch_lines(
                (w.as_ptr().add(i) as *const i8).wrapping_add(PREFETCH_AHEAD),
                64,
            );
            for (k, acc) in acc.iter_mut().enumerate() {
                let o = i + 8 * k;
                *acc = _mm256_fmadd_ps(load8(w.as_ptr().add(o)), load8(a.as_ptr().add(o)), *acc);
            }
        }
        let mut x = [0.0f32; 32];
        for (k, acc) in acc.iter().enumerate() {
            _mm256_storeu_ps(x.as_mut_ptr().add(8 * k), *acc);
        }
        let mut sum = f64::from(lanes::reduce_f32x8x4(&x));
        for (x, y) in w[np..].iter().zip(&a[np..]) {
            sum += f64::from(x.to_f32() * y.to_f32());
        }
        sum as f32
    }
}

/// Bit-identical to [`crate::quant::f16::vec_dot_llamafile`] (llamafile's `tinyBLAS`, AVX2,
/// `tinyBLAS::gemm` with `KN = 8`): one 8-lane `_mm256_fmadd_ps` accumulator over the whole
/// row, `hsum` at the end; row lengths that are not a multiple of 8 take [`vec_dot`], as the
/// reference (and llama.cpp) does.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_llamafile(w: &[half::f16], a: &[half::f16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 8 values at
    // `i + 8 <= len` of the borrowed slices.
    unsafe {
        if !w.len().is_multiple_of(8) {
            return vec_dot(w, a);
        }
        let mut acc = _mm256_setzero_ps();
        for i in (0..w.len()).step_by(8) {
            acc = _mm256_fmadd_ps(load8(w.as_ptr().add(i)), load8(a.as_ptr().add(i)), acc);
        }
        super::hsum_ps(acc)
    }
}
