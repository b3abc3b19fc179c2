//! Q5_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::q4_k::scales_mins;
use super::{add_lanes_in_order, add_scaled_lanes, f16_to_f32, hsum_i32_128, lane_order};
use crate::quant::{q5_k::BlockQ5K, q8_k::BlockQ8K};

/// Dot product of Q5_K weights with Q8_K activations, bit-identical to the reference
/// [`crate::quant::q5_k::vec_dot`]: Q4_K's kernel ([`super::q4_k::vec_dot`]) with the fifth
/// bit added to each nibble (after ggml's AVX2 `ggml_vec_dot_q5_K_q8_K`).
///
/// The high bit of value `32j + l` is bit j of `qh[l]`; `qh` is [`lane_order`]ed like the
/// quants (both are indexed by the position l), and sub-block j takes bit 0 of each byte moved
/// up to bit 4 (`slli_epi16(hbits, 4) & 0x10`: within a 16-bit lane, bit 0 of each byte lands
/// on bit 4 of the same byte) before `hbits` moves down one bit for the next sub-block (bits
/// crossing into a neighbouring byte's bit 7 are masked off).
///
/// Bounds: 5-bit values 0..=31 times q8, `maddubs` pairs |.| <= 2 * 31 * 128 = 7936; times a
/// scale <= 63 in `madd`; |lane| <= 32 * 63 * 31 * 128 = 7_999_488 < 2^24 (exact as f32).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 16 or 32 bytes
    // at offsets inside the borrowed blocks' `qs`/`qh` arrays or the 16 i16 `bsums`
    // (unaligned).
    unsafe {
        let m4 = _mm256_set1_epi8(0xF);
        let bit4 = _mm256_set1_epi8(0x10);
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

            let mut hbits = lane_order(_mm256_loadu_si256(x.qh.as_ptr() as *const __m256i));
            let q5 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut lanes = _mm256_setzero_si256();
            for c in 0..4 {
                let q5bits = lane_order(_mm256_loadu_si256(q5.add(32 * c) as *const __m256i));
                let h0 = _mm256_and_si256(_mm256_slli_epi16::<4>(hbits), bit4);
                hbits = _mm256_srli_epi16::<1>(hbits);
                let h1 = _mm256_and_si256(_mm256_slli_epi16::<4>(hbits), bit4);
                hbits = _mm256_srli_epi16::<1>(hbits);
                let q5l = _mm256_or_si256(_mm256_and_si256(q5bits, m4), h0);
                let q5h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q5bits), m4), h1);
                let q8l = lane_order(_mm256_loadu_si256(q8.add(64 * c) as *const __m256i));
                let q8h = lane_order(_mm256_loadu_si256(q8.add(64 * c + 32) as *const __m256i));
                let sl = _mm256_set1_epi16(i16::from(sc[c / 2][2 * (c % 2)]));
                let sh = _mm256_set1_epi16(i16::from(sc[c / 2][2 * (c % 2) + 1]));
                let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(q5l, q8l), sl);
                let ph = _mm256_madd_epi16(_mm256_maddubs_epi16(q5h, q8h), sh);
                lanes = _mm256_add_epi32(lanes, _mm256_add_epi32(pl, ph));
            }
            sums = add_scaled_lanes(sums, f16_to_f32(x.d) * y.d, lanes);
            let dmin = f16_to_f32(x.dmin) * y.d;
            sumf -= dmin * sumi as f32;
        }
        add_lanes_in_order(sumf, sums)
    }
}
