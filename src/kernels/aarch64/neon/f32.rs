//! F32 on NEON: the dot products with F32 activations in the float order of ggml's x86 AVX2
//! `ggml_vec_dot_f32` and llamafile's AVX2 `tinyBLAS`, bit for bit. Each 8-lane x86 register
//! is a pair of `float32x4_t` (lanes 0..4, lanes 4..8), `_mm256_fmadd_ps` is `vfmaq_f32` on
//! both halves, and the reductions add the same lanes in the same order. (These kernels need
//! no dot-product extension: both NEON tables hold them.)

use std::arch::aarch64::*;

use super::{hsum8, reduce8x4};

/// Bit-identical to [`crate::quant::f32::vec_dot`] (ggml's x86 AVX2 `ggml_vec_dot_f32`): the
/// four 8-lane accumulators of the x86 kernel as eight `float32x4_t` fed by `vfmaq_f32` over
/// groups of 32, reduced as `GGML_F32x8_REDUCE` (`(s0 + s2) + (s1 + s3)` lane-wise, the
/// halves added, then the two `_mm_hadd_ps`: `(t0 + t1) + (t2 + t3)`); then the `n % 32`
/// leftovers into the f32 sum from left to right, the first `n % 32 / 4 * 4` as rounded
/// products and the last `n % 4` fused (`fmadd`), as the reference.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[f32], a: &[f32]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    let np = n / 32 * 32;
    let (pw, pa) = (w.as_ptr(), a.as_ptr());
    // SAFETY: NEON is this function's contract; `np <= n` values of both slices.
    let mut sum = unsafe { reduce8x4(&sums32(pw, pa, np, load8)) };
    let nr = n - n % 4;
    for (&x, &y) in w[np..nr].iter().zip(&a[np..nr]) {
        sum += x * y;
    }
    for (&x, &y) in w[nr..n].iter().zip(&a[nr..n]) {
        sum = x.mul_add(y, sum);
    }
    sum
}

/// Bit-identical to [`crate::quant::f32::vec_dot_llamafile`] (llamafile's x86 AVX2
/// `tinyBLAS<8, __m256, __m256, float, float, float>`): the one 8-lane accumulator as two
/// `float32x4_t` fed by `vfmaq_f32` over the whole row, `hsum` ([`hsum8`]) at the end; row
/// lengths that are not a multiple of 8 take [`vec_dot`], as the reference does.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot_llamafile(w: &[f32], a: &[f32]) -> f32 {
    // SAFETY: NEON is this function's contract, and `vec_dot`'s.
    unsafe { llamafile8(w, a, load8, vec_dot) }
}

/// Eight f32 at `p`, as (values 0..4, values 4..8).
///
/// # Safety
/// The CPU must support NEON; `p` must be valid for reading 8 values.
#[inline(always)]
unsafe fn load8(p: *const f32) -> (float32x4_t, float32x4_t) {
    // SAFETY: the caller's contract.
    unsafe { (vld1q_f32(p), vld1q_f32(p.add(4))) }
}

/// The four 8-lane accumulators of ggml's x86 `ggml_vec_dot_f32`/`_f16`/`_bf16` over the
/// first `np` (a multiple of 32) values at `pw` and `pa`, as `s[2j]`, `s[2j + 1]` (lanes 0..4,
/// 4..8 of accumulator `j`): value `i` FMA'd (`vfmaq_f32`) into lane `i % 32`. `load8` widens
/// eight values to f32 (F32, F16 and BF16 share this loop).
///
/// # Safety
/// The CPU must support NEON; `pw` and `pa` must be valid for reading `np` values each, and
/// `load8(p)` for reading eight values at `p`.
#[inline(always)]
pub(crate) unsafe fn sums32<T>(
    pw: *const T,
    pa: *const T,
    np: usize,
    load8: unsafe fn(*const T) -> (float32x4_t, float32x4_t),
) -> [float32x4_t; 8] {
    // SAFETY: every load reads 8 values at `i + 8k`, `i + 8k + 8 <= np`: inside what the
    // caller vouches for.
    unsafe {
        let mut s = [vdupq_n_f32(0.0); 8];
        for i in (0..np).step_by(32) {
            for k in 0..4 {
                let (w0, w1) = load8(pw.add(i + 8 * k));
                let (a0, a1) = load8(pa.add(i + 8 * k));
                s[2 * k] = vfmaq_f32(s[2 * k], w0, a0);
                s[2 * k + 1] = vfmaq_f32(s[2 * k + 1], w1, a1);
            }
        }
        s
    }
}

/// llamafile's x86 AVX2 `tinyBLAS` dot product of `w` and `a` (F32, F16, BF16; `load8` widens
/// eight values to f32): one 8-lane accumulator as two `float32x4_t` fed by `vfmaq_f32` over the
/// whole row, `hsum` ([`hsum8`]) at the end. Row lengths that are not a multiple of 8 take
/// `vec_dot` instead, as the reference does.
///
/// # Safety
/// The CPU must support NEON; `load8(p)` must read eight values at `p`, and `vec_dot`'s
/// safety conditions must hold.
#[inline(always)]
pub(crate) unsafe fn llamafile8<T>(
    w: &[T],
    a: &[T],
    load8: unsafe fn(*const T) -> (float32x4_t, float32x4_t),
    vec_dot: unsafe fn(&[T], &[T]) -> f32,
) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    // SAFETY: the caller's contract; every load reads 8 values at `i`, `i + 8 <= n`, of both
    // slices.
    unsafe {
        if !n.is_multiple_of(8) {
            return vec_dot(w, a);
        }
        let (pw, pa) = (w.as_ptr(), a.as_ptr());
        let (mut lo, mut hi) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        for i in (0..n).step_by(8) {
            let (w0, w1) = load8(pw.add(i));
            let (a0, a1) = load8(pa.add(i));
            lo = vfmaq_f32(lo, w0, a0);
            hi = vfmaq_f32(hi, w1, a1);
        }
        hsum8(lo, hi)
    }
}
