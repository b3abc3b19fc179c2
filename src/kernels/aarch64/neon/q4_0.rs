//! Q4_0 on NEON: the dot product with Q8_0 activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q4_0_q8_0` (vec_dot) and its repacked `ggml_gemv_q4_0_8x8_q8_0` /
//! `ggml_gemm_q4_0_8x8_q8_0`.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::{q4_0::BlockQ4_0, q8_0::BlockQ8_0};

/// The 32 values of a block as i8 (the low nibbles minus 8 are values 0..16, the high
/// nibbles minus 8 values 16..32).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn values(x: &BlockQ4_0) -> (int8x16_t, int8x16_t) {
    // SAFETY: NEON is the caller's contract; the load reads the 16 bytes of `qs`.
    unsafe { values_of(vld1q_u8(x.qs.as_ptr())) }
}

/// [`values`] of a block whose 16 bytes `qs` are `q`.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn values_of(q: uint8x16_t) -> (int8x16_t, int8x16_t) {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let eight = vdupq_n_s8(8);
        (
            vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), eight),
            vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(q)), eight),
        )
    }
}

/// The eight x86 lanes of one block (lane `l` the four products of values `4l .. 4l + 4`,
/// |lane| <= 4 * 8 * 128) as (lanes 0..4, lanes 4..8).
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn lanes<D: I8Lanes>(x: &BlockQ4_0, y: &BlockQ8_0) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; the loads read the 32 quants of the activation block.
    unsafe {
        let (w0, w1) = values(x);
        (
            D::lanes16_y(w0, vld1q_s8(y.qs.as_ptr())),
            D::lanes16_y(w1, vld1q_s8(y.qs.as_ptr().add(16))),
        )
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`] (as [`crate::quant::q4_0::vec_dot`]):
/// `acc = fma(d_w * d_a, lanes, acc)` on the eight lanes, `hsum8` at the end.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; `lanes` reads inside the borrowed blocks.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let (lo, hi) = lanes::<D>(x, y);
            let d = vdupq_n_f32(f16_to_f32(x.d) * f16_to_f32(y.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi)
    }
}

/// The body of the repacked orders (as [`crate::quant::q4_0::vec_dot_repacked`], the GEMV
/// and the GEMM alike): per block the exact sum, `acc = fma(sum, d_w * d_a, acc)`.
#[inline(always)]
unsafe fn body_repacked<D: I8Lanes>(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        // SAFETY: the caller's CPU features; `lanes` reads inside the borrowed blocks.
        let sumi = unsafe { super::lane_sum(lanes::<D>(x, y)) };
        acc = (sumi as f32).mul_add(f16_to_f32(x.d) * f16_to_f32(y.d), acc);
    }
    acc
}

super::neon_dots! {
    /// Q4_0 x Q8_0, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q4_0_q8_0`;
    /// bit-identical to [`crate::quant::q4_0::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ4_0, BlockQ8_0)
}

super::neon_dots! {
    /// Q4_0 x Q8_0, plain NEON, in the order of ggml's repacked AVX2 `ggml_gemv_q4_0_8x8_q8_0` /
    /// `ggml_gemm_q4_0_8x8_q8_0`; bit-identical to [`crate::quant::q4_0::vec_dot_repacked`].
    vec_dot_repacked, vec_dot_repacked_dotprod = body_repacked(BlockQ4_0, BlockQ8_0)
}
