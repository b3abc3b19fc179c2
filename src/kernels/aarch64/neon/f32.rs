//! F32 on NEON: the dot products with F32 activations in the float order of ggml's x86 AVX2
//! `ggml_vec_dot_f32` and llamafile's AVX2 `tinyBLAS`, bit for bit. Each 8-lane x86 register
//! is a pair of `float32x4_t` (lanes 0..4, lanes 4..8), `_mm256_fmadd_ps` is `vfmaq_f32` on
//! both halves, and the reductions add the same lanes in the same order. (These kernels need
//! no dot-product extension: both NEON tables hold them.)

use std::arch::aarch64::*;

use super::hsum8;

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
    // SAFETY: NEON is this function's contract; every load reads 4 values at `i + 4k`,
    // `i + 4k + 4 <= np <= n`, of the borrowed slices.
    let mut sum = unsafe {
        // s[2j] and s[2j + 1]: lanes 0..4 and 4..8 of the x86 accumulator j.
        let mut s = [vdupq_n_f32(0.0); 8];
        for i in (0..np).step_by(32) {
            for (k, s) in s.iter_mut().enumerate() {
                let o = i + 4 * k;
                *s = vfmaq_f32(*s, vld1q_f32(pw.add(o)), vld1q_f32(pa.add(o)));
            }
        }
        let lo = vaddq_f32(vaddq_f32(s[0], s[4]), vaddq_f32(s[2], s[6]));
        let hi = vaddq_f32(vaddq_f32(s[1], s[5]), vaddq_f32(s[3], s[7]));
        let t = vaddq_f32(lo, hi);
        (vgetq_lane_f32::<0>(t) + vgetq_lane_f32::<1>(t))
            + (vgetq_lane_f32::<2>(t) + vgetq_lane_f32::<3>(t))
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

/// Bit-identical to [`crate::quant::f32::vec_dot_llamafile`] (llamafile's x86 AVX2
/// `tinyBLAS<8, __m256, __m256, float, float, float>`): the one 8-lane accumulator as two
/// `float32x4_t` fed by `vfmaq_f32` over the whole row, `hsum` ([`hsum8`]) at the end; row
/// lengths that are not a multiple of 8 take [`vec_dot`], as the reference does.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot_llamafile(w: &[f32], a: &[f32]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    // SAFETY: NEON is this function's contract; every load reads 4 values at `i` or `i + 4`,
    // `i + 8 <= n`, of the borrowed slices.
    unsafe {
        if !n.is_multiple_of(8) {
            return vec_dot(w, a);
        }
        let (pw, pa) = (w.as_ptr(), a.as_ptr());
        let (mut lo, mut hi) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        for i in (0..n).step_by(8) {
            lo = vfmaq_f32(lo, vld1q_f32(pw.add(i)), vld1q_f32(pa.add(i)));
            hi = vfmaq_f32(hi, vld1q_f32(pw.add(i + 4)), vld1q_f32(pa.add(i + 4)));
        }
        hsum8(lo, hi)
    }
}
