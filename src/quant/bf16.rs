//! BF16: plain bf16 values, one per "block". TODO doc.

use super::{BlockFormat, GgmlType};

impl BlockFormat for half::bf16 {
    const TYPE: GgmlType = GgmlType::BF16;
    const BLOCK: usize = 1;
    type Activation = half::bf16;
    const ACT_BLOCK: usize = 1;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }
}

/// Converts `src` to f32.
pub fn dequantize_row(src: &[half::bf16], out: &mut [f32]) {
    let _ = (src, out);
    todo!("BF16 dequantize")
}

/// Dot product of BF16 weights with BF16 activations, accumulated in f32.
pub fn vec_dot(w: &[half::bf16], a: &[half::bf16]) -> f32 {
    let _ = (w, a);
    todo!("BF16 vec_dot")
}

/// Rounds activations to BF16 (round to nearest even), the partner format of BF16 weights.
pub fn quantize_row(x: &[f32], out: &mut [half::bf16]) {
    let _ = (x, out);
    todo!("BF16 quantize")
}
