//! AVX2 + FMA + F16C kernels: one file per block format, each with a `vec_dot` of the same
//! name and meaning as the scalar reference in `src/quant/<fmt>.rs`; `q8_0.rs` and `q8_k.rs`
//! also hold the activation quantizers (`quantize_row`, byte-identical to the scalar ones).
//!
//! The kernels follow ggml's AVX2 paths in `ggml/src/ggml-cpu/arch/x86/quants.c` (named in
//! each function's doc); the integer work is `maddubs` (u8 x i8 -> pairs summed in i16) and
//! `madd` (i16 x i16 -> pairs summed in i32), then one f32 FMA per block or super-block into a
//! vector accumulator that is summed horizontally once per row. Overflow bounds are stated at
//! each `maddubs`/`madd`.
//!
//! # Bit-identical to the scalar reference
//!
//! The quantized kernels return exactly the reference's f32 result, not just a close one:
//! they compute the same exact integer sums (any order gives the same integer) with SIMD, then
//! apply the reference's float operations to them in the reference's order (per block, or per
//! lane where the reference keeps ggml's eight `aux32` lanes, see [`lane_order`]). So every
//! instruction set gives the same logits, and the goldens do not depend on the CPU; the decoder
//! tests on random-weight models are chaotic enough that a one-ulp difference per matvec moves
//! their log-probabilities by 0.1. Only the float formats (F32, F16, BF16), whose reference adds
//! left to right, are associated differently and agree to a tolerance.
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma,f16c")]`:
//! the one obligation of its caller is that the CPU has those features, which
//! [`crate::kernels::Kernels::avx2`] checks before it hands out this table.
//!
//! # Activations never hold -128
//!
//! The signed x signed products use ggml's sign trick (`maddubs(|x|, sign(y, x))`, see
//! [`mul_sum_i8_pairs`]), which is exact when `y != -128`. `y` is always the activation:
//! Q8_0 activations are `round(x / d)` with `|x / d| <= 127` and Q8_K ones are clamped to
//! `[-127, 127]` by construction (see `quant::q8_0::quantize_row`, `quant::q8_k`), while the
//! weight side `x` may be -128 (`|x| = 128` is read as an unsigned byte).

use std::arch::x86_64::*;

use super::super::{erase_dot, scalar, Isa, Kernels, VecDotFn, TYPES};
use crate::quant::{
    iq4_nl::BlockIQ4NL, iq4_xs::BlockIQ4XS, q2_k::BlockQ2K, q3_k::BlockQ3K, q4_0::BlockQ4_0,
    q4_1::BlockQ4_1, q4_k::BlockQ4K, q5_0::BlockQ5_0, q5_1::BlockQ5_1, q5_k::BlockQ5K,
    q6_k::BlockQ6K, q8_0::BlockQ8_0, GgmlType,
};

pub mod bf16;
pub mod f16;
pub mod f32;
pub mod iq4_nl;
pub mod iq4_xs;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_k;

/// The AVX2 dot product of `ty`, type-erased.
fn vec_dot_fn(ty: GgmlType) -> VecDotFn {
    match ty {
        GgmlType::F32 => erase_dot!(core::primitive::f32, f32::vec_dot),
        GgmlType::F16 => erase_dot!(half::f16, f16::vec_dot),
        GgmlType::BF16 => erase_dot!(half::bf16, bf16::vec_dot),
        GgmlType::Q4_0 => erase_dot!(BlockQ4_0, q4_0::vec_dot),
        GgmlType::Q4_1 => erase_dot!(BlockQ4_1, crate::quant::q4_1::vec_dot),
        GgmlType::Q5_0 => erase_dot!(BlockQ5_0, q5_0::vec_dot),
        GgmlType::Q5_1 => erase_dot!(BlockQ5_1, crate::quant::q5_1::vec_dot),
        GgmlType::Q8_0 => erase_dot!(BlockQ8_0, q8_0::vec_dot),
        GgmlType::Q2_K => erase_dot!(BlockQ2K, q2_k::vec_dot),
        GgmlType::Q3_K => erase_dot!(BlockQ3K, q3_k::vec_dot),
        GgmlType::Q4_K => erase_dot!(BlockQ4K, q4_k::vec_dot),
        GgmlType::Q5_K => erase_dot!(BlockQ5K, q5_k::vec_dot),
        GgmlType::Q6_K => erase_dot!(BlockQ6K, q6_k::vec_dot),
        GgmlType::IQ4_NL => erase_dot!(BlockIQ4NL, iq4_nl::vec_dot),
        GgmlType::IQ4_XS => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot),
        _ => scalar::vec_dot_fn(ty),
    }
}

