//! Q2_K with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::q2_k`, operation for operation). Each 32-value run's
//! lanes (four products each, at most 4 * 3 * 128 in magnitude) come from one `vpdpbusd` of
//! the unsigned quants; two runs' lanes are packed as the i16 halves of each lane and one
//! `vpdpwssd` multiplies both by their 4-bit scales and adds them: the same integers per lane
//! as ggml's `madd(scales, maddubs(q, y))`. (It replaced a per-block `q * scale` table looked
//! up with `pshufb`, at the same speed with fewer instructions.)

use std::arch::x86_64::*;

use crate::quant::{q2_k::BlockQ2K, q8_k::BlockQ8K};

/// The exact integer sums of one super-block, the same integers per lane as
/// `avx2::q2_k::block_sums` (ggml's AVX2 `ggml_vec_dot_q2_K_q8_K`): the eight minimum lanes
/// (lane `l`: `m[2l] * bsums[2l] + m[2l + 1] * bsums[2l + 1]`) and the eight quant lanes (lane
/// `l`: the sum over the eight runs of `sc[g] * (q . y)` over the run's values `4l .. 4l + 4`,
/// `g` the values' 16-value group). Bound: a lane is at most 32 * 45 * 127 in magnitude.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
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
        // The sixteen 4-bit scales as i16: the even groups (run r's low halves) in the low
        // 128-bit lane, the odd ones in the high lane.
        let sc = super::super::avx2::group_scales_i16(_mm_and_si128(raw, m4));
        let yq = y.qs.as_ptr() as *const __m256i;
        let mut acc = _mm256_setzero_si256();
        for h in 0..2 {
            let q2 = _mm256_loadu_si256(x.qs.as_ptr().add(32 * h) as *const __m256i);
            // Runs 4h .. 4h + 4: bits 1:0, 3:2, 5:4, 7:6 of the half's bytes; each run's
            // lane sums (at most 4 * 3 * 128 in magnitude: i16).
            let d: [__m256i; 4] = std::array::from_fn(|s| {
                let q = super::matvec::two_bit_field(q2, s);
                super::dpbusd(
                    _mm256_setzero_si256(),
                    q,
                    _mm256_loadu_si256(yq.add(4 * h + s)),
                )
            });
            for p in 0..2 {
                // Runs 4h + 2p and 4h + 2p + 1.
                acc = super::dpwssd_run_pair(acc, d[2 * p], d[2 * p + 1], sc, 2 * h + p);
            }
        }
        (acc, mins)
    }
}

super::super::avx2::lane_dots!(mins BlockQ2K, "q2_k", "avx2,fma,f16c,gfni");

vnni_entry! {
    /// `out[r] = row_r(w) . act` for the Q2_K weight bytes `w` and the Q8_K activation bytes
    /// `act`, each the bits of [`vec_dot`]: [`block_sums`] and `vec_dot`'s float steps, with the
    /// row's `d` and `dmin` products eight super-blocks at a time
    /// ([`k_rows`](super::kmatvec::k_rows)); `false` (nothing written) if the row is longer
    /// than [`MAX_SUPER`](super::super::avx2::kmatvec::MAX_SUPER) super-blocks or the bytes are not whole
    /// aligned blocks.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of
    /// the activation's length.
    pub unsafe fn matvec(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
        let Some((w, a)) = super::kmatvec::blocks::<BlockQ2K>(w, act, out) else {
            return false;
        };
        // SAFETY: the CPU features are this function's contract; the row loop calls the closure
        // with `b < nb`, an index of `a`; `d` and `dmin` are bytes 80..84 of a block.
        unsafe {
            super::kmatvec::mins_rows(w, a, out, 80, |x, b| block_sums(x, a.get_unchecked(b)));
        }
        true
    }
}
