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

use super::f32::{llamafile8, sums32};
use super::{f16_to_f32, load_f16x8, reduce8x4};

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
    // SAFETY: NEON is this function's contract; `np <= n` values of both slices.
    let sum = unsafe { reduce8x4(&sums32(w.as_ptr(), a.as_ptr(), np, load_f16x8)) };
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
    // SAFETY: NEON is this function's contract, and `vec_dot`'s.
    unsafe { llamafile8(w, a, load_f16x8, vec_dot) }
}
