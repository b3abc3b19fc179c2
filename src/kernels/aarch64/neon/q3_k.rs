//! Q3_K on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q3_K_q8_K` (vec_dot) and its tiled K-quant matmul.

use std::arch::aarch64::*;

use super::{mla_lane, I8Lanes};
use crate::quant::{
    q3_k::{unpack_scales, BlockQ3K},
    q8_k::BlockQ8K,
};

/// The eight x86 lanes (`q8_k::k_lanes`) of one super-block's signed quants (-4..3) with
/// their signed scales (-32..31), as (lanes 0..4, lanes 4..8).
///
/// Each quant is built signed in its byte (`low2 - 4` where its high bit is clear), so the
/// lanes are the products themselves, with no correction term. Bounds: a lane holds 32
/// products, each at most 4 * 128 times a scale of at most 32, so |lane| <= 2^19.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn lanes<D: I8Lanes>(x: &BlockQ3K, y: &BlockQ8K) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; every load reads 16 bytes inside the borrowed
    // blocks' arrays (`hmask` 32, `qs` 64, q8 `qs` 256 bytes).
    unsafe {
        let sc = unpack_scales(&x.scales);
        let four = vdupq_n_u8(4);
        // The high bits of bytes 0..16 and 16..32 of every run.
        let hm = [
            vld1q_u8(x.hmask.as_ptr()),
            vld1q_u8(x.hmask.as_ptr().add(16)),
        ];
        let q8 = y.qs.as_ptr();
        let mut acc = [vdupq_n_s32(0); 2];
        super::two_bit_fields(&x.qs, |r, k, low| {
            // The 16-value group 2r + k: its low bits minus 4 where its high bit (bit r of
            // hmask) is clear.
            let sub = vbicq_u8(four, vtstq_u8(hm[k], vdupq_n_u8(1 << r)));
            let w = vsubq_s8(vreinterpretq_s8_u8(low), vreinterpretq_s8_u8(sub));
            let a = vld1q_s8(q8.add(32 * r + 16 * k));
            acc[k] = vmlaq_n_s32(acc[k], D::lanes16_y(w, a), i32::from(sc[2 * r + k]));
        });
        (acc[0], acc[1])
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`] (as [`crate::quant::q3_k::vec_dot`]).
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `lanes` reads inside the borrowed blocks.
    unsafe { super::k_vec_dot(w, a, |x| x.d, |x, y| lanes::<D>(x, y)) }
}

/// The body of the tiled order (as [`crate::quant::q3_k::vec_dot_tiled`]).
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `lanes` reads inside the borrowed blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| (super::lane_sum(lanes::<D>(x, y)), None),
        )
    }
}

super::neon_dots! {
    /// Q3_K x Q8_K, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q3_K_q8_K`;
    /// bit-identical to [`crate::quant::q3_k::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ3K, BlockQ8K)
}

super::neon_dots! {
    /// Q3_K x Q8_K, plain NEON, in the order of ggml's tiled K-quant matmul (AVX2); bit-identical
    /// to [`crate::quant::q3_k::vec_dot_tiled`].
    vec_dot_tiled, vec_dot_tiled_dotprod = body_tiled(BlockQ3K, BlockQ8K)
}

/// Four tokens at a time in the tiled order (prefill): each super-block's signed quants
/// (as [`lanes`]) and its sixteen scales (as i32, four registers) unpacked once for the
/// four; per token the exact `s1` (each 16-value group's products summed,
/// [`I8Lanes::sum16`]: |w * y| <= 4 * 128, times its scale), and the float steps of
/// [`body_tiled`] on the four tokens at once (lane `k` token `k`'s): each result has the bits
/// of the one-token kernel.
///
/// # Safety
/// As [`body`]; every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn body_tiled_x4<D: I8Lanes>(w: &[BlockQ3K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    // SAFETY: the caller's CPU features and lengths; the loads read 16 bytes inside the
    // borrowed blocks' arrays (`hmask` 32, q8 `qs` 256 bytes: `32r + 16k <= 240`) and the
    // local scales.
    unsafe {
        let four = vdupq_n_u8(4);
        super::k_tiled_x4(
            w,
            a,
            |x| (x.d, None),
            |x| {
                let sc8 = unpack_scales(&x.scales).map(i32::from);
                let sc: [int32x4_t; 4] =
                    std::array::from_fn(|j| vld1q_s32(sc8.as_ptr().add(4 * j)));
                let hm = [
                    vld1q_u8(x.hmask.as_ptr()),
                    vld1q_u8(x.hmask.as_ptr().add(16)),
                ];
                // Register 2r + k: the 16-value group 2r + k.
                let mut q = [vdupq_n_s8(0); 16];
                super::two_bit_fields(&x.qs, |r, k, low| {
                    let sub = vbicq_u8(four, vtstq_u8(hm[k], vdupq_n_u8(1 << r)));
                    q[2 * r + k] = vsubq_s8(vreinterpretq_s8_u8(low), vreinterpretq_s8_u8(sub));
                });
                (q, sc)
            },
            |_, (q, sc), y| {
                let q8 = y.qs.as_ptr();
                let mut v = vdupq_n_s32(0);
                for r in 0..8 {
                    for k in 0..2 {
                        let s = D::sum16(q[2 * r + k], vld1q_s8(q8.add(32 * r + 16 * k)));
                        v = mla_lane(v, s, sc, 2 * r + k);
                    }
                }
                (v, None)
            },
        )
    }
}

super::neon_dots_x4! {
    /// One Q3_K weight row times four Q8_K activation rows in the tiled order, plain NEON;
    /// each result bit-identical to [`vec_dot_tiled`].
    dot_tiled_x4, dot_tiled_x4_dotprod = body_tiled_x4(BlockQ3K, BlockQ8K)
}
