//! IQ4_XS on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::iq4_nl::lookup_32;
use super::{f16_to_f32, hsum_ps};
use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

/// Dot product of IQ4_XS weights with Q8_K activations (reference:
/// [`crate::quant::iq4_xs::vec_dot`]), as ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`: codebook
/// lookups with `pshufb` as in IQ4_NL, signed products with the sign trick (`maddubs` pairs
/// |.| <= 2 * 127 * 127 = 32_258 < 32_767), `madd` with the signed 6-bit scale of each
/// 32-value sub-block (|ls - 32| <= 32: |.| <= 2_064_512 per lane and call, 4 calls per lane
/// and accumulator), one FMA per super-block.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockIQ4XS], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 16 or 32 bytes
    // inside the codebook or the borrowed blocks' arrays (`qs` 128, q8 `qs` 256 bytes),
    // unaligned.
    unsafe {
        let values = _mm_loadu_si128(KVALUES.as_ptr() as *const __m128i);
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let q8 = y.qs.as_ptr();
            let mut sh = u16::from_le(x.scales_h);
            let mut sumi1 = _mm256_setzero_si256();
            let mut sumi2 = _mm256_setzero_si256();
            for ib in (0..8).step_by(2) {
                // In bounds (ib < 8); the checks fold away once the loop is unrolled.
                let qs1: &[u8; 16] = x.qs[16 * ib..16 * ib + 16].try_into().unwrap();
                let qs2: &[u8; 16] = x.qs[16 * ib + 16..16 * ib + 32].try_into().unwrap();
                let q4b_1 = lookup_32(values, qs1);
                let q4b_2 = lookup_32(values, qs2);
                let q8b_1 = _mm256_loadu_si256(q8.add(32 * ib) as *const __m256i);
                let q8b_2 = _mm256_loadu_si256(q8.add(32 * ib + 32) as *const __m256i);
                let p16_1 = _mm256_maddubs_epi16(
                    _mm256_sign_epi8(q4b_1, q4b_1),
                    _mm256_sign_epi8(q8b_1, q4b_1),
                );
                let p16_2 = _mm256_maddubs_epi16(
                    _mm256_sign_epi8(q4b_2, q4b_2),
                    _mm256_sign_epi8(q8b_2, q4b_2),
                );
                let sl = x.scales_l[ib / 2];
                let ls1 = (i16::from(sl & 0xF) | ((sh << 4) & 0x30) as i16) - 32;
                let ls2 = (i16::from(sl >> 4) | ((sh << 2) & 0x30) as i16) - 32;
                sh >>= 4;
                sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(p16_1, _mm256_set1_epi16(ls1)));
                sumi2 = _mm256_add_epi32(sumi2, _mm256_madd_epi16(p16_2, _mm256_set1_epi16(ls2)));
            }
            acc = _mm256_fmadd_ps(
                _mm256_set1_ps(f16_to_f32(x.d) * y.d),
                _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)),
                acc,
            );
        }
        hsum_ps(acc)
    }
}
