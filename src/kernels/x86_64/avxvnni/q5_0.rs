//! Q5_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use std::arch::x86_64::*;

use super::matvec::{fifth_bits_32, nibbles_32, Prepared};
use crate::quant::q5_0::BlockQ5_0;

/// The offset of the quants: the values are `q - 16`.
pub const OFFSET: u8 = 16;

vnni_entry! {
    /// `out[r] = row_r(w) . a` in the bits of [`crate::quant::q5_0::vec_dot`] (ggml's AVX2
    /// `ggml_vec_dot_q5_0_q8_0`), `a` prepared with [`OFFSET`]: the quants `q` (the nibble and
    /// the fifth bit) as unsigned bytes into [`super::matvec::offset_matvec`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `a` is prepared with [`OFFSET`].
    pub unsafe fn matvec(w: &[BlockQ5_0], a: &Prepared, out: &mut [f32]) {
        // SAFETY: the CPU features are this function's contract; the loads read the block.
        unsafe {
            let quants = |x: &BlockQ5_0| _mm256_or_si256(nibbles_32(&x.qs), fifth_bits_32(&x.qh));
            super::matvec::offset_matvec(w, a, out, quants, true)
        }
    }
}
