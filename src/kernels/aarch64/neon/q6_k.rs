//! Q6_K on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q6_K_q8_K` (vec_dot) and its tiled K-quant matmul.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, mla_lane, opaque, I8Lanes};
use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K};

/// The 256 signed quants (-32..31, the tiled order's) of a super-block as 16 registers,
/// `q[8n + 4h + k]` holding bytes `16h .. 16h + 16` of the 32-value run `r = 4n + k` (values
/// `32r + 16h ..`): for four tokens in prefill ([`body_tiled_x4`]), which use every register
/// four times; the one-token products take them one at a time from [`unpack_each`].
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
unsafe fn unpack_signed(x: &BlockQ6K) -> [int8x16_t; 16] {
    let mut q = [unsafe { vdupq_n_s8(0) }; 16];
    // SAFETY: the caller's CPU features.
    unsafe { unpack_each::<true>(x, |i, v| q[i] = v) };
    q
}

/// [`unpack_signed`] register by register: `f(i, q[i])` in the order `i` = 0..16, so that a
/// caller that uses each register once need not hold all sixteen (the one-token products);
/// the quants unsigned (0..63, vec_dot's: it subtracts the `bsums` correction afterwards)
/// when `SIGNED` is false.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
unsafe fn unpack_each<const SIGNED: bool>(x: &BlockQ6K, mut f: impl FnMut(usize, int8x16_t)) {
    // SAFETY: NEON is the caller's contract; every load reads 16 bytes inside the borrowed
    // block's arrays (`ql` 128, `qh` 64 bytes).
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        let m3 = vdupq_n_u8(0x03);
        let m30 = vdupq_n_u8(0x30);
        let mc0 = vdupq_n_u8(0xC0);
        let off = vdupq_n_s8(if SIGNED { 32 } else { 0 });
        for n in 0..2 {
            let ql = x.ql.as_ptr().add(64 * n);
            let qh = x.qh.as_ptr().add(32 * n);
            for h in 0..2 {
                let l0 = vld1q_u8(ql.add(16 * h));
                let l1 = vld1q_u8(ql.add(32 + 16 * h));
                let hb = vld1q_u8(qh.add(16 * h));
                let runs = [
                    vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8::<4>(vandq_u8(hb, m3))),
                    vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8::<2>(hb), m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l0), vandq_u8(hb, m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l1), vshrq_n_u8::<2>(vandq_u8(hb, mc0))),
                ];
                for (k, &r) in runs.iter().enumerate() {
                    f(8 * n + 4 * h + k, vsubq_s8(vreinterpretq_s8_u8(r), off));
                }
            }
        }
    }
}

/// The eight x86 lanes (`q8_k::k_lanes`) of one super-block times one activation block, as
/// (lanes 0..4, lanes 4..8), of the unsigned quants (0..63: vec_dot subtracts the `bsums`
/// correction afterwards); each register used as it is unpacked ([`unpack_each`]).
///
/// Bounds: a lane holds 32 products, each at most 63 * 128 times a scale <= 128, so
/// |lane| < 2^26.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn lanes<D: I8Lanes>(x: &BlockQ6K, y: &BlockQ8K) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; every load reads 16 bytes at
    // `128n + 32k + 16h <= 240` of the activation block's 256 quants.
    unsafe {
        let mut lo = vdupq_n_s32(0);
        let mut hi = vdupq_n_s32(0);
        let sc = scales_i32(x);
        unpack_each::<false>(x, |i, q| {
            let (n, h, k) = (i / 8, i / 4 % 2, i % 4);
            let a = vld1q_s8(y.qs.as_ptr().add(128 * n + 32 * k + 16 * h));
            // The 16-value group 2r + h of run r = 4n + k.
            let (g, s) = (2 * (4 * n + k) + h, D::lanes16_y(q, a));
            if h == 0 {
                lo = mla_lane(lo, s, &sc, g);
            } else {
                hi = mla_lane(hi, s, &sc, g);
            }
        });
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
            let (lo, hi) = lanes::<D>(x, y);
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

/// The body of the tiled order (as [`crate::quant::q6_k::vec_dot_tiled`]): the signed
/// quants' exact `s1` ([`tiled_sum`]: this order needs only the sum) through
/// [`super::k_vec_dot_tiled`].
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `unpack`, `scales_i32` and `tiled_sum` read inside
    // the borrowed blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| {
                // Each register used as it is unpacked.
                let (sc, mut v) = (scales_i32(x), vdupq_n_s32(0));
                unpack_each::<true>(x, |i, q| v = tiled_step::<D>(v, i, q, &sc, y));
                (vaddvq_s32(v), None)
            },
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

