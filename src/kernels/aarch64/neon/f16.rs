//! F16 on NEON: the dot products with F16 activations in the float order of ggml's x86 AVX2
//! `ggml_vec_dot_f16` and llamafile's AVX2 `tinyBLAS`, bit for bit. The products of two f16
//! are exact in f32, so only the order of the fused multiply-adds and of the reductions
//! matters; it is that of the F32 kernels ([`super::f32`]): each 8-lane x86 register is a pair
//! of `float32x4_t` (lanes 0..4, lanes 4..8) fed by `vfmaq_f32`. (No dot-product extension
//! needed: both NEON tables hold these kernels.)
//!
//! The f16 -> f32 widening is `fcvtl`/`fcvtl2`, base AdvSIMD on every aarch64 CPU (not the
//! ARMv8.2 half-precision arithmetic), exact for every pattern: subnormals are normalized,
//! infinities kept, NaNs made quiet with their sign and payload (as `half::f16::to_f32`).
//! The intrinsic `vcvt_f32_f16` is stable only since Rust 1.94, after this crate's MSRV, so
//! the instructions are written with `asm!`.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8};

/// Eight f16 at `p` widened to f32, as (values 0..4, values 4..8): `fcvtl` and `fcvtl2`.
///
/// # Safety
/// The CPU must support NEON; `p` must be valid for reading 8 values (16 bytes, any
/// alignment of `u16`).
#[inline(always)]
unsafe fn load8(p: *const half::f16) -> (float32x4_t, float32x4_t) {
    // SAFETY: NEON and the 16 readable bytes at `p` are the caller's contract; the two
    // instructions read and write registers only (no memory, stack or flags).
    unsafe {
        let h = vld1q_u16(p as *const u16);
        let (lo, hi): (float32x4_t, float32x4_t);
        std::arch::asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            h = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
        (lo, hi)
    }
}

/// Bit-identical to [`crate::quant::f16::vec_dot`] (ggml's x86 AVX2 `ggml_vec_dot_f16`): the
/// four 8-lane accumulators of the x86 kernel as eight `float32x4_t` fed by `vfmaq_f32` over
/// groups of 32 (value `i` into lane `i % 32`), reduced as `GGML_F32x8_REDUCE`
/// (`crate::quant::lanes::reduce_f32x8x4`: `(s0 + s2) + (s1 + s3)` lane-wise, the halves
/// added, then `(t0 + t1) + (t2 + t3)`); then the `n % 32` leftover products (exact in f32)
/// added in f64 from left to right, as the reference.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[half::f16], a: &[half::f16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    let np = n / 32 * 32;
    let (pw, pa) = (w.as_ptr(), a.as_ptr());
    // SAFETY: NEON is this function's contract; every load reads 8 values at `i + 8k`,
    // `i + 8k + 8 <= np <= n`, of the borrowed slices.
    let sum = unsafe {
        // s[2k] and s[2k + 1]: lanes 0..4 and 4..8 of the x86 accumulator k.
        let mut s = [vdupq_n_f32(0.0); 8];
        for i in (0..np).step_by(32) {
            for k in 0..4 {
                let o = i + 8 * k;
                let (w0, w1) = load8(pw.add(o));
                let (a0, a1) = load8(pa.add(o));
                s[2 * k] = vfmaq_f32(s[2 * k], w0, a0);
                s[2 * k + 1] = vfmaq_f32(s[2 * k + 1], w1, a1);
            }
        }
        let lo = vaddq_f32(vaddq_f32(s[0], s[4]), vaddq_f32(s[2], s[6]));
        let hi = vaddq_f32(vaddq_f32(s[1], s[5]), vaddq_f32(s[3], s[7]));
        let t = vaddq_f32(lo, hi);
        (vgetq_lane_f32::<0>(t) + vgetq_lane_f32::<1>(t))
            + (vgetq_lane_f32::<2>(t) + vgetq_lane_f32::<3>(t))
    };
    let mut sum = f64::from(sum);
    for (x, y) in w[np..n].iter().zip(&a[np..n]) {
        sum += f64::from(f16_to_f32(*x) * f16_to_f32(*y));
    }
    sum as f32
}

/// Bit-identical to [`crate::quant::f16::vec_dot_llamafile`] (llamafile's x86 AVX2
/// `tinyBLAS`): the one 8-lane accumulator as two `float32x4_t` fed by `vfmaq_f32` over the
/// whole row, `hsum` ([`hsum8`]) at the end; row lengths that are not a multiple of 8 take
/// [`vec_dot`], as the reference does.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot_llamafile(w: &[half::f16], a: &[half::f16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    // SAFETY: NEON is this function's contract; every load reads 8 values at `i`,
    // `i + 8 <= n`, of the borrowed slices.
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
