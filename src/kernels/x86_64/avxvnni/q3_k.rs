//! Q3_K with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::q3_k`, operation for operation), with the scales of a
//! super-block widened once, each run's high bits by one shift and one `andnot`, and
//! `vpdpwssd` applying the scale and adding in one instruction; and the decode
//! matrix-vector product ([`matvec`]), which makes the quants unsigned and packs two runs'
//! sums per `vpdpwssd`.

use std::arch::x86_64::*;

use crate::quant::{q3_k::BlockQ3K, q8_k::BlockQ8K};

use super::super::avx2::q3_k::scales_i16 as scales;

/// The eight exact i32 lanes of one super-block, the same integers per lane as
/// `avx2::q3_k::block_lanes` (ggml's AVX2 `ggml_vec_dot_q3_K_q8_K`): per run of 32 values
/// the i16 pairs `maddubs(low2, q8) - maddubs(4 * !high, q8)` (exact, see there), times the
/// signed scales of its two 16-value groups and added by `vpdpwssd`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn block_lanes(x: &BlockQ3K, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only (32-byte runs inside `qs`, `hmask`, `y.qs`) and the local scale array.
    unsafe {
        let scales = scales(x);
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
                // 4 where the run's high bit is clear, else 0.
                let hb = super::super::avx2::q3_k::high_bit_at_2(hbits, run);
                let high = _mm256_andnot_si256(hb, four);
                let q8 = _mm256_loadu_si256(y.qs.as_ptr().add(32 * run) as *const __m256i);
                let p = _mm256_sub_epi16(
                    _mm256_maddubs_epi16(low, q8),
                    _mm256_maddubs_epi16(high, q8),
                );
                let scv = super::super::avx2::run_scales(scales, run);
                acc[s % 2] = super::dpwssd(acc[s % 2], p, scv);
            }
        }
        _mm256_add_epi32(acc[0], acc[1])
    }
}

super::super::avx2::lane_dots!(BlockQ3K, "q3_k", "avx2,fma,f16c,gfni");

vnni_entry! {
    /// `out[r] = row_r(w) . act` for the Q3_K weight bytes `w` and the Q8_K activation bytes
    /// `act`, each the bits of [`vec_dot`] (ggml's AVX2 `ggml_vec_dot_q3_K_q8_K`); `false`
    /// (nothing written) if the row is longer than `MAX_SUPER` (64) super-blocks or the bytes are
    /// not whole aligned blocks.
    ///
    /// Faster than a loop of [`vec_dot`] with the same integers per lane and the same float work:
    /// - the quants are made unsigned (`q + 4`, 0..=7) and `vpdpbusd` sums four products into
    ///   each lane from a bias `-4 * sum4(y)` prepared once per product, not once per row; two runs
    ///   share the work of placing their bits: one byte gets both runs' 2-bit fields (an `and`)
    ///   and both high bits (a `gf2p8affineqb` of the hmask byte, or'ed in), and one
    ///   `gf2p8affineqb` per run takes its quant out of it (five instructions per two runs instead
    ///   of six: Q3_K 23.1 -> 24.5 GB/s from memory, 25.4 -> 26.8 in cache);
    /// - two runs' lane sums (each at most 4 * 4 * 128 in magnitude) are packed as the i16
    ///   halves of each lane and one `vpdpwssd` applies both runs' scales: per run 1.5
    ///   multiply-unit instructions instead of 3 (two `maddubs` and a `vpdpwssd`).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of
    /// the activation's length.
    pub unsafe fn matvec(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
        let Some((w, a)) = super::kmatvec::blocks::<BlockQ3K>(w, act, out) else {
            return false;
        };
        // SAFETY: the CPU features are this function's contract; the loads read `y.qs`; `d` is
        // the high half of bytes 106..110 (the last two scale bytes, then `d`).
        unsafe {
            // -4 * sum4(y) per run.
            let bias = |y: &BlockQ8K| super::run_biases(y, 4);
            super::kmatvec::prepared_lane_rows::<_, _, true>(w, a, out, 106, bias, |x, y, b| {
                block_lanes_prepared(x, y, b)
            });
        }
        true
    }
}

