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
    type Activation = q8_0::BlockQ8_1;
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

/// Dot product of Q4_1 weights with Q8_1 activations, in the float order of ggml's x86
/// `ggml_vec_dot_q4_1_q8_1` (AVX2, see [`super::lanes`]): per block, eight exact i32 lane
/// sums, `acc[l] = fma(d_w * d_a, sum[l], acc[l])`, while the minimum terms go to a separate
/// scalar `summs = fma(m, s, summs)` (`summs += m * s`, contracted by the compiler); the
/// result is `hsum8(acc) + summs`. `s` is the f16 `d * sum(q_a)` of the Q8_1 block.
pub fn vec_dot(w: &[BlockQ4_1], a: &[q8_0::BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q4_1 vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    let mut summs = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        summs = x.m.to_f32().mul_add(y.s.to_f32(), summs);
        // Weights in [0, 15], activations in [-128, 127]: each lane is below 2^13.
        let mut q = [0i8; 32];
        for j in 0..16 {
            q[j] = (x.qs[j] & 0x0F) as i8;
            q[j + 16] = (x.qs[j] >> 4) as i8;
        }
        let s = super::lanes::sums_i8x32(&q, &y.qs);
        super::lanes::fma8(&mut acc, x.d.to_f32() * y.d.to_f32(), &s);
    }
    super::lanes::hsum8(&acc) + summs
}
