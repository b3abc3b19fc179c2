//! Q8_0 on NEON: the dot product with Q8_0 activations.

use std::arch::aarch64::*;

use super::matvec::Block32;
use super::{f16_to_f32, f16x4_to_f32, hsum8, I8Lanes};
use crate::kernels::PutFn;
use crate::quant::q8_0::BlockQ8_0;

/// The body shared by both variants, in the float order of ggml's AVX2
/// `ggml_vec_dot_q8_0_q8_0`: per block the eight exact i32 lanes (lane `l` the four products
/// of values `4l .. 4l + 4`, |lane| <= 4 * 128 * 128 = 2^16) as two 4-lane registers,
/// `acc = fma(d_w * d_a, lanes, acc)` with `vfmaq_f32`, and `hsum_float_8` at the end
/// (bit-identical to [`crate::quant::q8_0::vec_dot`]).
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; the loads read the 32 quants of each block.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let x0 = vld1q_s8(x.qs.as_ptr());
            let x1 = vld1q_s8(x.qs.as_ptr().add(16));
            let y0 = vld1q_s8(y.qs.as_ptr());
            let y1 = vld1q_s8(y.qs.as_ptr().add(16));
            let d = vdupq_n_f32(f16_to_f32(x.d) * f16_to_f32(y.d));
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(D::lanes16_y(x0, y0)));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(D::lanes16_y(x1, y1)));
        }
        hsum8(acc_lo, acc_hi)
    }
}

super::neon_dots! {
    /// Dot product of Q8_0 weights with Q8_0 activations, plain NEON (`vmull`/`vpaddl`), in the
    /// order of ggml's AVX2 `ggml_vec_dot_q8_0_q8_0`; bit-identical to
    /// [`crate::quant::q8_0::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ8_0, BlockQ8_0)
}

/// Two weight rows times four tokens (prefill): the activation blocks are loaded and their
/// scales converted once for the two rows, the weight blocks once for the four tokens; each
/// row and token's lanes and float chain are [`body`]'s (bit-identical results).
///
/// # Safety
/// As [`body`]; `w[1]` and every `a[k]` have `w[0].len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn body_2x4<D: I8Lanes>(w: [&[BlockQ8_0]; 2], a: [&[BlockQ8_0]; 4]) -> [[f32; 4]; 2] {
    // SAFETY: the caller's CPU features; every pointer advances one block per weight block
    // of `w[0]`, over rows of `w[0].len()` blocks (the caller's contract).
    unsafe {
        let mut lo = [[vdupq_n_f32(0.0); 4]; 2];
        let mut hi = [[vdupq_n_f32(0.0); 4]; 2];
        // Rows and tokens read through pointers advanced a block at a time, their scales
        // gathered on the way ([`Block32::next`]): the two rows' in one vector, the four
        // tokens' in another, converted once each; row r's four products `d_w * d_a` are
        // one multiply by lane (the same f32 products), taken by lane by the FMAs.
        let mut pw = w.map(|r| r.as_ptr());
        let mut pa = a.map(|r| r.as_ptr());
        for _ in 0..w[0].len() {
            let (hw, x0) = BlockQ8_0::next::<0>(&mut pw[0], vdup_n_u16(0));
            let (hw, x1) = BlockQ8_0::next::<1>(&mut pw[1], hw);
            let (hy, y0) = BlockQ8_0::next::<0>(&mut pa[0], vdup_n_u16(0));
            let (hy, y1) = BlockQ8_0::next::<1>(&mut pa[1], hy);
            let (hy, y2) = BlockQ8_0::next::<2>(&mut pa[2], hy);
            let (hy, y3) = BlockQ8_0::next::<3>(&mut pa[3], hy);
            let (dw, dy) = (f16x4_to_f32(hw), f16x4_to_f32(hy));
            let dd = [vmulq_laneq_f32::<0>(dy, dw), vmulq_laneq_f32::<1>(dy, dw)];
            let xq = [x0, x1];
            for (k, (y0, y1)) in [y0, y1, y2, y3].into_iter().enumerate() {
                for r in 0..2 {
                    let (l, h) = (D::lanes16_y(xq[r].0, y0), D::lanes16_y(xq[r].1, y1));
                    let (l, h) = (vcvtq_f32_s32(l), vcvtq_f32_s32(h));
                    // A match here, not `neon::fma_lane`: through the helper the compiler
                    // kept `k` a variable and branched per FMA (885 -> 1358 instructions a
                    // row and token with `sdot`).
                    (lo[r][k], hi[r][k]) = match k {
                        0 => (
                            vfmaq_laneq_f32::<0>(lo[r][k], l, dd[r]),
                            vfmaq_laneq_f32::<0>(hi[r][k], h, dd[r]),
                        ),
                        1 => (
                            vfmaq_laneq_f32::<1>(lo[r][k], l, dd[r]),
                            vfmaq_laneq_f32::<1>(hi[r][k], h, dd[r]),
                        ),
                        2 => (
                            vfmaq_laneq_f32::<2>(lo[r][k], l, dd[r]),
                            vfmaq_laneq_f32::<2>(hi[r][k], h, dd[r]),
                        ),
                        _ => (
                            vfmaq_laneq_f32::<3>(lo[r][k], l, dd[r]),
                            vfmaq_laneq_f32::<3>(hi[r][k], h, dd[r]),
                        ),
                    };
                }
            }
        }
        std::array::from_fn(|r| std::array::from_fn(|k| hsum8(lo[r][k], hi[r][k])))
    }
}

