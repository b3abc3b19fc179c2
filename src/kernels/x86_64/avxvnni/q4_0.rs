//! Q4_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use super::super::avx2::bytes_from_nibbles_32;
use super::q8_0::BiasedAct;
use crate::quant::{q4_0::BlockQ4_0, q8_0::BlockQ8_0};

/// The offset of the quants: the values are `q - 8`.
pub const OFFSET: u8 = 8;

/// Bit-identical to [`crate::quant::q4_0::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q4_0_q8_0`),
/// with the activation prepared by [`super::q8_0::prepare`] with [`OFFSET`]: the quants `q` as
/// unsigned bytes into `super::q8_0::dot_prepared`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `prep` is `a` prepared with [`OFFSET`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn vec_dot_prepared(w: &[BlockQ4_0], a: &[BlockQ8_0], prep: &[BiasedAct]) -> f32 {
    // SAFETY: the CPU features are this function's contract; the loads read the block.
    unsafe { super::q8_0::dot_prepared(w, a, prep, |x| (bytes_from_nibbles_32(&x.qs), x.d)) }
}
