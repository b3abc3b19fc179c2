//! Q5_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use std::arch::x86_64::*;

use super::super::avx2::bytes_from_bits_32;
use super::matvec::{nibbles_32, Prepared};
use crate::quant::q5_0::BlockQ5_0;

/// The offset of the quants: the values are `q - 16`.
pub const OFFSET: u8 = 16;

/// `out[r] = row_r(w) . a` in the bits of [`crate::quant::q5_0::vec_dot`] (ggml's AVX2
/// `ggml_vec_dot_q5_0_q8_0`), `a` prepared with [`OFFSET`]: the quants `q` (the nibble and
/// the fifth bit) as unsigned bytes into [`super::matvec::offset_matvec`].
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `a` is prepared with [`OFFSET`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn matvec(w: &[BlockQ5_0], a: &Prepared, out: &mut [f32]) {
    // SAFETY: the CPU features are this function's contract; the loads read the block.
    unsafe {
        let k10 = _mm256_set1_epi8(0x10);
        let quants = |x: &BlockQ5_0| {
            let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), k10);
            _mm256_or_si256(nibbles_32(&x.qs), hi)
        };
        super::matvec::offset_matvec(w, a, out, quants)
    }
}
