//! Q5_0 on NEON: the dot product with Q8_0 activations.

use std::arch::aarch64::*;

use super::{I8Dot, Mull, Sdot};
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// Byte j of the result is 0xFF if bit j of the 16 bits `qh` is set, else 0.
#[inline(always)]
unsafe fn bits_to_bytes(qh: u16) -> uint8x16_t {
    // SAFETY: the caller's CPU features (NEON); no memory access.
    unsafe {
        // Bytes 0..8 take the low byte of qh, bytes 8..16 the high one ...
        let lo = vdup_n_u8(qh as u8);
        let hi = vdup_n_u8((qh >> 8) as u8);
        // ... and test bit j % 8.
        let bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040_2010_0804_0201));
        vtstq_u8(vcombine_u8(lo, hi), bit)
    }
}

/// The body shared by both variants (after ggml's NEON `ggml_vec_dot_q5_0_q8_0`, which uses a
/// 256-entry table for the high bits; here `vtst` spreads them): the signed value
/// `q - 16 = nibble - 16 * (high bit clear)` (in [-16, 15]) times the activations, summed
/// exactly per block (|sumi| <= 32 * 16 * 128), then the reference's
/// `sumf += (d_w * d_a) * sumi` (bit-identical to [`crate::quant::q5_0::vec_dot`]).
#[inline(always)]
unsafe fn body<D: I8Dot>(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let qh = u32::from_le_bytes(x.qh);
        // SAFETY: the caller's CPU features; the loads read the 16 bytes of `x.qs` and the 32
        // quants of `y`.
        let sumi = unsafe {
            let v = vld1q_u8(x.qs.as_ptr());
            let m16 = vdupq_n_u8(0x10);
            // 16 where the high bit is clear.
            let clear_lo = vbicq_u8(m16, bits_to_bytes(qh as u16));
            let clear_hi = vbicq_u8(m16, bits_to_bytes((qh >> 16) as u16));
            let lo = vsubq_u8(vandq_u8(v, vdupq_n_u8(0x0F)), clear_lo);
            let hi = vsubq_u8(vshrq_n_u8::<4>(v), clear_hi);
            let y0 = vld1q_s8(y.qs.as_ptr());
            let y1 = vld1q_s8(y.qs.as_ptr().add(16));
            let acc = D::dot(vdupq_n_s32(0), vreinterpretq_s8_u8(lo), y0);
            vaddvq_s32(D::dot(acc, vreinterpretq_s8_u8(hi), y1))
        };
        sumf += (x.d.to_f32() * y.d.to_f32()) * sumi as f32;
    }
    sumf
}

/// Dot product of Q5_0 weights with Q8_0 activations, plain NEON; bit-identical to
/// [`crate::quant::q5_0::vec_dot`].
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    // SAFETY: NEON is this function's contract.
    unsafe { body::<Mull>(w, a) }
}

/// Dot product of Q5_0 weights with Q8_0 activations with `sdot`; bit-identical to
/// [`crate::quant::q5_0::vec_dot`].
///
/// # Safety
/// The CPU must support NEON and the dot-product extension.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn vec_dot_dotprod(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    // SAFETY: NEON and dotprod are this function's contract.
    unsafe { body::<Sdot>(w, a) }
}
