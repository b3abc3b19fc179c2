//! Q3_K on AVX2: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders, sharing the integer work ([`block_lanes`]).

use std::arch::x86_64::*;

use crate::quant::{q3_k::BlockQ3K, q8_k::BlockQ8K};

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

/// The sixteen signed scales of a super-block (`crate::quant::q3_k::unpack_scales`, ggml's
/// `kmask1`/`kmask2` words), as the bytes of a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scales_i8(x: &BlockQ3K) -> __m128i {
    // SAFETY: the CPU features are this function's contract (no memory access beyond the
    // borrowed block's fields, read by value).
    unsafe {
        // In 64-bit general-purpose registers (LLVM keeps them there; as 32-bit words it
        // moved the work into vector instructions, which the matrix-vector loop is short
        // of): `q` the low nibbles' bytes, `hh` the high-bit bytes `h` and, from bit 32,
        // `h >> 2` (the bits `h << 30` puts below bit 32 are masked off by `K1`).
        const K1: u64 = 0x0303_0303_0303_0303;
        const K2: u64 = 0x0f0f_0f0f_0f0f_0f0f;
        let p = &x.scales;
        let q = u64::from_le_bytes([p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]]);
        let h = u64::from(u32::from_le_bytes([p[8], p[9], p[10], p[11]]));
        let hh = h | (h << 30);
        let lo = (q & K2) | ((hh & K1) << 4); // scales 0..8
        let hi = ((q >> 4) & K2) | (((hh >> 4) & K1) << 4); // scales 8..16
        _mm_sub_epi8(_mm_set_epi64x(hi as i64, lo as i64), _mm_set1_epi8(32))
    }
}

/// The eight exact i32 lanes of one super-block as ggml's AVX2 `ggml_vec_dot_q3_K_q8_K`
/// builds them (`crate::quant::q8_k::k_lanes` of the signed quants and scales): for each run
/// of 32 values, `maddubs(low2, q8) - maddubs(4 * !high, q8)` (the i16 pairs of
/// `(q + 4) * q8` and `4 * !high * q8`, each below 2 * 4 * 127), then `madd` with the signed
/// scales of its two 16-value groups.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_lanes(x: &BlockQ3K, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access of its own).
    unsafe {
        let four = _mm256_set1_epi8(4);
        run_lanes(x, y, |low, hb, q8, _| {
            // 4 where the high bit is clear, else 0.
            let high = _mm256_andnot_si256(hb, four);
            _mm256_sub_epi16(
                _mm256_maddubs_epi16(low, q8),
                _mm256_maddubs_epi16(high, q8),
            )
        })
    }
}

/// The eight i32 lanes of one super-block from each run's i16 pairs `pairs(low, hb, q8,
/// run)` (`low` the run's two low bits per byte, `hb` the hmask bytes with the run's high bit
/// at bit 2 and other bits anywhere else, `q8` the run's activations): the pairs times the
/// signed scales of the run's two 16-value groups (`madd`), summed over the runs.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn run_lanes(
    x: &BlockQ3K,
    y: &BlockQ8K,
    pairs: impl Fn(__m256i, __m256i, __m256i, usize) -> __m256i,
) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only (32-byte runs inside `qs`, `hmask`, `y.qs`).
    unsafe {
        let scales = scales_i16(x);
        let m3 = _mm256_set1_epi8(3);
        let hbits = ld32(x.hmask.as_ptr());
        let mut sumi = _mm256_setzero_si256();
        for h in 0..2 {
            let mut q3 = ld32(x.qs.as_ptr().add(32 * h));
            for s in 0..4 {
                let run = 4 * h + s; // values 32 * run .. 32 * run + 32
                let low = _mm256_and_si256(q3, m3);
                q3 = _mm256_srli_epi16::<2>(q3);
                let q8 = ld32(y.qs.as_ptr().add(32 * run) as *const u8);
                let p = pairs(low, high_bit_at_2(hbits, run), q8, run);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(super::run_scales(scales, run), p));
            }
        }
        sumi
    }
}

