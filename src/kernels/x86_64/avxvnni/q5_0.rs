//! Q5_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use std::arch::x86_64::*;

use super::super::avx2::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum_ps, load32, q8_0::PREFETCH_AHEAD,
};
use super::q8_0::BiasedAct;
use crate::quant::{q5_0::BlockQ5_0, q8_0::BlockQ8_0};

/// The offset of the quants: the values are `q - 16`.
pub const OFFSET: u8 = 16;

/// Bit-identical to [`crate::quant::q5_0::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q5_0_q8_0`),
/// with the activation prepared by [`super::q8_0::prepare`] with [`OFFSET`]: the quants `q` as
/// unsigned bytes and the lanes `vpdpbusd(-16 * sum4(y), q, y)`, the exact sums of `(q -
/// 16) * y` that the AVX2 kernel gets with `sign`, `sign`, `maddubs` and `madd`; then
/// `acc = fma(d_w * d_a, f32(lanes), acc)` and `hsum_float_8`, as there.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `prep` is `a` prepared with [`OFFSET`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn vec_dot_prepared(w: &[BlockQ5_0], a: &[BlockQ8_0], prep: &[BiasedAct]) -> f32 {
    assert!(a.len() == w.len() && prep.len() == w.len());
    // SAFETY: the CPU features are this function's contract; the loads read borrowed blocks
    // (the prefetch never faults, its address is formed with `wrapping_add`).
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for ((x, y), p) in w.iter().zip(a).zip(prep) {
            _mm_prefetch::<_MM_HINT_T0>(
                (x as *const BlockQ5_0 as *const i8).wrapping_add(PREFETCH_AHEAD),
            );
            let d = _mm256_set1_ps(f16_to_f32(x.d) * p.d);
            let q = _mm256_or_si256(
                bytes_from_nibbles_32(&x.qs),
                _mm256_and_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0x10)),
            );
            let lanes = _mm256_dpbusd_avx_epi32(p.neg_bias, q, load32(&y.qs));
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc);
        }
        hsum_ps(acc)
    }
}
