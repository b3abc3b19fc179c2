//! Q4_K on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q4_K_q8_K` (vec_dot), its tiled K-quant matmul and its repacked
//! `ggml_gemv_q4_K_8x8_q8_K` / `ggml_gemm_q4_K_8x8_q8_K`.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::kernels::scales_mins;
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K};

/// The eight six-bit scales of a Q4_K/Q5_K block (as two 4-byte groups) and the four
/// `min * bsum` pair sums of `scales_and_min_pairs` (`q8s[j] = bsums[2j] + bsums[2j + 1]`,
/// `pairs[m] = mins[2m] q8s[2m] + mins[2m + 1] q8s[2m + 1]`; |bsum| <= 16 * 128, a pair of
/// them fits i16, times a minimum <= 63 fits i32).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn scales_and_pairs(
    scales: &[u8; 12],
    bsums: &[i16; 16],
) -> ([[u8; 4]; 2], int32x4_t) {
    // SAFETY: NEON is the caller's contract; the loads read the 16 i16 of `bsums`.
    unsafe {
        let u = scales_mins(scales);
        let q8s = vpaddq_s16(vld1q_s16(bsums.as_ptr()), vld1q_s16(bsums.as_ptr().add(8)));
        let mins8 = vcreate_u8(u64::from(u[2]) | (u64::from(u[3]) << 32));
        let mins = vreinterpretq_s16_u16(vmovl_u8(mins8));
        let pairs = vpaddq_s32(
            vmull_s16(vget_low_s16(q8s), vget_low_s16(mins)),
            vmull_high_s16(q8s, mins),
        );
        ([u[0].to_le_bytes(), u[1].to_le_bytes()], pairs)
    }
}

/// The integer work of one super-block: the eight x86 lanes (`q8_k::k_lanes`) of each of
/// the four 64-value chunks (sub-blocks `2c`, `2c + 1`), as (lanes 0..4, lanes 4..8), and the
/// four `min * bsum` pair sums of `scales_and_min_pairs`.
///
/// Bounds: a chunk lane holds 16 products, each at most 15 * 128 times a scale <= 63, so
/// |lane| < 2^21, and the sum of a block's 32 lanes < 2^26; |bsum| <= 16 * 128, a pair of
/// them fits i16 (<= 4096), times a minimum <= 63 fits i32.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn block<D: I8Lanes>(
    x: &BlockQ4K,
    y: &BlockQ8K,
) -> ([(int32x4_t, int32x4_t); 4], int32x4_t) {
    // SAFETY: the caller's CPU features; every load reads 16 bytes (or 8 i16) inside the
    // borrowed blocks' arrays (`qs` 128 bytes, q8 `qs` 256 bytes, `bsums` 16 i16).
    unsafe {
        let (sc, pairs) = scales_and_pairs(&x.scales, &y.bsums);

        let m4 = vdupq_n_u8(0x0F);
        let q4 = x.qs.as_ptr();
        let q8 = y.qs.as_ptr();
        let mut chunks = [(vdupq_n_s32(0), vdupq_n_s32(0)); 4];
        for (c, ch) in chunks.iter_mut().enumerate() {
            let qa = vld1q_u8(q4.add(32 * c));
            let qb = vld1q_u8(q4.add(32 * c + 16));
            let sl = i32::from(sc[c / 2][2 * (c % 2)]);
            let sh = i32::from(sc[c / 2][2 * (c % 2) + 1]);
            // Low nibbles: values 64c .. 64c + 32; high nibbles: 64c + 32 .. 64c + 64.
            let l0 = D::lanes16(
                vreinterpretq_s8_u8(vandq_u8(qa, m4)),
                vld1q_s8(q8.add(64 * c)),
            );
            let l1 = D::lanes16(
                vreinterpretq_s8_u8(vandq_u8(qb, m4)),
                vld1q_s8(q8.add(64 * c + 16)),
            );
            let h0 = D::lanes16(
                vreinterpretq_s8_u8(vshrq_n_u8::<4>(qa)),
                vld1q_s8(q8.add(64 * c + 32)),
            );
            let h1 = D::lanes16(
                vreinterpretq_s8_u8(vshrq_n_u8::<4>(qb)),
                vld1q_s8(q8.add(64 * c + 48)),
            );
            *ch = (
                vmlaq_n_s32(vmulq_n_s32(l0, sl), h0, sh),
                vmlaq_n_s32(vmulq_n_s32(l1, sl), h1, sh),
            );
        }
        (chunks, pairs)
    }
}

