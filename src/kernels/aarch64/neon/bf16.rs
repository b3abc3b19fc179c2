//! BF16 on NEON: the dot products with BF16 activations in the float order of ggml's x86 AVX2
//! `ggml_vec_dot_bf16` (without AVX512-BF16) and llamafile's AVX2 `tinyBLAS`, bit for bit. A
//! bf16 widens to f32 by a 16-bit shift (`vshll_n_u16::<16>`, exact for every pattern, NaNs
//! included, as the reference's `bits << 16`), and the products of two bf16 are exact in f32,
//! so only the order of the fused multiply-adds and of the reductions matters: each 8-lane x86
//! register is a pair of `float32x4_t` (lanes 0..4, lanes 4..8) fed by `vfmaq_f32`, as in
//! [`super::f32`]. (No dot-product extension needed: both NEON tables hold these kernels.)

use std::arch::aarch64::*;

use super::f32::{llamafile8, sums32};
use super::hsum8;

/// Eight bf16 at `p` widened to f32, as (values 0..4, values 4..8): each 16-bit pattern
/// becomes the upper half of a 32-bit lane (`shll`/`shll2` by 16).
///
/// # Safety
/// The CPU must support NEON; `p` must be valid for reading 8 values (16 bytes, any
/// alignment of `u16`).
#[inline(always)]
unsafe fn load8(p: *const half::bf16) -> (float32x4_t, float32x4_t) {
    // SAFETY: NEON and the 16 readable bytes at `p` are the caller's contract.
    unsafe {
        let h = vld1q_u16(p as *const u16);
        let lo = vshll_n_u16::<16>(vget_low_u16(h));
        let hi = vshll_high_n_u16::<16>(h);
        (vreinterpretq_f32_u32(lo), vreinterpretq_f32_u32(hi))
    }
}

/// Widens one bf16 to f32 (exact), as the reference.
#[inline]
fn to_f32(x: half::bf16) -> f32 {
    f32::from_bits(u32::from(x.to_bits()) << 16)
}

/// Bit-identical to [`crate::quant::bf16::vec_dot`] (ggml's x86 AVX2 `ggml_vec_dot_bf16`): the
/// four 8-lane accumulators `c1..c4` of the x86 kernel as eight `float32x4_t` fed by
/// `vfmaq_f32` over groups of 32 (value `i` into lane `i % 32`), `hsum_float_8((c1 + c3) +
/// (c2 + c4))` ([`hsum8`]); then the `n % 32` leftover products (exact in f32) added in f64
/// from left to right, as the reference.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[half::bf16], a: &[half::bf16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    let np = n / 32 * 32;
    // SAFETY: NEON is this function's contract; `np <= n` values of both slices.
    let sum = unsafe {
        // s[2k] and s[2k + 1]: lanes 0..4 and 4..8 of the x86 accumulator c(k + 1).
        let s = sums32(w.as_ptr(), a.as_ptr(), np, load8);
        let lo = vaddq_f32(vaddq_f32(s[0], s[4]), vaddq_f32(s[2], s[6]));
        let hi = vaddq_f32(vaddq_f32(s[1], s[5]), vaddq_f32(s[3], s[7]));
        hsum8(lo, hi)
    };
    let mut sum = f64::from(sum);
    for (&x, &y) in w[np..n].iter().zip(&a[np..n]) {
        sum += f64::from(to_f32(x) * to_f32(y));
    }
    sum as f32
}

/// Bit-identical to [`crate::quant::bf16::vec_dot_llamafile`] (llamafile's x86 AVX2
/// `tinyBLAS`): the one 8-lane accumulator as two `float32x4_t` fed by `vfmaq_f32` over the
/// whole row, `hsum` ([`hsum8`]) at the end; row lengths that are not a multiple of 8 take
/// [`vec_dot`], as the reference does.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot_llamafile(w: &[half::bf16], a: &[half::bf16]) -> f32 {
    // SAFETY: NEON is this function's contract, and `vec_dot`'s.
    unsafe { llamafile8(w, a, load8, vec_dot) }
}
