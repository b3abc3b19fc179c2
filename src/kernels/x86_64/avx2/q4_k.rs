//! Q4_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_ps, hsum_ps128, shuffle_i16};
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K};

const KMASK1: u32 = 0x3f3f_3f3f;
const KMASK2: u32 = 0x0f0f_0f0f;
const KMASK3: u32 = 0x0303_0303;

/// The 8 six-bit scales (bytes 0..8) and 8 six-bit minimums (bytes 8..16) of a Q4_K/Q5_K
/// block, unpacked from the 12 packed bytes with ggml's `utmp` word trick (the packing is
/// described in `crate::quant::q4_k`; `scale_min_k4` there is the one-at-a-time version).
#[inline]
pub(crate) fn scales_mins(packed: &[u8; 12]) -> [u32; 4] {
    let word = |i: usize| {
        u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]])
    };
    let (u0, u1, u2) = (word(0), word(4), word(8));
    [
        // scales 0..4: the low 6 bits of bytes 0..4
        u0 & KMASK1,
        // scales 4..8: low nibbles of bytes 8..12, top bits from bits 7:6 of bytes 0..4
        (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4),
        // mins 0..4: the low 6 bits of bytes 4..8
        u1 & KMASK1,
        // mins 4..8: high nibbles of bytes 8..12, top bits from bits 7:6 of bytes 4..8
        ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4),
    ]
}

/// Dot product of Q4_K weights with Q8_K activations (reference:
/// [`crate::quant::q4_k::vec_dot`]), as ggml's AVX2 `ggml_vec_dot_q4_K_q8_K`.
///
/// Per super-block: the minimum term `dmin * y.d * sum_j m[j] * (q8 sum of sub-block j)` from
/// `bsums` (pairs added in i16, |.| <= 32 * 127 = 4064; `madd` with the minimums,
/// |lane| <= 2 * 63 * 4064) into a 4-lane accumulator; the scaled products with `maddubs`
/// (nibbles 0..=15 times q8, pairs |.| <= 2 * 15 * 127 = 3810, no saturation) and `madd` with
/// the sub-block scale (|.| <= 2 * 63 * 3810 = 480_060 per lane and sub-block), 8 sub-blocks
/// per lane at most: |lane| < 2^22, then one FMA by `d * y.d`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 32 bytes at
    // offsets inside the borrowed blocks' `qs` arrays (128 and 256 bytes) or the 16 i16
    // `bsums` (unaligned loads).
    unsafe {
        let m4 = _mm256_set1_epi8(0xF);
        let mut acc = _mm256_setzero_ps();
        let mut acc_m = _mm_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let d = y.d * f16_to_f32(x.d);
            let dmin = -y.d * f16_to_f32(x.dmin);
            let u = scales_mins(&x.scales);
            // 16 i16: scales 0..8, mins 0..8.
            let mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32(
                u[3] as i32,
                u[2] as i32,
                u[1] as i32,
                u[0] as i32,
            ));

            let q8sums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
            let q8s = _mm_hadd_epi16(
                _mm256_castsi256_si128(q8sums),
                _mm256_extracti128_si256::<1>(q8sums),
            );
            let prod = _mm_madd_epi16(_mm256_extracti128_si256::<1>(mins_and_scales), q8s);
            acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);

            let sc128 = _mm256_castsi256_si128(mins_and_scales);
            let scales = _mm256_set_m128i(sc128, sc128);

            let q4 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut sumi = _mm256_setzero_si256();
            for j in 0..4 {
                let scale_l = _mm256_shuffle_epi8(scales, shuffle_i16(2 * j));
                let scale_h = _mm256_shuffle_epi8(scales, shuffle_i16(2 * j + 1));

                let q4bits = _mm256_loadu_si256(q4.add(32 * j) as *const __m256i);
                let q4l = _mm256_and_si256(q4bits, m4);
                let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits), m4);

                let q8l = _mm256_loadu_si256(q8.add(64 * j) as *const __m256i);
                let p16l = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, q8l));
                let q8h = _mm256_loadu_si256(q8.add(64 * j + 32) as *const __m256i);
                let p16h = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, q8h));

                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16l, p16h));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_ps(acc) + hsum_ps128(acc_m)
    }
}
