//! Q5_1 on NEON: the dot product with Q8_1 activations in the float order of ggml's AVX2
//! `ggml_vec_dot_q5_1_q8_1` (every order: Q5_1 has no batched kernel of its own).

use std::arch::aarch64::*;

use super::{f16_to_f32, high_bits, hsum8, I8Lanes};
use crate::quant::{q5_1::BlockQ5_1, q8_0::BlockQ8_1};

/// The body shared by both variants (as [`crate::quant::q5_1::vec_dot`]): the weights
/// `nibble | high bit << 4` in [0, 31] in the eight x86 lanes (|lane| <= 4 * 31 * 128),
/// `acc = fma(d_w * d_a, lanes, acc)`, the minimum terms `summs = fma(m, s, summs)`, and
/// `hsum8(acc) + summs`.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; the loads read the 16 bytes of `qs` and the 32
    // quants of the activation block.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        let mut summs = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            summs = f16_to_f32(x.m).mul_add(f16_to_f32(y.s), summs);
            let q = vld1q_u8(x.qs.as_ptr());
            // Values 0..16: low nibbles, bits 0..16 of qh; values 16..32: high nibbles,
            // bits 16..32.
            let u0 = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), high_bits(x.qh[0], x.qh[1]));
            let u1 = vorrq_u8(vshrq_n_u8::<4>(q), high_bits(x.qh[2], x.qh[3]));
            let lo = D::lanes16_y(vreinterpretq_s8_u8(u0), vld1q_s8(y.qs.as_ptr()));
            let hi = D::lanes16_y(vreinterpretq_s8_u8(u1), vld1q_s8(y.qs.as_ptr().add(16)));
            let d = vdupq_n_f32(f16_to_f32(x.d) * f16_to_f32(y.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi) + summs
    }
}

super::neon_dots! {
    /// Q5_1 x Q8_1, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q5_1_q8_1`;
    /// bit-identical to [`crate::quant::q5_1::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ5_1, BlockQ8_1)
}
