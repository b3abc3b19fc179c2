//! Q3_K on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::{add_lanes_in_order, add_scaled_lanes, f16_to_f32, lane_order, scale_pair};
use crate::quant::{q3_k::BlockQ3K, q8_k::BlockQ8K};

const KMASK1: u32 = 0x0303_0303;
const KMASK2: u32 = 0x0f0f_0f0f;

/// Dot product of Q3_K weights with Q8_K activations, bit-identical to the reference
/// [`crate::quant::q3_k::vec_dot`] (ggml's generic kernel; the unpacking follows ggml's AVX2
/// `ggml_vec_dot_q3_K_q8_K`).
///
/// The low bits, the high-bit mask and the activations are [`lane_order`]ed (all indexed by
/// the position l within a run of 32 values); the signed value `low2 - 4 * (high bit clear)`
/// (in [-4, 3]) multiplies the activations with the sign trick (pairs |.| <= 2 * 4 * 127),
/// and `madd` applies the signed 6-bit scales of the run's two 16-value sub-blocks. The eight
/// lanes are the reference's (|lane| <= 32 * 32 * 512 = 524_288); then
/// `sums[l] += d * lanes[l]`, and at the end `sumf = sums[0] + ... + sums[7]` in order.
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
        let mut sums = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            // The sixteen 6-bit scales (ggml's kmask unpacking, see `crate::quant::q3_k`),
            // minus their bias of 32.
            let p = &x.scales;
            let word = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
            let (a0, a1, a2) = (word(0), word(4), word(8));
            let packed = [
                (a0 & KMASK2) | ((a2 & KMASK1) << 4),
                (a1 & KMASK2) | (((a2 >> 2) & KMASK1) << 4),
                ((a0 >> 4) & KMASK2) | (((a2 >> 4) & KMASK1) << 4),
                ((a1 >> 4) & KMASK2) | (((a2 >> 6) & KMASK1) << 4),
            ];
            let mut sc = [0i16; 16];
            for (k, s) in sc.iter_mut().enumerate() {
                *s = i16::from(packed[k / 4].to_le_bytes()[k % 4]) - 32;
            }

            let mut hbits = lane_order(_mm256_loadu_si256(x.hmask.as_ptr() as *const __m256i));
            let q3 = x.qs.as_ptr();
            let q8 = y.qs.as_ptr();
            let mut lanes = _mm256_setzero_si256();
            for j in 0..2 {
                let q3bits = lane_order(_mm256_loadu_si256(q3.add(32 * j) as *const __m256i));
                let low = [
                    q3bits,
                    _mm256_srli_epi16::<2>(q3bits),
                    _mm256_srli_epi16::<4>(q3bits),
                    _mm256_srli_epi16::<6>(q3bits),
                ];
                for (k, &low) in low.iter().enumerate() {
                    // 4 where the high bit is clear, else 0.
                    let clear4 = _mm256_slli_epi16::<2>(_mm256_andnot_si256(hbits, one));
                    hbits = _mm256_srli_epi16::<1>(hbits);
                    let q = _mm256_sub_epi8(_mm256_and_si256(low, m3), clear4);
                    let q8v = lane_order(_mm256_loadu_si256(
                        q8.add(128 * j + 32 * k) as *const __m256i
                    ));
                    let p16 =
                        _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(q8v, q));
                    let g = 8 * j + 2 * k;
                    let scales = scale_pair(sc[g], sc[g + 1]);
                    lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(p16, scales));
                }
            }
            sums = add_scaled_lanes(sums, f16_to_f32(x.d) * y.d, lanes);
        }
        add_lanes_in_order(0.0, sums)
    }
}
