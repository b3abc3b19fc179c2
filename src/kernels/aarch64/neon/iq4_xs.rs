//! IQ4_XS on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_iq4_xs_q8_K` (vec_dot) and its tiled K-quant matmul.

use std::arch::aarch64::*;

use super::{mla_lane, I8Lanes};
use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

/// The signed scales `ls - 32` (-32..31) of the eight 32-value sub-blocks: the low nibble
/// `ib % 2` of `scales_l[ib / 2]` or'ed with bits `2ib + 1 : 2ib` of `scales_h` moved to
/// bits 5:4 (as `crate::quant::iq4_xs`'s `sub_scale`).
#[inline(always)]
fn scales(x: &BlockIQ4XS) -> [i32; 8] {
    let h = u16::from_le(x.scales_h);
    std::array::from_fn(|ib| {
        let low = (x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F;
        let high = (h >> (2 * ib)) & 3;
        (i32::from(low) | (i32::from(high) << 4)) - 32
    })
}

/// The eight x86 lanes (`q8_k::k_lanes`) of one super-block's table values with their
/// signed scales, as (lanes 0..4, lanes 4..8): per sub-block `ib`, the table values of the
/// low nibbles (values `32ib .. 32ib + 16`) and of the high nibbles (`32ib + 16 ..
/// 32ib + 32`), looked up with `vqtbl1q_s8`.
///
/// Bounds: a lane holds 32 products, each at most 128 * 128 (table values in -127..=113)
/// times a scale of at most 32, so |lane| <= 2^24.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn lanes<D: I8Lanes>(x: &BlockIQ4XS, y: &BlockQ8K) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; the loads read the 16-entry table and 16 bytes
    // inside the borrowed blocks' arrays (`qs` 128, q8 `qs` 256 bytes).
    unsafe {
        let sc = scales(x);
        let table = vld1q_s8(KVALUES.as_ptr());
        let m4 = vdupq_n_u8(0x0F);
        let q8 = y.qs.as_ptr();
        let mut lo = vdupq_n_s32(0);
        let mut hi = vdupq_n_s32(0);
        for (ib, &sc) in sc.iter().enumerate() {
            let q = vld1q_u8(x.qs.as_ptr().add(16 * ib));
            let w0 = vqtbl1q_s8(table, vandq_u8(q, m4));
            let w1 = vqtbl1q_s8(table, vshrq_n_u8::<4>(q));
            let s0 = D::lanes16_y(w0, vld1q_s8(q8.add(32 * ib)));
            let s1 = D::lanes16_y(w1, vld1q_s8(q8.add(32 * ib + 16)));
            lo = vmlaq_n_s32(lo, s0, sc);
            hi = vmlaq_n_s32(hi, s1, sc);
        }
        (lo, hi)
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`] (as [`crate::quant::iq4_xs::vec_dot`]).
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockIQ4XS], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `lanes` reads inside the borrowed blocks.
    unsafe { super::k_vec_dot(w, a, |x| x.d, |x, y| lanes::<D>(x, y)) }
}

/// The table values of sub-block `ib`'s 32 quants (values `32ib .. 32ib + 16` from the low
/// nibbles, `32ib + 16 .. 32ib + 32` from the high ones).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function; `ib < 8`.
#[inline(always)]
unsafe fn sub_values(x: &BlockIQ4XS, table: int8x16_t, ib: usize) -> (int8x16_t, int8x16_t) {
    // SAFETY: NEON is the caller's contract; the load reads 16 bytes at `16ib <= 112` of `qs`.
    unsafe {
        let q = vld1q_u8(x.qs.as_ptr().add(16 * ib));
        (
            vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F))),
            vqtbl1q_s8(table, vshrq_n_u8::<4>(q)),
        )
    }
}

/// The signed scales as i32 in two registers (scale `ib` in lane `ib % 4` of `[ib / 4]`).
#[inline(always)]
unsafe fn scales_v(x: &BlockIQ4XS) -> [int32x4_t; 2] {
    let sc = scales(x);
    // SAFETY: NEON (the caller's contract); the loads read the local array.
    unsafe { [vld1q_s32(sc.as_ptr()), vld1q_s32(sc.as_ptr().add(4))] }
}

/// Sub-block `ib`'s term of the tiled order's exact `s1`: its 32 products with `y` summed
/// ([`I8Lanes::sum32_wide`]: |table value * y| <= 127 * 128 < 2^14) times its scale, added to
/// `v`'s lanes.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn sub_sum<D: I8Lanes>(
    v: int32x4_t,
    (w0, w1): (int8x16_t, int8x16_t),
    sc: &[int32x4_t; 2],
    y: &BlockQ8K,
    ib: usize,
) -> int32x4_t {
    // SAFETY: the caller's CPU features; the loads read 16 bytes at `32ib + 16 <= 240` of
    // the activation block's 256 quants.
    unsafe {
        let q8 = y.qs.as_ptr().add(32 * ib);
        let s = D::sum32_wide(vdupq_n_s32(0), w0, vld1q_s8(q8), w1, vld1q_s8(q8.add(16)));
        mla_lane(v, s, sc, ib)
    }
}

/// The body of the tiled order (as [`crate::quant::iq4_xs::vec_dot_tiled`]): per block the
/// exact `s1` ([`sub_sum`]: this order needs only the sum).
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockIQ4XS], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; the helpers read inside the borrowed blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| {
                let (table, sc) = (vld1q_s8(KVALUES.as_ptr()), scales_v(x));
                let mut v = vdupq_n_s32(0);
                for ib in 0..8 {
                    v = sub_sum::<D>(v, sub_values(x, table, ib), &sc, y, ib);
                }
                (vaddvq_s32(v), None)
            },
        )
    }
}

/// Four tokens at a time in the tiled order (prefill): each super-block's table values
/// looked up once for the four; per token the exact `s1`, and the float steps of
/// [`body_tiled`] on the four tokens at once (lane `k` token `k`'s): each result has the
/// bits of the one-token kernel.
///
/// # Safety
/// As [`body`]; every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn body_tiled_x4<D: I8Lanes>(w: &[BlockIQ4XS], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    // SAFETY: the caller's CPU features and lengths; the helpers read inside the borrowed
    // blocks.
    unsafe {
        let table = vld1q_s8(KVALUES.as_ptr());
        super::k_tiled_x4(
            w,
            a,
            |x| (x.d, None),
            |x| {
                let q: [(int8x16_t, int8x16_t); 8] =
                    std::array::from_fn(|ib| sub_values(x, table, ib));
                (q, scales_v(x))
            },
            |_, (q, sc), y| {
                let mut v = vdupq_n_s32(0);
                for (ib, &q) in q.iter().enumerate() {
                    v = sub_sum::<D>(v, q, sc, y, ib);
                }
                (v, None)
            },
        )
    }
}

super::neon_dots_x4! {
    /// One IQ4_XS weight row times four Q8_K activation rows in the tiled order, plain NEON;
    /// each result bit-identical to [`vec_dot_tiled`].
    dot_tiled_x4, dot_tiled_x4_dotprod = body_tiled_x4(BlockIQ4XS, BlockQ8K)
}

super::neon_dots! {
    /// IQ4_XS x Q8_K, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`;
    /// bit-identical to [`crate::quant::iq4_xs::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockIQ4XS, BlockQ8K)
}

super::neon_dots! {
    /// IQ4_XS x Q8_K, plain NEON, in the order of ggml's tiled K-quant matmul (AVX2);
    /// bit-identical to [`crate::quant::iq4_xs::vec_dot_tiled`].
    vec_dot_tiled, vec_dot_tiled_dotprod = body_tiled(BlockIQ4XS, BlockQ8K)
}
