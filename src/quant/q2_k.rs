//! Q2_K: 2-bit weights with a 4-bit scale and a 4-bit minimum per 16 values, 2.625 bits per
//! weight (ggml's `block_q2_K`).
//!
//! A block holds 256 values in 84 bytes: sixteen sub-blocks of 16 values.
//!
//! ```text
//! offset  size  field
//!      0    16  scales     byte j: bits 3:0 = scale sc[j], bits 7:4 = minimum m[j]
//!     16    64  qs         2-bit quants, four per byte
//!     80     2  d          f16 super-block scale of the sub-block scales
//!     82     2  dmin       f16 super-block scale of the sub-block minimums
//! ```
//!
//! Quants: the 256 values are two halves of 128 (h = 0, 1); half h is stored in
//! `qs[32h .. 32h + 32]`, and bits `2s .. 2s + 1` (s = 0..3) of `qs[32h + l]` are the quant of
//! value `128h + 32s + l`. Quants are unsigned, q in 0..3.
//!
//! Dequantization of value i in sub-block j = i / 16:
//! `x[i] = (d * sc[j]) * q - (dmin * m[j])` (each product rounded to f32, as ggml).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One Q2_K block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ2K {
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    pub d: f16,
    pub dmin: f16,
}

const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ2K {}

impl BlockFormat for BlockQ2K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const BLOCK: usize = 256;
    type Activation = q8_k::BlockQ8K;
    const ACT_BLOCK: usize = 256;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }

    fn vec_dot_tiled(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot_tiled(w, a)
    }
}

/// The 256 quants of a block (0..3) in value order.
#[inline]
fn unpack_quants(b: &BlockQ2K) -> [u8; 256] {
    let mut a = [0u8; 256];
    // Eight runs of 32 values; run r = 4h + s takes bits 2s..2s+1 of qs[32h..32h + 32].
    for (r, a) in a.chunks_exact_mut(32).enumerate() {
        let (h, shift) = (r / 4, 2 * (r % 4));
        for (a, &q) in a.iter_mut().zip(&b.qs[32 * h..32 * h + 32]) {
            *a = (q >> shift) & 3;
        }
    }
    a
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 256`).
pub fn dequantize_row(blocks: &[BlockQ2K], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 256,
        "Q2_K dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = b.d.to_f32();
        let min = b.dmin.to_f32();
        let q = unpack_quants(b);
        for ((q, y), &sc) in q
            .chunks_exact(16)
            .zip(y.chunks_exact_mut(16))
            .zip(&b.scales)
        {
            let dl = d * (sc & 0xF) as f32;
            let ml = min * (sc >> 4) as f32;
            for (y, &q) in y.iter_mut().zip(q) {
                *y = dl * q as f32 - ml;
            }
        }
    }
}

/// Dot product of Q2_K weights with Q8_K activations, in the float order of ggml's x86
/// `ggml_vec_dot_q2_K_q8_K` (AVX2): per super-block first the minimum terms, lane `l`
/// holding `min[2l] * bsums[2l] + min[2l+1] * bsums[2l+1]`, as `acc[l] = fma(-d_a * dmin,
/// ., acc[l])`; then the quants (0..3) in the lanes of [`q8_k::k_lanes`] as
/// `acc[l] = fma(d_a * d, ., acc[l])`; `hsum8` at the end.
pub fn vec_dot(w: &[BlockQ2K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q2_K vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        let mins: [i32; 8] = std::array::from_fn(|l| {
            i32::from(y.bsums[2 * l]) * i32::from(x.scales[2 * l] >> 4)
                + i32::from(y.bsums[2 * l + 1]) * i32::from(x.scales[2 * l + 1] >> 4)
        });
        super::lanes::fma8(&mut acc, -y.d * x.dmin.to_f32(), &mins);
        let sc: [i32; 16] = x.scales.map(|s| i32::from(s & 0xF));
        let q = unpack_quants(x).map(|v| v as i8);
        let lanes = q8_k::k_lanes(&q, &y.qs, &sc);
        super::lanes::fma8(&mut acc, y.d * x.d.to_f32(), &lanes);
    }
    super::lanes::hsum8(&acc)
}

/// Dot product in the float order of ggml's tiled K-quant matmul (batches of 8 or more
/// tokens, see [`q8_k::tiled_step`]).
pub fn vec_dot_tiled(w: &[BlockQ2K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q2_K vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let s2: i32 = (0..16)
            .map(|j| i32::from(y.bsums[j]) * i32::from(x.scales[j] >> 4))
            .sum();
        let sc: [i32; 16] = x.scales.map(|s| i32::from(s & 0xF));
        let q = unpack_quants(x).map(|v| v as i8);
        let s1: i32 = q8_k::k_lanes(&q, &y.qs, &sc).iter().sum();
        acc = q8_k::tiled_step(acc, x.d.to_f32(), s1, Some((x.dmin.to_f32(), s2)), y.d);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q8_k::test_util::*;

    fn random_blocks(n: usize, seed: u32) -> Vec<BlockQ2K> {
        let mut w: Vec<BlockQ2K> = blocks_from_bytes(&test_bytes(n * 84, seed));
        for (i, b) in w.iter_mut().enumerate() {
            b.d = f16::from_f32(0.05 + 0.003 * i as f32);
            b.dmin = f16::from_f32(0.02 - 0.004 * i as f32);
        }
        w
    }

    #[test]
    fn hand_block() {
        let mut scales = [0x32u8; 16]; // sc = 2, m = 3
        scales[15] = 0xF1; // sc = 1, m = 15
        let mut qs = [0u8; 64];
        qs[0] = 0b11_10_01_00; // values 0, 32, 64, 96 -> q = 0, 1, 2, 3
        qs[32 + 31] = 0b11_00_00_00; // value 128 + 96 + 31 = 255 (sub-block 15) -> q = 3
        let b = BlockQ2K {
            scales,
            qs,
            d: f16::from_f32(0.5),
            dmin: f16::from_f32(0.25),
        };
        let mut y = [0.0; 256];
        dequantize_row(&[b], &mut y);
        assert_eq!([y[0], y[32], y[64], y[96]], [-0.75, 0.25, 1.25, 2.25]);
        assert_eq!(y[1], -0.75);
        assert_eq!(y[254], -0.25 * 15.0);
        assert_eq!(y[255], 0.5 * 3.0 - 0.25 * 15.0);
        assert_eq!(vec_dot(&[b], &ones_activations(1)), y.iter().sum::<f32>());
    }

    #[test]
    fn dot_matches_dequantized() {
        check_dot(&random_blocks(3, 14), 8);
    }
}
