//! BF16 on AVX2: the dot products with BF16 activations in ggml's `vec_dot` order and
//! llamafile's `tinyBLAS` order. A bf16 widens to f32 by a 16-bit shift (exact), and the
//! products of two bf16 are exact in f32, so only the order of the fused multiply-adds and of
//! the reduction matters.

use std::arch::x86_64::*;

use super::matvec::prefetch_lines;
use super::q8_0::PREFETCH_AHEAD;

/// Eight bf16 from `p` widened to f32 (zero-extend to 32 bits, shift left by 16: ggml's
/// `_mm256_cvtepu16_epi32` + `_mm256_slli_epi32` load).
///
/// # Safety
/// The CPU must support AVX2; `p` must be valid for reading 8 values.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8(p: *const half::bf16) -> __m256 {
    // SAFETY: the caller's contract (unaligned 16-byte load).
    unsafe {
        let v = _mm256_cvtepu16_epi32(_mm_loadu_si128(p as *const __m128i));
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v))
    }
}

/// Widens one bf16 to f32 (exact), as the reference.
#[inline]
fn to_f32(x: half::bf16) -> f32 {
    f32::from_bits(u32::from(x.to_bits()) << 16)
}

/// Bit-identical to [`crate::quant::bf16::vec_dot`] (ggml's AVX2 `ggml_vec_dot_bf16`, without
/// AVX512-BF16): groups of 32 into four 8-lane `_mm256_fmadd_ps` accumulators `c1..c4`,
/// `hsum_float_8((c1 + c3) + (c2 + c4))`; the last `n % 32` products added in f64 as the
/// reference.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[half::bf16], a: &[half::bf16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let np = w.len() / 32 * 32;
    // SAFETY: the CPU features are this function's contract; every load reads 8 values at
    // `i + 8k < np <= len` of the borrowed slices; a prefetch never faults (its address is
    // formed with `wrapping_add`).
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        for i in (0..np).step_by(32) {
            // Decode streams a matrix row after row through this kernel: fetch the
            // weights PREFETCH_AHEAD bytes ahead (the next rows) into L2.
            prefetch_lines(
                (w.as_ptr().add(i) as *const i8).wrapping_add(PREFETCH_AHEAD),
                64,
            );
            for (k, acc) in acc.iter_mut().enumerate() {
                let o = i + 8 * k;
                *acc = _mm256_fmadd_ps(load8(w.as_ptr().add(o)), load8(a.as_ptr().add(o)), *acc);
            }
        }
        let c = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
        let mut sum = f64::from(super::hsum_ps(c));
        for (&x, &y) in w[np..].iter().zip(&a[np..]) {
            sum += f64::from(to_f32(x) * to_f32(y));
        }
        sum as f32
    }
}

/// Bit-identical to [`crate::quant::bf16::vec_dot_llamafile`] (llamafile's `tinyBLAS`, AVX2):
/// one 8-lane `_mm256_fmadd_ps` accumulator over the whole row, `hsum` at the end; row lengths
/// that are not a multiple of 8 take [`vec_dot`], as the reference (and llama.cpp) does.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_llamafile(w: &[half::bf16], a: &[half::bf16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; every load reads 8 values at
    // `i + 8 <= len` of the borrowed slices.
    unsafe {
        if !w.len().is_multiple_of(8) {
            return vec_dot(w, a);
        }
        let mut acc = _mm256_setzero_ps();
        for i in (0..w.len()).step_by(8) {
            acc = _mm256_fmadd_ps(load8(w.as_ptr().add(i)), load8(a.as_ptr().add(i)), acc);
        }
        super::hsum_ps(acc)
    }
}
