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
            let lanes = |x: &BlockIQ4XS, b: usize| block_lanes(x, a.get_unchecked(b));
            super::kmatvec::lane_rows::<_, false>(w, a, out, 0, lanes);
        }
        true
    }
}
