//! IQ4_NL: TODO layout doc (bit layout and dequantization formula).

use half::f16;

use super::{q8_0, BlockFormat, GgmlType, Pod};

/// One IQ4_NL block of 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ4NL {
    pub d: f16,
    pub qs: [u8; 16],
}

const _: () = assert!(std::mem::size_of::<BlockIQ4NL>() == 18);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockIQ4NL {}

impl BlockFormat for BlockIQ4NL {
    const TYPE: GgmlType = GgmlType::IQ4_NL;
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
pub fn dequantize_row(blocks: &[BlockIQ4NL], out: &mut [f32]) {
    let _ = (blocks, out);
    todo!("IQ4_NL dequantize")
}

/// Scalar dot product of IQ4_NL weights with BlockQ8_0 activations.
pub fn vec_dot(w: &[BlockIQ4NL], a: &[q8_0::BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!("IQ4_NL vec_dot")
}
