//! F32 on AVX2: the dot product with F32 activations.

use std::arch::x86_64::*;

use super::hsum_ps;

/// Dot product of F32 weights with F32 activations (reference:
/// [`crate::quant::f32::vec_dot`]): four 8-lane FMA accumulators over 32 values per step,
/// then 8 values per step, then a scalar tail. The sum is associated differently from the
/// reference's left-to-right order (each partial sum rounds), so results agree to a relative
/// error of about `n * 2^-24` of the sum of |terms|.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[f32], a: &[f32]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let n = w.len().min(a.len());
    let (w, a) = (&w[..n], &a[..n]);
    // SAFETY: the CPU features are this function's contract; every load reads 8 values at an
    // offset i with i + 8 <= n inside `w` and `a` (unaligned).
    unsafe {
        let (pw, pa) = (w.as_ptr(), a.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(pw.add(i + 8 * k));
                let y = _mm256_loadu_ps(pa.add(i + 8 * k));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let x = _mm256_loadu_ps(pw.add(i));
            let y = _mm256_loadu_ps(pa.add(i));
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let mut sum = hsum_ps(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ));
        for (x, y) in w[i..].iter().zip(&a[i..]) {
            sum += x * y;
        }
        sum
    }
}
