//! Q8_K: the activation format the K-quants pair with. TODO layout doc.

use super::{Pod, QK_K};

/// One Q8_K block of 256 values: an f32 scale, the int8 quants, and the sums of each group
/// of 16 quants (used by the K-quant dot products for their minimum terms).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

// SAFETY: repr(C), f32 + i8/i16 arrays, no padding (size asserted).
unsafe impl Pod for BlockQ8K {}

/// Quantizes `x` into Q8_K blocks (`x.len() == out.len() * 256`), as ggml's
/// `quantize_row_q8_K_ref`.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ8K]) {
    let _ = (x, out);
    todo!("Q8_K quantize")
}

/// Dequantizes Q8_K blocks (for tests).
pub fn dequantize_row(blocks: &[BlockQ8K], out: &mut [f32]) {
    let _ = (blocks, out);
    todo!("Q8_K dequantize")
}