/// A Q8_0 weight tile (`rows` rows of `a[0].len()` blocks) times four tokens: rows two at a
/// time ([`body_2x4`]); a last odd row goes with a copy of itself (its second result
/// dropped: tiles of an odd number of rows are rare, and a one-row kernel would repeat this
/// one); `put(r, ..)` per row.
///
/// # Safety
/// As [`body`]; `w` is `rows` rows of `a[k].len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn tile_body<D: I8Lanes>(w: &[BlockQ8_0], rows: usize, a: [&[BlockQ8_0]; 4], put: PutFn) {
    let nb = a[0].len();
    assert!(w.len() == rows * nb && a.iter().all(|r| r.len() == nb));
    let mut pairs = w.chunks_exact(2 * nb.max(1));
    let mut r = 0;
    for pair in &mut pairs {
        let (w0, w1) = pair.split_at(nb);
        // SAFETY: the caller's CPU features; both rows and the tokens have `nb` blocks.
        let v = unsafe { body_2x4::<D>([w0, w1], a) };
        put.put(r, v[0]);
        put.put(r + 1, v[1]);
        r += 2;
    }
    if r < rows {
        // SAFETY: as above, for the last row.
        let last = pairs.remainder();
        put.put(r, unsafe { body_2x4::<D>([last, last], a) }[0]);
    }
}

/// A Q8_0 weight tile (`rows` rows) times four Q8_0 activation rows, plain NEON: two rows by
/// four tokens at a time, each result bit-identical to [`vec_dot`].
///
/// # Safety
/// The CPU must support NEON; `w` is `rows` rows of the activations' length.
#[target_feature(enable = "neon")]
pub unsafe fn tile_x4(w: &[BlockQ8_0], rows: usize, a: [&[BlockQ8_0]; 4], put: PutFn) {
    // SAFETY: NEON is this function's contract; `tile_body` checks the lengths.
    unsafe { tile_body::<super::Mull>(w, rows, a, put) }
}

/// As [`tile_x4`] with `sdot`.
///
/// # Safety
/// The CPU must support NEON and the dot-product extension; `w` is `rows` rows of the
/// activations' length.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn tile_x4_dotprod(w: &[BlockQ8_0], rows: usize, a: [&[BlockQ8_0]; 4], put: PutFn) {
    // SAFETY: NEON and dotprod are this function's contract; `tile_body` checks the lengths.
    unsafe { tile_body::<super::Sdot>(w, rows, a, put) }
}
