//! IQ4_XS on AVX2: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders, sharing the integer work ([`block_lanes`]).

use std::arch::x86_64::*;

use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

/// The eight exact i32 lanes of one super-block as ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`
/// builds them (`crate::quant::q8_k::k_lanes` of the table values and the signed scales
/// `ls - 32`): per 32-value sub-block, the table values by a `pshufb` lookup of each nibble,
/// the signed products by `maddubs(|v|, sign(q8, v))` (table values in -127..=113 and
/// activations in -127..=127, so an i16 pair is at most 2 * 127 * 127 = 32258 and the sign
/// trick is exact), then `madd` with the sub-block's scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_lanes(x: &BlockIQ4XS, y: &BlockQ8K) -> __m256i {
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

super::lane_dots!(BlockIQ4XS, "iq4_xs");
