//! Q5_K on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q5_K_q8_K` (vec_dot) and its tiled K-quant matmul.

use std::arch::aarch64::*;

use super::q4_k::{chunk_sums, products, scales_and_mins, scales_i32, total, KBlock, Unpacked};
use super::{f16_to_f32, hsum8, I8Lanes};
use crate::quant::{q5_k::BlockQ5K, q8_k::BlockQ8K};

/// The integer work of one super-block: its eight x86 lanes (`q8_k::k_lanes` of the quants
/// 0..31 with the sub-block scales) as (lanes 0..4, lanes 4..8), and the four `min * bsum`
/// pair sums: Q4_K's ([`products`], [`total`]) on Q5_K's unpacking ([`KBlock::unpacked`]).
///
/// Bounds: a lane holds 32 products, each at most 31 * 128 times a scale <= 63, so
/// |lane| < 2^23.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn block<D: I8Lanes>(x: &BlockQ5K, y: &BlockQ8K) -> (int32x4_t, int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; both read inside the borrowed blocks.
    unsafe {
        let (chunks, pairs) = products::<D>(&x.unpacked(), y);
        let (lo, hi) = total(&chunks);
        (lo, hi, pairs)
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`] (as [`crate::quant::q5_k::vec_dot`]):
/// `acc = fma(d_a * d, lanes, acc)` on the eight lanes, the minimum terms summed exactly per
/// block into `summs = fma(-d_a * dmin, sum, summs)`, and `hsum8(acc) + summs`.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; `block` reads inside the borrowed blocks.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        let mut summs = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let d = vdupq_n_f32(y.d * f16_to_f32(x.d));
            let dmin = -y.d * f16_to_f32(x.dmin);
            let (lo, hi, pairs) = block::<D>(x, y);
            summs = dmin.mul_add(vaddvq_s32(pairs) as f32, summs);
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi) + summs
    }
}

impl KBlock for BlockQ5K {
    #[inline(always)]
    fn d(&self) -> half::f16 {
        self.d
    }
    #[inline(always)]
    fn dmin(&self) -> half::f16 {
        self.dmin
    }
    /// The quants 0..31 in Q4_K's register order: chunk `c`'s low nibbles with bit `2c` of
    /// `qh`, its high nibbles with bit `2c + 1` (as [`block`]).
    #[inline(always)]
    unsafe fn unpacked(&self) -> Unpacked {
        // SAFETY: NEON (the caller's contract); the loads read 16 bytes at `32c + 16h <= 112`
        // of `qs` and the two halves of `qh`.
        unsafe {
            let (sc, mins) = scales_and_mins(&self.scales);
            let m4 = vdupq_n_u8(0x0F);
            let h16 = vdupq_n_u8(0x10);
            let qh = [
                vld1q_u8(self.qh.as_ptr()),
                vld1q_u8(self.qh.as_ptr().add(16)),
            ];
            let mut q = [vdupq_n_s8(0); 16];
            for c in 0..4 {
                let (b1, b2) = (vdupq_n_u8(1 << (2 * c)), vdupq_n_u8(2 << (2 * c)));
                for (h, &qhh) in qh.iter().enumerate() {
                    let x = vld1q_u8(self.qs.as_ptr().add(32 * c + 16 * h));
                    let wl = vorrq_u8(vandq_u8(x, m4), vandq_u8(vtstq_u8(qhh, b1), h16));
                    let wh = vorrq_u8(vshrq_n_u8::<4>(x), vandq_u8(vtstq_u8(qhh, b2), h16));
                    q[4 * c + h] = vreinterpretq_s8_u8(wl);
                    q[4 * c + 2 + h] = vreinterpretq_s8_u8(wh);
                }
            }
            Unpacked { q, sc, mins }
        }
    }
}

/// The body of the tiled order (as [`crate::quant::q5_k::vec_dot_tiled`]): per block the
/// exact `s1` and `s2` (`q4_k::chunk_sums`: this order needs only the sums; |q * y| <=
/// 31 * 128).
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `unpacked` and `chunk_sums` read inside the
    // borrowed blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| {
                let u = x.unpacked();
                let (sums, pairs) = chunk_sums::<D>(&u, scales_i32(&u.sc), y);
                (vaddvq_s32(sums), Some((x.dmin, vaddvq_s32(pairs))))
            },
        )
    }
}

/// Four tokens at a time in the tiled order (prefill): `q4_k::body_tiled_x4` with Q5_K's
/// unpacking, each result the bits of [`body_tiled`].
///
/// # Safety
/// As [`body`]; every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn body_tiled_x4<D: I8Lanes>(w: &[BlockQ5K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    // SAFETY: the caller's contract.
    unsafe { super::q4_k::body_tiled_x4::<D, BlockQ5K>(w, a) }
}

super::neon_dots_x4! {
    /// One Q5_K weight row times four Q8_K activation rows in the tiled order, plain NEON;
    /// each result bit-identical to [`vec_dot_tiled`].
    dot_tiled_x4, dot_tiled_x4_dotprod = body_tiled_x4(BlockQ5K, BlockQ8K)
}

super::neon_dots! {
    /// Q5_K x Q8_K, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q5_K_q8_K`;
    /// bit-identical to [`crate::quant::q5_k::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ5K, BlockQ8K)
}

super::neon_dots! {
    /// Q5_K x Q8_K, plain NEON, in the order of ggml's tiled K-quant matmul (AVX2); bit-identical
    /// to [`crate::quant::q5_k::vec_dot_tiled`].
    vec_dot_tiled, vec_dot_tiled_dotprod = body_tiled(BlockQ5K, BlockQ8K)
}
