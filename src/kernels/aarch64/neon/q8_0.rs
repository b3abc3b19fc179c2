//! Q8_0 on NEON: the dot product with Q8_0 activations.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::q8_0::BlockQ8_0;

/// The body shared by both variants, in the float order of ggml's AVX2
/// `ggml_vec_dot_q8_0_q8_0`: per block the eight exact i32 lanes (lane `l` the four products
/// of values `4l .. 4l + 4`, |lane| <= 4 * 128 * 128 = 2^16) as two 4-lane registers,
/// `acc = fma(d_w * d_a, lanes, acc)` with `vfmaq_f32`, and `hsum_float_8` at the end
/// (bit-identical to [`crate::quant::q8_0::vec_dot`]).
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; the loads read the 32 quants of each block.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let x0 = vld1q_s8(x.qs.as_ptr());
            let x1 = vld1q_s8(x.qs.as_ptr().add(16));
            let y0 = vld1q_s8(y.qs.as_ptr());
            let y1 = vld1q_s8(y.qs.as_ptr().add(16));
            let d = vdupq_n_f32(f16_to_f32(x.d) * f16_to_f32(y.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(D::lanes16(x0, y0)));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(D::lanes16(x1, y1)));
        }
        hsum8(acc_lo, acc_hi)
    }
}

super::neon_dots! {
    /// Dot product of Q8_0 weights with Q8_0 activations, plain NEON (`vmull`/`vpaddl`), in the
    /// order of ggml's AVX2 `ggml_vec_dot_q8_0_q8_0`; bit-identical to
    /// [`crate::quant::q8_0::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ8_0, BlockQ8_0)
}