/// The AVX2 table. Only [`Kernels::avx2`] calls this, after detecting AVX2, FMA and F16C.
pub(crate) fn table() -> Kernels {
    Kernels {
        isa: Isa::Avx2,
        vec_dot: TYPES.map(vec_dot_fn),
        quantize_q8_0: q8_0::quantize_row,
        quantize_q8_k: q8_k::quantize_row,
    }
}

// ---- shared helpers (ggml's names in parentheses) ------------------------------------------

/// f16 -> f32 with F16C (exact, the same value as `half::f16::to_f32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn f16_to_f32(h: half::f16) -> f32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h.to_bits())))) }
}

/// The sum of the 8 lanes (`hsum_float_8`): ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum_ps(x: __m256) -> f32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let mut r = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
        r = _mm_add_ps(r, _mm_movehl_ps(r, r));
        r = _mm_add_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }
}

/// Signed i8 x i8 products of 32 lanes, summed in groups of four into 8 i32 lanes
/// (`mul_sum_i8_pairs` / `mul_sum_i8_pairs_float` without the conversion).
///
/// `maddubs` needs an unsigned left operand, so it multiplies `|x|` by `y` with the sign of
/// `x` moved onto it. Exact when `y != -128` (negating -128 wraps): callers pass the weights
/// as `x` and the activations (in [-127, 127], see the module doc) as `y`. Bounds: each
/// product is at most 128 * 127 = 16256 in magnitude, a pair 32512 < 32767, so the i16 pair
/// sums of `maddubs` never saturate; each i32 lane holds four products.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn mul_sum_i8_pairs(x: __m256i, y: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let ax = _mm256_sign_epi8(x, x);
        let sy = _mm256_sign_epi8(y, x);
        _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
    }
}

/// Unsigned u8 x signed i8 products of 32 lanes (`x` in 0..=31, `y` any i8), summed in groups
/// of four into 8 i32 lanes. Bound: a pair is at most 2 * 31 * 128 = 7936, far from the i16
/// saturation of `maddubs`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn mul_sum_us8_pairs(x: __m256i, y: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1)) }
}

/// The 32 nibbles of 16 bytes as bytes in 0..=15, in value order: the low nibbles of
/// `qs[0..16]` are values 0..16, the high nibbles values 16..32 (`bytes_from_nibbles_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn bytes_from_nibbles_32(qs: &[u8; 16]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 16 bytes of `qs`
    // (unaligned load).
    unsafe {
        let tmp = _mm_loadu_si128(qs.as_ptr() as *const __m128i);
        let bytes = _mm256_set_m128i(_mm_srli_epi16::<4>(tmp), tmp);
        _mm256_and_si256(_mm256_set1_epi8(0x0F), bytes)
    }
}

/// Spreads the 32 bits of `qh` (little-endian) to 32 bytes: byte j is 0xFF if bit j is set,
/// else 0 (`bytes_from_bits_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn bytes_from_bits_32(qh: [u8; 4]) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let x32 = u32::from_le_bytes(qh) as i32;
        // Byte j of the result takes byte j / 8 of x32 ...
        let shuf = _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32), shuf);
        // ... and sets every bit except bit j % 8, so it is all ones exactly when that bit is set.
        let bit_mask = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
        let bytes = _mm256_or_si256(bytes, bit_mask);
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }
}

/// Loads 32 bytes from a reference to (at least) 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load32<T>(p: &[T; 32]) -> __m256i
where
    T: Copy,
{
    debug_assert!(std::mem::size_of::<T>() == 1);
    // SAFETY: `p` is 32 one-byte values (asserted in debug builds; every caller passes u8 or
    // i8 arrays); the load is unaligned.
    unsafe { _mm256_loadu_si256(p.as_ptr() as *const __m256i) }
}

/// A `_mm256_shuffle_epi8` control that broadcasts i16 lane `2i` to the low 128-bit half and
/// lane `2i + 1` to the high half (`get_scale_shuffle_q3k`): the scales of two consecutive
/// 16-value sub-blocks, matching the 16 i16 pair sums of one 32-value `maddubs`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn shuffle_i16_pair(i: usize) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let lo = (4 * i) as i16;
        let hi = lo + 2;
        _mm256_set_m128i(
            _mm_set1_epi16(hi | ((hi + 1) << 8)),
            _mm_set1_epi16(lo | ((lo + 1) << 8)),
        )
    }
}

/// The sum of the 8 i32 lanes of `v` (`hsum_i32_8`); exact (wrapping, but every caller's
/// bound keeps the sum inside i32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum_i32(v: __m256i) -> i32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        hsum_i32_128(s)
    }
}

/// The sum of the 4 i32 lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum_i32_128(v: __m128i) -> i32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let s = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}

