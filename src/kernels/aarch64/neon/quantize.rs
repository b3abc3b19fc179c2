//! The activation quantizers on NEON (Q8_0, Q8_1 and Q8_K), byte-identical to the scalar ones
//! the forward pass uses: [`crate::quant::q8_0::quantize_row_x86`] and
//! [`crate::quant::q8_0::quantize_row_q8_1_x86`] (ggml's x86 AVX2 `quantize_row_q8_0` and
//! `quantize_row_q8_1`) and [`crate::quant::q8_k::quantize_row`] (ggml's
//! `quantize_row_q8_K_ref`, which its x86 build uses too). Both NEON tables hold them (no
//! dot-product extension needed).
//!
//! The rounding is the reference's: each value times the block's multiplier in f32
//! (`vmulq_f32`, one rounding, as the scalar product), then rounded to the nearest integer with
//! ties to even by `vcvtnq_s32_f32` (`fcvtns`), which is `round_ties_even` followed by the
//! conversion. The scales (`d`, Q8_1's `s`) are computed from the same f32 values with the
//! same scalar expressions as the reference. A block holding a NaN or an infinity, or so small
//! that its multiplier overflows to infinity, is handed to the scalar quantizer: there the
//! reference's saturating `as i8` conversions and NaN-ignoring maximum would need more care
//! than such blocks deserve.

use std::arch::aarch64::*;

use half::f16;

use crate::quant::q8_0::{self as reference_q8_0, BlockQ8_0, BlockQ8_1};
use crate::quant::q8_k::{self as reference_q8_k, BlockQ8K};
use crate::quant::QK_K;

/// `|v|` of four lanes and whether one of them is an infinity or a NaN (all bits set in the
/// lanes where it is): the bits of a non-negative finite f32 are at most `0x7F7F_FFFF`.
///
/// # Safety
/// The CPU must support NEON; inlined into such a function.
#[inline(always)]
unsafe fn abs_and_non_finite(v: float32x4_t) -> (float32x4_t, uint32x4_t) {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let a = vabsq_f32(v);
        (
            a,
            vcgtq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x7F7F_FFFF)),
        )
    }
}

/// Sixteen i32 lanes (each in `-128..=127`) narrowed to i8, in order. (The narrowings saturate,
/// but the values fit, so they are plain conversions.)
///
/// # Safety
/// The CPU must support NEON; inlined into such a function.
#[inline(always)]
unsafe fn narrow16(q: [int32x4_t; 4]) -> int8x16_t {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let lo = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
        let hi = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
        vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi))
    }
}

/// One block of 32 values as ggml's x86 `quantize_row_q8_0` step: `amax` (the largest
/// magnitude) and the quants `round_half_even(x * (127 / amax))` as i32 lanes (|q| <= 127:
/// `|x * id| <= 127` up to one rounding), eight lanes of four values in order. `None` when the
/// block holds a non-finite value or `127 / amax` overflows (the caller then uses the
/// reference).
///
/// # Safety
/// The CPU must support NEON; inlined into such a function.
#[inline(always)]
unsafe fn quantize_block32(xb: &[f32]) -> Option<([int32x4_t; 8], f32)> {
    assert_eq!(xb.len(), 32);
    // SAFETY: NEON is the caller's contract; each load reads 4 of the 32 values of `xb`
    // (offsets 4k, k < 8).
    unsafe {
        let p = xb.as_ptr();
        let v: [float32x4_t; 8] = std::array::from_fn(|k| vld1q_f32(p.add(4 * k)));
        let mut amaxv = vdupq_n_f32(0.0);
        let mut bad = vdupq_n_u32(0);
        for &v in &v {
            let (a, b) = abs_and_non_finite(v);
            amaxv = vmaxq_f32(amaxv, a);
            bad = vorrq_u32(bad, b);
        }
        if vmaxvq_u32(bad) != 0 {
            return None;
        }
        // No NaN here, so the maximum is the reference's whatever the order.
        let amax = vmaxvq_f32(amaxv);
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        if !id.is_finite() {
            return None;
        }
        let idv = vdupq_n_f32(id);
        Some((v.map(|v| vcvtnq_s32_f32(vmulq_f32(v, idv))), amax))
    }
}

/// Quantizes `x` into Q8_0 blocks, byte-identical to
/// [`crate::quant::q8_0::quantize_row_x86`] (ggml's x86 AVX2 `quantize_row_q8_0`:
/// `d = amax / 127` stored as f16, quants `round_half_even(x * (127 / amax))`). A block
/// holding a NaN or an infinity, or so small that `127 / amax` overflows, is handed to the
/// reference.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_0 quantize: length mismatch");
    for (xb, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        // SAFETY: NEON is this function's contract; the stores write the 32 quants of `b`
        // (offsets 0 and 16, 16 bytes each).
        unsafe {
            match quantize_block32(xb) {
                Some((q, amax)) => {
                    b.d = f16::from_f32(amax / 127.0);
                    let qs = b.qs.as_mut_ptr();
                    vst1q_s8(qs, narrow16([q[0], q[1], q[2], q[3]]));
                    vst1q_s8(qs.add(16), narrow16([q[4], q[5], q[6], q[7]]));
                }
                None => reference_q8_0::quantize_row_x86(xb, std::slice::from_mut(b)),
            }
        }
    }
}

