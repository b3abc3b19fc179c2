//! The decode matrix-vector products of the NEON tables for the formats of 32-value blocks
//! times Q8_0 activations: Q8_0 and Q5_0 (most of a Q4_K_M model's bytes besides the
//! K-quants: Gemma 3's output matrix and its attention and FFN inputs) and Q4_0 in ggml's
//! `vec_dot` order, Q4_0 and IQ4_NL in its repacked orders (every matrix of a Q4_0 model with
//! a multiple of 8 rows), and Q4_K in the repacked GEMV order (`q4_k::gemv_x4`, every Q4_K
//! matrix of a K-quant model). Rows go four at a time: each activation block is loaded and
//! its scale converted once for the four rows, the rows' scales are gathered into one vector
//! and converted once, each row is read through a pointer that post-indexed loads advance
//! ([`Block32::next`]), and the loop runs once for the four, where the table's one-row
//! kernel, called per row through a function pointer, does all of it per row. Each row's
//! integer sums and float chain are the one-row kernel's (`q8_0::body`, `q5_0::body`,
//! `q4_0::body`, `q4_0::body_repacked`, `iq4_nl::body_repacked`, `q4_k::body_scalar_acc`),
//! so the results have its bits. Measured as instructions under qemu
//! (`tools/neon-count.sh`; README "Raspberry Pi").

use std::arch::aarch64::*;

use super::{f16_to_f32, f16x4_to_f32, fma_lane, hsum8, hsum_x4, load_f16x4, I8Lanes, Mull, Sdot};
use crate::quant::{
    self, iq4_nl::BlockIQ4NL, q4_0::BlockQ4_0, q4_k::BlockQ4K, q5_0::BlockQ5_0, q8_0::BlockQ8_0,
    q8_k::BlockQ8K, DotOrder, GgmlType,
};

/// `out[r] = row_r(w) . act` in `order` for the formats and orders of this module (Q8_0 and
/// Q5_0 in every order: theirs is always `vec_dot`'s), plain NEON; `false` (nothing written)
/// for the others or bytes that are not whole aligned blocks, for the caller's row-by-row
/// loop.
///
/// # Safety
/// The CPU must support NEON; `w` must be `out.len()` rows of the activation's length.
#[target_feature(enable = "neon")]
pub unsafe fn matvec(ty: GgmlType, order: DotOrder, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    // SAFETY: NEON is this function's contract; `by_format` checks the layout.
    unsafe { by_format::<Mull>(ty, order, w, act, out) }
}

/// As [`matvec`] with `sdot`.
///
/// # Safety
/// The CPU must support NEON and the dot-product extension; `w` must be `out.len()` rows of
/// the activation's length.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn matvec_dotprod(
    ty: GgmlType,
    order: DotOrder,
    w: &[u8],
    act: &[u8],
    out: &mut [f32],
) -> bool {
    // SAFETY: NEON and dotprod are this function's contract; `by_format` checks the layout.
    unsafe { by_format::<Sdot>(ty, order, w, act, out) }
}

/// The body of [`matvec`] and [`matvec_dotprod`].
///
/// # Safety
/// As [`matvec`] (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
unsafe fn by_format<D: I8Lanes>(
    ty: GgmlType,
    order: DotOrder,
    w: &[u8],
    act: &[u8],
    out: &mut [f32],
) -> bool {
    if ty == GgmlType::Q4_K && order == DotOrder::RepackedGemv {
        // SAFETY: the caller's CPU features; `q4_k_gemv` checks the layout.
        return unsafe { q4_k_gemv::<D>(w, act, out) };
    }
    let Some(a) = quant::cast_blocks::<BlockQ8_0>(act) else {
        return false;
    };
    let repacked = matches!(order, DotOrder::RepackedGemv | DotOrder::RepackedGemm);
    // SAFETY (all): the caller's CPU features; `run` casts the weights to whole aligned
    // blocks and `rows` / `rows_repacked` check the row lengths.
    unsafe {
        match (ty, repacked) {
            (GgmlType::Q8_0, _) => run::<D, BlockQ8_0>(w, a, out, false),
            (GgmlType::Q5_0, _) => run::<D, BlockQ5_0>(w, a, out, false),
            (GgmlType::Q4_0, _) => run::<D, BlockQ4_0>(w, a, out, repacked),
            (GgmlType::IQ4_NL, true) => run::<D, BlockIQ4NL>(w, a, out, true),
            _ => false,
        }
    }
}

