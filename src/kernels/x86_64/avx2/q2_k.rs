//! Q2_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_i32, shuffle_i16_pair};
use crate::quant::{q2_k::BlockQ2K, q8_k::BlockQ8K};

/// Dot product of Q2_K weights with Q8_K activations, bit-identical to the reference
/// [`crate::quant::q2_k::vec_dot`]: the integer work of ggml's AVX2 `ggml_vec_dot_q2_K_q8_K`
/// gives the reference's two exact sums per super-block, then its float step
/// `sumf += dall * isum - dmin * summs`.
///
/// `summs = sum_j m[j] * bsums[j]` (a Q2_K sub-block is one `bsums` group; `madd` of the 4-bit
/// minimums with `bsums`, |summs| <= 16 * 15 * 2048); `isum`: 2-bit values (0..=3) times q8
/// with `maddubs` (pairs |.| <= 2 * 3 * 128 = 768), times the 4-bit scale of their 16-value
/// sub-block with `madd`, |isum| <= 16 * 15 * 6144 = 1_474_560.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 16 or 32 bytes
    // at offsets inside the borrowed blocks' arrays (`scales` 16, `qs` 64, q8 `qs` 256
    // bytes, `bsums` 32 bytes), unaligned.
    unsafe {
        let m3 = _mm256_set1_epi8(3);
        let m4 = _mm_set1_epi8(0xF);
        let mut sumf = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let dall = y.d * f16_to_f32(x.d);
            let dmin = y.d * f16_to_f32(x.dmin);

            let mins_and_scales = _mm_loadu_si128(x.scales.as_ptr() as *const __m128i);
            let scales8 = _mm_and_si128(mins_and_scales, m4);
            let mins8 = _mm_and_si128(_mm_srli_epi16::<4>(mins_and_scales), m4);
            let mins = _mm256_cvtepi8_epi16(mins8);
            let prod =
                _mm256_madd_epi16(mins, _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i));
            let summs = hsum_i32(prod);

            let all_scales = _mm256_cvtepi8_epi16(scales8);
            let l_scales = _mm256_castsi256_si128(all_scales);
            let h_scales = _mm256_extracti128_si256::<1>(all_scales);
            let scales = [
                _mm256_set_m128i(l_scales, l_scales),
                _mm256_set_m128i(h_scales, h_scales),
            ];

            let q2 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut sumi = _mm256_setzero_si256();
            for (j, &scales) in scales.iter().enumerate() {
                let q2bits = _mm256_loadu_si256(q2.add(32 * j) as *const __m256i);
                let q8p = q8.add(128 * j);
                let q8_0 = _mm256_loadu_si256(q8p as *const __m256i);
                let q8_1 = _mm256_loadu_si256(q8p.add(32) as *const __m256i);
                let q8_2 = _mm256_loadu_si256(q8p.add(64) as *const __m256i);
                let q8_3 = _mm256_loadu_si256(q8p.add(96) as *const __m256i);

                let q2_0 = _mm256_and_si256(q2bits, m3);
                let q2_1 = _mm256_and_si256(_mm256_srli_epi16::<2>(q2bits), m3);
                let q2_2 = _mm256_and_si256(_mm256_srli_epi16::<4>(q2bits), m3);
                let q2_3 = _mm256_and_si256(_mm256_srli_epi16::<6>(q2bits), m3);

                let p0 = _mm256_maddubs_epi16(q2_0, q8_0);
                let p1 = _mm256_maddubs_epi16(q2_1, q8_1);
                let p2 = _mm256_maddubs_epi16(q2_2, q8_2);
                let p3 = _mm256_maddubs_epi16(q2_3, q8_3);

                let p0 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales, shuffle_i16_pair(0)), p0);
                let p1 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales, shuffle_i16_pair(1)), p1);
                let p2 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales, shuffle_i16_pair(2)), p2);
                let p3 = _mm256_madd_epi16(_mm256_shuffle_epi8(scales, shuffle_i16_pair(3)), p3);

                sumi = _mm256_add_epi32(
                    sumi,
                    _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)),
                );
            }
            let isum = hsum_i32(sumi);
            sumf += dall * isum as f32 - dmin * summs as f32;
        }
        sumf
    }
}