/// Quantizes `x` into Q8_1 blocks, byte-identical to
/// [`crate::quant::q8_0::quantize_row_q8_1_x86`]: the quants of [`quantize_q8_0`], and
/// `s = fp16(d * sum(qs))` with the unrounded f32 `d = amax / 127`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_1 quantize: length mismatch");
    for (xb, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        // SAFETY: NEON is this function's contract; the stores write the 32 quants of `b`
        // (offsets 0 and 16, 16 bytes each).
        unsafe {
            match quantize_block32(xb) {
                Some((q, amax)) => {
                    let d = amax / 127.0;
                    b.d = f16::from_f32(d);
                    let qs = b.qs.as_mut_ptr();
                    vst1q_s8(qs, narrow16([q[0], q[1], q[2], q[3]]));
                    vst1q_s8(qs.add(16), narrow16([q[4], q[5], q[6], q[7]]));
                    // |sum| <= 32 * 127: exact in i32 and in f32.
                    let s4 = q.iter().fold(vdupq_n_s32(0), |s, &q| vaddq_s32(s, q));
                    let sum = vaddvq_s32(s4);
                    b.s = f16::from_f32(d * sum as f32);
                }
                None => reference_q8_0::quantize_row_q8_1_x86(xb, std::slice::from_mut(b)),
            }
        }
    }
}

/// Quantizes `x` into Q8_K blocks, byte-identical to [`crate::quant::q8_k::quantize_row`]
/// (ggml's `quantize_row_q8_K_ref`): the value of largest magnitude with its sign (the first
/// one on ties), `iscale = -127 / max`, `qs = min(127, round_half_even(iscale * x))`, `bsums`
/// the sums of 16 quants, `d = 1 / iscale`. A block holding a NaN or an infinity, or whose
/// `iscale` overflows (a subnormal `max`), is handed to the reference.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn quantize_q8_k(x: &[f32], out: &mut [BlockQ8K]) {
    assert_eq!(x.len(), out.len() * QK_K, "Q8_K quantize: length mismatch");
    for (xb, y) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        // SAFETY: NEON is this function's contract; every load reads 4 of the 256 values of
        // `xb` (offsets 4k, k < 64), every store writes inside `y.qs` (16 bytes at offsets
        // 16j, j < 16) or `y.bsums` (8 i16 at offsets 0 and 8).
        unsafe {
            let p = xb.as_ptr();
            let mut amaxv = vdupq_n_f32(0.0);
            let mut bad = vdupq_n_u32(0);
            for k in 0..QK_K / 4 {
                let (a, b) = abs_and_non_finite(vld1q_f32(p.add(4 * k)));
                amaxv = vmaxq_f32(amaxv, a);
                bad = vorrq_u32(bad, b);
            }
            if vmaxvq_u32(bad) != 0 {
                reference_q8_k::quantize_row(xb, std::slice::from_mut(y));
                continue;
            }
            let amax = vmaxvq_f32(amaxv);
            if amax == 0.0 {
                y.d = 0.0;
                y.qs = [0; QK_K];
                y.bsums = [0; QK_K / 16];
                continue;
            }
            // The first value whose magnitude is amax, with its sign.
            let av = vdupq_n_f32(amax);
            let mut max = amax;
            for k in 0..QK_K / 4 {
                let hit = vceqq_f32(vabsq_f32(vld1q_f32(p.add(4 * k))), av);
                if vmaxvq_u32(hit) != 0 {
                    let quad = &xb[4 * k..4 * k + 4];
                    if let Some(&v) = quad.iter().find(|v| v.abs() == amax) {
                        max = v;
                    }
                    break;
                }
            }
            let iscale = -127.0f32 / max;
            if !iscale.is_finite() {
                reference_q8_k::quantize_row(xb, std::slice::from_mut(y));
                continue;
            }
            let iv = vdupq_n_f32(iscale);
            let top = vdupq_n_s32(127);
            // sums[h]: the bsums of groups 4h .. 4h + 4 (values 64h .. 64h + 64).
            let mut sums = [vdupq_n_s32(0); QK_K / 64];
            for (h, sums) in sums.iter_mut().enumerate() {
                // quads[g]: four partial sums of group 4h + g (its 16 quants).
                let mut quads = [vdupq_n_s32(0); 4];
                for (g, quad) in quads.iter_mut().enumerate() {
                    let o = 64 * h + 16 * g;
                    // In [-127, 127] after the min (the low end cannot round below -127).
                    let q: [int32x4_t; 4] = std::array::from_fn(|i| {
                        let v = vld1q_f32(p.add(o + 4 * i));
                        vminq_s32(vcvtnq_s32_f32(vmulq_f32(iv, v)), top)
                    });
                    vst1q_s8(y.qs.as_mut_ptr().add(o), narrow16(q));
                    *quad = vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]));
                }
                // Pairwise adds: [g0, g0, g1, g1], [g2, g2, g3, g3] halves, then [g0 .. g3].
                *sums = vpaddq_s32(
                    vpaddq_s32(quads[0], quads[1]),
                    vpaddq_s32(quads[2], quads[3]),
                );
            }
            // |group sum| <= 16 * 127 = 2032: the narrowing to i16 is exact.
            let bs = y.bsums.as_mut_ptr();
            vst1q_s16(bs, vcombine_s16(vmovn_s32(sums[0]), vmovn_s32(sums[1])));
            vst1q_s16(
                bs.add(8),
                vcombine_s16(vmovn_s32(sums[2]), vmovn_s32(sums[3])),
            );
            y.d = 1.0 / iscale;
        }
    }
}
