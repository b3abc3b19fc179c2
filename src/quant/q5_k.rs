//! Q5_K: TODO layout doc (bit layout and dequantization formula).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One Q5_K block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}

const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ5K {}

impl BlockFormat for BlockQ5K {
    const TYPE: GgmlType = GgmlType::Q5_K;
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
pub fn dequantize_row(blocks: &[BlockQ5K], out: &mut [f32]) {
    let _ = (blocks, out);
    todo!("Q5_K dequantize")
}

/// Scalar dot product of Q5_K weights with BlockQ8K activations.
pub fn vec_dot(w: &[BlockQ5K], a: &[q8_k::BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!("Q5_K vec_dot")
}
