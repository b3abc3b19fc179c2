//! The decode matrix-vector products of the NEON tables for Q8_0 and Q5_0 (the formats of
//! most of a Q4_K_M model's bytes besides the K-quants: Gemma 3's output matrix and its
//! attention and FFN inputs), four rows at a time: each activation block is loaded and its
//! scale converted once for the four rows, and the loop runs once for them, where the table's
//! one-row kernel, called per row through a function pointer, does both per row. Each row's
//! lanes and float chain are the one-row kernel's (`q8_0::body`, `q5_0::body`), so the
//! results have its bits. Measured as instructions under qemu (`tools/neon-count.sh`, a
//! 64 x 2048 matrix and one token; README "Raspberry Pi").

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, I8Lanes, Mull, Sdot};
use crate::quant::{self, q5_0::BlockQ5_0, q8_0::BlockQ8_0, GgmlType};

/// `out[r] = row_r(w) . act` for Q8_0 and Q5_0 weights (every dot order: theirs is always
/// `vec_dot`'s), plain NEON; `false` (nothing written) for other formats or bytes that are
/// not whole aligned blocks, for the caller's row-by-row loop.
///
/// # Safety
/// The CPU must support NEON; `w` must be `out.len()` rows of the activation's length.
#[target_feature(enable = "neon")]
pub unsafe fn matvec(ty: GgmlType, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    // SAFETY: NEON is this function's contract; `by_format` checks the layout.
    unsafe { by_format::<Mull>(ty, w, act, out) }
}

/// As [`matvec`] with `sdot`.
///
/// # Safety
/// The CPU must support NEON and the dot-product extension; `w` must be `out.len()` rows of
/// the activation's length.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn matvec_dotprod(ty: GgmlType, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    // SAFETY: NEON and dotprod are this function's contract; `by_format` checks the layout.
    unsafe { by_format::<Sdot>(ty, w, act, out) }
}

/// The body of [`matvec`] and [`matvec_dotprod`].
///
/// # Safety
/// As [`matvec`] (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn by_format<D: I8Lanes>(ty: GgmlType, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    let Some(a) = quant::cast_blocks::<BlockQ8_0>(act) else {
        return false;
    };
    // SAFETY (both): the caller's CPU features; `rows` checks the lengths.
    match ty {
        GgmlType::Q8_0 => match quant::cast_blocks::<BlockQ8_0>(w) {
            Some(w) => unsafe {
                rows::<D, _>(w, a, out, |x| {
                    let q = x.qs.as_ptr();
                    (vld1q_s8(q), vld1q_s8(q.add(16)))
                })
            },
            None => return false,
        },
        GgmlType::Q5_0 => match quant::cast_blocks::<BlockQ5_0>(w) {
            Some(w) => unsafe { rows::<D, _>(w, a, out, |x| super::q5_0::values(x)) },
            None => return false,
        },
        _ => return false,
    }
    true
}

/// A weight block whose first two bytes are its f16 scale (Q8_0, Q5_0).
trait ScaleFirst {
    fn d(&self) -> half::f16;
}

impl ScaleFirst for BlockQ8_0 {
    #[inline(always)]
    fn d(&self) -> half::f16 {
        self.d
    }
}

impl ScaleFirst for BlockQ5_0 {
    #[inline(always)]
    fn d(&self) -> half::f16 {
        self.d
    }
}

/// Every row of `w` (`out.len()` rows of `a.len()` blocks) times `a`: four rows at a time
/// ([`rows_r`]), the last `rows % 4` one at a time. `quants(block)` gives a weight block's 32
/// values as signed bytes (values 0..16, 16..32).
///
/// # Safety
/// As [`I8Lanes::lanes16`]; inlined into a function with the CPU features.
///
/// # Panics
/// If `w` is not `out.len()` rows of `a.len()` blocks.
#[inline(always)]
unsafe fn rows<D: I8Lanes, B: ScaleFirst>(
    w: &[B],
    a: &[BlockQ8_0],
    out: &mut [f32],
    quants: impl Fn(&B) -> (int8x16_t, int8x16_t) + Copy,
) {
    let nb = a.len();
    assert_eq!(
        w.len(),
        out.len() * nb,
        "matvec: weights are not whole rows"
    );
    let mut quads = out.chunks_exact_mut(4);
    let mut rows4 = w.chunks_exact(4 * nb.max(1));
    // SAFETY (both): the caller's CPU features; every row has `nb` blocks (asserted above).
    for (o, r) in (&mut quads).zip(&mut rows4) {
        let (r0, r1) = r.split_at(nb);
        let (r1, r2) = r1.split_at(nb);
        let (r2, r3) = r2.split_at(nb);
        o.copy_from_slice(&unsafe { rows_r::<D, B, 4>([r0, r1, r2, r3], a, quants) });
    }
    let rest = rows4.remainder().chunks_exact(nb.max(1));
    for (o, r) in quads.into_remainder().iter_mut().zip(rest) {
        *o = unsafe { rows_r::<D, B, 1>([r], a, quants) }[0];
    }
}

/// `R` rows times `a`, each row's operations those of the one-row kernel: per block
/// `acc = fma(d_w * d_a, lanes, acc)` on the eight x86 lanes (as two registers), `hsum8` at
/// the end; the activation block's loads and scale shared by the rows.
///
/// # Safety
/// As [`rows`]; every `w[r]` has `a.len()` blocks.
#[inline(always)]
unsafe fn rows_r<D: I8Lanes, B: ScaleFirst, const R: usize>(
    w: [&[B]; R],
    a: &[BlockQ8_0],
    quants: impl Fn(&B) -> (int8x16_t, int8x16_t),
) -> [f32; R] {
    // SAFETY: the caller's CPU features; `b < a.len()` indexes every row (the caller's
    // contract); the loads read the 32 quants of each activation block.
    unsafe {
        let mut lo = [vdupq_n_f32(0.0); R];
        let mut hi = [vdupq_n_f32(0.0); R];
        for (b, y) in a.iter().enumerate() {
            let y0 = vld1q_s8(y.qs.as_ptr());
            let y1 = vld1q_s8(y.qs.as_ptr().add(16));
            let dy = f16_to_f32(y.d);
            for r in 0..R {
                let x = w[r].get_unchecked(b);
                let (x0, x1) = quants(x);
                let d = vdupq_n_f32(f16_to_f32(x.d()) * dy);
                lo[r] = vfmaq_f32(lo[r], d, vcvtq_f32_s32(D::lanes16(x0, y0)));
                hi[r] = vfmaq_f32(hi[r], d, vcvtq_f32_s32(D::lanes16(x1, y1)));
            }
        }
        std::array::from_fn(|r| hsum8(lo[r], hi[r]))
    }
}
