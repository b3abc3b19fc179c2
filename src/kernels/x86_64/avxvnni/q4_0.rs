//! Q4_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use super::matvec::{nibbles_32, Prepared};
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
    /// ([`super::super::avx2::matvec::repacked`]).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `a` is `act` prepared with [`OFFSET`].
    ///
    /// # Panics
    /// If `w` is not `out.len()` rows of `act`'s length.
    pub unsafe fn matvec_repacked(w: &[BlockQ4_0], a: &Prepared, act: &[BlockQ8_0], out: &mut [f32]) {
        // SAFETY: the CPU features and `a`'s offset are this function's contract; `repacked`
        // calls `lanes` with `b` below the row length, an index of `a`'s slices.
        unsafe {
            let lanes = |x: &BlockQ4_0, b: usize| {
                // In a register: the eight rows of the repacked product share it (the memory
                // form, one read per row, measured 21.0 -> 19.4 GB/s in cache).
                let y = *a.y.get_unchecked(b);
                super::dpbusd(*a.neg_bias.get_unchecked(b), nibbles_32(&x.qs), y)
            };
            let row = |row: &[BlockQ4_0]| super::super::avx2::q4_0::vec_dot_repacked(row, act);
            super::super::avx2::matvec::repacked(w, a.d, out, lanes, row)
        }
    }
}
