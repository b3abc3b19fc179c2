//! Q4_1: 32 values per block, 4 bits each, a scale and a minimum (20 bytes, 5 bits per
//! weight).
//!
//! Layout (ggml `block_q4_1`, `ggml-common.h`):
//!
//! ```text
//! offset  size  field
//!      0     2  d      f16 scale
//!      2     2  m      f16 minimum (offset added to every value)
//!      4    16  qs     nibbles: qs[j] & 0x0F is value j, qs[j] >> 4 is value j + 16
//! ```
//!
//! Dequantization (ggml `dequantize_row_q4_1`), for `j` in `0..16`:
//!
//! ```text
//! y[j]      = (qs[j] & 0x0F) * d + m
//! y[j + 16] = (qs[j] >>   4) * d + m
//! ```
//!
//! The product is exact; the sum is rounded once to f32 (a multiply then an add, never a
//! fused multiply-add, which is what numpy and a C compiler without FP contraction do).

use half::f16;

use super::{q8_0, BlockFormat, GgmlType, Pod};

/// One Q4_1 block of 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ4_1 {}

impl BlockFormat for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const BLOCK: usize = 32;
    type Activation = q8_0::BlockQ8_0;
    const ACT_BLOCK: usize = 32;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 32`).
pub fn dequantize_row(blocks: &[BlockQ4_1], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 32,
        "Q4_1 dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = b.d.to_f32();
        let m = b.m.to_f32();
        let (lo, hi) = y.split_at_mut(16);
        for j in 0..16 {
            lo[j] = f32::from(b.qs[j] & 0x0F) * d + m;
            hi[j] = f32::from(b.qs[j] >> 4) * d + m;
        }
    }
}

/// Scalar dot product of Q4_1 weights with BlockQ8_0 activations.
///
/// Follows ggml's `ggml_vec_dot_q4_1_q8_1_generic`:
/// `sumf += (d_w * d_a) * sumi + m * s` per block, where Q8_1's `s` is `d * sum(q_a)`.
/// Here `s = d_a * sum(q_a)` is computed from the Q8_0 block in f32. ggml's Q8_1 stores `s`
/// as f16 and computes it from the unrounded f32 `d`, so ggml's minimum term carries an
/// extra relative error of up to 2^-11 that this one does not; otherwise the arithmetic is
/// the same.
pub fn vec_dot(w: &[BlockQ4_1], a: &[q8_0::BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q4_1 vec_dot: block count mismatch");
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        // Overflow bounds: weights in [0, 15], activations in [-128, 127], so
        // |sumi| <= 32 * 15 * 128 < 2^16 and |suma| <= 32 * 128 = 2^12.
        let mut sumi = 0i32;
        for j in 0..16 {
            let v0 = i32::from(x.qs[j] & 0x0F);
            let v1 = i32::from(x.qs[j] >> 4);
            sumi += v0 * i32::from(y.qs[j]) + v1 * i32::from(y.qs[j + 16]);
        }
        let suma: i32 = y.qs.iter().map(|&q| i32::from(q)).sum();
        let dy = y.d.to_f32();
        let s = dy * suma as f32;
        sumf += (x.d.to_f32() * dy) * sumi as f32 + x.m.to_f32() * s;
    }
    sumf
}
