//! Q4_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::{add_lanes_in_order, add_scaled_lanes, f16_to_f32, hsum_i32_128, lane_order};
pub(crate) use crate::kernels::scales_mins;
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K};

/// Dot product of Q4_K weights with Q8_K activations, bit-identical to the reference
/// [`crate::quant::q4_k::vec_dot`] (ggml's generic kernel; the integer work follows ggml's
/// AVX2 `ggml_vec_dot_q4_K_q8_K`).
///
/// Per super-block: the minimum term `sumi = sum_j m[j/2] * bsums[j]` exactly (bsums added in
/// pairs in i16, |.| <= 32 * 128; `madd` with the minimums, |.| <= 2 * 63 * 4096 per lane);
/// the eight reference lanes with [`lane_order`]ed operands: nibbles 0..=15 times q8 with
/// `maddubs` (pairs |.| <= 2 * 15 * 128 = 3840, no saturation), `madd` with the sub-block
/// scale (<= 63), |lane| <= 32 * 63 * 15 * 128 = 3_870_720 < 2^24 (exact as f32); then the
/// reference's `sums[l] += d * lanes[l]` and `sumf -= dmin * sumi`, and at the end
/// `sumf += sums[0] + ... + sums[7]` in order.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 16 or 32 bytes
    // at offsets inside the borrowed blocks' `qs` arrays (128 and 256 bytes) or the 16 i16
    // `bsums` (unaligned loads).
    unsafe {
        let m4 = _mm256_set1_epi8(0xF);
        let mut sums = _mm256_setzero_ps();
        let mut sumf = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let u = scales_mins(&x.scales);
            let sc = [u[0].to_le_bytes(), u[1].to_le_bytes()];

            let q8sums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
            let q8s = _mm_hadd_epi16(
                _mm256_castsi256_si128(q8sums),
                _mm256_extracti128_si256::<1>(q8sums),
            );
            let mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, u[3] as i32, u[2] as i32));
            let sumi = hsum_i32_128(_mm_madd_epi16(mins, q8s));

            let q4 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut lanes = _mm256_setzero_si256();
            for c in 0..4 {
                let q4bits = lane_order(_mm256_loadu_si256(q4.add(32 * c) as *const __m256i));
                let q4l = _mm256_and_si256(q4bits, m4);
                let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits), m4);
                let q8l = lane_order(_mm256_loadu_si256(q8.add(64 * c) as *const __m256i));
                let q8h = lane_order(_mm256_loadu_si256(q8.add(64 * c + 32) as *const __m256i));
                let sl = _mm256_set1_epi16(i16::from(sc[c / 2][2 * (c % 2)]));
                let sh = _mm256_set1_epi16(i16::from(sc[c / 2][2 * (c % 2) + 1]));
                let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(q4l, q8l), sl);
                let ph = _mm256_madd_epi16(_mm256_maddubs_epi16(q4h, q8h), sh);
                lanes = _mm256_add_epi32(lanes, _mm256_add_epi32(pl, ph));
            }
            sums = add_scaled_lanes(sums, f16_to_f32(x.d) * y.d, lanes);
            let dmin = f16_to_f32(x.dmin) * y.d;
            sumf -= dmin * sumi as f32;
        }
        add_lanes_in_order(sumf, sums)
    }
}