/// The weight bytes `w` as blocks of `B` times `a`: [`rows_repacked`] if `repacked`, else
/// [`rows`]; `false` (nothing written) if they are not whole aligned blocks.
///
/// # Safety
/// As [`by_format`].
#[inline(always)]
unsafe fn run<D: I8Lanes, B: Block32 + quant::Pod>(
    w: &[u8],
    a: &[BlockQ8_0],
    out: &mut [f32],
    repacked: bool,
) -> bool {
    let Some(w) = quant::cast_blocks::<B>(w) else {
        return false;
    };
    // SAFETY: the caller's CPU features; both check the row lengths.
    unsafe {
        match repacked {
            true => rows_repacked::<D, B>(w, a, out),
            false => rows::<D, B>(w, a, out),
        }
    }
    true
}

/// Q4_K times Q8_K in the repacked GEMV order, four rows at a time
/// ([`super::q4_k::gemv_x4`], [`by_quads`]); `false` (nothing written) if the bytes are not
/// whole aligned blocks.
///
/// # Safety
/// As [`by_format`].
#[inline(always)]
unsafe fn q4_k_gemv<D: I8Lanes>(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    let (Some(w), Some(a)) = (
        quant::cast_blocks::<BlockQ4K>(w),
        quant::cast_blocks::<BlockQ8K>(act),
    ) else {
        return false;
    };
    // SAFETY: the caller's CPU features; `by_quads` hands out rows of `a.len()` blocks.
    by_quads(w, a.len(), out, |rows| unsafe {
        super::q4_k::gemv_x4::<D>(rows, a)
    });
    true
}

/// `out[r0..r0 + 4] = f(rows r0 .. r0 + 4 of w)` for every group of four of the `out.len()`
/// rows of `nb` blocks in `w`; the last `rows % 4` rows ride along with copies of the last
/// row (their extra lanes dropped). For the four-rows-in-the-lanes kernels.
///
/// # Panics
/// If `w` is not `out.len()` rows of `nb` blocks.
#[inline(always)]
fn by_quads<B>(w: &[B], nb: usize, out: &mut [f32], mut f: impl FnMut([&[B]; 4]) -> [f32; 4]) {
    let n = out.len();
    assert_eq!(w.len(), n * nb, "matvec: weights are not whole rows");
    for r0 in (0..n).step_by(4) {
        let row = |k: usize| &w[(r0 + k).min(n - 1) * nb..][..nb];
        let v = f([row(0), row(1), row(2), row(3)]);
        for (o, v) in out[r0..].iter_mut().zip(v) {
            *o = v;
        }
    }
}

/// A block of 32 values with an f16 scale, multiplied with Q8_0 blocks.
pub(super) trait Block32 {
    /// Every product of a value and an activation (in [-127, 127]) is below 2^13 in
    /// magnitude, so that one [`I8Lanes::sum32`] may add a block's 32.
    const SMALL: bool;
    /// The block's scale.
    fn d(&self) -> half::f16;
    /// The 32 values as i8 (values 0..16, 16..32).
    ///
    /// # Safety
    /// NEON (the caller's contract); inlined into such a function.
    unsafe fn values(&self) -> (int8x16_t, int8x16_t);

