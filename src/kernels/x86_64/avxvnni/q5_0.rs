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
        // SAFETY: the CPU features are this function's contract (with AVX512BW in the EVEX
        // instance, see `Kernels::avx512_vnni`); the loads read the block.
        unsafe {
            if super::EVEX {
                return matvec_masked(w, a, out);
            }
            let quants = |x: &BlockQ5_0| _mm256_or_si256(nibbles_32(&x.qs), fifth_bits_32(&x.qh));
            super::matvec::offset_matvec(w, a, out, quants, true)
        }
    }
}

/// [`matvec`] in the AVX512-VNNI instance: the fifth bits `qh` loaded as a byte mask and added
/// by one masked `vpaddb` (`q = nibble + 16` where bit `j` of `qh` is set, byte `j`), instead
/// of [`fifth_bits_32`]'s shuffle, `gf2p8affineqb` and `or`: the same quants. 256 x 4096 in L2
/// on the Zen 4 EPYC, alternated: Q5_0 21.1-22.2 -> 23.5-24.5 GB/s, Q5_1 (`q5_1.rs`) 19.6-21.7
/// -> 23.8-24.8.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, GFNI, AVX512F, AVX512VL, AVX512BW and AVX512-VNNI;
/// `a` is prepared with [`OFFSET`].
#[target_feature(enable = "avx2,fma,f16c,gfni,avx512f,avx512vl,avx512bw")]
unsafe fn matvec_masked(w: &[BlockQ5_0], a: &Prepared, out: &mut [f32]) {
    // SAFETY: the CPU features are this function's contract; the loads read the block.
    unsafe {
        let k10 = _mm256_set1_epi8(0x10);
        let quants = |x: &BlockQ5_0| {
            let n = nibbles_32(&x.qs);
            _mm256_mask_add_epi8(n, u32::from_le_bytes(x.qh), n, k10)
        };
        super::matvec::offset_matvec(w, a, out, quants, true)
    }
}
