//! BF16: bfloat16 values, one per "block" (2 bytes, little-endian).
//!
//! Layout: the upper half of an f32: bit 15 sign, bits 14..7 exponent (bias 127), bits 6..0
//! mantissa; `value = f32::from_bits(bits << 16)`, i.e.
//! `(-1)^s * 2^(e - 127) * (1 + m / 128)` for `e` in `1..=254`, subnormals for `e == 0`,
//! infinities and NaNs for `e == 255`.
//!
//! Dequantization (ggml `ggml_compute_bf16_to_fp32`) is that shift, which is exact. BF16
//! weights pair with activations rounded to BF16 (ggml's `vec_dot_type` for BF16) by
//! [`from_f32`]; each product of two bf16 values is exact in f32 (8 + 8 significant bits) and
//! the sum is accumulated in f32.

use half::bf16;

use super::{BlockFormat, GgmlType};

impl BlockFormat for half::bf16 {
    const TYPE: GgmlType = GgmlType::BF16;
    const BLOCK: usize = 1;
    type Activation = half::bf16;
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

/// Widens one bf16 to f32 (exact): the bits become the upper half of the f32.
#[inline]
fn to_f32(x: bf16) -> f32 {
    f32::from_bits(u32::from(x.to_bits()) << 16)
}

/// Rounds one f32 to bf16 exactly as ggml's `ggml_compute_fp32_to_bf16`: every NaN becomes
/// quiet (its upper 16 bits with bit 6 set, so the sign and the high payload are kept),
/// everything else rounds to nearest, ties to even, overflowing to infinity. Subnormals are
/// not flushed.
#[inline]
pub fn from_f32(x: f32) -> bf16 {
    let u = x.to_bits();
    if u & 0x7FFF_FFFF > 0x7F80_0000 {
        return bf16::from_bits(((u >> 16) | 64) as u16);
    }
    // No overflow of the u32: the largest non-NaN pattern is 0xFF80_0000 (-inf).
    bf16::from_bits(((u + (0x7FFF + ((u >> 16) & 1))) >> 16) as u16)
}

/// Converts `src` to f32 (exact; `out.len() == src.len()`).
pub fn dequantize_row(src: &[half::bf16], out: &mut [f32]) {
    assert_eq!(out.len(), src.len(), "BF16 dequantize: length mismatch");
    for (y, &x) in out.iter_mut().zip(src) {
        *y = to_f32(x);
    }
}

/// Dot product of BF16 weights with BF16 activations in the float order of ggml's x86
/// `ggml_vec_dot_bf16` (AVX2, without AVX512-BF16): groups of 32 into four 8-lane
/// accumulators `c1..c4`, reduced as `hsum8((c1 + c3) + (c2 + c4))`, the remaining products
/// added in f64. (The products of two bf16 are exact in f32.)
pub fn vec_dot(w: &[half::bf16], a: &[half::bf16]) -> f32 {
    assert_eq!(w.len(), a.len(), "BF16 vec_dot: length mismatch");
    let np = w.len() / 32 * 32;
    let mut acc = [0.0f32; 32];
    for (i, (&x, &y)) in w[..np].iter().zip(a).enumerate() {
        acc[i % 32] = to_f32(x).mul_add(to_f32(y), acc[i % 32]);
    }
    let c: [f32; 8] = std::array::from_fn(|l| (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]));
    let mut sum = f64::from(super::lanes::hsum8(&c));
    for (&x, &y) in w[np..].iter().zip(&a[np..]) {
        sum += f64::from(to_f32(x) * to_f32(y));
    }
    sum as f32
}

/// Dot product in the float order of llamafile's `tinyBLAS` (AVX2; llama.cpp's kernel for
/// BF16 weights in batches of 2 or more tokens, when the row length is a multiple of 8): one
/// 8-lane FMA accumulator, reduced by `hsum8`. Other lengths fall back to [`vec_dot`].
pub fn vec_dot_llamafile(w: &[half::bf16], a: &[half::bf16]) -> f32 {
    assert_eq!(w.len(), a.len(), "BF16 vec_dot: length mismatch");
    if !w.len().is_multiple_of(8) {
        return vec_dot(w, a);
    }
    let mut acc = [0.0f32; 8];
    for (i, (&x, &y)) in w.iter().zip(a).enumerate() {
        acc[i % 8] = to_f32(x).mul_add(to_f32(y), acc[i % 8]);
    }
    super::lanes::hsum8(&acc)
}

/// Rounds activations to BF16 with [`from_f32`] (round to nearest even, ggml's NaN
/// handling), the partner format of BF16 weights (`out.len() == x.len()`).
pub fn quantize_row(x: &[f32], out: &mut [half::bf16]) {
    assert_eq!(out.len(), x.len(), "BF16 quantize: length mismatch");
    for (y, &v) in out.iter_mut().zip(x) {
        *y = from_f32(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_ggml() {
        // Ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 -> even (1.0).
        assert_eq!(from_f32(f32::from_bits(0x3F80_8000)).to_bits(), 0x3F80);
        // 0x3F81_8000 lies halfway between 0x3F81 and 0x3F82 -> even (0x3F82).
        assert_eq!(from_f32(f32::from_bits(0x3F81_8000)).to_bits(), 0x3F82);
        assert_eq!(from_f32(f32::from_bits(0x3F80_8001)).to_bits(), 0x3F81);
        assert_eq!(from_f32(f32::MAX).to_bits(), 0x7F80); // rounds up to infinity
        assert_eq!(from_f32(f32::INFINITY).to_bits(), 0x7F80);
        assert_eq!(from_f32(f32::NEG_INFINITY).to_bits(), 0xFF80);
        assert_eq!(from_f32(-0.0).to_bits(), 0x8000);
        // Subnormals are rounded, not flushed.
        assert_eq!(from_f32(f32::from_bits(0x0000_8000)).to_bits(), 0x0000);
        assert_eq!(from_f32(f32::from_bits(0x0001_8000)).to_bits(), 0x0002);
        // Signalling NaNs become quiet and keep their sign and high payload.
        assert_eq!(from_f32(f32::from_bits(0x7F80_0001)).to_bits(), 0x7FC0);
        assert_eq!(from_f32(f32::from_bits(0xFF81_0000)).to_bits(), 0xFFC1);
    }

    #[test]
    fn agrees_with_half_on_non_nan_values() {
        // half's conversion is also round-to-nearest-even; sweep a spread of bit patterns.
        let mut u = 0u32;
        for _ in 0..200_000 {
            u = u.wrapping_mul(2_654_435_761).wrapping_add(0x9E37_79B9);
            let x = f32::from_bits(u);
            if !x.is_nan() {
                assert_eq!(from_f32(x).to_bits(), bf16::from_f32(x).to_bits(), "{u:#x}");
            }
        }
    }

    #[test]
    fn widening_is_exact() {
        let mut out = [0.0f32; 3];
        dequantize_row(
            &[
                bf16::from_bits(0x3FC0),
                bf16::from_bits(0xC000),
                bf16::from_bits(1),
            ],
            &mut out,
        );
        assert_eq!(out, [1.5, -2.0, f32::from_bits(0x0001_0000)]);
    }
}