/// Four tokens at a time (prefill) in the tiled order: each super-block is unpacked once for
/// the four, its sixteen scales widened once into four registers; per token only the exact
/// sum `s1` is formed, and the float steps of [`body_tiled`] run on the four tokens at once
/// (lane `k` token `k`'s, operation for operation): each result has the bits of the
/// one-token kernel.
///
/// # Safety
/// As [`body`]; every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn body_tiled_x4<D: I8Lanes>(w: &[BlockQ6K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    // SAFETY: the caller's CPU features and lengths; the helpers read inside the borrowed
    // blocks.
    unsafe {
        super::k_tiled_x4(
            w,
            a,
            |x| (x.d, None),
            |x| (unpack_signed(x), scales_i32(x)),
            |_, (q, sc), y| (tiled_sum::<D>(q, sc, y), None),
        )
    }
}

/// The sixteen scales of `x` as i32: scale `g` (of the 16-value group `g`) in lane `g % 4` of
/// vector `g / 4`.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
unsafe fn scales_i32(x: &BlockQ6K) -> [int32x4_t; 4] {
    // SAFETY: NEON is the caller's contract; the load reads the 16 scales.
    unsafe {
        let sc8 = vld1q_s8(x.scales.as_ptr());
        let (lo, hi) = (vmovl_s8(vget_low_s8(sc8)), vmovl_high_s8(sc8));
        [
            vmovl_s16(vget_low_s16(lo)),
            vmovl_high_s16(lo),
            vmovl_s16(vget_low_s16(hi)),
            vmovl_high_s16(hi),
        ]
        .map(|v| opaque(v))
    }
}

/// Four lanes whose total is the tiled order's exact `s1` of a super-block unpacked by
/// [`unpack_signed`] (signed) times one activation block: each 16-value group's products summed
/// ([`I8Lanes::sum16`]) times its scale.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn tiled_sum<D: I8Lanes>(
    q: &[int8x16_t; 16],
    sc: &[int32x4_t; 4],
    y: &BlockQ8K,
) -> int32x4_t {
    let mut v = unsafe { vdupq_n_s32(0) };
    // Nested constant ranges, which LLVM unrolls (a flat loop of 16 it kept, with the lane
    // of each scale chosen at run time).
    for n in 0..2 {
        for h in 0..2 {
            for k in 0..4 {
                let i = 8 * n + 4 * h + k;
                // SAFETY: the caller's CPU features.
                v = unsafe { tiled_step::<D>(v, i, q[i], sc, y) };
            }
        }
    }
    v
}

/// One register of [`tiled_sum`]: `v` plus the products of unpacked register `i` (bytes
/// `16h .. 16h + 16` of run `4n + k`, `i = 8n + 4h + k`) with its activation bytes, summed
/// ([`I8Lanes::sum16`]) and times its group's scale.
///
/// # Safety
/// As [`tiled_sum`].
#[inline(always)]
unsafe fn tiled_step<D: I8Lanes>(
    v: int32x4_t,
    i: usize,
    q: int8x16_t,
    sc: &[int32x4_t; 4],
    y: &BlockQ8K,
) -> int32x4_t {
    let (n, h, k) = (i / 8, i / 4 % 2, i % 4);
    // SAFETY: the caller's CPU features; the load reads 16 bytes at `128n + 32k + 16h <= 240`
    // of the block's 256 quants.
    unsafe {
        // |q * y| <= 32 * 128 < 2^14: `sum16`'s bound.
        let a = vld1q_s8(y.qs.as_ptr().add(128 * n + 32 * k + 16 * h));
        // The 16-value group 2r + h of run r = 4n + k.
        mla_lane(v, D::sum16(q, a), sc, 2 * (4 * n + k) + h)
    }
}

super::neon_dots_x4! {
    /// One Q6_K weight row times four Q8_K activation rows in the tiled order, plain NEON;
    /// each result bit-identical to [`vec_dot_tiled`].
    dot_tiled_x4, dot_tiled_x4_dotprod = body_tiled_x4(BlockQ6K, BlockQ8K)
}
