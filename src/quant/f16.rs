//! F16: plain f16 values, one per "block". TODO doc.

use super::{BlockFormat, GgmlType};

impl BlockFormat for half::f16 {
    const TYPE: GgmlType = GgmlType::F16;
    const BLOCK: usize = 1;
    type Activation = half::f16;
    const ACT_BLOCK: usize = 1;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }
}

/// Converts `src` to f32.
pub fn dequantize_row(src: &[half::f16], out: &mut [f32]) {
    let _ = (src, out);
    todo!("F16 dequantize")
}

/// Dot product of F16 weights with F16 activations, accumulated in f32.
pub fn vec_dot(w: &[half::f16], a: &[half::f16]) -> f32 {
    let _ = (w, a);
    todo!("F16 vec_dot")
}

/// Rounds activations to F16 (round to nearest even), the partner format of F16 weights.
pub fn quantize_row(x: &[f32], out: &mut [half::f16]) {
    let _ = (x, out);
    todo!("F16 quantize")
}