/// The sums of the 8 i32 lanes of each of four vectors, as the four lanes of one vector (two
/// rounds of `hadd` and one add of the halves).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum4_i32(v: [__m256i; 4]) -> __m128i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        // [v0 lo, v1 lo, v2 lo, v3 lo | v0 hi, v1 hi, v2 hi, v3 hi]
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
    }
}

/// Reorders 32 bytes (positions 0..32 of a run of 32 values) so that a `maddubs` then a
/// `madd` of two operands reordered alike put into i32 lane `l` (l = 0..8) exactly the
/// products of positions `l`, `l + 8`, `l + 16` and `l + 24`.
///
/// That is the lane structure of the scalar K-quant reference (ggml's generic kernels keep
/// eight `aux32` lanes, lane `l % 8` of each 16-value group; see `quant::q8_k::acc16`), so the
/// eight integer lanes, and then the reference's per-lane float sums, come out identical. The
/// i16 pair sums of `maddubs` are positions (l, l + 8), the first 16-value group, in even i16
/// lanes, and (l + 16, l + 24), the second group, in odd ones, so a `madd` with a pair of
/// scales `[s_first, s_second]` applies each group's own scale.
///
/// A `vpermd` moves the 4-byte chunks (0, 2, 4, 6 | 1, 3, 5, 7) into the halves, then a
/// `pshufb` transposes each half as a 4 x 4 byte matrix.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn lane_order(v: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
        let t = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        _mm256_shuffle_epi8(v, _mm256_set_m128i(t, t))
    }
}

/// A vector of 16 i16 lanes alternating `first` (even lanes) and `second` (odd lanes), the
/// scales for a `madd` after [`lane_order`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scale_pair(first: i16, second: i16) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_set1_epi32(i32::from(first as u16) | (i32::from(second) << 16)) }
}

/// Adds `d * lanes` (converted to f32, one rounding each, no FMA) to the eight f32 lane sums,
/// as the reference's `sums[l] += d * lanes[l] as f32`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn add_scaled_lanes(sums: __m256, d: f32, lanes: __m256i) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        _mm256_add_ps(
            sums,
            _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes)),
        )
    }
}

/// `sumf + sums[0] + sums[1] + ... + sums[7]`, added left to right as the reference does.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn add_lanes_in_order(mut sumf: f32, sums: __m256) -> f32 {
    let mut s = [0.0f32; 8];
    // SAFETY: the CPU features are this function's contract; the store writes the 8 f32 of
    // `s`.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), sums) };
    for v in s {
        sumf += v;
    }
    sumf
}

/// The sums of the 8 i32 lanes of each of eight vectors, as the eight lanes of one vector, in
/// order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum8_i32(v: [__m256i; 8]) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let lo = hsum4_i32([v[0], v[1], v[2], v[3]]);
        let hi = hsum4_i32([v[4], v[5], v[6], v[7]]);
        _mm256_set_m128i(hi, lo)
    }
}

/// Eight f16 values widened to f32 (exact) in one vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn f16x8(h: [half::f16; 8]) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let b = h.map(|h| h.to_bits() as i16);
        _mm256_cvtph_ps(_mm_setr_epi16(
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ))
    }
}

/// The dot-product loop of the formats paired with Q8_0 activations, bit-identical to their
/// references: `$isum(x, y)` gives one block's exact integer sum in 8 lanes; eight blocks are
/// reduced together, their float terms computed lane by lane by `$finish8(x8, y8, sumi8)` (the
/// reference's expression on eight blocks at once: the same IEEE operations per lane), and
/// added to `sumf` one by one in block order, as the reference adds them; the last
/// `n % 8` blocks go one at a time through `$finish(x, y, sumi)`.
macro_rules! dot_q8_0_blocks {
    ($w:expr, $a:expr, $isum:ident, $finish8:ident, $finish:ident) => {{
        let (w, a) = ($w, $a);
        let mut sumf = 0.0f32;
        let mut wq = w.chunks_exact(8);
        let mut aq = a.chunks_exact(8);
        for (x, y) in (&mut wq).zip(&mut aq) {
            let mut v = [_mm256_setzero_si256(); 8];
            for (k, v) in v.iter_mut().enumerate() {
                *v = $isum(&x[k], &y[k]);
            }
            let s = _mm256_cvtepi32_ps($crate::kernels::x86_64::avx2::hsum8_i32(v));
            sumf = $crate::kernels::x86_64::avx2::add_lanes_in_order(sumf, $finish8(x, y, s));
        }
        for (x, y) in wq.remainder().iter().zip(aq.remainder()) {
            sumf += $finish(x, y, $crate::kernels::x86_64::avx2::hsum_i32($isum(x, y)));
        }
        sumf
    }};
}
pub(crate) use dot_q8_0_blocks;
