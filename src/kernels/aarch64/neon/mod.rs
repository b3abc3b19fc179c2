//! NEON kernels: one file per block format with `vec_dot` (plain NEON: `vmull_s8` +
//! `vpadalq_s16`, or `vmull` + `vmlal` where the lanes matter) and `vec_dot_dotprod` (`sdot`,
//! the Armv8.2 dot-product extension), following ggml's `ggml/src/ggml-cpu/arch/arm/quants.c`.
//!
//! Like the AVX2 kernels they are bit-identical to the scalar reference: they compute the
//! reference's exact integer sums (per block, or in ggml's eight `aux32` lanes for the
//! K-quants, which `vmull` gives naturally: i16 lane l of `vmull_s8(low) + vmull_high_s8`
//! holds positions l and l + 8 of a 16-value group), then its float steps in its order.
//!
//! Q8_0, Q4_0, Q5_0, Q4_K and Q6_K have NEON kernels; the other formats use the scalar
//! reference in the NEON tables (TODO: Q4_1, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS, F16,
//! BF16, F32 and NEON activation quantizers).
//!
//! `sdot` is not a stable `std::arch` intrinsic (`stdarch_neon_dotprod`), so [`Sdot`] emits the
//! instruction with `asm!`; it is only ever inlined into `#[target_feature(enable =
//! "neon,dotprod")]` functions, which [`crate::kernels::Kernels::neon_dotprod`] hands out only
//! after detecting the extension.

use std::arch::aarch64::*;

use super::super::{erase_dot, scalar, Isa, Kernels, VecDotFn, TYPES};
use crate::quant::{
    q4_0::BlockQ4_0, q4_k::BlockQ4K, q5_0::BlockQ5_0, q6_k::BlockQ6K, q8_0::BlockQ8_0, GgmlType,
};

pub mod q4_0;
pub mod q4_k;
pub mod q5_0;
pub mod q6_k;
pub mod q8_0;

/// The NEON dot product of `ty` (with `sdot` when `dotprod`), type-erased; the scalar
/// reference for formats without a NEON kernel.
fn vec_dot_fn(ty: GgmlType, dotprod: bool) -> VecDotFn {
    match (ty, dotprod) {
        (GgmlType::Q4_0, false) => erase_dot!(BlockQ4_0, q4_0::vec_dot),
        (GgmlType::Q4_0, true) => erase_dot!(BlockQ4_0, q4_0::vec_dot_dotprod),
        (GgmlType::Q5_0, false) => erase_dot!(BlockQ5_0, q5_0::vec_dot),
        (GgmlType::Q5_0, true) => erase_dot!(BlockQ5_0, q5_0::vec_dot_dotprod),
        (GgmlType::Q8_0, false) => erase_dot!(BlockQ8_0, q8_0::vec_dot),
        (GgmlType::Q8_0, true) => erase_dot!(BlockQ8_0, q8_0::vec_dot_dotprod),
        (GgmlType::Q4_K, false) => erase_dot!(BlockQ4K, q4_k::vec_dot),
        (GgmlType::Q4_K, true) => erase_dot!(BlockQ4K, q4_k::vec_dot_dotprod),
        (GgmlType::Q6_K, false) => erase_dot!(BlockQ6K, q6_k::vec_dot),
        (GgmlType::Q6_K, true) => erase_dot!(BlockQ6K, q6_k::vec_dot_dotprod),
        _ => scalar::vec_dot_fn(ty),
    }
}

/// Adapts the safe scalar quantizer to the table's function-pointer type.
///
/// # Safety
/// None beyond the signature: the scalar code runs on every CPU.
unsafe fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    crate::quant::q8_0::quantize_row(x, out)
}

/// Adapts the safe scalar quantizer to the table's function-pointer type.
///
/// # Safety
/// None beyond the signature: the scalar code runs on every CPU.
unsafe fn quantize_q8_k(x: &[f32], out: &mut [crate::quant::q8_k::BlockQ8K]) {
    crate::quant::q8_k::quantize_row(x, out)
}

