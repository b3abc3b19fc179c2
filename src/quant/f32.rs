//! F32: plain f32 values, one per "block". TODO doc.

use super::{BlockFormat, GgmlType};

impl BlockFormat for f32 {
    const TYPE: GgmlType = GgmlType::F32;
    const BLOCK: usize = 1;
    type Activation = f32;
    const ACT_BLOCK: usize = 1;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }
}

/// Converts `src` to f32.
pub fn dequantize_row(src: &[f32], out: &mut [f32]) {
    let _ = (src, out);
    todo!("F32 dequantize")
}

/// Dot product of F32 weights with F32 activations, accumulated in f32.
pub fn vec_dot(w: &[f32], a: &[f32]) -> f32 {
    let _ = (w, a);
    todo!("F32 vec_dot")
}
