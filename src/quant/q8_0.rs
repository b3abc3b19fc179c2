//! Q8_0: TODO layout doc (bit layout and dequantization formula).

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
    let _ = (blocks, out);
    todo!("Q8_0 dequantize")
}

/// Scalar dot product of Q8_0 weights with BlockQ8_0 activations.
pub fn vec_dot(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!("Q8_0 vec_dot")
}

/// Quantizes `x` into Q8_0 blocks (`x.len() == out.len() * 32`), as ggml's
/// `quantize_row_q8_0_ref`.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ8_0]) {
    let _ = (x, out);
    todo!("Q8_0 quantize")
}
