//! Q4_1 on NEON: the dot product with Q8_1 activations in the float order of ggml's AVX2
//! `ggml_vec_dot_q4_1_q8_1` (every order: Q4_1 has no batched kernel of its own).

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::{q4_1::BlockQ4_1, q8_0::BlockQ8_1};

/// The body shared by both variants (as [`crate::quant::q4_1::vec_dot`]): the nibbles (0..15;
/// low ones values 0..16, high ones 16..32) in the eight x86 lanes (|lane| <= 4 * 15 * 128),
/// `acc = fma(d_w * d_a, lanes, acc)`, the minimum terms `summs = fma(m, s, summs)`, and
/// `hsum8(acc) + summs`.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
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
            let w0 = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F)));
            let w1 = vreinterpretq_s8_u8(vshrq_n_u8::<4>(q));
            let lo = D::lanes16_y(w0, vld1q_s8(y.qs.as_ptr()));
            let hi = D::lanes16_y(w1, vld1q_s8(y.qs.as_ptr().add(16)));
            let d = vdupq_n_f32(f16_to_f32(x.d) * f16_to_f32(y.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi) + summs
    }
}

super::neon_dots! {
    /// Q4_1 x Q8_1, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q4_1_q8_1`;
    /// bit-identical to [`crate::quant::q4_1::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ4_1, BlockQ8_1)
}