    /// The block at `*p`: its scale's bits put into lane `LANE` of `d` (lane 0 sets the
    /// others to zero and ignores `d`: the first of a gather), its values; `*p` advanced past
    /// it.
    ///
    /// # Safety
    /// NEON (the caller's contract); `*p` points to a block; inlined into such a function.
    unsafe fn next<const LANE: i32>(
        p: &mut *const Self,
        d: uint16x4_t,
    ) -> (uint16x4_t, (int8x16_t, int8x16_t))
    where
        Self: Sized;
}

/// An `asm!` that loads a block's f16 scale into lane `$lane` of `$d` and advances `$q` by
/// two (`ld1 {d.h}[lane], [q], #2`; lane 0 by `ldr h`, which zeroes the other lanes, so a
/// gather neither waits on the previous one nor needs `$d` set: an output only, which saves
/// the zeroing the compiler would do), then runs `$rest` (which continue from `$q`).
macro_rules! scale_then {
    ($lane:expr, $d:ident, $q:ident, [$($rest:literal),*], $($ops:tt)*) => {
        match $lane {
            0 => std::arch::asm!("ldr {d:h}, [{q}], #2", $($rest,)*
                d = out(vreg) $d, q = inout(reg) $q, $($ops)*),
            1 => std::arch::asm!("ld1 {{{d:v}.h}}[1], [{q}], #2", $($rest,)*
                d = inout(vreg) $d, q = inout(reg) $q, $($ops)*),
            2 => std::arch::asm!("ld1 {{{d:v}.h}}[2], [{q}], #2", $($rest,)*
                d = inout(vreg) $d, q = inout(reg) $q, $($ops)*),
            _ => std::arch::asm!("ld1 {{{d:v}.h}}[3], [{q}], #2", $($rest,)*
                d = inout(vreg) $d, q = inout(reg) $q, $($ops)*),
        }
    };
}

/// `Block32` for a block type with its field `d` first: `SMALL`, `values(x)` and, for
/// [`Block32::next`], the instructions after the scale's load (post-indexed from `{q}`, to
/// the block's end) and the values from the registers they loaded. The compiler's own loads
/// of a block, addressed from an index shared by the rows, take an address addition per row
/// besides the loads (Q8_0, 64 rows of 640 with `sdot`: 359 -> 275 instructions a row,
/// `tools/neon-count.sh`).
macro_rules! block32 {
    ($($B:ty: $small:expr, |$x:ident| $values:expr,
        [$($rest:literal),*], ($($out:ident),*) => $from:expr;)*) => {$(
        impl Block32 for $B {
            const SMALL: bool = $small;
            #[inline(always)]
            fn d(&self) -> half::f16 {
                self.d
            }
            #[inline(always)]
            unsafe fn values(&self) -> (int8x16_t, int8x16_t) {
                let $x = self;
                // SAFETY: NEON (the caller's contract); the loads read inside the block.
                unsafe { $values }
            }
            #[inline(always)]
            unsafe fn next<const LANE: i32>(
                p: &mut *const Self,
                d: uint16x4_t,
            ) -> (uint16x4_t, (int8x16_t, int8x16_t)) {
                const _: () = assert!(std::mem::offset_of!($B, d) == 0);
                let (mut d, mut q) = (d, *p as *const u8);
                $(let $out: uint8x16_t;)*
                // SAFETY: NEON (the caller's contract); the loads read the block at `*p` (the
                // caller's contract), advancing `q` by its size, and write registers only.
                unsafe {
                    scale_then!(LANE, d, q, [$($rest),*], $($out = out(vreg) $out,)*
                        options(pure, readonly, nostack, preserves_flags));
                    debug_assert_eq!(q, p.add(1) as *const u8);
                    *p = q as *const Self;
                    (d, $from)
                }
            }
        }
    )*};
}

