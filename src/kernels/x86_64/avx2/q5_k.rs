//! Q5_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::q4_k::scales_mins;
use super::{f16_to_f32, hsum_ps, hsum_ps128, shuffle_i16};
use crate::quant::{q5_k::BlockQ5K, q8_k::BlockQ8K};

/// Dot product of Q5_K weights with Q8_K activations (reference:
/// [`crate::quant::q5_k::vec_dot`]), after ggml's AVX2 `ggml_vec_dot_q5_K_q8_K`: Q4_K's
/// kernel with the fifth bit added to each nibble.
///
/// The high bit of value `32j + l` is bit j of `qh[l]`: `hbits` holds `qh`, and sub-block j
/// takes bit 0 of each byte shifted up to bit 4 (`slli_epi16(hbits, 4) & 0x10`: within a
/// 16-bit lane, bit 0 of each byte lands on bit 4 of the same byte) before `hbits` moves down
/// one bit for the next sub-block (bits crossing into a neighbouring byte's bit 7 are masked
/// off).
///
/// Bounds: 5-bit values 0..=31 times q8, pairs |.| <= 2 * 31 * 127 = 7874 (no `maddubs`
/// saturation); times a scale <= 63 in `madd`, |.| <= 992_124 per lane and sub-block, 8
/// sub-blocks per lane at most: |lane| < 2^23. Minimum term as in Q4_K.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 32 bytes at
    // offsets inside the borrowed blocks' `qs`/`qh` arrays or the 16 i16 `bsums` (unaligned).
    unsafe {
        let m4 = _mm256_set1_epi8(0xF);
        let bit4 = _mm256_set1_epi8(0x10);
        let mut acc = _mm256_setzero_ps();
        let mut acc_m = _mm_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let d = y.d * f16_to_f32(x.d);
            let dmin = -y.d * f16_to_f32(x.dmin);
            let u = scales_mins(&x.scales);
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

            let mut hbits = _mm256_loadu_si256(x.qh.as_ptr() as *const __m256i);
            let q5 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut sumi = _mm256_setzero_si256();
            for j in 0..4 {
                let scale_0 = _mm256_shuffle_epi8(scales, shuffle_i16(2 * j));
                let scale_1 = _mm256_shuffle_epi8(scales, shuffle_i16(2 * j + 1));

                let q5bits = _mm256_loadu_si256(q5.add(32 * j) as *const __m256i);

                let h0 = _mm256_and_si256(_mm256_slli_epi16::<4>(hbits), bit4);
                hbits = _mm256_srli_epi16::<1>(hbits);
                let h1 = _mm256_and_si256(_mm256_slli_epi16::<4>(hbits), bit4);
                hbits = _mm256_srli_epi16::<1>(hbits);

                let q5_0 = _mm256_or_si256(_mm256_and_si256(q5bits, m4), h0);
                let q5_1 = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(q5bits), m4),
                    h1,
                );

                let q8_0 = _mm256_loadu_si256(q8.add(64 * j) as *const __m256i);
                let q8_1 = _mm256_loadu_si256(q8.add(64 * j + 32) as *const __m256i);

                let p16_0 = _mm256_madd_epi16(scale_0, _mm256_maddubs_epi16(q5_0, q8_0));
                let p16_1 = _mm256_madd_epi16(scale_1, _mm256_maddubs_epi16(q5_1, q8_1));

                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16_0, p16_1));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_ps(acc) + hsum_ps128(acc_m)
    }
}
