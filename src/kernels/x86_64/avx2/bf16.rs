//! BF16 on AVX2: the dot product with BF16 activations.

use std::arch::x86_64::*;

use half::bf16;

use super::hsum_ps;

/// Dot product of BF16 weights with BF16 activations (reference:
/// [`crate::quant::bf16::vec_dot`]): 8 values per load widened to f32 by a zero-extension to
/// 32 bits and a shift by 16 (exact), products exact in f32, four 8-lane FMA accumulators; a
/// scalar tail takes the last `n % 8` values.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[bf16], a: &[bf16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    let (w, a) = (&w[..n], &a[..n]);
    // SAFETY: the CPU features are this function's contract; every load reads 8 bf16 (16
    // bytes) at an offset i with i + 8 <= n inside `w` and `a` (unaligned).
    unsafe {
        let (pw, pa) = (w.as_ptr() as *const __m128i, a.as_ptr() as *const __m128i);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let x = widen(_mm_loadu_si128(pw.byte_add(2 * (i + 8 * k))));
                let y = widen(_mm_loadu_si128(pa.byte_add(2 * (i + 8 * k))));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let x = widen(_mm_loadu_si128(pw.byte_add(2 * i)));
            let y = widen(_mm_loadu_si128(pa.byte_add(2 * i)));
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let mut sum = hsum_ps(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ));
        for (x, y) in w[i..].iter().zip(&a[i..]) {
            sum += x.to_f32() * y.to_f32();
        }
        sum
    }
}

/// 8 bf16 (bits in 16-bit lanes) to 8 f32: the bits become the upper half of each f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn widen(v: __m128i) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(v))) }
}
