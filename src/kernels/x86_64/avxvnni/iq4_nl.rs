//! IQ4_NL on AVX-VNNI: the matrix-vector products in ggml's `vec_dot` order and in its
//! repacked GEMV/GEMM order.
//!
//! The table values `KVALUES` (-127..=113) are looked up 128 higher, as unsigned bytes
//! (1..=241), so that `vpdpbusd(-128 * sum4(y), q + 128, y)` gives per block the exact i32
//! lanes of `(table value) * y` that the AVX2 kernels get with `sign`, `maddubs` and `madd`
//! (no saturation; a lane is at most `4 * 241 * 128` before the bias). The bias and the
//! activation's scales are prepared once per product ([`super::matvec::prepare`] with offset
//! 128); a row's float work is that of the one-row kernels, operation for operation.

use std::arch::x86_64::*;

use super::super::avx2::iq4_nl as avx2;
use super::super::avx2::matvec as rows;
use super::matvec::{nibbles_32, prepare, PrepBuf, MAX_BLOCKS};
use crate::quant::{
    self,
    iq4_nl::{BlockIQ4NL, KVALUES},
    q8_0::BlockQ8_0,
    DotOrder,
};

/// `KVALUES[i] + 128`: the table as unsigned bytes.
const KVALUES_U8: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = (KVALUES[i] as i16 + 128) as u8;
        i += 1;
    }
    t
};

const _: () = assert!(std::mem::offset_of!(BlockIQ4NL, d) == 0);

/// Rows four at a time in the `vec_dot` order (else two).
const QUADS: bool = true;

vnni_entry! {
    /// `out[r] = row_r(w) . act` for the IQ4_NL weight bytes `w` and the Q8_0 activation bytes
    /// `act` in the float order `order`: [`DotOrder::VecDot`] as [`crate::quant::iq4_nl::vec_dot`]
    /// (rows four at a time, [`rows`](super::super::avx2::matvec::rows)), the repacked orders
    /// as [`crate::quant::iq4_nl::vec_dot_repacked`] (rows eight at a time,
    /// [`repacked_rows_in_lanes`](super::matvec::repacked_rows_in_lanes)). `false`
    /// (nothing written) for any other order, a row longer than [`MAX_BLOCKS`], or bytes that
    /// are not whole aligned blocks.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of the
    /// activation's length.
    pub unsafe fn matvec(order: DotOrder, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
        let repacked = match order {
            DotOrder::VecDot => false,
            DotOrder::RepackedGemv | DotOrder::RepackedGemm => true,
            _ => return false,
        };
        let (Some(w), Some(ab)) = (
            quant::cast_blocks::<BlockIQ4NL>(w),
            quant::cast_blocks::<BlockQ8_0>(act),
        ) else {
            return false;
        };
        let nb = ab.len();
        if nb > MAX_BLOCKS || w.len() != out.len() * nb {
            return false;
        }
        let mut buf = PrepBuf::default();
        // SAFETY: the CPU features and the layout are this function's contract; every row slice
        // below has `nb` blocks.
        unsafe {
            let a = prepare(ab, 128, &mut buf);
            let table = table_u8();
            // `lanes` is called with `b < nb`, an index of the prepared slices.
            let lanes = |x: &BlockIQ4NL, b: usize| {
                let y = *a.y.get_unchecked(b);
                super::dpbusd(*a.neg_bias.get_unchecked(b), weights_u8(x, table), y)
            };
            match repacked {
                true => {
                    let weights = |x: __m256i| {
                        let [lo, hi] = super::q4_0::nibbles_in_place(x);
                        [_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi)]
                    };
                    let row = |row: &[BlockIQ4NL]| avx2::vec_dot_repacked(row, ab);
                    super::matvec::repacked_rows_in_lanes(w, &a, out, weights, row)
                }
                false => rows::rows::<_, true>(w, nb, a.d, out, lanes, QUADS),
            }
        }
        true
    }
}

/// The 32 weights of a block as unsigned bytes (table value + 128), in value order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn weights_u8(x: &BlockIQ4NL, table: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the block's quants.
    unsafe { _mm256_shuffle_epi8(table, nibbles_32(&x.qs)) }
}

/// The unsigned table in both 128-bit halves.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(super) unsafe fn table_u8() -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 16-byte table.
    unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(KVALUES_U8.as_ptr() as *const __m128i)) }
}
