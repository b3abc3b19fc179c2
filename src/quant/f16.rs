//! F16: IEEE 754 binary16 values, one per "block" (2 bytes, little-endian).
//!
//! Layout: bit 15 sign, bits 14..10 exponent (bias 15), bits 9..0 mantissa;
//! `value = (-1)^s * 2^(e - 15) * (1 + m / 1024)` for `e` in `1..=30`, subnormals
//! `(-1)^s * 2^-14 * m / 1024` for `e == 0`, infinities (`m == 0`) and NaNs for `e == 31`.
//!
//! Dequantization (ggml `GGML_FP16_TO_FP32`) widens to f32, which is exact. F16 weights pair
//! with activations rounded to F16 (ggml's `vec_dot_type` for F16); each product of two f16
//! values is exact in f32 (11 + 11 significant bits <= 24) and the sum is accumulated in f32.

use half::f16;

use super::{BlockFormat, GgmlType};

impl BlockFormat for half::f16 {
    const TYPE: GgmlType = GgmlType::F16;
    const BLOCK: usize = 1;
    type Activation = half::f16;
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

/// Converts `src` to f32 (exact; `out.len() == src.len()`).
pub fn dequantize_row(src: &[half::f16], out: &mut [f32]) {
    assert_eq!(out.len(), src.len(), "F16 dequantize: length mismatch");
    for (y, x) in out.iter_mut().zip(src) {
        *y = x.to_f32();
    }
}

/// Dot product of F16 weights with F16 activations in the float order of ggml's x86
/// `ggml_vec_dot_f16` (AVX2): groups of 32 into four 8-lane FMA accumulators, reduced by
/// [`super::lanes::reduce_f32x8x4`], the remaining products added in f64. (The products of
/// two f16 are exact in f32, so only the additions round.)
pub fn vec_dot(w: &[half::f16], a: &[half::f16]) -> f32 {
    assert_eq!(w.len(), a.len(), "F16 vec_dot: length mismatch");
    let np = w.len() / 32 * 32;
    let mut acc = [0.0f32; 32];
    for (i, (x, y)) in w[..np].iter().zip(a).enumerate() {
        acc[i % 32] = x.to_f32().mul_add(y.to_f32(), acc[i % 32]);
    }
    let mut sum = f64::from(super::lanes::reduce_f32x8x4(&acc));
    for (x, y) in w[np..].iter().zip(&a[np..]) {
        sum += f64::from(x.to_f32() * y.to_f32());
    }
    sum as f32
}

/// Dot product in the float order of llamafile's `tinyBLAS` (AVX2; llama.cpp's kernel for F16
/// weights in batches of 2 or more tokens, when the row length is a multiple of 8): one 8-lane
/// FMA accumulator, reduced by `hsum8`. Other lengths fall back to [`vec_dot`], as llama.cpp
/// does.
pub fn vec_dot_llamafile(w: &[half::f16], a: &[half::f16]) -> f32 {
    assert_eq!(w.len(), a.len(), "F16 vec_dot: length mismatch");
    if !w.len().is_multiple_of(8) {
        return vec_dot(w, a);
    }
    let mut acc = [0.0f32; 8];
    for (i, (x, y)) in w.iter().zip(a).enumerate() {
        acc[i % 8] = x.to_f32().mul_add(y.to_f32(), acc[i % 8]);
    }
    super::lanes::hsum8(&acc)
}

/// Rounds one f32 to f16 as ggml's portable `ggml_compute_fp32_to_fp16`: round to nearest
/// even, overflow to infinity, gradual underflow to subnormals, and every NaN to the quiet
/// NaN `0x7E00` with the input's sign (hardware converters keep part of the payload instead;
/// the portable result is the one that does not depend on the machine).
#[inline]
pub fn from_f32(x: f32) -> f16 {
    if x.is_nan() {
        let sign = ((x.to_bits() >> 16) & 0x8000) as u16;
        f16::from_bits(sign | 0x7E00)
    } else {
        f16::from_f32(x)
    }
}

/// Rounds activations to F16 (round to nearest even, see [`from_f32`]), the partner format of
/// F16 weights (`out.len() == x.len()`).
pub fn quantize_row(x: &[f32], out: &mut [half::f16]) {
    assert_eq!(out.len(), x.len(), "F16 quantize: length mismatch");
    for (y, &v) in out.iter_mut().zip(x) {
        *y = from_f32(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_ggml_semantics() {
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1.0).
        assert_eq!(from_f32(1.0 + 2.0f32.powi(-11)).to_bits(), 0x3C00);
        // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties go up to even.
        assert_eq!(from_f32(1.0 + 3.0 * 2.0f32.powi(-11)).to_bits(), 0x3C02);
        assert_eq!(from_f32(65520.0).to_bits(), 0x7C00); // rounds to infinity
        assert_eq!(from_f32(65519.0).to_bits(), 0x7BFF); // largest finite
        assert_eq!(from_f32(2.0f32.powi(-24)).to_bits(), 0x0001); // smallest subnormal
        assert_eq!(from_f32(2.0f32.powi(-25)).to_bits(), 0x0000); // tie to even: zero
        assert_eq!(from_f32(-0.0).to_bits(), 0x8000);
        assert_eq!(from_f32(f32::NAN).to_bits(), 0x7E00);
        assert_eq!(from_f32(f32::from_bits(0xFF80_0001)).to_bits(), 0xFE00);
    }

    #[test]
    fn dot_accumulates_exact_products() {
        let w: Vec<f16> = [1.5f32, -2.0, 0.25]
            .iter()
            .map(|&v| f16::from_f32(v))
            .collect();
        let a: Vec<f16> = [2.0f32, 0.5, -4.0]
            .iter()
            .map(|&v| f16::from_f32(v))
            .collect();
        assert_eq!(vec_dot(&w, &a), 3.0 - 1.0 - 1.0);
    }
}
