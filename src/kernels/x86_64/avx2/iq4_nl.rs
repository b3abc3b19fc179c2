//! IQ4_NL on AVX2: the dot products with Q8_0 activations (ggml's `vec_dot` order and its
//! repacked GEMV/GEMM order).

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_i32, hsum_ps, load32, mul_sum_i8_pairs};
use crate::quant::{
    iq4_nl::{BlockIQ4NL, KVALUES},
    q8_0::BlockQ8_0,
};

/// The 32 weights of a block (table values in -127..=113) as i8, in value order: a `pshufb`
/// lookup of each nibble in the 16-entry table.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn weights(x: &BlockIQ4NL) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the 16 table
    // values and the block's 16 quant bytes (unaligned).
    unsafe {
        let table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(KVALUES.as_ptr() as *const __m128i));
        // Low nibbles (values 0..16) in the low lane, high nibbles in the high lane.
        _mm256_shuffle_epi8(table, super::bytes_from_nibbles_32(&x.qs))
    }
}

/// The exact i32 lanes `sum4(k * y)` of a block's table values `k` times activation quants
/// `y`, given `|y|` ([`abs_act`], prepared once per product): `madd(maddubs(|y|, sign(k, y)),
/// 1)`, the products `|y| * (k * sgn y) = k * y`. ggml's sign trick takes `|k|` and `sign(y,
/// k)` per block instead, one instruction more; the integers are the same (a pair is at most
/// 2 * 127 * 127 either way: `k` is in -127..=113, `y` in -127..=127).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn lanes(x: &BlockIQ4NL, y: &[i8; 32], abs_y: &__m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the borrowed bytes.
    unsafe {
        let signed = _mm256_sign_epi8(weights(x), load32(y));
        _mm256_madd_epi16(_mm256_maddubs_epi16(*abs_y, signed), _mm256_set1_epi16(1))
    }
}

/// `|y|` of each activation block's 32 quants, in `buf` (Q8_0 quants are in -127..=127, so
/// `|y|` fits a byte and reads as unsigned in `maddubs`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `a` is longer than `buf`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn abs_act<'b>(
    a: &[BlockQ8_0],
    buf: &'b mut [std::mem::MaybeUninit<__m256i>],
) -> &'b [__m256i] {
    let buf = &mut buf[..a.len()];
    // SAFETY: the CPU features are this function's contract; every entry of `buf` is written
    // before the slice over it is made.
    unsafe {
        for (y, o) in a.iter().zip(buf.iter_mut()) {
            o.write(_mm256_abs_epi8(load32(&y.qs)));
        }
        std::slice::from_raw_parts(buf.as_ptr() as *const __m256i, buf.len())
    }
}

/// Bit-identical to [`crate::quant::iq4_nl::vec_dot`] (ggml's AVX2
/// `ggml_vec_dot_iq4_nl_q8_0`): blocks in pairs into two sets of eight lanes (|lane| <= 4 *
/// 127 * 127), `acc_k = fma(d_a * d_w, lanes, acc_k)`, `hsum_float_8(acc_0 + acc_1)`, and a
/// last unpaired block as `sumf = fma(d_a * d_w, sumi, sumf)`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockIQ4NL], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only.
    unsafe {
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let pairs = w.len() / 2 * 2;
        let step = |x: &BlockIQ4NL, y: &BlockQ8_0, acc: __m256| {
            let d = _mm256_set1_ps(f16_to_f32(y.d) * f16_to_f32(x.d));
            let q = _mm256_cvtepi32_ps(mul_sum_i8_pairs(weights(x), load32(&y.qs)));
            _mm256_fmadd_ps(d, q, acc)
        };
        for (x, y) in w[..pairs].chunks_exact(2).zip(a.chunks_exact(2)) {
            acc0 = step(&x[0], &y[0], acc0);
            acc1 = step(&x[1], &y[1], acc1);
        }
        let mut sumf = hsum_ps(_mm256_add_ps(acc0, acc1));
        for (x, y) in w[pairs..].iter().zip(&a[pairs..]) {
            let sumi = hsum_i32(mul_sum_i8_pairs(weights(x), load32(&y.qs)));
            sumf = (f16_to_f32(y.d) * f16_to_f32(x.d)).mul_add(sumi as f32, sumf);
        }
        sumf
    }
}

/// Bit-identical to [`crate::quant::iq4_nl::vec_dot_repacked`] (ggml's repacked
/// `ggml_gemv/gemm_iq4_nl_8x8_q8_0`, AVX2): per block the exact integer sum,
/// `acc = fma(sum, d_w * d_a, acc)`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_repacked(w: &[BlockIQ4NL], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only.
    unsafe {
        let mut acc = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let sumi = hsum_i32(mul_sum_i8_pairs(weights(x), load32(&y.qs)));
            acc = (sumi as f32).mul_add(f16_to_f32(x.d) * f16_to_f32(y.d), acc);
        }
        acc
    }
}
