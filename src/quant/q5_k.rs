//! Q5_K: 5-bit weights with a 6-bit scale and a 6-bit minimum per 32 values, 5.5 bits per
//! weight (ggml's `block_q5_K`). Q4_K plus one high bit per value.
//!
//! A block holds 256 values in 176 bytes: eight sub-blocks of 32 values.
//!
//! ```text
//! offset  size  field
//!      0     2  d          f16 super-block scale of the sub-block scales
//!      2     2  dmin       f16 super-block scale of the sub-block minimums
//!      4    12  scales     8 six-bit scales sc[j] and 8 six-bit minimums m[j], packed as in
//!                          Q4_K (see `super::q4_k`, ggml's `get_scale_min_k4`)
//!     16    32  qh         the fifth (high) bit of each quant
//!     48   128  qs         the low 4 bits of each quant, two per byte
//! ```
//!
//! Quants: the low 4 bits are laid out as in Q4_K: the 256 values are four chunks of 64
//! (c = 0..3); the low nibble of `qs[32c + l]` is value `64c + l` (sub-block 2c), the high
//! nibble is value `64c + 32 + l` (sub-block 2c + 1). The high bit of value `32j + l`
//! (sub-block j, l = 0..31) is bit j of `qh[l]`. So `q = low4 | high << 4`, q in 0..31.
//!
//! Dequantization of value i in sub-block j = i / 32:
//! `x[i] = (d * sc[j]) * q - (dmin * m[j])` (each product rounded to f32, as ggml).

use half::f16;

use super::q4_k::scale_min_k4;
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

    fn vec_dot_tiled(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot_tiled(w, a)
    }
}

/// The 256 quants of a block (0..31) as i8 in value order.
#[inline]
fn unpack_quants(b: &BlockQ5K) -> [i8; 256] {
    let mut a = [0i8; 256];
    for (c, (q, a)) in
        b.qs.chunks_exact(32)
            .zip(a.chunks_exact_mut(64))
            .enumerate()
    {
        // Sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles): their high bits are bits 2c
        // and 2c + 1 of qh.
        let (m1, m2) = (1u8 << (2 * c), 2u8 << (2 * c));
        for l in 0..32 {
            let h1 = if b.qh[l] & m1 != 0 { 16 } else { 0 };
            let h2 = if b.qh[l] & m2 != 0 { 16 } else { 0 };
            a[l] = ((q[l] & 0xF) | h1) as i8;
            a[l + 32] = ((q[l] >> 4) | h2) as i8;
        }
    }
    a
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 256`).
pub fn dequantize_row(blocks: &[BlockQ5K], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 256,
        "Q5_K dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = b.d.to_f32();
        let min = b.dmin.to_f32();
        let q = unpack_quants(b);
        for (j, (q, y)) in q.chunks_exact(32).zip(y.chunks_exact_mut(32)).enumerate() {
            let (sc, m) = scale_min_k4(j, &b.scales);
            let (dl, ml) = (d * sc as f32, min * m as f32);
            for (y, &q) in y.iter_mut().zip(q) {
                *y = dl * q as f32 - ml;
            }
        }
    }
}

/// Dot product of Q5_K weights with Q8_K activations, in the float order of ggml's x86
/// `ggml_vec_dot_q5_K_q8_K` (AVX2): the quants (0..31) in the lanes of [`q8_k::k_lanes`] with
/// `acc[l] = fma(d_a * d, lane, acc[l])`; the minimum terms summed exactly per block and
/// added to a scalar, `summs = fma(-d_a * dmin, sum, summs)` (`summs += dmin * sum`,
/// contracted by the compiler); the result is `hsum8(acc) + summs`.
pub fn vec_dot(w: &[BlockQ5K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q5_K vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    let mut summs = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d = y.d * x.d.to_f32();
        let dmin = -y.d * x.dmin.to_f32();
        let (sc, pairs) = super::q4_k::scales_and_min_pairs(&x.scales, &y.bsums);
        summs = dmin.mul_add(pairs.iter().sum::<i32>() as f32, summs);
        let lanes = q8_k::k_lanes(&unpack_quants(x), &y.qs, &sc);
        super::lanes::fma8(&mut acc, d, &lanes);
    }
    super::lanes::hsum8(&acc) + summs
}

/// Dot product in the float order of ggml's tiled K-quant matmul (batches of 8 or more
/// tokens, see [`q8_k::tiled_step`]).
pub fn vec_dot_tiled(w: &[BlockQ5K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q5_K vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (sc, pairs) = super::q4_k::scales_and_min_pairs(&x.scales, &y.bsums);
        let s1: i32 = q8_k::k_lanes(&unpack_quants(x), &y.qs, &sc).iter().sum();
        let s2: i32 = pairs.iter().sum();
        acc = q8_k::tiled_step(acc, x.d.to_f32(), s1, Some((x.dmin.to_f32(), s2)), y.d);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q8_k::test_util::*;

    fn random_blocks(n: usize, seed: u32) -> Vec<BlockQ5K> {
        let mut w: Vec<BlockQ5K> = blocks_from_bytes(&test_bytes(n * 176, seed));
        for (i, b) in w.iter_mut().enumerate() {
            b.d = f16::from_f32(0.01 + 0.003 * i as f32);
            b.dmin = f16::from_f32(0.02 - 0.004 * i as f32);
        }
        w
    }

    #[test]
    fn hand_block() {
        // Scales packed as in Q4_K: sc = [1, 2, 3, 4, 5, 6, 7, 8], m = [0; 8] except m[7] = 3.
        let mut scales = [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8];
        scales[11] |= 3 << 4;
        let mut qs = [0u8; 128];
        let mut qh = [0u8; 32];
        qs[0] = 0x5A; // value 0 (sub-block 0) low = 10, value 32 (sub-block 1) low = 5
        qh[0] = 0b0000_0010; // high bit of value 32
        qs[3 * 32 + 31] = 0xF7; // value 223 (sub-block 6) low = 7, value 255 (sub-block 7) = 15
        qh[31] = 0b1100_0000; // high bits of values 223 and 255
        let b = BlockQ5K {
            d: f16::from_f32(0.5),
            dmin: f16::from_f32(0.25),
            scales,
            qh,
            qs,
        };
        let mut y = [0.0; 256];
        dequantize_row(&[b], &mut y);
        assert_eq!(y[0], 0.5 * 10.0);
        assert_eq!(y[32], 0.5 * 2.0 * 21.0);
        assert_eq!(y[223], 0.5 * 7.0 * 23.0);
        assert_eq!(y[255], 0.5 * 8.0 * 31.0 - 0.25 * 3.0);
        assert_eq!(y[254], -0.25 * 3.0);
        assert_eq!(vec_dot(&[b], &ones_activations(1)), y.iter().sum::<f32>());
    }

    #[test]
    fn dot_matches_dequantized() {
        check_dot(&random_blocks(3, 12), 6);
    }
}
