//! IQ4_XS on AVX2: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders, sharing the integer work ([`block_lanes`]).

use std::arch::x86_64::*;

use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

/// The eight signed scales `ls - 32` of a super-block as i16, in both 128-bit lanes, in the
/// order of [`scale_slot`] (even sub-blocks, then odd): the low nibble (`scales_l` byte
/// `ib / 2`, nibble `ib % 2`) or'ed with the two high bits (`scales_h` bits `2ib + 1 : 2ib`)
/// moved to bits 5:4. The bytes are built in one 64-bit general-purpose register (the
/// matrix-vector loop is short of vector instructions, not of integer ones; as two halves
/// LLVM moved them into vector instructions), then widened by four vector instructions.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scales(x: &BlockIQ4XS) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access beyond the
    // borrowed block's fields, read by value).
    unsafe {
        let l = u64::from(u32::from_le_bytes(x.scales_l));
        let h = u64::from(u16::from_le(x.scales_h));
        // Bytes 0..4: the low nibbles of `scales_l` (sub-blocks 0, 2, 4, 6), bytes 4..8 the
        // high ones (1, 3, 5, 7).
        let low = (l & 0x0F0F_0F0F) | ((l & 0xF0F0_F0F0) << 28);
        // The same order for the 2-bit fields: nibble m of `e` holds sub-block 2m's, of `o`
        // sub-block 2m + 1's; each nibble then goes to the low bits of its byte.
        let e = h & 0x3333;
        let o = (h >> 2) & 0x3333;
        let n = e | (o << 32);
        let m = 0x0000_000F_0000_000F;
        let spread =
            (n & m) | ((n & (m << 4)) << 4) | ((n & (m << 8)) << 8) | ((n & (m << 12)) << 12);
        let bytes = low | (spread << 4);
        let v = _mm_sub_epi8(_mm_cvtsi64_si128(bytes as i64), _mm_set1_epi8(32));
        _mm256_cvtepi8_epi16(_mm_unpacklo_epi64(v, v))
    }
}

/// Where sub-block `ib`'s scale is among the i16 of [`scales`].
pub(crate) const fn scale_slot(ib: usize) -> u8 {
    ((ib % 2) * 4 + ib / 2) as u8
}

/// The eight exact i32 lanes of one super-block as ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`
/// builds them (`crate::quant::q8_k::k_lanes` of the table values and the signed scales
/// `ls - 32`): per 32-value sub-block, the table values by a `pshufb` lookup of each nibble,
/// the signed products by `maddubs(|v|, sign(q8, v))` (table values in -127..=113 and
/// activations in -127..=127, so an i16 pair is at most 2 * 127 * 127 = 32258 and the sign
/// trick is exact), then `madd` with the sub-block's scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_lanes(x: &BlockIQ4XS, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the 16 table
    // values, 16-byte runs of `x.qs` and 32-byte runs of `y.qs` (unaligned).
    unsafe {
        let table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(KVALUES.as_ptr() as *const __m128i));
        let ls = scales(x);
        let mut sumi = _mm256_setzero_si256();
        for ib in 0..8 {
            let q = x.qs.as_ptr().add(16 * ib) as *const [u8; 16];
            // Low nibbles (values 0..16) in the low lane, high nibbles in the high lane.
            let v = _mm256_shuffle_epi8(table, super::bytes_from_nibbles_32(&*q));
            let q8 = _mm256_loadu_si256(y.qs.as_ptr().add(32 * ib) as *const __m256i);
            let p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(q8, v));
            let b = 2 * scale_slot(ib);
            let sc = super::pshufb(ls, _mm256_set1_epi16(i16::from_le_bytes([b, b + 1])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
        }
        sumi
    }
}

/// An activation super-block laid out for [`block_lanes_pairs`] (once per product): for
/// sub-block pair `k` (sub-blocks `2k`, `2k + 1`), `y[2k]` holds the first 16 quants of
/// sub-block `2k` then the first 16 of `2k + 1` (the values of their low nibbles), `y[2k + 1]`
/// their last 16 (high nibbles); `abs[j]` is `|y[j]|`.
#[derive(Clone, Copy)]
pub(crate) struct PairAbs {
    y: [__m256i; 8],
    abs: [__m256i; 8],
}

