//! Q2_K on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q2_K_q8_K` (vec_dot) and its tiled K-quant matmul.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::{q2_k::BlockQ2K, q8_k::BlockQ8K};

/// The eight x86 lanes (`q8_k::k_lanes`) of one super-block's quants (0..3) with their 4-bit
/// scales, as (lanes 0..4, lanes 4..8).
///
/// Each 16-byte group's quants are multiplied by the group's scale first, in u8: at most
/// 3 * 15 = 45, so the bytes stay valid i8 operands and `D::dot` adds the scaled products
/// straight into the lanes. Bounds: a lane holds 32 products, each at most 45 * 128, so
/// |lane| < 2^18.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn lanes<D: I8Lanes>(x: &BlockQ2K, y: &BlockQ8K) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; every load reads 16 bytes inside the borrowed
    // blocks' arrays (`qs` 64, q8 `qs` 256 bytes).
    unsafe {
        let q8 = y.qs.as_ptr();
        let mut acc = [vdupq_n_s32(0); 2];
        super::two_bit_fields(&x.qs, |r, k, q| {
            // The 16-value group 2r + k times its 4-bit scale (at most 45: still an i8).
            let w = vmulq_u8(q, vdupq_n_u8(x.scales[2 * r + k] & 0x0F));
            let a = vld1q_s8(q8.add(32 * r + 16 * k));
            acc[k] = D::dot(acc[k], vreinterpretq_s8_u8(w), a);
        });
        (acc[0], acc[1])
    }
}

/// The eight minimum lanes of one super-block as (lanes 0..4, lanes 4..8): lane `l` is
/// `m[2l] * bsums[2l] + m[2l + 1] * bsums[2l + 1]` with the 4-bit minimums `m` (x86's
/// `madd`; |.| <= 2 * 15 * 2^15 < 2^20, exact in i32).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
unsafe fn mins(x: &BlockQ2K, y: &BlockQ8K) -> (int32x4_t, int32x4_t) {
    // SAFETY: NEON is the caller's contract; the loads read the 16 scale bytes and the 16
    // i16 bsums of the borrowed blocks.
    unsafe {
        let m = vshrq_n_u8::<4>(vld1q_u8(x.scales.as_ptr()));
        let m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
        let m1 = vreinterpretq_s16_u16(vmovl_high_u8(m));
        let b0 = vld1q_s16(y.bsums.as_ptr());
        let b1 = vld1q_s16(y.bsums.as_ptr().add(8));
        (
            vpaddq_s32(
                vmull_s16(vget_low_s16(b0), vget_low_s16(m0)),
                vmull_high_s16(b0, m0),
            ),
            vpaddq_s32(
                vmull_s16(vget_low_s16(b1), vget_low_s16(m1)),
                vmull_high_s16(b1, m1),
            ),
        )
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`] (as [`crate::quant::q2_k::vec_dot`]): per
/// block first `acc = fma(-d_a * dmin, mins, acc)`, then `acc = fma(d_a * d, lanes, acc)`
/// on the eight lanes, and `hsum8` at the end.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; `lanes` and `mins` read inside the borrowed blocks.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let (m_lo, m_hi) = mins(x, y);
            let (lo, hi) = lanes::<D>(x, y);
            let dmin = vdupq_n_f32(-y.d * f16_to_f32(x.dmin));
            acc_lo = vfmaq_f32(acc_lo, dmin, vcvtq_f32_s32(m_lo));
            acc_hi = vfmaq_f32(acc_hi, dmin, vcvtq_f32_s32(m_hi));
            let d = vdupq_n_f32(y.d * f16_to_f32(x.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi)
    }
}

/// The body of the tiled order (as [`crate::quant::q2_k::vec_dot_tiled`]): per block the
/// exact `s1` (the quant lanes, < 2^21 in total) and `s2` (the minimum lanes, < 2^23).
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `lanes` and `mins` read inside the borrowed blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| {
                let s2 = super::lane_sum(mins(x, y));
                (super::lane_sum(lanes::<D>(x, y)), Some((x.dmin, s2)))
            },
        )
    }
}

super::neon_dots! {
    /// Q2_K x Q8_K, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q2_K_q8_K`;
    /// bit-identical to [`crate::quant::q2_k::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ2K, BlockQ8K)
}

super::neon_dots! {
    /// Q2_K x Q8_K, plain NEON, in the order of ggml's tiled K-quant matmul (AVX2); bit-identical
    /// to [`crate::quant::q2_k::vec_dot_tiled`].
    vec_dot_tiled, vec_dot_tiled_dotprod = body_tiled(BlockQ2K, BlockQ8K)
}

/// Four tokens at a time in the tiled order (prefill): each super-block's quants are
/// unpacked and scaled once for the four (`q * scale` <= 45: a byte); per token the exact
/// `s1` (the products summed, [`I8Lanes::sum32`]: |w * y| <= 45 * 128 < 2^13) and `s2`
/// ([`mins`]), and the float steps of [`body_tiled`] on the four tokens at once (lane `k`
/// token `k`'s): each result has the bits of the one-token kernel.
///
/// # Safety
/// As [`body`]; every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn body_tiled_x4<D: I8Lanes>(w: &[BlockQ2K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    // SAFETY: the caller's CPU features and lengths; the loads read 16 bytes at
    // `32r + 16k <= 240` of the activation blocks' quants, and `mins` inside the borrowed
    // blocks.
    unsafe {
        super::k_tiled_x4(
            w,
            a,
            |x| (x.d, Some(x.dmin)),
            |x| {
                // Register 2r + k: the 16-value group 2r + k, scaled.
                let mut q = [vdupq_n_s8(0); 16];
                super::two_bit_fields(&x.qs, |r, k, f| {
                    let w = vmulq_u8(f, vdupq_n_u8(x.scales[2 * r + k] & 0x0F));
                    q[2 * r + k] = vreinterpretq_s8_u8(w);
                });
                q
            },
            |x, q, y| {
                let q8 = y.qs.as_ptr();
                let mut v = vdupq_n_s32(0);
                for r in 0..8 {
                    let (a0, a1) = (vld1q_s8(q8.add(32 * r)), vld1q_s8(q8.add(32 * r + 16)));
                    v = D::sum32(v, q[2 * r], a0, q[2 * r + 1], a1);
                }
                let (m0, m1) = mins(x, y);
                (v, Some(vaddq_s32(m0, m1)))
            },
        )
    }
}

super::neon_dots_x4! {
    /// One Q2_K weight row times four Q8_K activation rows in the tiled order, plain NEON;
    /// each result bit-identical to [`vec_dot_tiled`].
    dot_tiled_x4, dot_tiled_x4_dotprod = body_tiled_x4(BlockQ2K, BlockQ8K)
}
