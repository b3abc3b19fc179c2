//! Q8_0: 32 values per block, 8 bits each, one scale (34 bytes, 8.5 bits per weight).
//!
//! Layout (ggml `block_q8_0`, `ggml-common.h`):
//!
//! ```text
//! offset  size  field
//!      0     2  d      f16 scale
//!      2    32  qs     i8 quants, qs[j] is value j (no packing)
//! ```
//!
//! Dequantization (ggml `dequantize_row_q8_0`): `y[j] = qs[j] * d` (the product is rounded to
//! f32 once; it is exact, since an f16 has 11 significant bits and an i8 at most 8).
//!
//! Q8_0 is also the activation format of Q4_0, Q5_0, Q8_0 and IQ4_NL weights: [`quantize_row`]
//! is ggml's `quantize_row_q8_0_ref`, [`quantize_row_x86`] the quantizer llama.cpp runs on
//! x86-64 (which the forward pass uses). Q4_1 and Q5_1 pair with [`BlockQ8_1`], the same
//! block plus `s = d * sum(qs)` stored as f16.

use half::f16;

use super::{BlockFormat, GgmlType, Pod};

/// One Q8_0 block of 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; 32],
}

const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ8_0 {}

impl BlockFormat for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const BLOCK: usize = 32;
    type Activation = BlockQ8_0;
    const ACT_BLOCK: usize = 32;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 32`).
pub fn dequantize_row(blocks: &[BlockQ8_0], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 32,
        "Q8_0 dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = b.d.to_f32();
        for (y, &q) in y.iter_mut().zip(b.qs.iter()) {
            *y = f32::from(q) * d;
        }
    }
}

/// Dot product of Q8_0 weights with BlockQ8_0 activations, in the float order of ggml's x86
/// `ggml_vec_dot_q8_0_q8_0` (AVX2, see [`super::lanes`]): per block, eight exact i32 sums of
/// four products each, `acc[l] = fma(d_w * d_a, sum[l], acc[l])`, then [`super::lanes::hsum8`].
pub fn vec_dot(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q8_0 vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        // Overflow bound: |qs| <= 128 on both sides (an i8 from a file may be -128), so each
        // lane is at most 4 * 128 * 128 = 2^16.
        let s = super::lanes::sums_i8x32(&x.qs, &y.qs);
        super::lanes::fma8(&mut acc, x.d.to_f32() * y.d.to_f32(), &s);
    }
    super::lanes::hsum8(&acc)
}

/// Quantizes `x` into Q8_0 blocks (`x.len() == out.len() * 32`), as ggml's
/// `quantize_row_q8_0_ref`: per block `d = amax / 127` (stored as f16, rounded to nearest
/// even), `qs[j] = roundf(x[j] * id)` with `id = 1/d` computed from the unrounded f32 `d`
/// (0 when `d == 0`), rounding halves away from zero.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_0 quantize: length mismatch");
    for (x, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        // ggml's `MAX(a, b)` is `a > b ? a : b`; written the same way so that even NaN
        // inputs give the same block.
        let amax = x
            .iter()
            .fold(0.0f32, |m, &v| if m > v.abs() { m } else { v.abs() });
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        for (q, &v) in b.qs.iter_mut().zip(x) {
            // `as i8` saturates (and maps NaN to 0); |v * id| <= 127 for finite input, so
            // this is the plain conversion of ggml's `roundf` result.
            *q = (v * id).round() as i8;
        }
    }
}

/// Quantizes `x` into Q8_0 blocks as ggml's x86 `quantize_row_q8_0` (the AVX2 path, which
/// is what llama.cpp runs on x86-64 for every matmul input): `d = amax / 127` stored as f16,
/// but `qs[j] = round_half_even(x[j] * (127 / amax))`. Against [`quantize_row`] (ggml's `_ref`)
/// both the multiplier (`127 / amax` instead of `1 / d`, which can differ in the last bit) and
/// the rounding of halves differ, so a quant now and then differs by one. This is the
/// quantizer the forward pass uses; the reference one stays for the format tests.
pub fn quantize_row_x86(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_0 quantize: length mismatch");
    for (x, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        let amax = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        b.d = f16::from_f32(amax / 127.0);
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round_ties_even() as i8;
        }
    }
}

/// ggml's `block_q8_1`, the activation format of Q4_1 and Q5_1: a Q8_0 block plus
/// `s = d * sum(qs)` stored as f16 (36 bytes).
///
/// ```text
/// offset  size  field
///      0     2  d      f16 scale
///      2     2  s      f16, d * sum(qs) with the unrounded f32 d
///      4    32  qs     i8 quants
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8_1 {
    pub d: f16,
    pub s: f16,
    pub qs: [i8; 32],
}

