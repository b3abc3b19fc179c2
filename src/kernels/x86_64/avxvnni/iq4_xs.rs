//! IQ4_XS with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::iq4_xs`, operation for operation), with the eight 6-bit
//! scales of a super-block unpacked in one vector, each sub-block's nibbles from one
//! 128-bit broadcast load, and `vpdpwssd` applying the scale and adding in one instruction;
//! and the decode matrix-vector product ([`matvec`]), two sub-blocks per load against an
//! activation laid out for it once per product ([`block_lanes_pairs`]).

use std::arch::x86_64::*;

use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

use super::super::avx2::iq4_xs::{scale_slot, scales};

/// The eight exact i32 lanes of one super-block, the same integers per lane as
/// `avx2::iq4_xs::block_lanes` (ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`): per sub-block the
/// i16 pairs `maddubs(|v|, sign(q8, v))` of the table values `v` (exact, see there), times
/// the sub-block's scale and added by `vpdpwssd` (the `madd` and `add` of the AVX2 kernel in
/// one instruction).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn block_lanes(x: &BlockIQ4XS, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read the 16 table
    // values, 16-byte runs of `x.qs` and 32-byte runs of `y.qs` (unaligned).
    unsafe {
        let table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(KVALUES.as_ptr() as *const __m128i));
        let ls = scales(x);
        let mut acc = [_mm256_setzero_si256(); 2];
        for ib in 0..8 {
            let q = x.qs.as_ptr().add(16 * ib) as *const [u8; 16];
            // Low nibbles (values 0..16) in the low lane, high nibbles in the high lane.
            let v = _mm256_shuffle_epi8(table, super::matvec::nibbles_32(&*q));
            let q8 = _mm256_loadu_si256(y.qs.as_ptr().add(32 * ib) as *const __m256i);
            let p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(q8, v));
            let b = 2 * scale_slot(ib);
            let sc = super::pshufb(ls, _mm256_set1_epi16(i16::from_le_bytes([b, b + 1])));
            acc[ib % 2] = super::dpwssd(acc[ib % 2], p, sc);
        }
        _mm256_add_epi32(acc[0], acc[1])
    }
}

super::super::avx2::lane_dots!(BlockIQ4XS, "iq4_xs", "avx2,fma,f16c,gfni");

vnni_entry! {
    /// `out[r] = row_r(w) . act` for the IQ4_XS weight bytes `w` and the Q8_K activation bytes
    /// `act`, each the bits of [`vec_dot`]: [`block_lanes_pairs`] (the integers of
    /// [`block_lanes`]) and `vec_dot`'s float step, with the
    /// row's scale products eight super-blocks at a time ([`k_rows`](super::kmatvec::k_rows));
    /// `false` (nothing written) if the row is longer than
    /// [`MAX_SUPER`](super::super::avx2::kmatvec::MAX_SUPER) super-blocks or the bytes are not whole aligned
    /// blocks.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of
    /// the activation's length.
    pub unsafe fn matvec(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
        let Some((w, a)) = super::kmatvec::blocks::<BlockIQ4XS>(w, act, out) else {
            return false;
        };
        // SAFETY: the CPU features are this function's contract; the row loop calls the closure
        // with `b < nb`, an index of `a`; `d` is the low half of bytes 0..4 of a block.
        unsafe {
            let table = super::iq4_nl::table_u8();
            let prep = |y: &BlockQ8K| pair_act(y);
            let lanes = |x: &BlockIQ4XS, _: &BlockQ8K, p: &PairAct| block_lanes_pairs(x, p, table);
            super::kmatvec::prepared_lane_rows::<_, _, false>(w, a, out, 0, prep, lanes);
        }
        true
    }
}

/// An activation super-block laid out for [`block_lanes_pairs`]: `y` its quants in sub-block
/// pair order (`avx2::iq4_xs::pair_runs`: for pair `k`, `y[2k]` the first 16 quants of
/// sub-blocks `2k` and `2k + 1`, the values of their low nibbles, `y[2k + 1]` their last 16);
/// `bias[j]` is `-128 * sum4` of `y[j]`.
#[derive(Clone, Copy)]
struct PairAct {
    y: [__m256i; 8],
    bias: [__m256i; 8],
}

/// [`PairAct`] of `y` (once per product).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn pair_act(y: &BlockQ8K) -> PairAct {
    // SAFETY: the CPU features are this function's contract (`pair_runs` reads `y.qs`).
    unsafe {
        let y = super::super::avx2::iq4_xs::pair_runs(y);
        let k = _mm256_set1_epi8(128u8 as i8);
        PairAct {
            y,
            bias: y.map(|v| super::neg_bias(k, v)),
        }
    }
}

