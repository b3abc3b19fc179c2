//! Q6_K: TODO layout doc (bit layout and dequantization formula).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One Q6_K block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: f16,
}

const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ6K {}

impl BlockFormat for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
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
pub fn dequantize_row(blocks: &[BlockQ6K], out: &mut [f32]) {
    let _ = (blocks, out);
    todo!("Q6_K dequantize")
}

/// Scalar dot product of Q6_K weights with BlockQ8K activations.
pub fn vec_dot(w: &[BlockQ6K], a: &[q8_k::BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!("Q6_K vec_dot")
}
