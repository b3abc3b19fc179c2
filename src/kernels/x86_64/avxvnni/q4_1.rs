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
//! - the rows' scale products `d_w * d_a` and minimums `m` are converted two blocks of four
//!   rows at a time before the loop ([`min::dm_rows`]: eight loads gathered into one vector,
//!   `vcvtph2ps`, one `vmulps`: the same f32 values), stored block-major;
//! - rows go four at a time ([`min::min_matvec`]): a row's vector chain waits four cycles per
//!   block on its previous FMA, and the rows share the activation's loads and the loop (Q4_1:
//!   four rows 23 -> 25-27 GB/s against two; Q5_1, once its fifth bits took two instructions
//!   (`fifth_bits_32`), 25.5 -> 27.7 in cache);
//! - the four rows' scalar chains `summs = fma(m, s_a, summs)` run as the four lanes of one
//!   128-bit FMA, the rows' minimums of a block one load (the same roundings as scalar FMAs;
//!   256 x 4096 in L2 on the Zen 4 EPYC, alternated: Q4_1 20.1-22.0 -> 25.0-25.2 GB/s, Q5_1
//!   19.0-19.8 -> 21.5-21.8; from memory 15.5-16.9 -> 17.6-19.3 and 15.1-16.1 -> 16.7-17.1).

use std::arch::x86_64::*;

use super::matvec::nibbles_32;
use crate::quant::q4_1::BlockQ4_1;

const _: () = assert!(std::mem::offset_of!(BlockQ4_1, d) == 0);
const _: () = assert!(std::mem::offset_of!(BlockQ4_1, m) == 2);

vnni_entry! {
    /// `out[r] = row_r(w) . act` for the Q4_1 weight bytes `w` and the Q8_1 activation bytes
    /// `act`, each the bits of [`crate::quant::q4_1::vec_dot`]; `false` (nothing written) if the
    /// row is longer than [`MAX_BLOCKS`] or the bytes are not whole aligned blocks.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of the
    /// activation's length.
    pub unsafe fn matvec(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
        // SAFETY: the CPU features and the layout are this function's contract.
        unsafe {
            let lanes =
                |x: &BlockQ4_1, yq| super::dpbusd(_mm256_setzero_si256(), nibbles_32(&x.qs), yq);
            min::matvec_bytes::<BlockQ4_1>(w, act, out, lanes)
        }
    }
}

vnni_min_products!();
