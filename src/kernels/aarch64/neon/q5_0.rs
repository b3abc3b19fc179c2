//! Q5_0 on NEON: the dot product with Q8_0 activations in the float order of ggml's AVX2
//! `ggml_vec_dot_q5_0_q8_0` (every order: Q5_0 has no batched kernel of its own).

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// The 32 values of a Q5_0 block as i8, `(nibble | high bit << 4) - 16` in [-16, 15]:
/// (values 0..16: the low nibbles and bits 0..16 of `qh`, values 16..32: the high nibbles and
/// bits 16..32). The high bits: `qh`'s four bytes in every lane, each spread over eight
/// lanes by one `tbl` per half, tested against the lane's bit (`cmtst`); then
/// `nibble - (16 & !set)` gives the value in one `bic` and one `sub`.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn values(x: &BlockQ5_0) -> (int8x16_t, int8x16_t) {
    // SAFETY: NEON is the caller's contract; the load reads the 16 bytes of `qs`.
    unsafe {
        let h = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le_bytes(x.qh)));
        values_of(vld1q_u8(x.qs.as_ptr()), h)
    }
}

/// [`values`] of a block whose 16 bytes `qs` are `q` and whose four bytes `qh` are in each
/// 32-bit lane of `h`.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn values_of(q: uint8x16_t, h: uint8x16_t) -> (int8x16_t, int8x16_t) {
    const SPREAD: [[u8; 16]; 2] = [
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
        [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3],
    ];
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: NEON is the caller's contract; the loads read the 16-byte constants.
    unsafe {
        // A value is `nibble - 16` where its fifth bit is clear, i.e. the nibble under a high
        // nibble 0xF (as i8); `clear` is 0xFF there: one `mvn` for the block, then per half a
        // `tbl` (the half's two bytes of bits spread over its bytes), a `cmtst` and one
        // instruction that puts the nibbles under it (`bsl`, `sri`): 7 in all.
        let bit = vld1q_u8(BIT.as_ptr());
        let not_h = vmvnq_u8(h);
        let clear0 = vtstq_u8(vqtbl1q_u8(not_h, vld1q_u8(SPREAD[0].as_ptr())), bit);
        let clear1 = vtstq_u8(vqtbl1q_u8(not_h, vld1q_u8(SPREAD[1].as_ptr())), bit);
        let w0 = vbslq_u8(vdupq_n_u8(0x0F), q, clear0);
        let w1 = vsriq_n_u8::<4>(clear1, q);
        (vreinterpretq_s8_u8(w0), vreinterpretq_s8_u8(w1))
    }
}

/// The body shared by both variants (as [`crate::quant::q5_0::vec_dot`]): the weights
/// `(nibble | high bit << 4) - 16` in [-16, 15], the eight x86 lanes (|lane| <= 4 * 16 * 128),
/// `acc = fma(d_w * d_a, lanes, acc)`, `hsum8` at the end.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; the loads read the 16 bytes of `qs` and the 32
    // quants of the activation block.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let (w0, w1) = values(x);
            let lo = D::lanes16_y(w0, vld1q_s8(y.qs.as_ptr()));
            let hi = D::lanes16_y(w1, vld1q_s8(y.qs.as_ptr().add(16)));
            let d = vdupq_n_f32(f16_to_f32(x.d) * f16_to_f32(y.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi)
    }
}

super::neon_dots! {
    /// Q5_0 x Q8_0, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q5_0_q8_0`;
    /// bit-identical to [`crate::quant::q5_0::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ5_0, BlockQ8_0)
}

/// [`crate::quant::q5_0::to_q8_0`] with NEON (the same bytes): each block's values
/// `(nibble | high bit << 4) - 16` stored as the Q8_0 block's quants, its scale copied. Prefill
/// unpacks a Q5_0 weight tile once this way and multiplies it as Q8_0 for every token
/// (`Kernels::matmul_tile`); the scalar unpacking cost as much as a token's products.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn to_q8_0(w: &[BlockQ5_0], out: &mut [BlockQ8_0]) {
    // SAFETY: NEON is this function's contract; the loads read the 16 bytes of `qs`, the
    // stores write the 32 bytes of the output block's `qs`.
    unsafe {
        for (x, y) in w.iter().zip(out.iter_mut()) {
            y.d = x.d;
            let (w0, w1) = values(x);
            vst1q_s8(y.qs.as_mut_ptr(), w0);
            vst1q_s8(y.qs.as_mut_ptr().add(16), w1);
        }
    }
}