const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);

// SAFETY: repr(C), only f16 and i8 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ8_1 {}

/// Quantizes `x` into Q8_1 blocks as ggml's `quantize_row_q8_1_ref`: the Q8_0 reference
/// quantization, and `s = fp16(sum(qs) * d)` from the unrounded f32 `d`.
pub fn quantize_row_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_1 quantize: length mismatch");
    for (x, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        let amax = x
            .iter()
            .fold(0.0f32, |m, &v| if m > v.abs() { m } else { v.abs() });
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
            sum += i32::from(*q);
        }
        b.s = f16::from_f32(sum as f32 * d);
    }
}

/// Quantizes `x` into Q8_1 blocks as ggml's x86 `quantize_row_q8_1` (AVX2): the quants of
/// [`quantize_row_x86`], and `s = fp16(d * sum(qs))` with the unrounded f32 `d = amax / 127`.
pub fn quantize_row_q8_1_x86(x: &[f32], out: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_1 quantize: length mismatch");
    for (x, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        let amax = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let d = amax / 127.0;
        b.d = f16::from_f32(d);
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round_ties_even() as i8;
            sum += i32::from(*q);
        }
        b.s = f16::from_f32(d * sum as f32);
    }
}

/// Dequantizes Q8_1 blocks (`y[j] = qs[j] * d`; `s` is redundant).
pub fn dequantize_row_q8_1(blocks: &[BlockQ8_1], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 32,
        "Q8_1 dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = b.d.to_f32();
        for (y, &q) in y.iter_mut().zip(b.qs.iter()) {
            *y = f32::from(q) * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_halves_away_from_zero() {
        // amax = 127 gives d = 1 and id = 1, so x * id is x itself.
        let mut x = [0.0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = 0.5;
        x[4] = -126.49;
        let mut b = [BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; 32],
        }];
        quantize_row(&x, &mut b);
        assert_eq!(b[0].d.to_f32(), 1.0);
        assert_eq!(&b[0].qs[..5], &[127, 3, -3, 1, -126]);
        let mut y = [0.0f32; 32];
        dequantize_row(&b, &mut y);
        assert_eq!(&y[..5], &[127.0, 3.0, -3.0, 1.0, -126.0]);
    }

    #[test]
    fn x86_quantizer_rounds_halves_to_even() {
        // d = 1 and 127 / amax = 1: ggml's x86 quantizer rounds 2.5 to 2 where the
        // reference one gives 3; the scale is the same.
        let mut x = [0.0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        let blank = BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; 32],
        };
        let (mut r, mut v) = ([blank], [blank]);
        quantize_row(&x, &mut r);
        quantize_row_x86(&x, &mut v);
        assert_eq!(r[0].d, v[0].d);
        assert_eq!(&r[0].qs[..3], &[127, 3, -4]);
        assert_eq!(&v[0].qs[..3], &[127, 2, -4]);
    }

    #[test]
    fn q8_1_sum_uses_the_unrounded_scale() {
        // amax = 1: d = 1/127 is not an f16, so s = fp16(sum * d) differs from
        // sum * fp16(d) in general; check the definition on a simple block.
        let mut x = [0.5f32; 32];
        x[0] = 1.0;
        let mut b = [BlockQ8_1 {
            d: f16::ZERO,
            s: f16::ZERO,
            qs: [0; 32],
        }];
        quantize_row_q8_1_x86(&x, &mut b);
        let sum: i32 = b[0].qs.iter().map(|&q| i32::from(q)).sum();
        assert_eq!(b[0].s, f16::from_f32(sum as f32 * (1.0 / 127.0)));
        assert_eq!(b[0].d, f16::from_f32(1.0 / 127.0));
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let mut b = [BlockQ8_0 {
            d: f16::ONE,
            qs: [1; 32],
        }];
        quantize_row(&[0.0; 32], &mut b);
        assert_eq!(b[0].d.to_bits(), 0);
        assert_eq!(b[0].qs, [0; 32]);
    }

    #[test]
    fn dot_uses_exact_integer_sums() {
        let w = [BlockQ8_0 {
            d: f16::from_f32(0.5),
            qs: [-128; 32],
        }];
        let a = [BlockQ8_0 {
            d: f16::from_f32(0.25),
            qs: [-128; 32],
        }];
        // 32 * 128 * 128 = 524288, times 0.125.
        assert_eq!(vec_dot(&w, &a), 65536.0);
    }
}
