//! Q3_K: TODO layout doc (bit layout and dequantization formula).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One Q3_K block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    pub scales: [u8; 12],
    pub d: f16,
}

const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ3K {}

impl BlockFormat for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const BLOCK: usize = 256;
    type Activation = q8_k::BlockQ8K;
    const ACT_BLOCK: usize = 256;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 256`).
pub fn dequantize_row(blocks: &[BlockQ3K], out: &mut [f32]) {
    let _ = (blocks, out);
    todo!("Q3_K dequantize")
}

/// Scalar dot product of Q3_K weights with BlockQ8K activations.
pub fn vec_dot(w: &[BlockQ3K], a: &[q8_k::BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!("Q3_K vec_dot")
}
