//! Q4_0 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use super::matvec::{nibbles_32, Prepared};
use crate::quant::{q4_0::BlockQ4_0, q8_0::BlockQ8_0};

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

/// `out[r] = row_r(w) . a` in the bits of [`crate::quant::q4_0::vec_dot_repacked`] (ggml's
/// repacked `ggml_gemv/gemm_q4_0_8x8_q8_0`, AVX2; decode of Q4_0 weights with a multiple of
/// 8 rows), `a` prepared with [`OFFSET`]: eight rows at a time ([`super::iq4_nl::repacked_8`]),
/// the last `rows % 8` by the AVX2 kernel.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `a` is `act` prepared with [`OFFSET`].
///
/// # Panics
/// If `w` is not `out.len()` rows of `act`'s length.
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn matvec_repacked(w: &[BlockQ4_0], a: &Prepared, act: &[BlockQ8_0], out: &mut [f32]) {
    let nb = act.len();
    assert!(w.len() == out.len() * nb);
    let mut groups = out.chunks_exact_mut(8);
    let mut rows = w.chunks_exact(8 * nb);
    // SAFETY: the CPU features and `a`'s offset are this function's contract; every row has
    // `nb` blocks (asserted above).
    unsafe {
        for (o, rr) in (&mut groups).zip(&mut rows) {
            o.copy_from_slice(&super::iq4_nl::repacked_8(rr, a, |x| nibbles_32(&x.qs)));
        }
        let rest = rows.remainder().chunks_exact(nb);
        for (o, row) in groups.into_remainder().iter_mut().zip(rest) {
            *o = super::super::avx2::q4_0::vec_dot_repacked(row, act);
        }
    }
}
