//! F32: IEEE 754 binary32 values, one per "block" (4 bytes, little-endian).
//!
//! Layout: bit 31 sign, bits 30..23 exponent (bias 127), bits 22..0 mantissa;
//! `value = (-1)^s * 2^(e - 127) * (1 + m / 2^23)` for `e` in `1..=254`, subnormals
//! `(-1)^s * 2^-126 * m / 2^23` for `e == 0`, infinities and NaNs for `e == 255`.
//!
//! Dequantization is the identity. F32 weights pair with F32 activations (ggml's
//! `vec_dot_type` for F32 is F32).

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
}

/// Converts `src` to f32 (a copy; `out.len() == src.len()`).
pub fn dequantize_row(src: &[f32], out: &mut [f32]) {
    out.copy_from_slice(src);
}

/// Dot product of F32 weights with F32 activations, accumulated in f32 from left to right.
///
/// (ggml's scalar `ggml_vec_dot_f32` accumulates in double, its SIMD paths in f32 lanes;
/// ferrite's SIMD kernels accumulate in f32, and this is their reference.)
pub fn vec_dot(w: &[f32], a: &[f32]) -> f32 {
    assert_eq!(w.len(), a.len(), "F32 vec_dot: length mismatch");
    w.iter().zip(a).fold(0.0f32, |s, (&x, &y)| s + x * y)
}
