//! Q5_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use std::arch::x86_64::*;

use super::super::avx2::{bytes_from_bits_32, bytes_from_nibbles_32};
use super::q8_0::BiasedAct;
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// The offset of the quants: the values are `q - 16`.
pub const OFFSET: u8 = 16;

/// Bit-identical to [`crate::quant::q5_0::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q5_0_q8_0`),
/// with the activation prepared by [`super::q8_0::prepare`] with [`OFFSET`]: the quants `q` as
/// unsigned bytes into `super::q8_0::dot_prepared`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `prep` is `a` prepared with [`OFFSET`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn vec_dot_prepared(w: &[BlockQ5_0], a: &[BlockQ8_0], prep: &[BiasedAct]) -> f32 {
    // SAFETY: the CPU features are this function's contract; the loads read the block.
    unsafe {
        let k10 = _mm256_set1_epi8(0x10);
        super::q8_0::dot_prepared(w, a, prep, |x| {
            let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), k10);
            (_mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi), x.d)
        })
    }
}
