//! Q5_K on AVX2: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders, sharing the integer work ([`block_sums`]).

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_i32, hsum_i32_128, hsum_ps, load32};
use crate::quant::{q5_k::BlockQ5K, q8_k::BlockQ8K};

/// The exact integer sums of one super-block, as ggml's AVX2 `ggml_vec_dot_q5_K_q8_K` builds
/// them: the eight i32 lanes of the quants (lane `l`: the values whose index mod 32 is in
/// `4l .. 4l + 4`, each product times its sub-block's scale, i.e.
/// `crate::quant::q8_k::k_lanes`), and the four `min * bsum` pair sums (lane `m`:
/// sub-blocks `2m`, `2m + 1`).
///
/// Bounds: `maddubs` pairs of 5-bit quants and |q8| <= 127 are below 2 * 31 * 127; times a
/// 6-bit scale in `madd`, eight such terms per lane, a lane is below 2^23.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_sums(x: &BlockQ5K, y: &BlockQ8K) -> (__m256i, __m128i) {
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only (32-byte runs of `x.qs`, `x.qh` and `y.qs`, the 16 `bsums`).
    unsafe {
        // `scales` is bytes 4..16 of the 176-byte block: 16 bytes readable from there.
        let (sc, mins) = super::q4_k::scales_mins_i16((x as *const BlockQ5K as *const u8).add(4));
        let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let q8s = _mm_hadd_epi16(
            _mm256_castsi256_si128(bs),
            _mm256_extracti128_si256::<1>(bs),
        );
        let mins = _mm_madd_epi16(mins, q8s);
        let m4 = _mm256_set1_epi8(0x0F);
        let m1 = _mm256_set1_epi8(1);
        let m2 = _mm256_set1_epi8(2);
        // Bits 2c and 2c + 1 of qh[l] are the high bits of values 64c + l and 64c + 32 + l;
        // shifted right by 2 per chunk (the masks keep only bits that stayed in their byte).
        let mut hb = load32(&x.qh);
        let mut sumi = _mm256_setzero_si256();
        for c in 0..4 {
            let q4 = _mm256_loadu_si256(x.qs.as_ptr().add(32 * c) as *const __m256i);
            let q5l = _mm256_or_si256(
                _mm256_and_si256(q4, m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(hb, m1)),
            );
            let q5h = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4),
                _mm256_slli_epi16::<3>(_mm256_and_si256(hb, m2)),
            );
            hb = _mm256_srli_epi16::<2>(hb);
            let q8l = load32(&*(y.qs.as_ptr().add(64 * c) as *const [i8; 32]));
            let q8h = load32(&*(y.qs.as_ptr().add(64 * c + 32) as *const [i8; 32]));
            let pl = _mm256_madd_epi16(sc[2 * c], _mm256_maddubs_epi16(q5l, q8l));
            let ph = _mm256_madd_epi16(sc[2 * c + 1], _mm256_maddubs_epi16(q5h, q8h));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        (sumi, mins)
    }
}

/// Bit-identical to [`crate::quant::q5_k::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q5_K_q8_K`):
/// `acc = fma(d_a * d, lanes, acc)`, `summs = fma(-d_a * dmin, sum of the mins, summs)`, and
/// `hsum_float_8(acc) + summs`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read the borrowed
    // blocks only.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let d = y.d * f16_to_f32(x.d);
            let dmin = -y.d * f16_to_f32(x.dmin);
            let (lanes, mins) = block_sums(x, y);
            summs = dmin.mul_add(hsum_i32_128(mins) as f32, summs);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
        }
        hsum_ps(acc) + summs
    }
}

/// Bit-identical to [`crate::quant::q5_k::vec_dot_tiled`] (ggml's tiled K-quant matmul,
/// `crate::quant::q8_k::tiled_step`): `res = fma(-dmin, s2, d * s1)`, `acc = fma(res, d_a,
/// acc)` per super-block.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_tiled(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read the borrowed
    // blocks only.
    unsafe {
        let mut acc = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let (lanes, mins) = block_sums(x, y);
            let s1 = hsum_i32(lanes);
            let s2 = hsum_i32_128(mins);
            let res = (-f16_to_f32(x.dmin)).mul_add(s2 as f32, f16_to_f32(x.d) * s1 as f32);
            acc = res.mul_add(y.d, acc);
        }
        acc
    }
}
