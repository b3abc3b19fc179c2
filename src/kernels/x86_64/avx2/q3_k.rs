//! Q3_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_ps, shuffle_i16_pair};
use crate::quant::{q3_k::BlockQ3K, q8_k::BlockQ8K};

const KMASK1: u32 = 0x0303_0303;
const KMASK2: u32 = 0x0f0f_0f0f;

/// Dot product of Q3_K weights with Q8_K activations (reference:
/// [`crate::quant::q3_k::vec_dot`]), after ggml's AVX2 `ggml_vec_dot_q3_K_q8_K`.
///
/// The signed value `low2 - 4 * (high bit clear)` is multiplied in two unsigned halves,
/// `maddubs(low2, q8) - maddubs(4 * clear, q8)` (pairs |.| <= 2 * 3 * 127 and 2 * 4 * 127,
/// difference |.| <= 1778 in i16), then `madd` with the signed 6-bit scale of each 16-value
/// sub-block (|scale| <= 32: |.| <= 113_792 per lane and call, 8 calls per lane), and one FMA
/// by `d * y.d` per super-block.
///
/// The high bit of value `32j + l` is bit j of `hmask[l]`: run j reads bit 0 of each byte of
/// `hbits`, which then moves down one bit for the next run (a bit crossing into a neighbour
/// byte's bit 7 is ignored).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 32 bytes at
    // offsets inside the borrowed blocks' arrays (`hmask` 32, `qs` 64, q8 `qs` 256 bytes),
    // unaligned.
    unsafe {
        let m3 = _mm256_set1_epi8(3);
        let one = _mm256_set1_epi8(1);
        let m32 = _mm_set1_epi8(32);
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let d = y.d * f16_to_f32(x.d);

            // The sixteen 6-bit scales (ggml's kmask unpacking, see `crate::quant::q3_k`),
            // minus their bias of 32.
            let p = &x.scales;
            let word = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
            let (a0, a1, a2) = (word(0), word(4), word(8));
            let scales128 = _mm_set_epi32(
                (((a1 >> 4) & KMASK2) | (((a2 >> 6) & KMASK1) << 4)) as i32,
                (((a0 >> 4) & KMASK2) | (((a2 >> 4) & KMASK1) << 4)) as i32,
                ((a1 & KMASK2) | (((a2 >> 2) & KMASK1) << 4)) as i32,
                ((a0 & KMASK2) | ((a2 & KMASK1) << 4)) as i32,
            );
            let scales128 = _mm_sub_epi8(scales128, m32);
            let all_scales = _mm256_cvtepi8_epi16(scales128);
            let l_scales = _mm256_castsi256_si128(all_scales);
            let h_scales = _mm256_extracti128_si256::<1>(all_scales);
            let scales = [
                _mm256_set_m128i(l_scales, l_scales),
                _mm256_set_m128i(h_scales, h_scales),
            ];

            let mut hbits = _mm256_loadu_si256(x.hmask.as_ptr() as *const __m256i);
            let q3 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut sumi = _mm256_setzero_si256();
            for (j, &scales) in scales.iter().enumerate() {
                let q3bits = _mm256_loadu_si256(q3.add(32 * j) as *const __m256i);
                let q8p = q8.add(128 * j);
                let mut p = [_mm256_setzero_si256(); 4];
                for (k, p) in p.iter_mut().enumerate() {
                    // Low 2 bits: shift by 2k (constant after unrolling).
                    let low = match k {
                        0 => q3bits,
                        1 => _mm256_srli_epi16::<2>(q3bits),
                        2 => _mm256_srli_epi16::<4>(q3bits),
                        _ => _mm256_srli_epi16::<6>(q3bits),
                    };
                    let q3l = _mm256_and_si256(low, m3);
                    // 4 where the high bit is clear, else 0.
                    let q3h = _mm256_slli_epi16::<2>(_mm256_andnot_si256(hbits, one));
                    hbits = _mm256_srli_epi16::<1>(hbits);

                    let q8v = _mm256_loadu_si256(q8p.add(32 * k) as *const __m256i);
                    let p16 = _mm256_sub_epi16(
                        _mm256_maddubs_epi16(q3l, q8v),
                        _mm256_maddubs_epi16(q3h, q8v),
                    );
                    *p = _mm256_madd_epi16(_mm256_shuffle_epi8(scales, shuffle_i16_pair(k)), p16);
                }
                sumi = _mm256_add_epi32(
                    sumi,
                    _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])),
                );
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_ps(acc)
    }
}
