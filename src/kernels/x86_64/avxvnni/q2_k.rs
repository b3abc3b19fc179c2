//! Q2_K with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::q2_k`, operation for operation). Each 16-value group's
//! 2-bit quants `q` are looked up in a table of `q * sc` (its 4-bit scale; at most 45, an
//! unsigned byte) by one `vpshufb`, and one `vpdpbusd` per 32-value run multiplies them by the
//! activation and adds them into the super-block's lanes: the same integers per lane as
//! ggml's `madd(scales, maddubs(q, y))`. The tables of a super-block take nine instructions;
//! each run's index is its 2-bit field plus the place of its table, one `gf2p8affineqb` (the
//! constant term adds the place). Per run three instructions, where packing two runs' lanes
//! as i16 halves for one `vpdpwssd` took five and a half: Zen 4 in L2 16.7 -> 18.0 GB/s.

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
        let tables = scaled_quant_tables(raw);
        let yq = y.qs.as_ptr();
        // Two chains of `vpdpbusd` (one of eight waited on each one's latency: 15.7 GB/s in
        // L2 against 17.6; four chains 17.2).
        let mut acc = [_mm256_setzero_si256(); 2];
        let q2 = [0, 1].map(|h| _mm256_loadu_si256(x.qs.as_ptr().add(32 * h) as *const __m256i));
        // Run 4h + s (s = 0..4): bits 2s + 1 : 2s of half h's bytes, with 4s added (the place
        // of the run's groups' tables in `tables[h]`), looked up as `q * sc` and multiplied
        // by the run's 32 activation quants at byte `32 * run`.
        // (Field 0 by an `and`, which needs no place; the others by `gf2p8affineqb`, whose
        // constant term adds it.)
        macro_rules! run {
            ($h:literal, $s:literal) => {
                let field = if $s == 0 {
                    _mm256_and_si256(q2[$h], _mm256_set1_epi8(3))
                } else {
                    _mm256_gf2p8affine_epi64_epi8::<{ 4 * $s }>(
                        q2[$h],
                        _mm256_set1_epi64x(TWO_BITS[$s]),
                    )
                };
                let qsc = _mm256_shuffle_epi8(tables[$h], field);
                acc[$s % 2] = super::dpbusd_at_off::<{ 32 * (4 * $h + $s) }>(acc[$s % 2], qsc, yq);
            };
        }
        run!(0, 0);
        run!(0, 1);
        run!(0, 2);
        run!(0, 3);
        run!(1, 0);
        run!(1, 1);
        run!(1, 2);
        run!(1, 3);
        let acc = _mm256_add_epi32(acc[0], acc[1]);
        (acc, mins)
    }
}

/// Bits `2s + 1 : 2s` of each byte to bits 1:0, for `s` = 0..4 (a `gf2p8affineqb` matrix).
const TWO_BITS: [i64; 4] = [two_bits(0), two_bits(1), two_bits(2), two_bits(3)];

const fn two_bits(s: u32) -> i64 {
    use super::matvec::bit_matrix_rows as row;
    row(0, 1 << (2 * s)) | row(1, 1 << (2 * s + 1))
}

/// Per 16-value group `g` of a super-block (scale `sc = scales[g] & 15`), the four bytes
/// `[0, sc, 2 sc, 3 sc]`: a `vpshufb` table of `q * sc` for the 2-bit quants `q`. `out[0]`
/// holds groups 0, 2, 4, 6 in its low 128-bit lane (bytes 4k..4k + 4: group 2k) and 1, 3, 5,
/// 7 in its high lane; `out[1]` groups 8..16 the same way: run `r`'s two groups (`2r` in the
/// low lane, `2r + 1` in the high one, as the run's 32 quants lie) at place `r % 4` of
/// `out[r / 4]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn scaled_quant_tables(raw: __m128i) -> [__m256i; 2] {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        // The scales, even groups in the low lane and odd ones in the high lane.
        let z = -128;
        #[rustfmt::skip]
        let evens_odds = _mm256_setr_epi8(
            0, 2, 4, 6, 8, 10, 12, 14, z, z, z, z, z, z, z, z,
            1, 3, 5, 7, 9, 11, 13, 15, z, z, z, z, z, z, z, z,
        );
        let s1 = _mm256_and_si256(
            _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(raw), evens_odds),
            _mm256_set1_epi8(0x0F),
        );
        let s2 = _mm256_add_epi8(s1, s1);
        let s3 = _mm256_add_epi8(s2, s1);
        let u01 = _mm256_unpacklo_epi8(_mm256_setzero_si256(), s1); // 0, sc per group
        let u23 = _mm256_unpacklo_epi8(s2, s3); // 2 sc, 3 sc per group
        [
            _mm256_unpacklo_epi16(u01, u23),
            _mm256_unpackhi_epi16(u01, u23),
        ]
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
