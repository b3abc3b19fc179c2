//! Q8_0 on NEON: the dot product with Q8_0 activations.

use std::arch::aarch64::*;

use super::{I8Dot, Mull, Sdot};
use crate::quant::q8_0::BlockQ8_0;

/// The body shared by both variants: per block the exact integer dot product
/// (|sumi| <= 32 * 128 * 128 = 2^19; ggml's NEON `ggml_vec_dot_q8_0_q8_0`), then the
/// reference's `sumf += sumi * (d_w * d_a)` (bit-identical to
/// [`crate::quant::q8_0::vec_dot`]).
#[inline(always)]
unsafe fn body<D: I8Dot>(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        // SAFETY: the caller's CPU features; the loads read the 32 quants of each block.
        let sumi = unsafe {
            let x0 = vld1q_s8(x.qs.as_ptr());
            let x1 = vld1q_s8(x.qs.as_ptr().add(16));
            let y0 = vld1q_s8(y.qs.as_ptr());
            let y1 = vld1q_s8(y.qs.as_ptr().add(16));
            vaddvq_s32(D::dot(D::dot(vdupq_n_s32(0), x0, y0), x1, y1))
        };
        sumf += sumi as f32 * (x.d.to_f32() * y.d.to_f32());
    }
    sumf
}

/// Dot product of Q8_0 weights with Q8_0 activations, plain NEON (`vmull`/`vpadal`);
/// bit-identical to [`crate::quant::q8_0::vec_dot`].
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    // SAFETY: NEON is this function's contract.
    unsafe { body::<Mull>(w, a) }
}

/// Dot product of Q8_0 weights with Q8_0 activations with `sdot`; bit-identical to
/// [`crate::quant::q8_0::vec_dot`].
///
/// # Safety
/// The CPU must support NEON and the dot-product extension.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn vec_dot_dotprod(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    // SAFETY: NEON and dotprod are this function's contract.
    unsafe { body::<Sdot>(w, a) }
}
