//! Q4_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use std::arch::x86_64::*;

use super::matvec::{nibbles_32, Prepared, HIGH_NIBBLE};
use crate::quant::{q4_0::BlockQ4_0, q8_0::BlockQ8_0};

/// The offset of the quants: the values are `q - 8`.
pub const OFFSET: u8 = 8;

vnni_entry! {
    /// `out[r] = row_r(w) . a` in the bits of [`crate::quant::q4_0::vec_dot`] (ggml's AVX2
    /// `ggml_vec_dot_q4_0_q8_0`), `a` prepared with [`OFFSET`]: the nibbles `q` as unsigned
    /// bytes into [`super::matvec::offset_matvec`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `a` is prepared with [`OFFSET`].
    pub unsafe fn matvec(w: &[BlockQ4_0], a: &Prepared, out: &mut [f32]) {
        // SAFETY: the CPU features are this function's contract; the loads read the block.
        unsafe { super::matvec::offset_matvec(w, a, out, |x| nibbles_32(&x.qs), true) }
    }
}

vnni_entry! {
    /// `out[r] = row_r(w) . a` in the bits of [`crate::quant::q4_0::vec_dot_repacked`] (ggml's
    /// repacked `ggml_gemv/gemm_q4_0_8x8_q8_0`, AVX2; decode of Q4_0 weights with a multiple of
    /// 8 rows), `a` prepared with [`OFFSET`]: eight rows at a time
    /// ([`super::matvec::repacked_rows_in_lanes`]).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `a` is `act` prepared with [`OFFSET`].
    ///
    /// # Panics
    /// If `w` is not `out.len()` rows of `act`'s length.
    pub unsafe fn matvec_repacked(w: &[BlockQ4_0], a: &Prepared, act: &[BlockQ8_0], out: &mut [f32]) {
        // SAFETY: the CPU features and `a`'s offset are this function's contract (the row
        // lengths are checked by `repacked_rows_in_lanes`).
        unsafe {
            let row = |row: &[BlockQ4_0]| super::super::avx2::q4_0::vec_dot_repacked(row, act);
            let weights = |x: __m256i| nibbles_in_place(x);
            super::matvec::repacked_rows_in_lanes(w, a, out, weights, row)
        }
    }
}

/// The low and the high nibbles of every byte of `x`, each as a byte in place (the unsigned
/// quants of [`super::matvec::repacked_rows_in_lanes`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(super) unsafe fn nibbles_in_place(x: __m256i) -> [__m256i; 2] {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        [
            _mm256_and_si256(x, _mm256_set1_epi8(0x0F)),
            _mm256_gf2p8affine_epi64_epi8::<0>(x, _mm256_set1_epi64x(HIGH_NIBBLE)),
        ]
    }
}
