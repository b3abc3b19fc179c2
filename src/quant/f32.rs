//! F32: IEEE 754 binary32 values, one per "block" (4 bytes, little-endian).
//!
//! Layout: bit 31 sign, bits 30..23 exponent (bias 127), bits 22..0 mantissa;
//! `value = (-1)^s * 2^(e - 127) * (1 + m / 2^23)` for `e` in `1..=254`, subnormals
//! `(-1)^s * 2^-126 * m / 2^23` for `e == 0`, infinities and NaNs for `e == 255`.
//!
//! Dequantization is the identity. F32 weights pair with F32 activations (ggml's
//! `vec_dot_type` for F32 is F32). Unlike two f16 or bf16 values, the product of two f32 is
//! not exact in f32, so where ggml fuses a multiply with an add (`_mm256_fmadd_ps`, or a
//! contracted `sum += x * y`) the reference uses [`f32::mul_add`], and where it rounds the
//! product first it writes `x * y` and then the addition.

use super::{BlockFormat, GgmlType};

impl BlockFormat for f32 {
    const TYPE: GgmlType = GgmlType::F32;
    const BLOCK: usize = 1;
    type Activation = f32;
    const ACT_BLOCK: usize = 1;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }

    fn vec_dot_llamafile(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot_llamafile(w, a)
    }
}

/// Converts `src` to f32 (a copy; `out.len() == src.len()`).
pub fn dequantize_row(src: &[f32], out: &mut [f32]) {
    out.copy_from_slice(src);
}

/// Dot product of F32 weights with F32 activations in the float order of ggml's
/// `ggml_vec_dot_f32` as llama.cpp's x86 AVX2 + FMA build runs it (`ggml-cpu/vec.cpp`, the
/// `GGML_SIMD` branch with `simd-mappings.h`'s AVX mappings: `GGML_F32_STEP` 32,
/// `GGML_F32_EPR` 8, `GGML_F32_VEC_FMA` = `_mm256_fmadd_ps`):
///
/// 1. the first `n / 32 * 32` products into four 8-lane accumulators with fused
///    multiply-adds (value `i` into lane `i % 8` of accumulator `i % 32 / 8`);
/// 2. `GGML_F32_VEC_REDUCE` into the `float` `sumf` ([`super::lanes::reduce_f32x8x4`]);
/// 3. the leftovers, `sumf += x[i]*y[i]` in `float`, from left to right. GCC (12, `-O3
///    -mavx2 -mfma`, llama.cpp's flags; it contracts by default) vectorizes this loop in
///    order: 8 and then 4 products at a time with `vmulps` (rounded to f32) added one by one
///    with `vaddss`, and the last `n % 4` with `vfmadd231ss` (fused). So the first
///    `n % 32 / 4 * 4` leftovers are `sum + round(x * y)` and the last `n % 4` are
///    `fma(x, y, sum)` (read from the disassembly of that build's `vec.cpp.o`, and checked
///    against its `ggml_vec_dot_f32` on random data).
pub fn vec_dot(w: &[f32], a: &[f32]) -> f32 {
    assert_eq!(w.len(), a.len(), "F32 vec_dot: length mismatch");
    let n = w.len();
    let np = n / 32 * 32;
    let mut acc = [0.0f32; 32];
    for (i, (&x, &y)) in w[..np].iter().zip(a).enumerate() {
        acc[i % 32] = x.mul_add(y, acc[i % 32]);
    }
    let mut sum = super::lanes::reduce_f32x8x4(&acc);
    let nr = n - n % 4;
    for (&x, &y) in w[np..nr].iter().zip(&a[np..nr]) {
        sum += x * y;
    }
    for (&x, &y) in w[nr..].iter().zip(&a[nr..]) {
        sum = x.mul_add(y, sum);
    }
    sum
}

/// Dot product in the float order of llamafile's `tinyBLAS` for F32 x F32 on AVX2
/// (`llamafile/sgemm.cpp`: `llamafile_sgemm`, `case GGML_TYPE_F32`, `tinyBLAS<8, __m256,
/// __m256, float, float, float>`; llama.cpp's kernel for F32 weights in batches of 2 or more
/// tokens when the row count is a multiple of 4): one 8-lane accumulator per output fed by
/// `_mm256_fmadd_ps` (`madd`) over the whole row, reduced by `hsum` ([`super::lanes::hsum8`]).
/// `tinyBLAS::matmul` refuses row lengths that are not a multiple of `KN` = 8, and llama.cpp
/// then runs [`vec_dot`], as this does.
pub fn vec_dot_llamafile(w: &[f32], a: &[f32]) -> f32 {
    assert_eq!(w.len(), a.len(), "F32 vec_dot: length mismatch");
    if !w.len().is_multiple_of(8) {
        return vec_dot(w, a);
    }
    let mut acc = [0.0f32; 8];
    for (i, (&x, &y)) in w.iter().zip(a).enumerate() {
        acc[i % 8] = x.mul_add(y, acc[i % 8]);
    }
    super::lanes::hsum8(&acc)
}
