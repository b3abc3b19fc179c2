//! Q5_1 on AVX-VNNI: the matrix-vector product in ggml's `vec_dot` order.

use std::arch::x86_64::*;

use super::matvec::{fifth_bits_32, nibbles_32};
use super::q4_1::min::matvec_bytes;
use crate::quant::q5_1::BlockQ5_1;

const _: () = assert!(std::mem::offset_of!(BlockQ5_1, d) == 0);
const _: () = assert!(std::mem::offset_of!(BlockQ5_1, m) == 2);

vnni_entry! {
    /// `out[r] = row_r(w) . act` for the Q5_1 weight bytes `w` and the Q8_1 activation bytes
    /// `act`, each the bits of [`crate::quant::q5_1::vec_dot`] (ggml's AVX2
    /// `ggml_vec_dot_q5_1_q8_1`): the quants (the nibble and the fifth bit, 0..=31, unsigned)
    /// into [`super::q4_1::min::min_matvec`]; `false` (nothing written) if the row is longer than
    /// [`MAX_BLOCKS`](super::matvec::MAX_BLOCKS) or the bytes are not whole aligned blocks.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of the
    /// activation's length.
    pub unsafe fn matvec(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
        // SAFETY: the CPU features and the layout are this function's contract (with AVX512BW
        // in the EVEX instance, see `Kernels::avx512_vnni`).
        unsafe {
            if super::EVEX {
                return matvec_masked(w, act, out);
            }
            let lanes = |x: &BlockQ5_1, yq| {
                let q = _mm256_or_si256(nibbles_32(&x.qs), fifth_bits_32(&x.qh));
                super::dpbusd(_mm256_setzero_si256(), q, yq)
            };
            matvec_bytes::<BlockQ5_1>(w, act, out, lanes)
        }
    }
}

/// [`matvec`] in the AVX512-VNNI instance: the fifth bits added by one masked `vpaddb`, as
/// `q5_0::matvec_masked`.
///
/// # Safety
/// As [`matvec`], and the CPU must support AVX512F, AVX512VL, AVX512BW and AVX512-VNNI.
#[target_feature(enable = "avx2,fma,f16c,gfni,avx512f,avx512vl,avx512bw")]
unsafe fn matvec_masked(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    // SAFETY: the CPU features and the layout are this function's contract.
    unsafe {
        let k10 = _mm256_set1_epi8(0x10);
        let lanes = |x: &BlockQ5_1, yq| {
            let n = nibbles_32(&x.qs);
            let q = _mm256_mask_add_epi8(n, u32::from_le_bytes(x.qh), n, k10);
            super::dpbusd(_mm256_setzero_si256(), q, yq)
        };
        matvec_bytes::<BlockQ5_1>(w, act, out, lanes)
    }
}
