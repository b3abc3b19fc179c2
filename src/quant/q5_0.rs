//! Q5_0: TODO layout doc (bit layout and dequantization formula).

use half::f16;

use super::{q8_0, BlockFormat, GgmlType, Pod};

/// One Q5_0 block of 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ5_0 {}

impl BlockFormat for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
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
pub fn dequantize_row(blocks: &[BlockQ5_0], out: &mut [f32]) {
    let _ = (blocks, out);
    todo!("Q5_0 dequantize")
}

/// Scalar dot product of Q5_0 weights with BlockQ8_0 activations.
pub fn vec_dot(w: &[BlockQ5_0], a: &[q8_0::BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!("Q5_0 vec_dot")
}