block32! {
    BlockQ8_0: false, |x| (vld1q_s8(x.qs.as_ptr()), vld1q_s8(x.qs.as_ptr().add(16))),
        ["ldp {q0:q}, {q1:q}, [{q}], #32"], (q0, q1) =>
        (vreinterpretq_s8_u8(q0), vreinterpretq_s8_u8(q1));
    BlockQ5_0: true, |x| super::q5_0::values(x),
        ["ld1r {{{h:v}.4s}}, [{q}], #4", "ldr {qs:q}, [{q}], #16"], (h, qs) =>
        super::q5_0::values_of(qs, h);
    BlockQ4_0: true, |x| super::q4_0::values(x),
        ["ldr {qs:q}, [{q}], #16"], (qs) => super::q4_0::values_of(qs);
    BlockIQ4NL: false, |x| super::iq4_nl::values(x),
        ["ldr {qs:q}, [{q}], #16"], (qs) => super::iq4_nl::values_of(qs);
}

/// Four lanes whose total is the exact sum of a block's 32 products with `(y0, y1)`:
/// [`I8Lanes::sum32`] for the formats whose products are small ([`Block32::SMALL`]), else
/// [`I8Lanes::sum32_wide`] (any product of a weight and an activation in [-127, 127] is
/// below 2^14, its bound).
///
/// # Safety
/// As [`I8Lanes::lanes16`].
#[inline(always)]
pub(super) unsafe fn block_sum<D: I8Lanes, B: Block32>(
    (w0, w1): (int8x16_t, int8x16_t),
    y0: int8x16_t,
    y1: int8x16_t,
) -> int32x4_t {
    // SAFETY: the caller's contract.
    unsafe {
        if B::SMALL {
            D::sum32(vdupq_n_s32(0), w0, y0, w1, y1)
        } else {
            D::sum32_wide(vdupq_n_s32(0), w0, y0, w1, y1)
        }
    }
}

/// Every row of `w` (`out.len()` rows of `a.len()` blocks) times `a` in the `vec_dot` order:
/// four rows at a time ([`rows_r`]), the last `rows % 4` one at a time.
///
/// # Safety
/// As [`I8Lanes::lanes16`]; inlined into a function with the CPU features.
///
/// # Panics
/// If `w` is not `out.len()` rows of `a.len()` blocks.
#[inline(always)]
unsafe fn rows<D: I8Lanes, B: Block32>(w: &[B], a: &[BlockQ8_0], out: &mut [f32]) {
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
        o.copy_from_slice(&unsafe { rows_r::<D, B, 4>([r0, r1, r2, r3], a) });
    }
    let rest = rows4.remainder().chunks_exact(nb.max(1));
    for (o, r) in quads.into_remainder().iter_mut().zip(rest) {
        *o = unsafe { rows_r::<D, B, 1>([r], a) }[0];
    }
}

/// `R <= 4` rows times `a`, each row's operations those of the one-row kernel: per block
/// `acc = fma(d_w * d_a, lanes, acc)` on the eight x86 lanes (as two registers), `hsum8` at
/// the end. The activation block's loads and scale are shared by the rows; the rows' scales
/// are gathered into one vector, converted and multiplied as one (`fcvtl`, `fmul`: the same
/// f32 products), and each row's FMAs take their product by lane; each row is read through a
/// pointer that [`Block32::next`] advances a block at a time (post-indexed loads).
///
/// # Safety
/// As [`rows`]; every `w[r]` has `a.len()` blocks.
#[inline(always)]
unsafe fn rows_r<D: I8Lanes, B: Block32, const R: usize>(
    w: [&[B]; R],
    a: &[BlockQ8_0],
) -> [f32; R] {
    const { assert!(R >= 1 && R <= 4) };
    // SAFETY: the caller's CPU features; each row pointer advances one block per activation
    // block, `a.len()` times over a row of `a.len()` blocks (the caller's contract), so every
    // block read is inside its row; the loads read the 32 quants of each activation block.
    unsafe {
        let mut lo = [vdupq_n_f32(0.0); R];
        let mut hi = [vdupq_n_f32(0.0); R];
        let mut p: [*const B; R] = std::array::from_fn(|r| w[r].as_ptr());
        let mut y = a.as_ptr();
        for _ in 0..a.len() {
            let (dy, (y0, y1)) = BlockQ8_0::next::<0>(&mut y, vdup_n_u16(0));
            let mut h = dy;
            let mut v = [(vdupq_n_s8(0), vdupq_n_s8(0)); R];
            for r in 0..R {
                (h, v[r]) = match r {
                    0 => B::next::<0>(&mut p[r], h),
                    1 => B::next::<1>(&mut p[r], h),
                    2 => B::next::<2>(&mut p[r], h),
                    _ => B::next::<3>(&mut p[r], h),
                };
            }
            let dy = f16_to_f32(half::f16::from_bits(vget_lane_u16::<0>(dy)));
            let d = vmulq_n_f32(f16x4_to_f32(h), dy);
            for r in 0..R {
                let (x0, x1) = v[r];
                let l0 = vcvtq_f32_s32(D::lanes16_y(x0, y0));
                let l1 = vcvtq_f32_s32(D::lanes16_y(x1, y1));
                lo[r] = fma_lane(lo[r], l0, d, r);
                hi[r] = fma_lane(hi[r], l1, d, r);
            }
        }
        std::array::from_fn(|r| hsum8(lo[r], hi[r]))
    }
}

