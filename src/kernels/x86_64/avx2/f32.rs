//! F32 on AVX2 + FMA: the dot products with F32 activations in ggml's `vec_dot` order and
//! llamafile's `tinyBLAS` order. The product of two f32 is not exact in f32, so each kernel
//! fuses exactly where the reference uses `f32::mul_add` and rounds the product exactly where
//! it writes `x * y`.

use std::arch::x86_64::*;

use super::matvec::prefetch_lines;
use super::q8_0::PREFETCH_AHEAD;

/// Bit-identical to [`crate::quant::f32::vec_dot`] (ggml's `ggml_vec_dot_f32`, `GGML_SIMD`
/// with the AVX mappings of `simd-mappings.h`): groups of 32 into four 8-lane
/// `_mm256_fmadd_ps` accumulators (`GGML_F32_STEP` 32, `GGML_F32_EPR` 8), reduced as
/// `GGML_F32x8_REDUCE` (`(s0 + s2) + (s1 + s3)`, the halves added, two `_mm_hadd_ps`); then
/// the `n % 32` leftovers into the f32 sum from left to right, the first `n % 32 / 4 * 4` as
/// rounded products (GCC's vectorized `vmulps` + `vaddss`) and the last `n % 4` fused
/// (`vfmadd231ss`), as the reference.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[f32], a: &[f32]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    let np = n / 32 * 32;
    let (pw, pa) = (w.as_ptr(), a.as_ptr());
    // SAFETY: the CPU features are this function's contract; every load reads 8 values at
    // `i + 8k`, `i + 8k + 8 <= np <= n`, of the borrowed slices (unaligned loads); a
    // prefetch never faults (its address is formed with `wrapping_add`).
    let mut sum = unsafe {
        let mut s = [_mm256_setzero_ps(); 4];
        for i in (0..np).step_by(32) {
            // Decode streams a matrix row after row through this kernel: fetch the
            // weights PREFETCH_AHEAD bytes ahead (the next rows) into L2.
            prefetch_lines(
                (w.as_ptr().add(i) as *const i8).wrapping_add(PREFETCH_AHEAD),
                128,
            );
            for (k, s) in s.iter_mut().enumerate() {
                let o = i + 8 * k;
                *s = _mm256_fmadd_ps(_mm256_loadu_ps(pw.add(o)), _mm256_loadu_ps(pa.add(o)), *s);
            }
        }
        let x = _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3]));
        let t0 = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps::<1>(x));
        let t1 = _mm_hadd_ps(t0, t0);
        _mm_cvtss_f32(_mm_hadd_ps(t1, t1))
    };
    let nr = n - n % 4;
    for (&x, &y) in w[np..nr].iter().zip(&a[np..nr]) {
        sum += x * y;
    }
    for (&x, &y) in w[nr..n].iter().zip(&a[nr..n]) {
        sum = x.mul_add(y, sum);
    }
    sum
}

/// Bit-identical to [`crate::quant::f32::vec_dot_llamafile`] (llamafile's `tinyBLAS<8,
/// __m256, __m256, float, float, float>`, AVX2, `gemm_bloc`): one 8-lane `_mm256_fmadd_ps`
/// accumulator over the whole row, `hsum` at the end; row lengths that are not a multiple of
/// 8 take [`vec_dot`], as the reference (and llama.cpp) does.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_llamafile(w: &[f32], a: &[f32]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 8 values at
    // `i`, `i + 8 <= n`, of the borrowed slices (unaligned loads).
    unsafe {
        if !n.is_multiple_of(8) {
            return vec_dot(w, a);
        }
        let (pw, pa) = (w.as_ptr(), a.as_ptr());
        let mut acc = _mm256_setzero_ps();
        for i in (0..n).step_by(8) {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(pw.add(i)), _mm256_loadu_ps(pa.add(i)), acc);
        }
        super::hsum_ps(acc)
    }
}