/// The block's eight lanes (the four chunks added, exact).
///
/// # Safety
/// NEON (the caller's contract).
#[inline(always)]
pub(super) unsafe fn total(chunks: &[(int32x4_t, int32x4_t); 4]) -> (int32x4_t, int32x4_t) {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        (
            vaddq_s32(
                vaddq_s32(chunks[0].0, chunks[1].0),
                vaddq_s32(chunks[2].0, chunks[3].0),
            ),
            vaddq_s32(
                vaddq_s32(chunks[0].1, chunks[1].1),
                vaddq_s32(chunks[2].1, chunks[3].1),
            ),
        )
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`]: `acc = fma(d_a * d, lanes, acc)` on the
/// eight lanes, `acc_m = fma(-d_a * dmin, pairs, acc_m)` on four, `hsum8(acc) +
/// ((m0 + m2) + (m1 + m3))` (as [`crate::quant::q4_k::vec_dot`]).
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; `block` reads inside the borrowed blocks.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        let mut acc_m = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let d = vdupq_n_f32(y.d * f16_to_f32(x.d));
            let dmin = vdupq_n_f32(-y.d * f16_to_f32(x.dmin));
            let (chunks, pairs) = block::<D>(x, y);
            acc_m = vfmaq_f32(acc_m, dmin, vcvtq_f32_s32(pairs));
            let (lo, hi) = total(&chunks);
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        let m = [
            vgetq_lane_f32::<0>(acc_m),
            vgetq_lane_f32::<1>(acc_m),
            vgetq_lane_f32::<2>(acc_m),
            vgetq_lane_f32::<3>(acc_m),
        ];
        hsum8(acc_lo, acc_hi) + ((m[0] + m[2]) + (m[1] + m[3]))
    }
}

/// The body of the tiled order (as [`crate::quant::q4_k::vec_dot_tiled`]): per block the
/// exact `s1` and `s2`.
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `block` reads inside the borrowed blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| {
                let (chunks, pairs) = block::<D>(x, y);
                (
                    super::lane_sum(total(&chunks)),
                    Some((x.dmin, vaddvq_s32(pairs))),
                )
            },
        )
    }
}

/// The body of the repacked orders: per block the exact `s1` (per 64-value chunk for the
/// GEMM, per block for the GEMV) and `s2`, then the reference's scalar float steps.
#[inline(always)]
unsafe fn body_scalar_acc<D: I8Lanes, const ORDER: u8>(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in w.iter().zip(a) {
        // SAFETY: the caller's CPU features; `block` reads inside the borrowed blocks.
        unsafe {
            let (chunks, pairs) = block::<D>(x, y);
            let (dd, dm) = (f16_to_f32(x.d) * y.d, f16_to_f32(x.dmin) * y.d);
            match ORDER {
                GEMV => {
                    let s1 = super::lane_sum(total(&chunks));
                    acc = (s1 as f32).mul_add(dd, acc);
                    acc_m = (vaddvq_s32(pairs) as f32).mul_add(dm, acc_m);
                }
                _ => {
                    let mut p = [0i32; 4];
                    vst1q_s32(p.as_mut_ptr(), pairs);
                    for (ch, &pair) in chunks.iter().zip(&p) {
                        let s1 = super::lane_sum(*ch);
                        acc = (s1 as f32).mul_add(dd, acc);
                        acc_m = (pair as f32).mul_add(dm, acc_m);
                    }
                }
            }
        }
    }
    acc - acc_m
}

const GEMV: u8 = 1;
const GEMM: u8 = 2;

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q4_K_q8_K`;
    /// bit-identical to [`crate::quant::q4_k::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ4K, BlockQ8K)
}

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's tiled K-quant matmul (AVX2); bit-identical
    /// to [`crate::quant::q4_k::vec_dot_tiled`].
    vec_dot_tiled, vec_dot_tiled_dotprod = body_tiled(BlockQ4K, BlockQ8K)
}

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's repacked AVX2 `ggml_gemv_q4_K_8x8_q8_K`;
    /// bit-identical to [`crate::quant::q4_k::vec_dot_repacked`] with `gemm = false`.
    vec_dot_repacked_gemv, vec_dot_repacked_gemv_dotprod = body_scalar_acc, GEMV(BlockQ4K, BlockQ8K)
}

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's repacked AVX2 `ggml_gemm_q4_K_8x8_q8_K`;
    /// bit-identical to [`crate::quant::q4_k::vec_dot_repacked`] with `gemm = true`.
    vec_dot_repacked_gemm, vec_dot_repacked_gemm_dotprod = body_scalar_acc, GEMM(BlockQ4K, BlockQ8K)
}
