//! Q8_K on AVX2: the activation quantizer of the K-quants (their dot products are in the
//! weight formats' files).

use std::arch::x86_64::*;

use super::q8_0::{abs_ps, hmax_ps, pack_i32_to_i8};
use crate::quant::q8_k::{self as reference, BlockQ8K};
use crate::quant::QK_K;

/// Quantizes `x` into Q8_K blocks, byte-identical to the reference
/// [`crate::quant::q8_k::quantize_row`] (ggml's `quantize_row_q8_K_ref`, which ggml's x86
/// build also uses): the value of largest magnitude with its sign (the first one on ties),
/// `iscale = -127 / max`, `qs = min(127, round_half_even(iscale * x))`, `bsums` the sums of 16
/// quants, `d = 1 / iscale`. A block holding a NaN or an infinity is handed to the reference.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row(x: &[f32], out: &mut [BlockQ8K]) {
    assert_eq!(x.len(), out.len() * QK_K, "Q8_K quantize: length mismatch");
    for (xb, y) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        // SAFETY: the CPU features are this function's contract; every load reads 8 of the
        // 256 values of `xb` (offsets 8k, k < 32), every store writes inside `y.qs` or
        // `y.bsums` (unaligned).
        unsafe {
            let p = xb.as_ptr();
            let lim = _mm256_set1_epi32(0x7F7F_FFFF);
            let mut amaxv = _mm256_setzero_ps();
            let mut bad = _mm256_setzero_si256();
            for k in 0..QK_K / 8 {
                let a = abs_ps(_mm256_loadu_ps(p.add(8 * k)));
                amaxv = _mm256_max_ps(amaxv, a);
                bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(_mm256_castps_si256(a), lim));
            }
            if _mm256_testz_si256(bad, bad) == 0 {
                reference::quantize_row(xb, std::slice::from_mut(y));
                continue;
            }
            let amax = hmax_ps(amaxv);
            if amax == 0.0 {
                y.d = 0.0;
                y.qs = [0; QK_K];
                y.bsums = [0; QK_K / 16];
                continue;
            }
            // The first value whose magnitude is amax, with its sign.
            let av = _mm256_set1_ps(amax);
            let mut max = amax;
            for k in 0..QK_K / 8 {
                let a = abs_ps(_mm256_loadu_ps(p.add(8 * k)));
                let m = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(a, av));
                if m != 0 {
                    max = xb[8 * k + m.trailing_zeros() as usize];
                    break;
                }
            }
            let iscale = -127.0f32 / max;
            if !iscale.is_finite() {
                // |max| so small (subnormal) that -127 / max overflows: the reference's
                // saturating conversion of infinities differs from the vector one.
                reference::quantize_row(xb, std::slice::from_mut(y));
                continue;
            }
            let iv = _mm256_set1_ps(iscale);
            let top = _mm256_set1_ps(127.0);
            let ones8 = _mm256_set1_epi8(1);
            let ones16 = _mm256_set1_epi16(1);
            // quads[g]: the sums of 4 consecutive quants of values 32g .. 32g + 32; lanes
            // 0..4 cover bsums group 2g, lanes 4..8 group 2g + 1.
            let mut quads = [_mm256_setzero_si256(); 8];
            for (g, quad) in quads.iter_mut().enumerate() {
                let mut q = [_mm256_setzero_si256(); 4];
                for (i, q) in q.iter_mut().enumerate() {
                    let v = _mm256_loadu_ps(p.add(32 * g + 8 * i));
                    let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                        _mm256_mul_ps(iv, v),
                    );
                    // In [-127, 127] after the min (the low end cannot round below -127).
                    *q = _mm256_cvttps_epi32(_mm256_min_ps(r, top));
                }
                let q8 = pack_i32_to_i8(q);
                _mm256_storeu_si256(y.qs.as_mut_ptr().add(32 * g) as *mut __m256i, q8);
                // 1 * q summed in pairs (|.| <= 254), then pairs of pairs in i32.
                *quad = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q8), ones16);
            }
            // Two rounds of hadd turn four quad vectors into the 8 group sums
            // [0, 2, 4, 6 | 1, 3, 5, 7] (groups of the first 128 values) ...
            let s0 = _mm256_hadd_epi32(
                _mm256_hadd_epi32(quads[0], quads[1]),
                _mm256_hadd_epi32(quads[2], quads[3]),
            );
            // ... and [8, 10, 12, 14 | 9, 11, 13, 15].
            let s1 = _mm256_hadd_epi32(
                _mm256_hadd_epi32(quads[4], quads[5]),
                _mm256_hadd_epi32(quads[6], quads[7]),
            );
            // |group sum| <= 16 * 127 = 2032: the saturating pack to i16 is exact.
            // [0, 2, .., 14 | 1, 3, .., 15]
            let s = _mm256_packs_epi32(s0, s1);
            let even = _mm256_castsi256_si128(s);
            let odd = _mm256_extracti128_si256::<1>(s);
            let bs = y.bsums.as_mut_ptr() as *mut __m128i;
            _mm_storeu_si128(bs, _mm_unpacklo_epi16(even, odd));
            _mm_storeu_si128(bs.add(1), _mm_unpackhi_epi16(even, odd));
            y.d = 1.0 / iscale;
        }
    }
}
