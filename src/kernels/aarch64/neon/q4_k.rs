//! Q4_K on NEON: the dot product with Q8_K activations.

use std::arch::aarch64::*;

use super::{I8Dot, Mull, Sdot};
use crate::kernels::scales_mins;
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K};

/// The body shared by both variants, bit-identical to the reference
/// [`crate::quant::q4_k::vec_dot`] (the unpacking follows ggml's NEON
/// `ggml_vec_dot_q4_K_q8_K`): the minimum term `sumi = sum_j m[j/2] * bsums[j]` exactly
/// (bsums added in pairs, |.| <= 4096, times the minimums <= 63); the eight reference lanes
/// from [`I8Dot::lanes32`] per 32-value sub-block times its scale (<= 63),
/// |lane| <= 32 * 63 * 15 * 128 < 2^22; then `sums[l] += d * lanes[l]`,
/// `sumf -= dmin * sumi`, and at the end `sumf += sums[0] + ... + sums[7]` in order.
#[inline(always)]
unsafe fn body<D: I8Dot>(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; every load reads 16 bytes (or 8 i16) inside the
    // borrowed blocks' arrays (`qs` 128, q8 `qs` 256 bytes, `bsums` 16 i16), and the stores
    // write the 8 f32 of `s`.
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        let mut sums_lo = vdupq_n_f32(0.0);
        let mut sums_hi = vdupq_n_f32(0.0);
        let mut sumf = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let u = scales_mins(&x.scales);
            let sc = [u[0].to_le_bytes(), u[1].to_le_bytes()];

            let q8sums = vpaddq_s16(
                vld1q_s16(y.bsums.as_ptr()),
                vld1q_s16(y.bsums.as_ptr().add(8)),
            );
            let mins8 = vcreate_u8(u64::from(u[2]) | (u64::from(u[3]) << 32));
            let mins = vreinterpretq_s16_u16(vmovl_u8(mins8));
            let prod = vaddq_s32(
                vmull_s16(vget_low_s16(q8sums), vget_low_s16(mins)),
                vmull_high_s16(q8sums, mins),
            );
            let sumi = vaddvq_s32(prod);

            let q4 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut lanes_lo = vdupq_n_s32(0);
            let mut lanes_hi = vdupq_n_s32(0);
            for c in 0..4 {
                let qa = vld1q_u8(q4.add(32 * c));
                let qb = vld1q_u8(q4.add(32 * c + 16));
                let wl = [
                    vreinterpretq_s8_u8(vandq_u8(qa, m4)),
                    vreinterpretq_s8_u8(vandq_u8(qb, m4)),
                ];
                let wh = [
                    vreinterpretq_s8_u8(vshrq_n_u8::<4>(qa)),
                    vreinterpretq_s8_u8(vshrq_n_u8::<4>(qb)),
                ];
                let q8l = [vld1q_s8(q8.add(64 * c)), vld1q_s8(q8.add(64 * c + 16))];
                let q8h = [vld1q_s8(q8.add(64 * c + 32)), vld1q_s8(q8.add(64 * c + 48))];
                let sl = i32::from(sc[c / 2][2 * (c % 2)]);
                let sh = i32::from(sc[c / 2][2 * (c % 2) + 1]);
                let (a, b) = D::lanes32(wl, q8l);
                lanes_lo = vmlaq_n_s32(lanes_lo, a, sl);
                lanes_hi = vmlaq_n_s32(lanes_hi, b, sl);
                let (a, b) = D::lanes32(wh, q8h);
                lanes_lo = vmlaq_n_s32(lanes_lo, a, sh);
                lanes_hi = vmlaq_n_s32(lanes_hi, b, sh);
            }
            let d = x.d.to_f32() * y.d;
            sums_lo = vaddq_f32(sums_lo, vmulq_n_f32(vcvtq_f32_s32(lanes_lo), d));
            sums_hi = vaddq_f32(sums_hi, vmulq_n_f32(vcvtq_f32_s32(lanes_hi), d));
            let dmin = x.dmin.to_f32() * y.d;
            sumf -= dmin * sumi as f32;
        }
        let mut s = [0.0f32; 8];
        vst1q_f32(s.as_mut_ptr(), sums_lo);
        vst1q_f32(s.as_mut_ptr().add(4), sums_hi);
        for v in s {
            sumf += v;
        }
        sumf
    }
}

/// Dot product of Q4_K weights with Q8_K activations, plain NEON (`vmull`); bit-identical to
/// [`crate::quant::q4_k::vec_dot`].
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: NEON is this function's contract.
    unsafe { body::<Mull>(w, a) }
}

/// Dot product of Q4_K weights with Q8_K activations with `sdot` (operands gathered with
/// `vqtbl2q` so that each `sdot` lane holds one reference lane); bit-identical to
/// [`crate::quant::q4_k::vec_dot`].
///
/// # Safety
/// The CPU must support NEON and the dot-product extension.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn vec_dot_dotprod(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: NEON and dotprod are this function's contract.
    unsafe { body::<Sdot>(w, a) }
}
