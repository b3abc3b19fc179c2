//! Q8_0 on AVX2: the dot product with Q8_0 activations and the Q8_0 activation quantizer.

use std::arch::x86_64::*;

use half::f16;

use super::{dot_q8_0_blocks, f16_to_f32, f16x8, load32, mul_sum_i8_pairs};
use crate::quant::q8_0::{self as reference, BlockQ8_0};

/// Dot product of Q8_0 weights with Q8_0 activations, bit-identical to the reference
/// [`crate::quant::q8_0::vec_dot`]: per block the 32 products summed exactly with
/// [`mul_sum_i8_pairs`] (as ggml's AVX2 `ggml_vec_dot_q8_0_q8_0`; |sumi| <= 32 * 128 * 127),
/// eight blocks per horizontal reduction and float step, then the reference's `sumf += sumi * (d_w * d_a)`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read only the
    // borrowed blocks.
    unsafe { dot_q8_0_blocks!(w, a, isum, finish8, finish) }
}

/// The 8-lane exact integer dot product of one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn isum(x: &BlockQ8_0, y: &BlockQ8_0) -> __m256i {
    // SAFETY: the CPU features are this function's contract.
    unsafe { mul_sum_i8_pairs(load32(&x.qs), load32(&y.qs)) }
}

/// The reference's float step for one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish(x: &BlockQ8_0, y: &BlockQ8_0, sumi: i32) -> f32 {
    // SAFETY: the CPU features are this function's contract.
    unsafe { sumi as f32 * (f16_to_f32(x.d) * f16_to_f32(y.d)) }
}

/// Quantizes `x` into Q8_0 blocks, byte-identical to the reference
/// [`crate::quant::q8_0::quantize_row`] (ggml's `quantize_row_q8_0_ref`).
///
/// Unlike ggml's AVX2 `quantize_row_q8_0` (which rounds halves to even and computes
/// `id = 127 / amax`), this rounds halves away from zero (`roundf`) and uses `id = 1 / d` with
/// `d = amax / 127`, as the reference does, so the blocks (and the goldens) do not depend on
/// the instruction set. A block holding a NaN or an infinity is handed to the reference.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_0 quantize: length mismatch");
    for (xb, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        // SAFETY: the CPU features are this function's contract; the loads read the 32 values
        // of `xb` and the store writes the 32 quants of `b` (unaligned).
        unsafe {
            let p = xb.as_ptr();
            let v = [
                _mm256_loadu_ps(p),
                _mm256_loadu_ps(p.add(8)),
                _mm256_loadu_ps(p.add(16)),
                _mm256_loadu_ps(p.add(24)),
            ];
            let abs = [abs_ps(v[0]), abs_ps(v[1]), abs_ps(v[2]), abs_ps(v[3])];
            if !all_finite(abs) {
                reference::quantize_row(xb, std::slice::from_mut(b));
                continue;
            }
            let amax = hmax_ps(_mm256_max_ps(
                _mm256_max_ps(abs[0], abs[1]),
                _mm256_max_ps(abs[2], abs[3]),
            ));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            if !id.is_finite() {
                // amax so small that 1 / d overflows: the reference's saturating conversions
                // of inf and NaN (0 * inf) differ from the vector ones; hand it over.
                reference::quantize_row(xb, std::slice::from_mut(b));
                continue;
            }
            b.d = f16::from_f32(d);
            let idv = _mm256_set1_ps(id);
            // |v * id| <= 127 (up to one rounding), so the rounded values fit i8 and the
            // saturating packs below are plain conversions.
            let mut q = [_mm256_setzero_si256(); 4];
            for (q, &v) in q.iter_mut().zip(&v) {
                *q = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v, idv)));
            }
            let packed = pack_i32_to_i8(q);
            _mm256_storeu_si256(b.qs.as_mut_ptr() as *mut __m256i, packed);
        }
    }
}

/// `|v|` lane by lane (clears the sign bits).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn abs_ps(v: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF))) }
}

/// Whether every lane of the (non-negative) `abs` vectors is finite: the bits of a
/// non-negative finite f32 are at most 0x7F7F_FFFF, those of +inf and NaNs greater.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn all_finite<const N: usize>(abs: [__m256; N]) -> bool {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let lim = _mm256_set1_epi32(0x7F7F_FFFF);
        let mut bad = _mm256_setzero_si256();
        for a in abs {
            bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(_mm256_castps_si256(a), lim));
        }
        _mm256_testz_si256(bad, bad) == 1
    }
}

/// The largest lane (no NaNs here).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hmax_ps(m: __m256) -> f32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let mut r = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
        r = _mm_max_ps(r, _mm_movehl_ps(r, r));
        r = _mm_max_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }
}

/// Rounds to the nearest integer, halves away from zero (C's `roundf`, Rust's `f32::round`),
/// exactly for every finite input: `t = trunc(v)`, and `v - t` is exact (it is the fraction
/// bits of `v`), so comparing `|v - t|` with 0.5 decides the rounding without error.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn round_half_away(v: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
        let frac = abs_ps(_mm256_sub_ps(v, t));
        let up = _mm256_cmp_ps::<_CMP_GE_OQ>(frac, _mm256_set1_ps(0.5));
        // +1 or -1 with the sign of v.
        let sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0));
        let one = _mm256_or_ps(sign, _mm256_set1_ps(1.0));
        _mm256_add_ps(t, _mm256_and_ps(up, one))
    }
}

/// Packs four vectors of 8 i32 (values 0..8, 8..16, 16..24, 24..32) into 32 i8 in order,
/// saturating (ggml's pack sequence: the packs work within 128-bit halves, the final
/// permutation restores the order).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn pack_i32_to_i8(q: [__m256i; 4]) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        // 0..4 8..12 4..8 12..16 (as i16)
        let a = _mm256_packs_epi32(q[0], q[1]);
        let b = _mm256_packs_epi32(q[2], q[3]);
        // 0..4 8..12 16..20 24..28 4..8 12..16 20..24 28..32 (as i8, in 4-byte groups)
        let c = _mm256_packs_epi16(a, b);
        _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }
}

/// The reference's float step for eight blocks at once (lane k: block k).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn finish8(x: &[BlockQ8_0], y: &[BlockQ8_0], sumi: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let dx = f16x8(std::array::from_fn(|k| x[k].d));
        let dy = f16x8(std::array::from_fn(|k| y[k].d));
        _mm256_mul_ps(sumi, _mm256_mul_ps(dx, dy))
    }
}
