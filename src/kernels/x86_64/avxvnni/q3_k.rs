//! Q3_K with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::q3_k`, operation for operation), with the scales of a
//! super-block widened once, each run's high bits by one shift and one `andnot`, and
//! `vpdpwssd` applying the scale and adding in one instruction.

use std::arch::x86_64::*;

use crate::quant::{q3_k::BlockQ3K, q8_k::BlockQ8K};

/// The eight exact i32 lanes of one super-block, the same integers per lane as
/// `avx2::q3_k::block_lanes` (ggml's AVX2 `ggml_vec_dot_q3_K_q8_K`): per run of 32 values
/// the i16 pairs `maddubs(low2, q8) - maddubs(4 * !high, q8)` (exact, see there), times the
/// signed scales of its two 16-value groups and added by `vpdpwssd`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
unsafe fn block_lanes(x: &BlockQ3K, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only (32-byte runs inside `qs`, `hmask`, `y.qs`) and the local scale array.
    unsafe {
        // `unpack_scales` (ggml's `kmask1`/`kmask2` words) straight into a vector.
        const K1: u32 = 0x0303_0303;
        const K2: u32 = 0x0f0f_0f0f;
        let p = &x.scales;
        let word = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let (w0, w1, hi) = (word(0), word(4), word(8));
        let sc = _mm_sub_epi8(
            _mm_setr_epi32(
                ((w0 & K2) | ((hi & K1) << 4)) as i32,
                ((w1 & K2) | (((hi >> 2) & K1) << 4)) as i32,
                (((w0 >> 4) & K2) | (((hi >> 4) & K1) << 4)) as i32,
                (((w1 >> 4) & K2) | (((hi >> 6) & K1) << 4)) as i32,
            ),
            _mm_set1_epi8(32),
        );
        // i16 scales: the even groups (run r's low halves) in the low lane, the odd ones in
        // the high lane.
        let evens_odds = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        let scales = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, evens_odds));
        let m3 = _mm256_set1_epi8(3);
        let four = _mm256_set1_epi8(4);
        let hbits = _mm256_loadu_si256(x.hmask.as_ptr() as *const __m256i);
        let mut acc = [_mm256_setzero_si256(); 2];
        for h in 0..2 {
            let mut q3 = _mm256_loadu_si256(x.qs.as_ptr().add(32 * h) as *const __m256i);
            for s in 0..4 {
                let run = 4 * h + s; // values 32 * run .. 32 * run + 32
                let low = _mm256_and_si256(q3, m3);
                q3 = _mm256_srli_epi16::<2>(q3);
                // Bit `run` of each hmask byte moved to bit 2 (16-bit shifts by at most 5
                // keep it inside its byte); 4 where it is clear, else 0.
                let hb = match run {
                    0 => _mm256_slli_epi16::<2>(hbits),
                    1 => _mm256_slli_epi16::<1>(hbits),
                    2 => hbits,
                    3 => _mm256_srli_epi16::<1>(hbits),
                    4 => _mm256_srli_epi16::<2>(hbits),
                    5 => _mm256_srli_epi16::<3>(hbits),
                    6 => _mm256_srli_epi16::<4>(hbits),
                    _ => _mm256_srli_epi16::<5>(hbits),
                };
                let high = _mm256_andnot_si256(hb, four);
                let q8 = _mm256_loadu_si256(y.qs.as_ptr().add(32 * run) as *const __m256i);
                let p = _mm256_sub_epi16(
                    _mm256_maddubs_epi16(low, q8),
                    _mm256_maddubs_epi16(high, q8),
                );
                let b = (2 * run) as u8;
                let scv =
                    _mm256_shuffle_epi8(scales, _mm256_set1_epi16(i16::from_le_bytes([b, b + 1])));
                acc[s % 2] = super::dpwssd(acc[s % 2], p, scv);
            }
        }
        _mm256_add_epi32(acc[0], acc[1])
    }
}

super::super::avx2::lane_dots!(BlockQ3K, "q3_k", "avx2,fma,f16c,avxvnni");
