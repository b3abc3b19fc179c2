//! IQ4_XS: TODO layout doc (bit layout and dequantization formula).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One IQ4_XS block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ4XS {
    pub d: f16,
    pub scales_h: u16,
    pub scales_l: [u8; 4],
    pub qs: [u8; 128],
}

const _: () = assert!(std::mem::size_of::<BlockIQ4XS>() == 136);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockIQ4XS {}

impl BlockFormat for BlockIQ4XS {
    const TYPE: GgmlType = GgmlType::IQ4_XS;
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
pub fn dequantize_row(blocks: &[BlockIQ4XS], out: &mut [f32]) {
    let _ = (blocks, out);
    todo!("IQ4_XS dequantize")
}

/// Scalar dot product of IQ4_XS weights with BlockQ8K activations.
pub fn vec_dot(w: &[BlockIQ4XS], a: &[q8_k::BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!("IQ4_XS vec_dot")
}
