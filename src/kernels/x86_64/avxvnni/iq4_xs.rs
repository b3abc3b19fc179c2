//! IQ4_XS with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::iq4_xs`, operation for operation), with the eight 6-bit
//! scales of a super-block unpacked in one vector, each sub-block's nibbles from one
//! 128-bit broadcast load, and `vpdpwssd` applying the scale and adding in one instruction.

use std::arch::x86_64::*;

use crate::quant::{iq4_nl::KVALUES, iq4_xs::BlockIQ4XS, q8_k::BlockQ8K};

/// The eight signed scales `ls - 32` of a super-block as i16, in both 128-bit lanes: the low
/// nibble (`scales_l` byte `ib / 2`, nibble `ib % 2`: `(b * [16, 1, ..]) >> 4 & 15`) or'ed with
/// the two high bits (`scales_h` bits `2ib + 1 : 2ib`: `(h * 4^(7 - ib)) >> 14 << 4`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni,gfni")]
unsafe fn scales(x: &BlockIQ4XS) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access beyond the
    // borrowed block's fields, read by value).
    unsafe {
        let l = _mm_set1_epi32(u32::from_le_bytes(x.scales_l) as i32);
        let z = -128i8;
        let l = _mm_shuffle_epi8(
            l,
            _mm_setr_epi8(0, z, 0, z, 1, z, 1, z, 2, z, 2, z, 3, z, 3, z),
        );
        let l = _mm_srli_epi16::<4>(_mm_mullo_epi16(
            l,
            _mm_setr_epi16(16, 1, 16, 1, 16, 1, 16, 1),
        ));
        let l = _mm_and_si128(l, _mm_set1_epi16(0x0F));
        let h = _mm_set1_epi16(u16::from_le(x.scales_h) as i16);
        let mul = _mm_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1);
        let h = _mm_slli_epi16::<4>(_mm_srli_epi16::<14>(_mm_mullo_epi16(h, mul)));
        let ls = _mm_sub_epi16(_mm_or_si128(l, h), _mm_set1_epi16(32));
        _mm256_broadcastsi128_si256(ls)
    }
}

/// The eight exact i32 lanes of one super-block, the same integers per lane as
/// `avx2::iq4_xs::block_lanes` (ggml's AVX2 `ggml_vec_dot_iq4_xs_q8_K`): per sub-block the
/// i16 pairs `maddubs(|v|, sign(q8, v))` of the table values `v` (exact, see there), times
/// the sub-block's scale and added by `vpdpwssd` (the `madd` and `add` of the AVX2 kernel in
/// one instruction).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni,gfni")]
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
            let b = (2 * ib) as i8;
            let sc = super::pshufb(
                ls,
                _mm256_set1_epi16(i16::from_le_bytes([b as u8, b as u8 + 1])),
            );
            acc[ib % 2] = super::dpwssd(acc[ib % 2], p, sc);
        }
        _mm256_add_epi32(acc[0], acc[1])
    }
}

super::super::avx2::lane_dots!(BlockIQ4XS, "iq4_xs", "avx2,fma,f16c,avxvnni,gfni");
