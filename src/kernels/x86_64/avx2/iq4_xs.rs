//! IQ4_XS on AVX2: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders, sharing the integer work ([`block_lanes`]).

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum_i32, hsum_ps};
use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

/// The eight exact i32 lanes of one super-block as ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`
/// builds them (`crate::quant::q8_k::k_lanes` of the table values and the signed scales
/// `ls - 32`): per 32-value sub-block, the table values by a `pshufb` lookup of each nibble,
/// the signed products by `maddubs(|v|, sign(q8, v))` (table values in -127..=113 and
/// activations in -127..=127, so an i16 pair is at most 2 * 127 * 127 = 32258 and the sign
/// trick is exact), then `madd` with the sub-block's scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block_lanes(x: &BlockIQ4XS, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the 16 table
    // values, 16-byte runs of `x.qs` and 32-byte runs of `y.qs` (unaligned).
    unsafe {
        let table = _mm_loadu_si128(KVALUES.as_ptr() as *const __m128i);
        let m4 = _mm_set1_epi8(0x0F);
        let sh = u16::from_le(x.scales_h);
        let mut sumi = _mm256_setzero_si256();
        for ib in 0..8 {
            let low = (x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
            let high = ((sh >> (2 * ib)) & 3) as u8;
            let ls = i16::from(low | (high << 4)) - 32;
            let q = _mm_loadu_si128(x.qs.as_ptr().add(16 * ib) as *const __m128i);
            let lo = _mm_shuffle_epi8(table, _mm_and_si128(q, m4));
            let hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16::<4>(q), m4));
            let v = _mm256_set_m128i(hi, lo);
            let q8 = _mm256_loadu_si256(y.qs.as_ptr().add(32 * ib) as *const __m256i);
            let p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(q8, v));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_set1_epi16(ls), p));
        }
        sumi
    }
}

/// Bit-identical to [`crate::quant::iq4_xs::vec_dot`] (ggml's AVX2
/// `ggml_vec_dot_iq4_xs_q8_K`): `acc = fma(d * d_a, lanes, acc)`, `hsum_float_8` at the end.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockIQ4XS], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read the borrowed
    // blocks only.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let d = _mm256_set1_ps(f16_to_f32(x.d) * y.d);
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_lanes(x, y)), acc);
        }
        hsum_ps(acc)
    }
}

/// Bit-identical to [`crate::quant::iq4_xs::vec_dot_tiled`] (ggml's tiled K-quant matmul):
/// `acc = fma(d * s1, d_a, acc)` per super-block, `s1` the exact sum of its lanes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_tiled(w: &[BlockIQ4XS], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read the borrowed
    // blocks only.
    unsafe {
        let mut acc = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let s1 = hsum_i32(block_lanes(x, y));
            acc = (f16_to_f32(x.d) * s1 as f32).mul_add(y.d, acc);
        }
        acc
    }
}