/// [`block_lanes`] with the activation's bias prepared: the same eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn block_lanes_prepared(x: &BlockQ3K, y: &BlockQ8K, bias: &[__m256i; 8]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only (32-byte runs inside `qs`, `hmask`, `y.qs`).
    unsafe {
        let scales = scales(x);
        let hbits = _mm256_loadu_si256(x.hmask.as_ptr() as *const __m256i);
        let yq = y.qs.as_ptr();
        let q3 = [0, 1].map(|h| _mm256_loadu_si256(x.qs.as_ptr().add(32 * h) as *const __m256i));
        // Runs 4h + 2p and 4h + 2p + 1 from one byte: their two 2-bit fields (the nibble `p`
        // of the `qs` byte, kept in place) and their two high bits (bits 4h + 2p and
        // 4h + 2p + 1 of the hmask byte, moved into the other nibble); each run's quant
        // q + 4 (its field in bits 1:0, its high bit in bit 2) times its 32 activation quants
        // at byte `32 * run` (`vpdpbusd`'s memory operand at a constant offset), from the
        // run's bias. Written out for those constant offsets.
        macro_rules! run_pair {
            ($h:literal, $p:literal) => {{
                let fields = _mm256_and_si256(q3[$h], _mm256_set1_epi8(0x0F << (4 * $p)));
                let highs = _mm256_gf2p8affine_epi64_epi8::<0>(
                    hbits,
                    _mm256_set1_epi64x(PAIR_HIGH[$h][$p]),
                );
                let both = _mm256_or_si256(fields, highs);
                let quant = |k: usize| {
                    _mm256_gf2p8affine_epi64_epi8::<0>(both, _mm256_set1_epi64x(PAIR_QUANT[$p][k]))
                };
                const R0: usize = 4 * $h + 2 * $p;
                const R1: usize = R0 + 1;
                (
                    super::dpbusd_at_off::<{ 32 * R0 }>(bias[R0], quant(0), yq),
                    super::dpbusd_at_off::<{ 32 * R1 }>(bias[R1], quant(1), yq),
                )
            }};
        }
        let mut acc = _mm256_setzero_si256();
        let (d0, d1) = run_pair!(0, 0);
        acc = super::dpwssd_run_pair(acc, d0, d1, scales, 0);
        let (d0, d1) = run_pair!(0, 1);
        acc = super::dpwssd_run_pair(acc, d0, d1, scales, 1);
        let (d0, d1) = run_pair!(1, 0);
        acc = super::dpwssd_run_pair(acc, d0, d1, scales, 2);
        let (d0, d1) = run_pair!(1, 1);
        acc = super::dpwssd_run_pair(acc, d0, d1, scales, 3);
        acc
    }
}

/// For half `h` and run pair `p`: the hmask bits 4h + 2p and 4h + 2p + 1 moved into the
/// nibble the pair's 2-bit fields leave free (bits 4, 5 for `p = 0`, bits 0, 1 for `p = 1`).
const PAIR_HIGH: [[i64; 2]; 2] = [
    [pair_high(0, 4), pair_high(2, 0)],
    [pair_high(4, 4), pair_high(6, 0)],
];

/// For pair `p` and its run `k`: the run's 2-bit field to bits 1:0 and its high bit to bit 2,
/// from the byte [`PAIR_HIGH`] and the fields make.
const PAIR_QUANT: [[i64; 2]; 2] = [
    [pair_quant(0, 4), pair_quant(2, 5)],
    [pair_quant(4, 0), pair_quant(6, 1)],
];

/// Bits `r` and `r + 1` moved to bits `to` and `to + 1`.
const fn pair_high(r: u32, to: u32) -> i64 {
    super::matvec::bit_matrix_rows(to, 1 << r)
        | super::matvec::bit_matrix_rows(to + 1, 1 << (r + 1))
}

/// Bits `f + 1 : f` to bits 1:0 and bit `hb` to bit 2.
const fn pair_quant(f: u32, hb: u32) -> i64 {
    use super::matvec::bit_matrix_rows as row;
    row(0, 1 << f) | row(1, 1 << (f + 1)) | row(2, 1 << hb)
}