/// [`block_lanes`] two sub-blocks at a time: the 32 quant bytes of sub-blocks `2k` and
/// `2k + 1` in one load, their low nibbles by one `and` and their high nibbles by one
/// `gf2p8affineqb` (sub-block `2k` in the low 128-bit lane, `2k + 1` in the high one), against
/// the activation laid out the same way ([`PairAct`]); each lane scaled by its sub-block's
/// scale (one `vpshufd` per pair: the scales in pair order, [`scales_i32_pairs`]). The
/// low-nibble products of all pairs add up in `lo`, whose two halves then add to lanes 0..4
/// (as `block_lanes`' lanes: each lane the same sum of `sc * sum4(v * y)` over the
/// sub-blocks), the high-nibble ones in `hi` to lanes 4..8: the same eight integers. Against a sub-block at a time (a broadcast load and a `gf2p8affineqb`
/// per sub-block's nibbles, a `vpshufd` per scale, each activation run as read): 256 x 4096 in
/// L2 on the Zen 4 EPYC 18.7 -> 21.2 GB/s, from memory 17.2 -> 19.3.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn block_lanes_pairs(x: &BlockIQ4XS, a: &PairAct, table_u8: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `x.qs` (128 bytes) and, as `vpdpbusd` operands, of `a.y` at offsets 64k and 64k + 32
    // (k < 4: inside its 256 bytes).
    unsafe {
        let ls = scales_i32_pairs(x);
        let m4 = _mm256_set1_epi8(0x0F);
        let high = _mm256_set1_epi64x(super::matvec::HIGH_NIBBLE);
        let mut lo = _mm256_setzero_si256();
        let mut hi = _mm256_setzero_si256();
        let ay = a.y.as_ptr() as *const i8;
        // Pair `k`, written out so that the activation is `vpdpbusd`'s memory operand at a
        // constant offset.
        macro_rules! pair {
            ($k:literal, $sc:literal) => {
                let q = _mm256_loadu_si256(x.qs.as_ptr().add(32 * $k) as *const __m256i);
                let vl = _mm256_shuffle_epi8(table_u8, _mm256_and_si256(q, m4));
                let hn = _mm256_gf2p8affine_epi64_epi8::<0>(q, high);
                let vh = _mm256_shuffle_epi8(table_u8, hn);
                let dl = super::dpbusd_at_off::<{ 64 * $k }>(a.bias[2 * $k], vl, ay);
                let dh = super::dpbusd_at_off::<{ 64 * $k + 32 }>(a.bias[2 * $k + 1], vh, ay);
                let sc = _mm256_shuffle_epi32::<$sc>(ls);
                lo = _mm256_add_epi32(lo, _mm256_mullo_epi32(dl, sc));
                hi = _mm256_add_epi32(hi, _mm256_mullo_epi32(dh, sc));
            };
        }
        pair!(0, 0x00);
        pair!(1, 0x55);
        pair!(2, 0xAA);
        pair!(3, 0xFF);
        _mm256_add_epi32(
            _mm256_permute2x128_si256::<0x20>(lo, hi),
            _mm256_permute2x128_si256::<0x31>(lo, hi),
        )
    }
}

/// The eight signed scales `ls - 32` of a super-block as i32, in the order of
/// [`block_lanes_pairs`]: sub-blocks 0, 2, 4, 6 in the low 128-bit lane and 1, 3, 5, 7 in the
/// high one, so that one in-lane `vpshufd` gives pair `k`'s two scales. Sub-block `ib`'s is
/// the low nibble (`scales_l` byte `ib / 2`, nibble `ib % 2`) or'ed with the two high bits
/// (`scales_h` bits `2ib + 1 : 2ib`) moved to bits 5:4, in vector instructions.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn scales_i32_pairs(x: &BlockIQ4XS) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the block's fields by value.
    unsafe {
        let l = _mm_cvtsi32_si128(i32::from_le_bytes(x.scales_l));
        let l = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(
            l,
            _mm_setr_epi8(0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0),
        ));
        let l = _mm256_srlv_epi32(l, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
        let h = _mm256_set1_epi32(i32::from(u16::from_le(x.scales_h)));
        let h = _mm256_srlv_epi32(h, _mm256_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14));
        let low = _mm256_and_si256(l, _mm256_set1_epi32(0x0F));
        let high = _mm256_slli_epi32::<4>(_mm256_and_si256(h, _mm256_set1_epi32(3)));
        _mm256_sub_epi32(_mm256_or_si256(low, high), _mm256_set1_epi32(32))
    }
}
