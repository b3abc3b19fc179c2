//! Q2_K on AVX2: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders, sharing the integer work ([`block_sums`]).

use std::arch::x86_64::*;

use crate::quant::{q2_k::BlockQ2K, q8_k::BlockQ8K};

/// 32 bytes from `p` (unaligned).
///
/// # Safety
/// The CPU must support AVX2; `p` must be valid for reading 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn ld32(p: *const u8) -> __m256i {
    // SAFETY: the caller's contract.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

/// The exact integer sums of one super-block as ggml's AVX2 `ggml_vec_dot_q2_K_q8_K` builds
/// them: the eight minimum lanes (lane `l`: `m[2l] * bsums[2l] + m[2l + 1] * bsums[2l + 1]`,
/// one `madd`), and the eight quant lanes of `crate::quant::q8_k::k_lanes` (quants 0..3,
/// 4-bit scales: `maddubs` pairs below 2 * 3 * 127, times a scale below 16 in `madd`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_sums(x: &BlockQ2K, y: &BlockQ8K) -> (__m256i, __m256i) {
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only (the 16 scale bytes, 32-byte runs inside `qs` and `y.qs`, the 16 bsums).
    unsafe {
        let m3 = _mm256_set1_epi8(3);
        let m4 = _mm_set1_epi8(0x0F);
        let mins_and_scales = _mm_loadu_si128(x.scales.as_ptr() as *const __m128i);
        let scales = super::group_scales_i16(_mm_and_si128(mins_and_scales, m4));
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(mins_and_scales), m4));
        let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let mins = _mm256_madd_epi16(mins, bs);
        let mut sumi = _mm256_setzero_si256();
        for h in 0..2 {
            let mut q2 = ld32(x.qs.as_ptr().add(32 * h));
            for s in 0..4 {
                let run = 4 * h + s; // values 32 * run .. 32 * run + 32
                let q = _mm256_and_si256(q2, m3);
                q2 = _mm256_srli_epi16::<2>(q2);
                let q8 = ld32(y.qs.as_ptr().add(32 * run) as *const u8);
                let scv = super::run_scales(scales, run);
                let p = _mm256_madd_epi16(scv, _mm256_maddubs_epi16(q, q8));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        (sumi, mins)
    }
}

super::lane_dots!(mins BlockQ2K, "q2_k");