/// Every row of `w` (`out.len()` rows of `a.len()` blocks) times `a` in the repacked orders
/// (`q4_0::body_repacked`: per block the exact sum, `acc = fma(sum, d_w * d_a, acc)`), four
/// rows at a time with row `r`'s chain in lane `r` of one vector ([`repacked_4`]). The last
/// `rows % 4` rows ride along with copies of the last row (their extra lanes dropped).
///
/// # Safety
/// As [`I8Lanes::lanes16`]; inlined into a function with the CPU features.
///
/// # Panics
/// If `w` is not `out.len()` rows of `a.len()` blocks.
#[inline(always)]
unsafe fn rows_repacked<D: I8Lanes, B: Block32>(w: &[B], a: &[BlockQ8_0], out: &mut [f32]) {
    // SAFETY: the caller's CPU features; `by_quads` hands out rows of `a.len()` blocks.
    by_quads(w, a.len(), out, |rows| unsafe {
        repacked_4::<D, B>(rows, a)
    });
}

/// Four rows times `a` in the repacked orders, lane `r` row `r`'s float chain: per block the
/// four exact sums from a tree of pairwise adds ([`hsum_x4`]), the four scale products `d_w *
/// d_a` from one `fcvtl` and one `fmul`, one vector FMA for the four rows' scalar FMAs.
///
/// # Safety
/// As [`rows_repacked`]; every `w[r]` has `a.len()` blocks.
#[inline(always)]
pub(super) unsafe fn repacked_4<D: I8Lanes, B: Block32>(w: [&[B]; 4], a: &[BlockQ8_0]) -> [f32; 4] {
    // SAFETY: the caller's CPU features; each row pointer advances one block per activation
    // block, `a.len()` times over a row of `a.len()` blocks (the caller's contract).
    unsafe {
        let mut acc = vdupq_n_f32(0.0);
        // Each row read through a pointer advanced a block at a time ([`Block32::next`]),
        // the rows' scales gathered into one vector on the way.
        let mut p: [*const B; 4] = std::array::from_fn(|r| w[r].as_ptr());
        let mut y = a.as_ptr();
        for _ in 0..a.len() {
            let (dy, (y0, y1)) = BlockQ8_0::next::<0>(&mut y, vdup_n_u16(0));
            let (h, v0) = B::next::<0>(&mut p[0], dy);
            let (h, v1) = B::next::<1>(&mut p[1], h);
            let (h, v2) = B::next::<2>(&mut p[2], h);
            let (h, v3) = B::next::<3>(&mut p[3], h);
            let s = [
                block_sum::<D, B>(v0, y0, y1),
                block_sum::<D, B>(v1, y0, y1),
                block_sum::<D, B>(v2, y0, y1),
                block_sum::<D, B>(v3, y0, y1),
            ];
            let sums = vcvtq_f32_s32(hsum_x4(s));
            // d_w * d_a per row, as the one-row kernel's `f16_to_f32(x.d) * f16_to_f32(y.d)`.
            let dy = f16_to_f32(half::f16::from_bits(vget_lane_u16::<0>(dy)));
            let dd = vmulq_n_f32(f16x4_to_f32(h), dy);
            acc = vfmaq_f32(acc, sums, dd);
        }
        let mut out = [0.0f32; 4];
        vst1q_f32(out.as_mut_ptr(), acc);
        out
    }
}

