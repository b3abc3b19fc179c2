//! IQ4_XS on AVX2: the dot product with Q8_K activations.

use std::arch::x86_64::*;

use super::iq4_nl::lookup_32;
use super::{f16_to_f32, hsum4_i32, load32, mul_sum_i8_pairs};
use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

/// Dot product of IQ4_XS weights with Q8_K activations, bit-identical to the reference
/// [`crate::quant::iq4_xs::vec_dot`]: codebook lookups with `pshufb` as in IQ4_NL (after
/// ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`), the exact integer dot product of each 32-value
/// sub-block (sign trick, |sumi| <= 32 * 127 * 127), eight per super-block reduced together;
/// then the reference's `sumf += (d * y.d * (ls - 32)) * sumi` sub-block by sub-block.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockIQ4XS], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the 16-byte
    // codebook and 16 or 32 bytes inside the borrowed blocks' arrays; the stores write the
    // 8 i32 of `si`.
    unsafe {
        let values = _mm_loadu_si128(KVALUES.as_ptr() as *const __m128i);
        let mut sumf = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let mut v = [_mm256_setzero_si256(); 8];
            let subs = x.qs.chunks_exact(16).zip(y.qs.chunks_exact(32));
            for (v, (qs, q8)) in v.iter_mut().zip(subs) {
                // Both chunk lengths are exact, so the conversions cannot fail.
                let qs: &[u8; 16] = qs.try_into().unwrap();
                let q8: &[i8; 32] = q8.try_into().unwrap();
                *v = mul_sum_i8_pairs(lookup_32(values, qs), load32(q8));
            }
            let mut si = [0i32; 8];
            let p = si.as_mut_ptr() as *mut __m128i;
            _mm_storeu_si128(p, hsum4_i32([v[0], v[1], v[2], v[3]]));
            _mm_storeu_si128(p.add(1), hsum4_i32([v[4], v[5], v[6], v[7]]));
            let d4d8 = f16_to_f32(x.d) * y.d;
            let sh = u16::from_le(x.scales_h);
            for (ib, sumi) in si.into_iter().enumerate() {
                let low = u16::from((x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF);
                let ls = (low | (((sh >> (2 * ib)) & 3) << 4)) as i32;
                let dl = d4d8 * (ls - 32) as f32;
                sumf += dl * sumi as f32;
            }
        }
        sumf
    }
}
