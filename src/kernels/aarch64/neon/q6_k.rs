//! Q6_K on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q6_K_q8_K` (vec_dot) and its tiled K-quant matmul.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K};

/// The eight x86 lanes (`q8_k::k_lanes`) of one super-block, as (lanes 0..4, lanes 4..8):
/// the unsigned quants (0..63) when `SIGNED` is false (vec_dot, which subtracts the `bsums`
/// correction afterwards), the signed ones (-32..31) when it is true (tiled).
///
/// Bounds: a lane holds 32 products, each at most 63 * 128 times a scale <= 128, so
/// |lane| < 2^26.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn lanes<D: I8Lanes, const SIGNED: bool>(
    x: &BlockQ6K,
    y: &BlockQ8K,
) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; every load reads 16 bytes inside the borrowed
    // blocks' arrays (`ql` 128, `qh` 64, q8 `qs` 256 bytes).
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        let m3 = vdupq_n_u8(0x03);
        let m30 = vdupq_n_u8(0x30);
        let mc0 = vdupq_n_u8(0xC0);
        let off = vdupq_n_s8(if SIGNED { 32 } else { 0 });
        let mut lo = vdupq_n_s32(0);
        let mut hi = vdupq_n_s32(0);
        for n in 0..2 {
            let ql = x.ql.as_ptr().add(64 * n);
            let qh = x.qh.as_ptr().add(32 * n);
            let q8 = y.qs.as_ptr().add(128 * n);
            for h in 0..2 {
                // Bytes 16h .. 16h + 16 of each 32-value run of this half.
                let l0 = vld1q_u8(ql.add(16 * h));
                let l1 = vld1q_u8(ql.add(32 + 16 * h));
                let hb = vld1q_u8(qh.add(16 * h));
                let runs = [
                    vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8::<4>(vandq_u8(hb, m3))),
                    vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8::<2>(hb), m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l0), vandq_u8(hb, m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l1), vshrq_n_u8::<2>(vandq_u8(hb, mc0))),
                ];
                for (k, &q) in runs.iter().enumerate() {
                    let w = vsubq_s8(vreinterpretq_s8_u8(q), off);
                    let a = vld1q_s8(q8.add(32 * k + 16 * h));
                    // The 16-value group 2r + h of run r = 4n + k.
                    let sc = i32::from(x.scales[2 * (4 * n + k) + h]);
                    let s = D::lanes16(w, a);
                    if h == 0 {
                        lo = vmlaq_n_s32(lo, s, sc);
                    } else {
                        hi = vmlaq_n_s32(hi, s, sc);
                    }
                }
            }
        }
        (lo, hi)
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`] (as [`crate::quant::q6_k::vec_dot`]): lane
/// `l` of the unsigned-quant lanes loses `32 * (bsums[2l] sc[2l] + bsums[2l+1] sc[2l+1])`
/// (|.| <= 2^5 * 2 * 2^11 * 2^7, exact), then `acc = fma(d_a * d, lane, acc)` and `hsum8`.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; the loads read the 16 i8 scales and 16 i16 bsums of
    // the borrowed blocks, `lanes` reads inside them.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let (lo, hi) = lanes::<D, false>(x, y);
            let sc = vld1q_s8(x.scales.as_ptr());
            let (sc0, sc1) = (vmovl_s8(vget_low_s8(sc)), vmovl_high_s8(sc));
            let b0 = vld1q_s16(y.bsums.as_ptr());
            let b1 = vld1q_s16(y.bsums.as_ptr().add(8));
            let c_lo = vpaddq_s32(
                vmull_s16(vget_low_s16(b0), vget_low_s16(sc0)),
                vmull_high_s16(b0, sc0),
            );
            let c_hi = vpaddq_s32(
                vmull_s16(vget_low_s16(b1), vget_low_s16(sc1)),
                vmull_high_s16(b1, sc1),
            );
            let lo = vsubq_s32(lo, vshlq_n_s32::<5>(c_lo));
            let hi = vsubq_s32(hi, vshlq_n_s32::<5>(c_hi));
            let d = vdupq_n_f32(y.d * f16_to_f32(x.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi)
    }
}

/// The body of the tiled order (as [`crate::quant::q6_k::vec_dot_tiled`]): the signed quants'
/// lanes through [`super::k_vec_dot_tiled`].
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `lanes` reads inside the borrowed blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| (super::lane_sum(lanes::<D, true>(x, y)), None),
        )
    }
}

super::neon_dots! {
    /// Q6_K x Q8_K, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q6_K_q8_K`;
    /// bit-identical to [`crate::quant::q6_k::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ6K, BlockQ8K)
}

super::neon_dots! {
    /// Q6_K x Q8_K, plain NEON, in the order of ggml's tiled K-quant matmul (AVX2); bit-identical
    /// to [`crate::quant::q6_k::vec_dot_tiled`].
    vec_dot_tiled, vec_dot_tiled_dotprod = body_tiled(BlockQ6K, BlockQ8K)
}