/// One row times four tokens in the repacked orders (prefill: `tile::row_x4`), lane `k`
/// token `k`'s float chain: each block's values unpacked once for the four, per token the
/// exact block sum, then as [`repacked_4`] with the tokens in the lanes.
///
/// # Safety
/// As [`rows_repacked`]; every `a[k]` has `w.len()` blocks.
#[inline(always)]
pub(super) unsafe fn repacked_x4<D: I8Lanes, B: Block32>(
    w: &[B],
    a: [&[BlockQ8_0]; 4],
) -> [f32; 4] {
    assert!(a.iter().all(|r| r.len() == w.len()));
    // SAFETY: the caller's CPU features; `b < w.len()` indexes every activation row (asserted
    // above); the loads read the 32 quants of each activation block.
    unsafe {
        let mut acc = vdupq_n_f32(0.0);
        for (b, x) in w.iter().enumerate() {
            let v = x.values();
            let ys: [&BlockQ8_0; 4] = std::array::from_fn(|k| a[k].get_unchecked(b));
            let sum = |y: &BlockQ8_0| {
                let (y0, y1) = (vld1q_s8(y.qs.as_ptr()), vld1q_s8(y.qs.as_ptr().add(16)));
                block_sum::<D, B>(v, y0, y1)
            };
            let s = [sum(ys[0]), sum(ys[1]), sum(ys[2]), sum(ys[3])];
            let sums = vcvtq_f32_s32(hsum_x4(s));
            // d_w * d_a per token, as the one-row kernel's `f16_to_f32(x.d) * f16_to_f32(y.d)`.
            let dy = load_f16x4([ys[0].d, ys[1].d, ys[2].d, ys[3].d]);
            let dd = vmulq_n_f32(dy, f16_to_f32(x.d()));
            acc = vfmaq_f32(acc, sums, dd);
        }
        let mut out = [0.0f32; 4];
        vst1q_f32(out.as_mut_ptr(), acc);
        out
    }
}

/// The plain and `sdot` instances of [`repacked_x4`] for a block type.
macro_rules! repacked_x4_fns {
    ($($B:ty: $plain:ident, $sdot:ident;)*) => {$(
        #[doc = concat!("[`repacked_x4`] for `", stringify!($B), "`, plain NEON.")]
        ///
        /// # Safety
        /// The CPU must support NEON; every `a[k]` has `w.len()` blocks.
        #[target_feature(enable = "neon")]
        pub unsafe fn $plain(w: &[$B], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
            // SAFETY: NEON is this function's contract; `repacked_x4` checks the lengths.
            unsafe { repacked_x4::<Mull, _>(w, a) }
        }

        #[doc = concat!("[`repacked_x4`] for `", stringify!($B), "` with `sdot`.")]
        ///
        /// # Safety
        /// The CPU must support NEON and dotprod; every `a[k]` has `w.len()` blocks.
        #[target_feature(enable = "neon,dotprod")]
        pub unsafe fn $sdot(w: &[$B], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
            // SAFETY: NEON and dotprod are this function's contract; `repacked_x4` checks
            // the lengths.
            unsafe { repacked_x4::<Sdot, _>(w, a) }
        }
    )*};
}

repacked_x4_fns! {
    BlockQ4_0: q4_0_repacked_x4, q4_0_repacked_x4_dotprod;
    BlockIQ4NL: iq4_nl_repacked_x4, iq4_nl_repacked_x4_dotprod;
}
