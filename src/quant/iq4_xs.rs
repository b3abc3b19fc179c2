//! IQ4_XS: 4-bit indices into a fixed non-linear table, with a 6-bit scale per 32 values,
//! 4.25 bits per weight (ggml's `block_iq4_xs`). The super-block form of IQ4_NL.
//!
//! A block holds 256 values in 136 bytes: eight sub-blocks of 32 values.
//!
//! ```text
//! offset  size  field
//!      0     2  d          f16 super-block scale
//!      2     2  scales_h   u16 (little-endian): bits 2ib+1:2ib = bits 5:4 of scale ib
//!      4     4  scales_l   nibble ib % 2 (0 low, 1 high) of byte ib / 2 = bits 3:0 of scale ib
//!      8   128  qs         4-bit indices, two per byte
//! ```
//!
//! Quants: sub-block ib (values `32ib .. 32ib + 32`) uses `qs[16ib .. 16ib + 16]`: the low
//! nibble of `qs[16ib + j]` indexes value `32ib + j`, the high nibble value `32ib + 16 + j`.
//! The index selects an int8 from the IQ4_NL codebook
//! ([`KVALUES_IQ4NL`], ggml's `kvalues_iq4nl`).
//!
//! The 6-bit scale `ls` of sub-block ib is biased by 32.
//!
//! Dequantization of value i in sub-block ib = i / 32, with index k:
//! `x[i] = (d * (ls[ib] - 32)) * KVALUES_IQ4NL[k]` (each product rounded to f32, as ggml).

use half::f16;

use super::iq4_nl::KVALUES as KVALUES_IQ4NL;
use super::{q8_k, BlockFormat, GgmlType, Pod, QK_K};

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

    fn vec_dot_tiled(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot_tiled(w, a)
    }
}

/// The 6-bit scale of sub-block `ib` (0..8), still biased by 32.
#[inline]
fn sub_scale(b: &BlockIQ4XS, ib: usize) -> i32 {
    let low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    let high = (u16::from_le(b.scales_h) >> (2 * ib)) & 3;
    (low as u16 | (high << 4)) as i32
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 256`).
pub fn dequantize_row(blocks: &[BlockIQ4XS], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 256,
        "IQ4_XS dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = b.d.to_f32();
        for (ib, (qs, y)) in
            b.qs.chunks_exact(16)
                .zip(y.chunks_exact_mut(32))
                .enumerate()
        {
            let dl = d * (sub_scale(b, ib) - 32) as f32;
            let (lo, hi) = y.split_at_mut(16);
            for j in 0..16 {
                lo[j] = dl * KVALUES_IQ4NL[(qs[j] & 0xF) as usize] as f32;
                hi[j] = dl * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
            }
        }
    }
}

/// The table values of a block's 256 quants, and the per-16 signed scales `ls - 32`.
fn values_and_scales(x: &BlockIQ4XS) -> ([i8; QK_K], [i32; 16]) {
    let mut v = [0i8; QK_K];
    for (qs, v) in x.qs.chunks_exact(16).zip(v.chunks_exact_mut(32)) {
        for j in 0..16 {
            v[j] = KVALUES_IQ4NL[(qs[j] & 0xF) as usize];
            v[j + 16] = KVALUES_IQ4NL[(qs[j] >> 4) as usize];
        }
    }
    let sc = std::array::from_fn(|k| sub_scale(x, k / 2) - 32);
    (v, sc)
}

/// Dot product of IQ4_XS weights with Q8_K activations, in the float order of ggml's x86
/// `ggml_vec_dot_iq4_xs_q8_K` (AVX2): table values and scales in the lanes of
/// [`q8_k::k_lanes`], `acc[l] = fma(d * d_a, lane, acc[l])`, `hsum8` at the end.
pub fn vec_dot(w: &[BlockIQ4XS], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "IQ4_XS vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        let (v, sc) = values_and_scales(x);
        let lanes = q8_k::k_lanes(&v, &y.qs, &sc);
        super::lanes::fma8(&mut acc, x.d.to_f32() * y.d, &lanes);
    }
    super::lanes::hsum8(&acc)
}

/// Dot product in the float order of ggml's tiled K-quant matmul (batches of 8 or more
/// tokens, see [`q8_k::tiled_step`]).
pub fn vec_dot_tiled(w: &[BlockIQ4XS], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "IQ4_XS vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (v, sc) = values_and_scales(x);
        let s1: i32 = q8_k::k_lanes(&v, &y.qs, &sc).iter().sum();
        acc = q8_k::tiled_step(acc, x.d.to_f32(), s1, None, y.d);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q8_k::test_util::*;

    fn random_blocks(n: usize, seed: u32) -> Vec<BlockIQ4XS> {
        let mut w: Vec<BlockIQ4XS> = blocks_from_bytes(&test_bytes(n * 136, seed));
        for (i, b) in w.iter_mut().enumerate() {
            b.d = f16::from_f32(0.001 + 0.0003 * i as f32);
        }
        w
    }

    #[test]
    fn hand_block() {
        // Scales ls[ib] = 32 + [0, 1, -1, 31, -32, 16, 2, 3]: low nibbles in scales_l, top 2
        // bits in scales_h.
        let ls: [u16; 8] = [32, 33, 31, 63, 0, 48, 34, 35];
        let mut scales_l = [0u8; 4];
        let mut scales_h = 0u16;
        for (ib, &v) in ls.iter().enumerate() {
            scales_l[ib / 2] |= ((v & 0xF) as u8) << (4 * (ib % 2));
            scales_h |= (v >> 4) << (2 * ib);
        }
        let mut qs = [0x88u8; 128]; // index 8 -> table value 1
        qs[0] = 0x0F; // value 0 -> 113, value 16 -> -127
        qs[3 * 16 + 2] = 0x70; // value 96 + 2 -> -127 (index 0), value 96 + 18 -> -10
        let b = BlockIQ4XS {
            d: f16::from_f32(0.5),
            scales_h: scales_h.to_le(),
            scales_l,
            qs,
        };
        let mut y = [0.0; 256];
        dequantize_row(&[b], &mut y);
        assert_eq!(y[0], 0.0); // ls - 32 = 0 in sub-block 0
        assert_eq!(y[32], 0.5);
        assert_eq!(y[64], -0.5);
        assert_eq!(y[98], 0.5 * 31.0 * -127.0);
        assert_eq!(y[114], 0.5 * 31.0 * -10.0);
        assert_eq!(y[128], 0.5 * -32.0);
        assert_eq!(y[255], 0.5 * 3.0);
        assert_eq!(vec_dot(&[b], &ones_activations(1)), y.iter().sum::<f32>());
    }

    #[test]
    fn dot_matches_dequantized() {
        check_dot(&random_blocks(3, 16), 10);
    }
}