/// The NEON table (`dotprod`: the `sdot` variants). Only [`Kernels::neon`] and
/// [`Kernels::neon_dotprod`] call this, after detecting the features.
pub(crate) fn table(dotprod: bool) -> Kernels {
    Kernels {
        isa: if dotprod { Isa::NeonDotprod } else { Isa::Neon },
        vec_dot: TYPES.map(|ty| vec_dot_fn(ty, dotprod)),
        quantize_q8_0,
        quantize_q8_k,
    }
}

/// A signed 8-bit dot product of 16 lanes accumulated into 4 i32 lanes. Which products land
/// in which i32 lane differs between the implementations; only the lane total is defined.
pub(crate) trait I8Dot {
    /// `acc + (the 16 products a[i] * b[i], summed into 4 lanes)`.
    ///
    /// # Safety
    /// The CPU must support the implementation's features (NEON; NEON + dotprod for
    /// [`Sdot`]), and the call must be inlined into a function that enables them.
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;

    /// The reference's eight K-quant lanes for one run of 32 values (`w`, `q` hold positions
    /// 0..16 and 16..32): i32 lane l of the pair (lanes 0..4, lanes 4..8) is the sum of the
    /// products of positions l, l + 8, l + 16 and l + 24. Requires |w| <= 15 (so that a sum
    /// of four products, |.| <= 4 * 15 * 128, fits i16 in [`Mull`]).
    ///
    /// # Safety
    /// As [`I8Dot::dot`].
    unsafe fn lanes32(w: [int8x16_t; 2], q: [int8x16_t; 2]) -> (int32x4_t, int32x4_t);
}

/// Plain NEON: `vmull_s8` of each half (|product| <= 128 * 128 = 2^14, fits i16) and
/// `vpadalq_s16` to add neighbouring pairs into the i32 lanes.
pub(crate) struct Mull;

impl I8Dot for Mull {
    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: NEON is available (the caller's contract); no memory access.
        unsafe {
            let p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
            let p1 = vmull_high_s8(a, b);
            vpadalq_s16(vpadalq_s16(acc, p0), p1)
        }
    }

    #[inline(always)]
    unsafe fn lanes32(w: [int8x16_t; 2], q: [int8x16_t; 2]) -> (int32x4_t, int32x4_t) {
        // SAFETY: NEON is available (the caller's contract); no memory access.
        unsafe {
            // i16 lane l of vmull(low) + vmull_high: positions l and l + 8 of 16.
            let a = vaddq_s16(
                vmull_s8(vget_low_s8(w[0]), vget_low_s8(q[0])),
                vmull_high_s8(w[0], q[0]),
            );
            let b = vaddq_s16(
                vmull_s8(vget_low_s8(w[1]), vget_low_s8(q[1])),
                vmull_high_s8(w[1], q[1]),
            );
            let s = vaddq_s16(a, b);
            (vmovl_s16(vget_low_s16(s)), vmovl_high_s16(s))
        }
    }
}

/// The dot-product extension: `sdot` adds the four products of bytes 4l..4l+4 into i32 lane l.
pub(crate) struct Sdot;

impl I8Dot for Sdot {
    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: the caller guarantees the dotprod extension and inlining into a function
        // that enables it; the instruction reads and writes registers only.
        unsafe {
            std::arch::asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        acc
    }

    #[inline(always)]
    unsafe fn lanes32(w: [int8x16_t; 2], q: [int8x16_t; 2]) -> (int32x4_t, int32x4_t) {
        // SAFETY: as `dot`; `vqtbl2q` gathers bytes from the two registers only.
        unsafe {
            // Lane l of an `sdot` takes bytes 4l..4l+4: gather positions l, l+8, l+16, l+24.
            const LO: [u8; 16] = [0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27];
            const HI: [u8; 16] = [4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31];
            let (lo, hi) = (vld1q_u8(LO.as_ptr()), vld1q_u8(HI.as_ptr()));
            let wt = int8x16x2_t(w[0], w[1]);
            let qt = int8x16x2_t(q[0], q[1]);
            let zero = vdupq_n_s32(0);
            (
                Self::dot(zero, vqtbl2q_s8(wt, lo), vqtbl2q_s8(qt, lo)),
                Self::dot(zero, vqtbl2q_s8(wt, hi), vqtbl2q_s8(qt, hi)),
            )
        }
    }
}
