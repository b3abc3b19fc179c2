//! Q6_K on NEON: the dot product with Q8_K activations.

use std::arch::aarch64::*;

use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K};

/// Bit-identical to the reference [`crate::quant::q6_k::vec_dot`] (the bit unpacking follows
/// ggml's NEON `ggml_vec_dot_q6_K_q8_K`): the signed values `q - 32` (in [-32, 31]) times q8
/// with `vmull_s8` (|product| <= 4096), the low and high halves of each 16-value group added
/// (i16 lane l holds positions l and l + 8: the reference's lane l, |.| <= 8192), widened and
/// multiplied by the group's i8 scale with `vmlal_n_s16`; |lane| <= 32 * 128 * 4096 = 2^24.
/// Then `sums[l] += d * lanes[l]`, and at the end `sumf = sums[0] + ... + sums[7]` in order.
#[inline(always)]
unsafe fn body(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; every load reads 16 bytes inside the borrowed
    // blocks' arrays (`ql` 128, `qh` 64, q8 `qs` 256 bytes), and the stores write the 8 f32 of
    // `s`.
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        let m3 = vdupq_n_u8(0x03);
        let m32 = vdupq_n_s8(32);
        let mut sums_lo = vdupq_n_f32(0.0);
        let mut sums_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let ql = x.ql.as_ptr();
            let qh = x.qh.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut lanes_lo = vdupq_n_s32(0);
            let mut lanes_hi = vdupq_n_s32(0);
            for h in 0..2 {
                for m in 0..2 {
                    let l0 = vld1q_u8(ql.add(64 * h + 16 * m));
                    let l1 = vld1q_u8(ql.add(64 * h + 32 + 16 * m));
                    let hb = vld1q_u8(qh.add(32 * h + 16 * m));
                    // Values 128h + 32k + 16m + (0..16) for k = 0..4, unsigned 0..=63.
                    let q = [
                        vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8::<4>(vandq_u8(hb, m3))),
                        vorrq_u8(
                            vandq_u8(l1, m4),
                            vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<2>(hb), m3)),
                        ),
                        vorrq_u8(
                            vshrq_n_u8::<4>(l0),
                            vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<4>(hb), m3)),
                        ),
                        vorrq_u8(vshrq_n_u8::<4>(l1), vshlq_n_u8::<4>(vshrq_n_u8::<6>(hb))),
                    ];
                    for (k, &q) in q.iter().enumerate() {
                        let s = vsubq_s8(vreinterpretq_s8_u8(q), m32);
                        let q8v = vld1q_s8(q8.add(128 * h + 32 * k + 16 * m));
                        let p = vaddq_s16(
                            vmull_s8(vget_low_s8(s), vget_low_s8(q8v)),
                            vmull_high_s8(s, q8v),
                        );
                        let sc = i16::from(x.scales[8 * h + 2 * k + m]);
                        lanes_lo = vmlal_n_s16(lanes_lo, vget_low_s16(p), sc);
                        lanes_hi = vmlal_high_n_s16(lanes_hi, p, sc);
                    }
                }
            }
            let d = x.d.to_f32() * y.d;
            sums_lo = vaddq_f32(sums_lo, vmulq_n_f32(vcvtq_f32_s32(lanes_lo), d));
            sums_hi = vaddq_f32(sums_hi, vmulq_n_f32(vcvtq_f32_s32(lanes_hi), d));
        }
        let mut s = [0.0f32; 8];
        vst1q_f32(s.as_mut_ptr(), sums_lo);
        vst1q_f32(s.as_mut_ptr().add(4), sums_hi);
        let mut sumf = 0.0f32;
        for v in s {
            sumf += v;
        }
        sumf
    }
}

/// Dot product of Q6_K weights with Q8_K activations, plain NEON (`vmull`/`vmlal`);
/// bit-identical to [`crate::quant::q6_k::vec_dot`].
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: NEON is this function's contract.
    unsafe { body(w, a) }
}

/// The same kernel for the dotprod table: the reference's lanes pair positions l and l + 8
/// of each 16-value group, each group with its own scale, which `sdot`'s groups of four
/// adjacent bytes do not fit without wasting half of each instruction, so this uses
/// `vmull`/`vmlal` too (TODO: measure an `sdot` variant with zero-padded gathers).
///
/// # Safety
/// The CPU must support NEON and the dot-product extension.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn vec_dot_dotprod(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: NEON is this function's contract (and more).
    unsafe { body(w, a) }
}