/// [`PairAbs`] of `y`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn pair_abs(y: &BlockQ8K) -> PairAbs {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `y.qs` (256 bytes).
    unsafe {
        let y = pair_runs(y);
        PairAbs {
            y,
            abs: y.map(|v| _mm256_abs_epi8(v)),
        }
    }
}

/// The activation quants of a super-block in sub-block pair order: for pair `k` (sub-blocks
/// `2k`, `2k + 1`), `[2k]` holds the first 16 quants of sub-block `2k` then the first 16 of
/// `2k + 1`, `[2k + 1]` their last 16 ([`PairAbs`] here, the VNNI tables' `PairAct`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn pair_runs(y: &BlockQ8K) -> [__m256i; 8] {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `y.qs` (256 bytes).
    unsafe {
        let run = |ib: usize| _mm256_loadu_si256(y.qs.as_ptr().add(32 * ib) as *const __m256i);
        let mut out = [_mm256_setzero_si256(); 8];
        for k in 0..4 {
            let (a, b) = (run(2 * k), run(2 * k + 1));
            out[2 * k] = _mm256_permute2x128_si256::<0x20>(a, b);
            out[2 * k + 1] = _mm256_permute2x128_si256::<0x31>(a, b);
        }
        out
    }
}

/// [`block_lanes`] two sub-blocks at a time (the decode product): the 32 quant bytes of
/// sub-blocks `2k` and `2k + 1` in one load (sub-block `2k` in the low 128-bit lane), their low
/// and high nibbles looked up in the table, against the activation laid out the same way
/// ([`PairAbs`]); the products by `maddubs(|y|, sign(v, y))` (IQ4_NL's form: `|y| * (v * sgn
/// y) = v * y`, a pair at most 2 * 127 * 127, exact, one `sign` fewer than `block_lanes`'),
/// then `madd` with the pair's scales (sub-block `2k`'s in the low lane, `2k + 1`'s in the
/// high one: one `vpshufb`). The low-nibble sums of all pairs add up in `lo`, whose two halves
/// then add to lanes 0..4, the high-nibble ones in `hi` to lanes 4..8: each lane the same sum
/// of `sc * sum4(v * y)` over the sub-blocks as `block_lanes`' lane.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_lanes_pairs(x: &BlockIQ4XS, a: &PairAbs) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the 16 table
    // values and 32-byte runs of `x.qs` (128 bytes).
    unsafe {
        let table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(KVALUES.as_ptr() as *const __m128i));
        let ls = scales(x);
        let m4 = _mm256_set1_epi8(0x0F);
        let mut lo = _mm256_setzero_si256();
        let mut hi = _mm256_setzero_si256();
        for k in 0..4 {
            let q = _mm256_loadu_si256(x.qs.as_ptr().add(32 * k) as *const __m256i);
            let vl = _mm256_shuffle_epi8(table, _mm256_and_si256(q, m4));
            let vh = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4));
            let pl = _mm256_maddubs_epi16(a.abs[2 * k], _mm256_sign_epi8(vl, a.y[2 * k]));
            let ph = _mm256_maddubs_epi16(a.abs[2 * k + 1], _mm256_sign_epi8(vh, a.y[2 * k + 1]));
            // Slots `k` (sub-block 2k) and `4 + k` (2k + 1) of `scales`' order.
            let (e, o) = (2 * k as i8, 2 * (4 + k) as i8);
            #[rustfmt::skip]
            let ctrl = _mm256_setr_epi8(
                e, e + 1, e, e + 1, e, e + 1, e, e + 1, e, e + 1, e, e + 1, e, e + 1, e, e + 1,
                o, o + 1, o, o + 1, o, o + 1, o, o + 1, o, o + 1, o, o + 1, o, o + 1, o, o + 1,
            );
            let sc = super::pshufb(ls, ctrl);
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(sc, pl));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(sc, ph));
        }
        _mm256_add_epi32(
            _mm256_permute2x128_si256::<0x20>(lo, hi),
            _mm256_permute2x128_si256::<0x31>(lo, hi),
        )
    }
}

super::lane_dots!(BlockIQ4XS, "iq4_xs");
