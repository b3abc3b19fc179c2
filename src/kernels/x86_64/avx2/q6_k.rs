//! Q6_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_ps};
use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K};

/// A `_mm_shuffle_epi8` control that repeats byte `2i` eight times, then byte `2i + 1` eight
/// times (`get_scale_shuffle`): the i8 scales of two consecutive 16-value sub-blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn shuffle_scale_pair(i: usize) -> __m128i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let lo = (2 * i) as i64 * 0x0101_0101_0101_0101;
        _mm_set_epi64x(lo + 0x0101_0101_0101_0101, lo)
    }
}

/// Dot product of Q6_K weights with Q8_K activations (reference:
/// [`crate::quant::q6_k::vec_dot`]), as ggml's AVX2 `ggml_vec_dot_q6_K_q8_K`.
///
/// The 6-bit values are used unsigned (0..=63) with `maddubs`, and the offset of 32 is taken
/// off at the end through `bsums`: `sum sc * (q - 32) * q8 = sum sc * q * q8 - 32 * sum sc *
/// bsum`. Bounds: pairs |.| <= 2 * 63 * 127 = 16_002 (no `maddubs` saturation); times an i8
/// scale (|.| <= 128) in `madd`, |.| <= 4_096_512 per lane and call, 8 calls per lane:
/// |lane| < 2^25; the correction is at most 32 * 2 * 128 * 2032 < 2^24 per lane.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 16 or 32 bytes
    // at offsets inside the borrowed blocks' arrays (`ql` 128, `qh` 64, `scales` 16, `qs`
    // 256 bytes, `bsums` 32 bytes), unaligned.
    unsafe {
        let m3 = _mm256_set1_epi8(3);
        let m15 = _mm256_set1_epi8(15);
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let d = y.d * f16_to_f32(x.d);
            let q8sums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
            let scales = _mm_loadu_si128(x.scales.as_ptr() as *const __m128i);
            let scales_16 = _mm256_cvtepi8_epi16(scales);
            let q8sclsub = _mm256_slli_epi32::<5>(_mm256_madd_epi16(q8sums, scales_16));

            let q4 = x.ql.as_ptr();
            let qh = x.qh.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut sumi = _mm256_setzero_si256();
            for j in 0..2 {
                let q4bits1 = _mm256_loadu_si256(q4.add(64 * j) as *const __m256i);
                let q4bits2 = _mm256_loadu_si256(q4.add(64 * j + 32) as *const __m256i);
                let q4bits_h = _mm256_loadu_si256(qh.add(32 * j) as *const __m256i);

                // High bit pairs 1:0, 3:2, 5:4, 7:6 moved to bits 5:4 of each byte.
                let q4h_0 = _mm256_slli_epi16::<4>(_mm256_and_si256(q4bits_h, m3));
                let q4h_1 =
                    _mm256_slli_epi16::<2>(_mm256_and_si256(q4bits_h, _mm256_set1_epi8(12)));
                let q4h_2 = _mm256_and_si256(q4bits_h, _mm256_set1_epi8(48));
                let q4h_3 = _mm256_srli_epi16::<2>(_mm256_and_si256(
                    q4bits_h,
                    _mm256_set1_epi8(0xC0u8 as i8),
                ));

                // Values 128j + 32k + l for k = 0..4.
                let q4_0 = _mm256_or_si256(_mm256_and_si256(q4bits1, m15), q4h_0);
                let q4_1 = _mm256_or_si256(_mm256_and_si256(q4bits2, m15), q4h_1);
                let q4_2 =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4bits1), m15), q4h_2);
                let q4_3 =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4bits2), m15), q4h_3);

                let q8_0 = _mm256_loadu_si256(q8.add(128 * j) as *const __m256i);
                let q8_1 = _mm256_loadu_si256(q8.add(128 * j + 32) as *const __m256i);
                let q8_2 = _mm256_loadu_si256(q8.add(128 * j + 64) as *const __m256i);
                let q8_3 = _mm256_loadu_si256(q8.add(128 * j + 96) as *const __m256i);

                let p16_0 = _mm256_maddubs_epi16(q4_0, q8_0);
                let p16_1 = _mm256_maddubs_epi16(q4_1, q8_1);
                let p16_2 = _mm256_maddubs_epi16(q4_2, q8_2);
                let p16_3 = _mm256_maddubs_epi16(q4_3, q8_3);

                let is = 4 * j;
                let mut sc = [_mm256_setzero_si256(); 4];
                for (k, sc) in sc.iter_mut().enumerate() {
                    let pair = _mm_shuffle_epi8(scales, shuffle_scale_pair(is + k));
                    *sc = _mm256_cvtepi8_epi16(pair);
                }
                let p16_0 = _mm256_madd_epi16(sc[0], p16_0);
                let p16_1 = _mm256_madd_epi16(sc[1], p16_1);
                let p16_2 = _mm256_madd_epi16(sc[2], p16_2);
                let p16_3 = _mm256_madd_epi16(sc[3], p16_3);

                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16_0, p16_1));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16_2, p16_3));
            }
            sumi = _mm256_sub_epi32(sumi, q8sclsub);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_ps(acc)
    }
}
