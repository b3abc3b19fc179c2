//! IQ4_NL on NEON: the dot product with Q8_0 activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_iq4_nl_q8_0` (vec_dot) and its repacked `ggml_gemv_iq4_nl_8x8_q8_0` /
//! `ggml_gemm_iq4_nl_8x8_q8_0`.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::{
    iq4_nl::{BlockIQ4NL, KVALUES},
    q8_0::BlockQ8_0,
};

/// The 32 values of a block as i8: the table values of the low nibbles (values 0..16) and of
/// the high nibbles (values 16..32), looked up with `vqtbl1q_s8` (table values in
/// [-127, 113]).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn values(x: &BlockIQ4NL) -> (int8x16_t, int8x16_t) {
    // SAFETY: NEON is the caller's contract; the load reads the 16 bytes of `qs`.
    unsafe { values_of(vld1q_u8(x.qs.as_ptr())) }
}

/// [`values`] of a block whose 16 bytes `qs` are `q`.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn values_of(q: uint8x16_t) -> (int8x16_t, int8x16_t) {
    // SAFETY: NEON is the caller's contract; the load reads the 16-entry table.
    unsafe {
        let table = vld1q_s8(KVALUES.as_ptr());
        (
            vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F))),
            vqtbl1q_s8(table, vshrq_n_u8::<4>(q)),
        )
    }
}

/// The eight x86 lanes of one block as (lanes 0..4, lanes 4..8) (|lane| <= 4 * 127 * 128).
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn lanes<D: I8Lanes>(x: &BlockIQ4NL, y: &BlockQ8_0) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; the loads read the 32 quants of the activation block.
    unsafe {
        let (w0, w1) = values(x);
        (
            D::lanes16_y(w0, vld1q_s8(y.qs.as_ptr())),
            D::lanes16_y(w1, vld1q_s8(y.qs.as_ptr().add(16))),
        )
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`] (as [`crate::quant::iq4_nl::vec_dot`]):
/// blocks in pairs, the even block's lanes into one accumulator pair and the odd block's into
/// another (`fma(d_a * d_w, lanes, acc)`), `hsum8(acc1 + acc2)`, and a last unpaired block as
/// `sumf = fma(d_a * d_w, sumi, sumf)`.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockIQ4NL], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let pairs = w.len() / 2 * 2;
    // SAFETY: the caller's CPU features; `lanes` reads inside the borrowed blocks.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); 2]; 2];
        for (i, (x, y)) in w[..pairs].iter().zip(a).enumerate() {
            let (lo, hi) = lanes::<D>(x, y);
            let d = vdupq_n_f32(f16_to_f32(y.d) * f16_to_f32(x.d));
            let acc = &mut acc[i % 2];
            acc[0] = vfmaq_f32(acc[0], d, vcvtq_f32_s32(lo));
            acc[1] = vfmaq_f32(acc[1], d, vcvtq_f32_s32(hi));
        }
        let mut sumf = hsum8(
            vaddq_f32(acc[0][0], acc[1][0]),
            vaddq_f32(acc[0][1], acc[1][1]),
        );
        for (x, y) in w[pairs..].iter().zip(&a[pairs..]) {
            let sumi = super::lane_sum(lanes::<D>(x, y));
            sumf = (f16_to_f32(y.d) * f16_to_f32(x.d)).mul_add(sumi as f32, sumf);
        }
        sumf
    }
}

/// The body of the repacked orders (as [`crate::quant::iq4_nl::vec_dot_repacked`], the GEMV
/// and the GEMM alike): per block the exact sum, `acc = fma(sum, d_w * d_a, acc)`.
#[inline(always)]
unsafe fn body_repacked<D: I8Lanes>(w: &[BlockIQ4NL], a: &[BlockQ8_0]) -> f32 {
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
    /// IQ4_NL x Q8_0, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_iq4_nl_q8_0`;
    /// bit-identical to [`crate::quant::iq4_nl::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockIQ4NL, BlockQ8_0)
}

super::neon_dots! {
    /// IQ4_NL x Q8_0, plain NEON, in the order of ggml's repacked AVX2
    /// `ggml_gemv_iq4_nl_8x8_q8_0` / `ggml_gemm_iq4_nl_8x8_q8_0`; bit-identical to
    /// [`crate::quant::iq4_nl::vec_dot_repacked`].
    vec_dot_repacked, vec_dot_repacked_dotprod = body_repacked(BlockIQ4NL, BlockQ8_0)
}
