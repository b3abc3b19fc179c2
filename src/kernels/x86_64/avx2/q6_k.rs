//! Q6_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::{add_lanes_in_order, add_scaled_lanes, f16_to_f32, lane_order, scale_pair};
use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K};

/// Dot product of Q6_K weights with Q8_K activations, bit-identical to the reference
/// [`crate::quant::q6_k::vec_dot`] (ggml's generic kernel; the bit unpacking follows ggml's
/// AVX2 `ggml_vec_dot_q6_K_q8_K`).
///
/// The quants, high bits and activations are [`lane_order`]ed (all are indexed by the
/// position l within a run of 32 values), the signed values `q - 32` (in [-32, 31]) multiply
/// the activations with the sign trick (`maddubs(|q - 32|, sign(q8, q - 32))`, exact since
/// q8 != -128; pairs |.| <= 2 * 32 * 127 = 8128), and `madd` applies the i8 scales of the two
/// 16-value sub-blocks of the run (|.| <= 2 * 128 * 8128 per lane and run). The eight lanes
/// are the reference's, |lane| <= 32 * 128 * 4096 = 2^24 (exact as f32); then
/// `sums[l] += d * lanes[l]`, and at the end `sumf = sums[0] + ... + sums[7]` in order.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 32 bytes at
    // offsets inside the borrowed blocks' arrays (`ql` 128, `qh` 64, `qs` 256 bytes),
    // unaligned.
    unsafe {
        let m3 = _mm256_set1_epi8(3);
        let m15 = _mm256_set1_epi8(15);
        let m32 = _mm256_set1_epi8(32);
        let mut sums = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let q4 = x.ql.as_ptr();
            let qh = x.qh.as_ptr();
            let q8 = y.qs.as_ptr();
            let sc = &x.scales;
            let mut lanes = _mm256_setzero_si256();
            for j in 0..2 {
                let q4bits1 = lane_order(_mm256_loadu_si256(q4.add(64 * j) as *const __m256i));
                let q4bits2 = lane_order(_mm256_loadu_si256(q4.add(64 * j + 32) as *const __m256i));
                let q4bits_h = lane_order(_mm256_loadu_si256(qh.add(32 * j) as *const __m256i));

                // High bit pairs 1:0, 3:2, 5:4, 7:6 moved to bits 5:4 of each byte.
                let q4h_0 = _mm256_slli_epi16::<4>(_mm256_and_si256(q4bits_h, m3));
                let q4h_1 =
                    _mm256_slli_epi16::<2>(_mm256_and_si256(q4bits_h, _mm256_set1_epi8(12)));
                let q4h_2 = _mm256_and_si256(q4bits_h, _mm256_set1_epi8(48));
                let q4h_3 = _mm256_srli_epi16::<2>(_mm256_and_si256(
                    q4bits_h,
                    _mm256_set1_epi8(0xC0u8 as i8),
                ));

                // Runs k = 0..4: values 128j + 32k + l, unsigned 0..=63.
                let q = [
                    _mm256_or_si256(_mm256_and_si256(q4bits1, m15), q4h_0),
                    _mm256_or_si256(_mm256_and_si256(q4bits2, m15), q4h_1),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits1), m15),
                        q4h_2,
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits2), m15),
                        q4h_3,
                    ),
                ];
                for (k, &q) in q.iter().enumerate() {
                    let s = _mm256_sub_epi8(q, m32);
                    let q8v = lane_order(_mm256_loadu_si256(
                        q8.add(128 * j + 32 * k) as *const __m256i
                    ));
                    let p16 =
                        _mm256_maddubs_epi16(_mm256_sign_epi8(s, s), _mm256_sign_epi8(q8v, s));
                    let g = 8 * j + 2 * k;
                    let scales = scale_pair(i16::from(sc[g]), i16::from(sc[g + 1]));
                    lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(p16, scales));
                }
            }
            sums = add_scaled_lanes(sums, f16_to_f32(x.d) * y.d, lanes);
        }
        add_lanes_in_order(0.0, sums)
    }
}
