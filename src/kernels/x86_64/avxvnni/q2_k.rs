//! Q2_K with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::q2_k`, operation for operation), with the integer lanes
//! built by `vpdpbusd` from quants already multiplied by their 4-bit scales.
//!
//! A quant (0..3) times its scale (0..15) is at most 45, an unsigned byte: a `pshufb` lookup
//! in a per-block table of `q * scale` gives the scaled quants of a 32-value run, and one
//! `vpdpbusd` adds their products with the activations into the eight lanes. The table of
//! two runs is one vector: per 128-bit lane (the run's 16-value group), bytes 1..3 hold
//! `scale * 1..3` of the first run's group (index `q`, the quant masked in place from bits
//! 1:0) and bytes 4, 8, 12 those of the second run's group (index `4q`, masked from bits 3:2).

use std::arch::x86_64::*;

use crate::quant::{q2_k::BlockQ2K, q8_k::BlockQ8K};

/// The exact integer sums of one super-block, the same integers per lane as
/// `avx2::q2_k::block_sums` (ggml's AVX2 `ggml_vec_dot_q2_K_q8_K`): the eight minimum lanes
/// (lane `l`: `m[2l] * bsums[2l] + m[2l + 1] * bsums[2l + 1]`) and the eight quant lanes (lane
/// `l`: the sum over the eight runs of `sc[g] * (q . y)` over the run's values `4l .. 4l + 4`,
/// `g` the values' 16-value group). Bound: a lane is at most 32 * 45 * 127 in magnitude.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
unsafe fn block_sums(x: &BlockQ2K, y: &BlockQ8K) -> (__m256i, __m256i) {
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only (the 16 scale bytes, the two 32-byte halves of `qs`, the 256 quants and the
    // 16 bsums of `y`).
    unsafe {
        let m4 = _mm_set1_epi8(0x0F);
        let raw = _mm_loadu_si128(x.scales.as_ptr() as *const __m128i);
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(raw), m4));
        let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let mins = _mm256_madd_epi16(mins, bs);
        let sc = _mm256_broadcastsi128_si256(_mm_and_si128(raw, m4));
        // Table k (runs 2k and 2k + 1) as i16: [a, a, b, 0, b, 0, b, 0] * [256, 770, 1, 0, 2,
        // 0, 3, 0] = bytes [0, a, 2a, 3a, b, 0, 0, 0, 2b, 0, 0, 0, 3b, 0, 0, 0], with `a`, `b`
        // the scales of groups 4k, 4k + 2 (low lane) and 4k + 1, 4k + 3 (high lane).
        let mul = _mm256_setr_epi16(256, 770, 1, 0, 2, 0, 3, 0, 256, 770, 1, 0, 2, 0, 3, 0);
        let table = |k: i8| {
            let (a, b, c, d) = (4 * k, 4 * k + 2, 4 * k + 1, 4 * k + 3);
            let z = -128i8;
            let ctrl = _mm256_setr_epi8(
                a, z, a, z, b, z, z, z, b, z, z, z, b, z, z, z, //
                c, z, c, z, d, z, z, z, d, z, z, z, d, z, z, z,
            );
            _mm256_mullo_epi16(_mm256_shuffle_epi8(sc, ctrl), mul)
        };
        let m03 = _mm256_set1_epi8(0x03);
        let m0c = _mm256_set1_epi8(0x0C);
        let yq = y.qs.as_ptr() as *const __m256i;
        let mut acc = [_mm256_setzero_si256(); 2];
        for h in 0..2 {
            let q2 = _mm256_loadu_si256(x.qs.as_ptr().add(32 * h) as *const __m256i);
            let q2s = _mm256_srli_epi16::<4>(q2);
            let (t0, t1) = (table(2 * h as i8), table(2 * h as i8 + 1));
            // Runs 4h .. 4h + 4: bits 1:0, 3:2, 5:4, 7:6 of the half's bytes.
            let runs = [
                _mm256_shuffle_epi8(t0, _mm256_and_si256(q2, m03)),
                _mm256_shuffle_epi8(t0, _mm256_and_si256(q2, m0c)),
                _mm256_shuffle_epi8(t1, _mm256_and_si256(q2s, m03)),
                _mm256_shuffle_epi8(t1, _mm256_and_si256(q2s, m0c)),
            ];
            for (s, w) in runs.into_iter().enumerate() {
                let q8 = _mm256_loadu_si256(yq.add(4 * h + s));
                acc[s % 2] = _mm256_dpbusd_avx_epi32(acc[s % 2], w, q8);
            }
        }
        (_mm256_add_epi32(acc[0], acc[1]), mins)
    }
}

super::super::avx2::lane_dots!(mins BlockQ2K, "q2_k", "avx2,fma,f16c,avxvnni");
