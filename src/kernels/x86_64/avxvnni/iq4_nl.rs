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
use std::mem::MaybeUninit;

use super::super::avx2::matvec::{self as rows, scale_products};
use super::super::avx2::q8_0::PREFETCH_AHEAD;
use super::super::avx2::{hsum_i32, hsum_ps, iq4_nl as avx2, load32};
use super::matvec::{nibbles_32, prepare, PrepBuf, Prepared, MAX_BLOCKS};
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

/// `out[r] = row_r(w) . act` for the IQ4_NL weight bytes `w` and the Q8_0 activation bytes
/// `act` in the float order `order`: [`DotOrder::VecDot`] as [`crate::quant::iq4_nl::vec_dot`]
/// (rows two at a time, [`dot_rows`]), the repacked orders as
/// [`crate::quant::iq4_nl::vec_dot_repacked`] (rows eight at a time, [`repacked`](super::super::avx2::matvec::repacked)). `false`
/// (nothing written) for any other order, a row longer than [`MAX_BLOCKS`], or bytes that
/// are not whole aligned blocks.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of the
/// activation's length.
#[target_feature(enable = "avx2,fma,f16c,avxvnni,gfni")]
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
        if repacked {
            let table = table_u8();
            let lanes = |x: &BlockIQ4NL, b: usize| {
                let y = load32(&a.a.get_unchecked(b).qs);
                _mm256_dpbusd_avx_epi32(*a.neg_bias.get_unchecked(b), weights_u8(x, table), y)
            };
            rows::repacked(w, a.d, out, lanes, |row| avx2::vec_dot_repacked(row, ab));
        } else {
            let mut pairs = out.chunks_exact_mut(2);
            let mut rows = w.chunks_exact(2 * nb);
            for (o, rr) in (&mut pairs).zip(&mut rows) {
                let (r0, r1) = rr.split_at(nb);
                o.copy_from_slice(&dot_rows([r0, r1], &a));
            }
            if let [o] = pairs.into_remainder() {
                *o = dot_rows([rows.remainder()], &a)[0];
            }
        }
    }
    true
}

/// The 32 weights of a block as unsigned bytes (table value + 128), in value order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni,gfni")]
unsafe fn weights_u8(x: &BlockIQ4NL, table: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the block's quants.
    unsafe { _mm256_shuffle_epi8(table, nibbles_32(&x.qs)) }
}

/// The unsigned table in both 128-bit halves.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni,gfni")]
unsafe fn table_u8() -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 16-byte table.
    unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(KVALUES_U8.as_ptr() as *const __m128i)) }
}

/// `R` adjacent rows (`R` = 1 or 2) times `a` in the order of ggml's AVX2
/// `ggml_vec_dot_iq4_nl_q8_0` (as [`avx2::vec_dot`]): per row, the blocks in pairs into two
/// accumulators, `acc_k = fma(d_a * d_w, lanes, acc_k)`, `hsum_float_8(acc_0 + acc_1)`, and
/// a last unpaired block as `sumf = fma(d_a * d_w, sumi, sumf)`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `a` is prepared with offset 128.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni,gfni")]
unsafe fn dot_rows<const R: usize>(w: [&[BlockIQ4NL]; R], a: &Prepared) -> [f32; R] {
    let nb = a.a.len();
    assert!(w.iter().all(|r| r.len() == nb) && nb <= MAX_BLOCKS);
    let mut dd = [[const { MaybeUninit::<f32>::uninit() }; MAX_BLOCKS]; R];
    // SAFETY: the CPU features are this function's contract; `b < nb` indexes every slice
    // (asserted above); `scale_products` writes the first `nb` entries of each `dd` row
    // before they are read; the prefetch never faults (`wrapping_add`, and a prefetch of any
    // address is allowed).
    unsafe {
        for (row, dd) in w.iter().zip(&mut dd) {
            scale_products(row, a.d, &mut dd[..nb]);
        }
        let table = table_u8();
        let lanes = |r: usize, b: usize| {
            let yq = load32(&a.a.get_unchecked(b).qs);
            let bias = *a.neg_bias.get_unchecked(b);
            _mm256_dpbusd_avx_epi32(bias, weights_u8(w[r].get_unchecked(b), table), yq)
        };
        let d = |r: usize, b: usize| *(dd[r].as_ptr().add(b) as *const f32);
        // One prefetch stream over the next rows' bytes, as `matvec::dot_rows`.
        let step = R * size_of::<BlockIQ4NL>();
        let mut pf = (w[0].as_ptr() as *const i8).wrapping_add(nb * step + PREFETCH_AHEAD);
        let mut acc = [[_mm256_setzero_ps(); R]; 2];
        let pairs = nb / 2 * 2;
        for b in (0..pairs).step_by(2) {
            for (k, acc) in acc.iter_mut().enumerate() {
                super::super::avx2::matvec::prefetch_lines(pf, step);
                pf = pf.wrapping_add(step);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let dv = _mm256_set1_ps(d(r, b + k));
                    *acc = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(lanes(r, b + k)), *acc);
                }
            }
        }
        std::array::from_fn(|r| {
            let mut sumf = hsum_ps(_mm256_add_ps(acc[0][r], acc[1][r]));
            if pairs < nb {
                let sumi = hsum_i32(lanes(r, pairs));
                sumf = d(r, pairs).mul_add(sumi as f32, sumf);
            }
            sumf
        })
    }
}
