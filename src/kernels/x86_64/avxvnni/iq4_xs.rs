//! IQ4_XS with AVX-VNNI: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders (the float work of `avx2::iq4_xs`, operation for operation), with the eight 6-bit
//! scales of a super-block unpacked in one vector, each sub-block's nibbles from one
//! 128-bit broadcast load, and `vpdpwssd` applying the scale and adding in one instruction.

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
    /// `act`, each the bits of [`vec_dot`]: [`block_lanes`] and `vec_dot`'s float step, with the
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
            // -128 * sum4(y) per sub-block.
            let bias = |y: &BlockQ8K| super::run_biases(y, 128);
            let table = super::iq4_nl::table_u8();
            super::kmatvec::prepared_lane_rows::<_, _, false>(w, a, out, 0, bias, |x, y, b| {
                block_lanes_prepared(x, y, b, table)
            });
        }
        true
    }
}

/// [`block_lanes`] with the activation's bias `-128 * sum4(y)` of each sub-block prepared (once
/// per product): the same eight i32 lanes, with fewer instructions of the two pipes that
/// multiply (a Zen 4 core runs `vpdpbusd`, `vpdpwssd`, `vpmaddubsw`, `vpsignb`, `vpmulld`,
/// `gf2p8affineqb` and the FMAs on the same two): per sub-block the table values looked up
/// 128 higher, as unsigned bytes, and `vpdpbusd(bias, v + 128, y)` give the exact sums of four
/// products `v * y` (at most 4 * 127 * 127: i32), which one `vpmulld` scales, instead of two
/// `sign`s, a `maddubs` and a `vpdpwssd`. Per lane `sc * (p[2l] + p[2l + 1])` is what ggml's
/// `madd(sc, p)` gives. The scales are unpacked as i32 by vector instructions
/// ([`scales_i32`]) and each sub-block's broadcast is one in-lane `vpshufd`. 256 x 4096 in L2
/// on the Zen 4 EPYC, alternated: 16.8-17.1 -> 18.1-18.4 GB/s; from memory 15.3-16.1 ->
/// 16.9-17.4. (The nibbles by a shift and an `and` instead of `gf2p8affineqb`: 17.5.)
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn block_lanes_prepared(
    x: &BlockIQ4XS,
    y: &BlockQ8K,
    bias: &[__m256i; 8],
    table_u8: __m256i,
) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read 16-byte runs of
    // `x.qs` and 32-byte runs of `y.qs` (unaligned).
    unsafe {
        let ls = scales_i32(x);
        // Sub-blocks 0..4's scales in both 128-bit lanes, then 4..8's: each sub-block's
        // broadcast is one in-lane `vpshufd` (not a shuffle across lanes).
        let halves = [
            _mm256_permute4x64_epi64::<0b01_00_01_00>(ls),
            _mm256_permute4x64_epi64::<0b11_10_11_10>(ls),
        ];
        let mut acc = [_mm256_setzero_si256(); 2];
        let yq = y.qs.as_ptr();
        // Sub-block `ib`, written out so that its activation quants are `vpdpbusd`'s memory
        // operand at a constant offset (no load or address arithmetic of their own).
        macro_rules! sub_block {
            ($ib:literal) => {
                let q = x.qs.as_ptr().add(16 * $ib) as *const [u8; 16];
                let v = _mm256_shuffle_epi8(table_u8, super::matvec::nibbles_32(&*q));
                let d = super::dpbusd_at_off::<{ 32 * $ib }>(bias[$ib], v, yq);
                let h = halves[$ib / 4];
                let sc = match $ib % 4 {
                    0 => _mm256_shuffle_epi32::<0x00>(h),
                    1 => _mm256_shuffle_epi32::<0x55>(h),
                    2 => _mm256_shuffle_epi32::<0xAA>(h),
                    _ => _mm256_shuffle_epi32::<0xFF>(h),
                };
                acc[$ib % 2] = _mm256_add_epi32(acc[$ib % 2], _mm256_mullo_epi32(d, sc));
            };
        }
        sub_block!(0);
        sub_block!(1);
        sub_block!(2);
        sub_block!(3);
        sub_block!(4);
        sub_block!(5);
        sub_block!(6);
        sub_block!(7);
        _mm256_add_epi32(acc[0], acc[1])
    }
}

/// The eight signed scales `ls - 32` of a super-block as i32, sub-block `ib` in lane `ib`:
/// the low nibble (`scales_l` byte `ib / 2`, nibble `ib % 2`) or'ed with the two high bits
/// (`scales_h` bits `2ib + 1 : 2ib`) moved to bits 5:4, in vector instructions.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn scales_i32(x: &BlockIQ4XS) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the block's fields by value.
    unsafe {
        let l = _mm_cvtsi32_si128(i32::from_le_bytes(x.scales_l));
        let l = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(
            l,
            _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0),
        ));
        let l = _mm256_srlv_epi32(l, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
        let h = _mm256_set1_epi32(i32::from(u16::from_le(x.scales_h)));
        let h = _mm256_srlv_epi32(h, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
        let low = _mm256_and_si256(l, _mm256_set1_epi32(0x0F));
        let high = _mm256_slli_epi32::<4>(_mm256_and_si256(h, _mm256_set1_epi32(3)));
        _mm256_sub_epi32(_mm256_or_si256(low, high), _mm256_set1_epi32(32))
    }
}
