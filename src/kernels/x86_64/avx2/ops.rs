//! AVX2 + FMA versions of f32 vector operations of the forward pass, each bit-identical to its
//! scalar reference in `crate::ops` (the reference was written to follow these ggml SIMD
//! routines; here they are the SIMD routines themselves).

use std::arch::x86_64::*;

use super::hsum_ps;

/// ggml's `ggml_v_expf` (AVX2 + FMA): `e^x` on eight lanes; [`crate::ops::expf_ggml`] lane by
/// lane.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn expf8(x: __m256) -> __m256 {
    let r = _mm256_set1_ps(f32::from_bits(0x4b40_0000)); // 0x1.8p23
    let z = _mm256_fmadd_ps(x, _mm256_set1_ps(f32::from_bits(0x3fb8_aa3b)), r);
    let n = _mm256_sub_ps(z, r);
    let b = _mm256_fnmadd_ps(
        n,
        _mm256_set1_ps(f32::from_bits(0x35bf_be8e)),
        _mm256_fnmadd_ps(n, _mm256_set1_ps(f32::from_bits(0x3f31_7200)), x),
    );
    let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
    let k = _mm256_castsi256_ps(_mm256_add_epi32(
        e,
        _mm256_castps_si256(_mm256_set1_ps(1.0)),
    ));
    let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    let c = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(126.0));
    let u = _mm256_mul_ps(b, b);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_set1_ps(f32::from_bits(0x3c07_2010)),
                b,
                _mm256_set1_ps(f32::from_bits(0x3d2b_9f17)),
            ),
            u,
            _mm256_fmadd_ps(
                _mm256_set1_ps(f32::from_bits(0x3e2a_af33)),
                b,
                _mm256_set1_ps(f32::from_bits(0x3eff_fedb)),
            ),
        ),
        u,
        _mm256_mul_ps(_mm256_set1_ps(f32::from_bits(0x3f7f_fff6)), b),
    );
    if _mm256_movemask_ps(c) == 0 {
        return _mm256_fmadd_ps(j, k, k);
    }
    let g = _mm256_and_si256(
        _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(n, _mm256_setzero_ps())),
        _mm256_set1_epi32(0x8200_0000u32 as i32),
    );
    let s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f00_0000)));
    let s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    let d = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(192.0));
    _mm256_or_ps(
        _mm256_and_ps(d, _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(
            d,
            _mm256_or_ps(
                _mm256_and_ps(c, _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                _mm256_andnot_ps(c, _mm256_fmadd_ps(k, j, k)),
            ),
        ),
    )
}

/// [`crate::ops::softmax_cells_ref`]: whole groups of eight cells (aligned to cell 0) go
/// through [`expf8`] and `hsum_float_8`; the partial groups at the ends take the reference's
/// lane-by-lane path.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn softmax_cells(x: &mut [f32], cell0: usize) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let maxv = _mm256_set1_ps(max);
    let mut sum = 0f64;
    let mut i = 0;
    while i < x.len() {
        let cell = cell0 + i;
        let group_end = (cell / 8 + 1) * 8 - cell0;
        if cell.is_multiple_of(8) && group_end <= x.len() {
            // SAFETY: i + 8 = group_end <= x.len(): the eight values are inside `x`.
            unsafe {
                let p = x.as_mut_ptr().add(i);
                let v = expf8(_mm256_sub_ps(_mm256_loadu_ps(p), maxv));
                _mm256_storeu_ps(p, v);
                sum += f64::from(hsum_ps(v));
            }
        } else {
            let end = group_end.min(x.len());
            sum += crate::ops::softmax_group(&mut x[i..end], cell, max);
        }
        i = group_end;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `gate = silu(gate) * up` as [`crate::ops::swiglu`] (ggml's `ggml_vec_swiglu_f32`): the
/// whole groups of eight as `g / (1 + expf8(0 - g)) * u` ([`expf8`] is
/// [`crate::ops::expf_ggml`] lane by lane; IEEE division and multiplication), the last
/// `len % 8` values with the C library's `expf` ([`crate::ops::silu`]), as the reference.
/// Llama's, Qwen's and the other SwiGLU models' feed-forward activation: the scalar reference,
/// whose `mul_add`s are calls to `fmaf` in the portable build, was a quarter of a
/// Qwen2.5-0.5B-shaped model's prefill.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "SwiGLU halves of one length");
    let whole = gate.len() / 8 * 8;
    let (gp, upp) = (gate.as_mut_ptr(), up.as_ptr());
    // SAFETY: the CPU features are this function's contract; i + 8 <= whole <= len, the
    // length of both slices.
    unsafe {
        let (zero, one) = (_mm256_setzero_ps(), _mm256_set1_ps(1.0));
        for i in (0..whole).step_by(8) {
            let g = _mm256_loadu_ps(gp.add(i));
            let e = expf8(_mm256_sub_ps(zero, g));
            let y = _mm256_mul_ps(
                _mm256_div_ps(g, _mm256_add_ps(one, e)),
                _mm256_loadu_ps(upp.add(i)),
            );
            _mm256_storeu_ps(gp.add(i), y);
        }
    }
    for (g, &u) in gate[whole..].iter_mut().zip(&up[whole..]) {
        *g = crate::ops::silu(*g) * u;
    }
}

/// `gate = gelu(gate) * up` ([`crate::ops::geglu`]): per lane the f16 rounding of the input
/// (`vcvtps2ph`, to nearest even, as `half::f16::from_f32`), the table entry (a gather), its
/// f32 value, the tails (`x <= -10`: 0, `x >= 10`: x) and one multiplication: the bits of
/// [`crate::ops::gelu`] times `up`. The tail of fewer than eight values goes through the
/// scalar function.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `gate.len() == up.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn geglu(gate: &mut [f32], up: &[f32], table: &[u16; 65538]) {
    let n = gate.len().min(up.len());
    let n8 = n / 8 * 8;
    let (gp, up_p) = (gate.as_mut_ptr(), up.as_ptr());
    let tp = table.as_ptr() as *const i32;
    // SAFETY: i + 8 <= n8 <= n for both slices; a gather reads the 4 bytes at `2 * idx` with
    // idx <= 65535, inside the 65538 entries (131076 bytes) of `table`.
    unsafe {
        for i in (0..n8).step_by(8) {
            let x = _mm256_loadu_ps(gp.add(i));
            let h = _mm256_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(x);
            let idx = _mm256_cvtepu16_epi32(h);
            let t = _mm256_and_si256(
                _mm256_i32gather_epi32::<2>(tp, idx),
                _mm256_set1_epi32(0xFFFF),
            );
            // The eight 16-bit entries in order, then to f32.
            let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(t, t));
            let mut y = _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
            let hi = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_set1_ps(10.0));
            let lo = _mm256_cmp_ps::<_CMP_LE_OQ>(x, _mm256_set1_ps(-10.0));
            y = _mm256_blendv_ps(y, x, hi);
            y = _mm256_andnot_ps(lo, y);
            _mm256_storeu_ps(gp.add(i), _mm256_mul_ps(y, _mm256_loadu_ps(up_p.add(i))));
        }
    }
    crate::ops::gated(&mut gate[n8..n], &up[n8..n], crate::ops::gelu);
}

/// Every value rounded to f16 and back ([`crate::ops::round_to_f16`]): `vcvtps2ph` to nearest
/// even and `vcvtph2ps`, the conversions `half` uses on F16C CPUs.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn round_to_f16(x: &mut [f32]) {
    let n8 = x.len() / 8 * 8;
    let p = x.as_mut_ptr();
    // SAFETY: i + 8 <= n8 <= x.len().
    unsafe {
        for i in (0..n8).step_by(8) {
            let h = _mm256_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(_mm256_loadu_ps(p.add(i)));
            _mm256_storeu_ps(p.add(i), _mm256_cvtph_ps(h));
        }
    }
    crate::ops::round_to_f16_ref(&mut x[n8..]);
}

/// [`crate::ops::rope_head`] compiled with FMA (its `mul_add`s become `vfmadd`; the same
/// bits as the portable build, which calls `fmaf`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn rope_head(x: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) {
    crate::ops::rope_head_body(x, cos, sin, neox)
}
