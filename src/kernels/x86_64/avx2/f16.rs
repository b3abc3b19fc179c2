//! F16 on AVX2 (F16C): the dot product with F16 activations.

use std::arch::x86_64::*;

use half::f16;

use super::hsum_ps;

/// Dot product of F16 weights with F16 activations (reference:
/// [`crate::quant::f16::vec_dot`]): F16C widens 8 values per load (exactly), the products of
/// two f16 values are exact in f32, and four 8-lane FMA accumulators sum them; a scalar tail
/// takes the last `n % 8` values. Only the association of the additions differs from the
/// reference.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[f16], a: &[f16]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    let (w, a) = (&w[..n], &a[..n]);
    // SAFETY: the CPU features are this function's contract; every load reads 8 f16 (16
    // bytes) at an offset i with i + 8 <= n inside `w` and `a` (unaligned).
    unsafe {
        let (pw, pa) = (w.as_ptr() as *const __m128i, a.as_ptr() as *const __m128i);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_cvtph_ps(_mm_loadu_si128(pw.byte_add(2 * (i + 8 * k))));
                let y = _mm256_cvtph_ps(_mm_loadu_si128(pa.byte_add(2 * (i + 8 * k))));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let x = _mm256_cvtph_ps(_mm_loadu_si128(pw.byte_add(2 * i)));
            let y = _mm256_cvtph_ps(_mm_loadu_si128(pa.byte_add(2 * i)));
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
