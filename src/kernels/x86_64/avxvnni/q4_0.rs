//! Q4_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use super::matvec::{nibbles_32, Prepared};
use crate::quant::q4_0::BlockQ4_0;

/// The offset of the quants: the values are `q - 8`.
pub const OFFSET: u8 = 8;

/// `out[r] = row_r(w) . a` in the bits of [`crate::quant::q4_0::vec_dot`] (ggml's AVX2
/// `ggml_vec_dot_q4_0_q8_0`), `a` prepared with [`OFFSET`]: the nibbles `q` as unsigned
/// bytes into [`super::matvec::offset_matvec`].
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `a` is prepared with [`OFFSET`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn matvec(w: &[BlockQ4_0], a: &Prepared, out: &mut [f32]) {
    // SAFETY: the CPU features are this function's contract; the loads read the block.
    unsafe { super::matvec::offset_matvec(w, a, out, |x| nibbles_32(&x.qs), |x| x.d) }
}
