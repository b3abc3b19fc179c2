//! Q4_1 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order, and (module
//! [`min`], `avx2/minmatvec.rs` instantiated with this table's target features) the machinery
//! it shares with Q5_1 and with the AVX2 table (the formats with a scale and a minimum, times
//! Q8_1 activations).
//!
//! Per block of a row, as ggml's AVX2 `ggml_vec_dot_q4_1_q8_1`:
//! `lanes = vpdpbusd(0, q, y)` (the quants are unsigned already: the same exact i32 lanes as
//! `maddubs` + `madd`), `acc = fma(d_w * d_a, f32(lanes), acc)`, and beside it the scalar
//! chain `summs = fma(m, s_a, summs)`; the row's result is `hsum_float_8(acc) + summs`.
//!
//! What makes it faster than a loop of one-row dot products, none of which changes an
//! operation of a row's two float chains:
//! - the activation's scales `d_a` and `s_a` are converted once per product ([`min::prepare`]);
//! - a row's scale products `d_w * d_a` and its minimums `m` are converted eight blocks at a
//!   time ([`min::dm_8`]: eight loads gathered into one vector, `vcvtph2ps`, one `vmulps`: the same
//!   f32 values) before its loop, which then reads them from the stack;
//! - rows go four at a time ([`min::min_matvec`]): a row's vector chain and its scalar chain
//!   each wait four cycles per block on their previous FMA, and the rows share the
//!   activation's loads and the loop (Q4_1: four rows 23 -> 25-27 GB/s against two; Q5_1,
//!   once its fifth bits took two instructions (`fifth_bits_32`), 25.5 -> 27.7 in cache).

use std::arch::x86_64::*;

use super::matvec::nibbles_32;
use crate::quant::q4_1::BlockQ4_1;

const _: () = assert!(std::mem::offset_of!(BlockQ4_1, d) == 0);
const _: () = assert!(std::mem::offset_of!(BlockQ4_1, m) == 2);

/// `out[r] = row_r(w) . act` for the Q4_1 weight bytes `w` and the Q8_1 activation bytes
/// `act`, each the bits of [`crate::quant::q4_1::vec_dot`]; `false` (nothing written) if the
/// row is longer than [`MAX_BLOCKS`] or the bytes are not whole aligned blocks.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of the
/// activation's length.
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub unsafe fn matvec(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    // SAFETY: the CPU features and the layout are this function's contract.
    unsafe {
        let lanes =
            |x: &BlockQ4_1, yq| super::dpbusd(_mm256_setzero_si256(), nibbles_32(&x.qs), yq);
        min::matvec_bytes::<BlockQ4_1>(w, act, out, lanes)
    }
}

super::super::avx2::minmatvec::min_products!("avx2,fma,f16c,gfni");