/// Bit `run` of each byte of `hbits` moved to bit 2 (one 16-bit shift, by at most 5, which
/// keeps it inside its byte; the other bits are left wherever the shift puts them).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn high_bit_at_2(hbits: __m256i, run: usize) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        match run {
            0 => _mm256_slli_epi16::<2>(hbits),
            1 => _mm256_slli_epi16::<1>(hbits),
            2 => hbits,
            3 => _mm256_srli_epi16::<1>(hbits),
            4 => _mm256_srli_epi16::<2>(hbits),
            5 => _mm256_srli_epi16::<3>(hbits),
            6 => _mm256_srli_epi16::<4>(hbits),
            _ => _mm256_srli_epi16::<5>(hbits),
        }
    }
}

/// The sixteen signed scales of a super-block as i16, laid out for [`super::run_scales`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scales_i16(x: &BlockQ3K) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { super::group_scales_i16(scales_i8(x)) }
}

super::lane_dots!(BlockQ3K, "q3_k");

/// `out[r] = row_r(w) . act` for the Q3_K weight bytes `w` and the Q8_K activation bytes
/// `act`, each the bits of [`vec_dot`] (ggml's AVX2 `ggml_vec_dot_q3_K_q8_K`); `false`
/// (nothing written) if the row is longer than `MAX_SUPER` (64) super-blocks or the bytes are
/// not whole aligned blocks.
///
/// The same i16 pairs as [`block_lanes`] with fewer instructions: the quants made unsigned
/// (`q + 4` in 0..=7: the two low bits or'ed with the high bit shifted to bit 2), one
/// `maddubs` per run instead of two, and the `-4 * (y[2j] + y[2j + 1])` it leaves out added
/// from i16 pairs prepared once per product, not once per row; a run's two scales by one
/// in-lane `vpshufb` of the scales widened once per super-block.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` must be `out.len()` rows of the activation's
/// length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn matvec(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    let Some((w, a)) = super::kmatvec::blocks::<BlockQ3K>(w, act, out) else {
        return false;
    };
    // SAFETY: the CPU features are this function's contract; the loads read `y.qs`; `d` is
    // the high half of bytes 106..110 (the last two scale bytes, then `d`).
    unsafe {
        let four = _mm256_set1_epi8(4);
        // -4 * (y[2j] + y[2j + 1]) per run: at most 4 * 2 * 128 in magnitude.
        let bias = |y: &BlockQ8K| -> [__m256i; 8] {
            std::array::from_fn(|r| {
                let s = _mm256_maddubs_epi16(four, ld32(y.qs.as_ptr().add(32 * r) as *const u8));
                _mm256_sub_epi16(_mm256_setzero_si256(), s)
            })
        };
        super::kmatvec::prepared_lane_rows::<_, _, true>(w, a, out, 106, bias, |x, y, b| {
            block_lanes_prepared(x, y, b)
        });
    }
    true
}

/// [`block_lanes`] with the activation's bias prepared (see [`matvec`]): the same eight i32
/// lanes. Per run the i16 pairs `maddubs(q + 4, y) + bias = maddubs(low2, y) -
/// maddubs(4 * !high, y)`, the same integers as `block_lanes`' (each pair's magnitude at most
/// 2 * 7 * 127 before the bias).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block_lanes_prepared(x: &BlockQ3K, y: &BlockQ8K, bias: &[__m256i; 8]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; `run < 8` indexes `bias`.
    unsafe {
        let four = _mm256_set1_epi8(4);
        run_lanes(x, y, |low, hb, q8, run| {
            let q = _mm256_or_si256(low, _mm256_and_si256(hb, four));
            _mm256_add_epi16(_mm256_maddubs_epi16(q, q8), *bias.get_unchecked(run))
        })
    }
}
