//! Q5_0 on NEON: the dot product with Q8_0 activations in the float order of ggml's AVX2
//! `ggml_vec_dot_q5_0_q8_0` (every order: Q5_0 has no batched kernel of its own).

use std::arch::aarch64::*;

use super::{f16_to_f32, high_bits, hsum8, I8Lanes};
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// The body shared by both variants (as [`crate::quant::q5_0::vec_dot`]): the weights
/// `(nibble | high bit << 4) - 16` in [-16, 15], the eight x86 lanes (|lane| <= 4 * 16 * 128),
/// `acc = fma(d_w * d_a, lanes, acc)`, `hsum8` at the end.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; the loads read the 16 bytes of `qs` and the 32
    // quants of the activation block.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        let sixteen = vdupq_n_s8(16);
        for (x, y) in w.iter().zip(a) {
            let q = vld1q_u8(x.qs.as_ptr());
            // Values 0..16: low nibbles, bits 0..16 of qh; values 16..32: high nibbles,
            // bits 16..32.
            let u0 = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), high_bits(x.qh[0], x.qh[1]));
            let u1 = vorrq_u8(vshrq_n_u8::<4>(q), high_bits(x.qh[2], x.qh[3]));
            let w0 = vsubq_s8(vreinterpretq_s8_u8(u0), sixteen);
            let w1 = vsubq_s8(vreinterpretq_s8_u8(u1), sixteen);
            let lo = D::lanes16(w0, vld1q_s8(y.qs.as_ptr()));
            let hi = D::lanes16(w1, vld1q_s8(y.qs.as_ptr().add(16)));
            let d = vdupq_n_f32(f16_to_f32(x.d) * f16_to_f32(y.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi)
    }
}

super::neon_dots! {
    /// Q5_0 x Q8_0, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q5_0_q8_0`;
    /// bit-identical to [`crate::quant::q5_0::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ5_0, BlockQ8_0)
}
