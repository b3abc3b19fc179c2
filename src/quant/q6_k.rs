//! Q6_K: 6-bit weights with a signed 8-bit scale per 16 values, 6.5625 bits per weight
//! (ggml's `block_q6_K`). Symmetric: no minimum.
//!
//! A block holds 256 values in 210 bytes: sixteen sub-blocks of 16 values.
//!
//! ```text
//! offset  size  field
//!      0   128  ql         the low 4 bits of each quant, two per byte
//!    128    64  qh         the high 2 bits of each quant, four per byte
//!    192    16  scales     i8 scale of each 16-value sub-block
//!    208     2  d          f16 super-block scale
//! ```
//!
//! Quants: the 256 values are two halves of 128 (h = 0, 1), half h using `ql[64h .. 64h + 64]`
//! and `qh[32h .. 32h + 32]`. Writing `L = ql[64h..]`, `H = qh[32h..]`, for l = 0..31 the
//! unsigned 6-bit quants of the half are
//!
//! ```text
//! value 128h +      l : (L[l]      & 0xF) | ((H[l] >> 0) & 3) << 4
//! value 128h + 32 + l : (L[l + 32] & 0xF) | ((H[l] >> 2) & 3) << 4
//! value 128h + 64 + l : (L[l]      >> 4)  | ((H[l] >> 4) & 3) << 4
//! value 128h + 96 + l : (L[l + 32] >> 4)  | ((H[l] >> 6) & 3) << 4
//! ```
//!
//! and the signed quant is that minus 32 (q in -32..31).
//!
//! Dequantization of value i: `x[i] = (d * scales[i / 16]) * q` (each product rounded to f32,
//! as ggml).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One Q6_K block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: f16,
}

const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ6K {}

impl BlockFormat for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
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

/// The 256 signed quants of a block (-32..31) in value order.
#[inline]
fn unpack_quants(b: &BlockQ6K) -> [i8; 256] {
    let mut a = [0i8; 256];
    let halves = b.ql.chunks_exact(64).zip(b.qh.chunks_exact(32));
    for ((ql, qh), a) in halves.zip(a.chunks_exact_mut(128)) {
        for l in 0..32 {
            a[l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
            a[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            a[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            a[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
        }
    }
    a
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 256`).
pub fn dequantize_row(blocks: &[BlockQ6K], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 256,
        "Q6_K dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = b.d.to_f32();
        let q = unpack_quants(b);
        for ((q, y), &sc) in q
            .chunks_exact(16)
            .zip(y.chunks_exact_mut(16))
            .zip(&b.scales)
        {
            let dl = d * sc as f32;
            for (y, &q) in y.iter_mut().zip(q) {
                *y = dl * q as f32;
            }
        }
    }
}

/// Dot product of Q6_K weights with Q8_K activations, in the float order of ggml's x86
/// `ggml_vec_dot_q6_K_q8_K` (AVX2): the unsigned quants (0..63) go into the lanes of
/// [`q8_k::k_lanes`], and lane `l` then loses `32 * (bsums[2l] * sc[2l] + bsums[2l+1] *
/// sc[2l+1])`; `acc[l] = fma(d_a * d, lane, acc[l])`; `hsum8` at the end.
pub fn vec_dot(w: &[BlockQ6K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q6_K vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        let q = unpack_quants(x).map(|v| v + 32);
        let sc: [i32; 16] = x.scales.map(i32::from);
        let mut lanes = q8_k::k_lanes(&q, &y.qs, &sc);
        for (l, lane) in lanes.iter_mut().enumerate() {
            let corr = i32::from(y.bsums[2 * l]) * sc[2 * l]
                + i32::from(y.bsums[2 * l + 1]) * sc[2 * l + 1];
            *lane -= corr << 5;
        }
        super::lanes::fma8(&mut acc, y.d * x.d.to_f32(), &lanes);
    }
    super::lanes::hsum8(&acc)
}

/// Dot product in the float order of ggml's tiled K-quant matmul (batches of 8 or more
/// tokens, see [`q8_k::tiled_step`]).
pub fn vec_dot_tiled(w: &[BlockQ6K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q6_K vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sc: [i32; 16] = x.scales.map(i32::from);
        let s1: i32 = q8_k::k_lanes(&unpack_quants(x), &y.qs, &sc).iter().sum();
        acc = q8_k::tiled_step(acc, x.d.to_f32(), s1, None, y.d);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q8_k::test_util::*;

    fn random_blocks(n: usize, seed: u32) -> Vec<BlockQ6K> {
        let mut w: Vec<BlockQ6K> = blocks_from_bytes(&test_bytes(n * 210, seed));
        for (i, b) in w.iter_mut().enumerate() {
            b.d = f16::from_f32(0.001 + 0.0003 * i as f32);
        }
        w
    }

    #[test]
    fn hand_block() {
        let mut scales = [0i8; 16];
        for (j, s) in scales.iter_mut().enumerate() {
            *s = (j as i32 * 17 - 128) as i8; // -128 ..= 127
        }
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        // Default: low 4 bits 0, high bits 2 -> q = 32 - 32 = 0.
        qh.fill(0b1010_1010);
        ql[5] = 0x3F; // value 5: low 0xF; value 69: low 3
        qh[5] = 0b0001_1011; // value 5 high 3 -> q = 63 - 32 = 31; value 37 high 2; value 69
                             // high 1 -> q = 19 - 32 = -13; value 101 high 0 -> q = -32
        ql[64 + 32 + 31] = 0xF0; // value 128 + 96 + 31 = 255: low 0xF, high 2 -> q = 15
        let b = BlockQ6K {
            ql,
            qh,
            scales,
            d: f16::from_f32(0.25),
        };
        let mut y = [0.0; 256];
        dequantize_row(&[b], &mut y);
        assert_eq!(y[5], 0.25 * -128.0 * 31.0);
        assert_eq!(y[37], 0.0);
        assert_eq!(y[69], 0.25 * (4.0 * 17.0 - 128.0) * -13.0);
        assert_eq!(y[101], 0.25 * (6.0 * 17.0 - 128.0) * -32.0);
        assert_eq!(y[255], 0.25 * 127.0 * 15.0);
        assert_eq!(y.iter().filter(|&&v| v != 0.0).count(), 4);
        assert_eq!(vec_dot(&[b], &ones_activations(1)), y.iter().sum::<f32>());
    }

    #[test]
    fn dot_matches_dequantized() {
        check_dot(&random_blocks(3, 13), 7);
    }
}
