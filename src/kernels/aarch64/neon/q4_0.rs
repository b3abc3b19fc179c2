//! Q4_0 on NEON: the dot product with Q8_0 activations.

use std::arch::aarch64::*;

use super::{I8Dot, Mull, Sdot};
use crate::quant::{q4_0::BlockQ4_0, q8_0::BlockQ8_0};

/// The body shared by both variants (ggml's NEON `ggml_vec_dot_q4_0_q8_0`): the nibbles minus
/// 8 (in [-8, 7]) times the activations, summed exactly per block (|sumi| <= 32 * 8 * 128),
/// then the reference's `sumf += sumi * d_w * d_a` (bit-identical to
/// [`crate::quant::q4_0::vec_dot`]).
#[inline(always)]
unsafe fn body<D: I8Dot>(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        // SAFETY: the caller's CPU features; the loads read the 16 bytes of `x.qs` and the 32
        // quants of `y`.
        let sumi = unsafe {
            let v = vld1q_u8(x.qs.as_ptr());
            let s8 = vdupq_n_s8(8);
            let lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), s8);
            let hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(v)), s8);
            let y0 = vld1q_s8(y.qs.as_ptr());
            let y1 = vld1q_s8(y.qs.as_ptr().add(16));
            vaddvq_s32(D::dot(D::dot(vdupq_n_s32(0), lo, y0), hi, y1))
        };
        sumf += sumi as f32 * x.d.to_f32() * y.d.to_f32();
    }
    sumf
}

/// Dot product of Q4_0 weights with Q8_0 activations, plain NEON; bit-identical to
/// [`crate::quant::q4_0::vec_dot`].
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    // SAFETY: NEON is this function's contract.
    unsafe { body::<Mull>(w, a) }
}

/// Dot product of Q4_0 weights with Q8_0 activations with `sdot`; bit-identical to
/// [`crate::quant::q4_0::vec_dot`].
///
/// # Safety
/// The CPU must support NEON and the dot-product extension.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn vec_dot_dotprod(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    // SAFETY: NEON and dotprod are this function's contract.
    unsafe { body::<Sdot>(w, a) }
}
