//! Q4_K: 4-bit weights with a 6-bit scale and a 6-bit minimum per 32 values, 4.5 bits per
//! weight (ggml's `block_q4_K`).
//!
//! A block holds 256 values in 144 bytes: eight sub-blocks of 32 values.
//!
//! ```text
//! offset  size  field
//!      0     2  d          f16 super-block scale of the sub-block scales
//!      2     2  dmin       f16 super-block scale of the sub-block minimums
//!      4    12  scales     8 six-bit scales sc[j] and 8 six-bit minimums m[j], packed (below)
//!     16   128  qs         4-bit quants, two per byte
//! ```
//!
//! Quants: the 256 values are four chunks of 64 (c = 0..3); chunk c is stored in the 32 bytes
//! `qs[32c .. 32c + 32]`: the low nibble of `qs[32c + l]` is value `64c + l` (sub-block 2c),
//! the high nibble is value `64c + 32 + l` (sub-block 2c + 1).
//!
//! Scale packing (ggml's `get_scale_min_k4`, here `scale_min_k4`): with `S0..S7` the 6-bit
//! scales and `M0..M7` the 6-bit minimums, for k = 0..3:
//!
//! ```text
//! byte k       bits 7:6 = S(k+4) bits 5:4    bits 5:0 = S(k)
//! byte k + 4   bits 7:6 = M(k+4) bits 5:4    bits 5:0 = M(k)
//! byte k + 8   bits 7:4 = M(k+4) bits 3:0    bits 3:0 = S(k+4) bits 3:0
//! ```
//!
//! Dequantization of value i in sub-block j = i / 32, with q in 0..15:
//! `x[i] = (d * sc[j]) * q - (dmin * m[j])` (each product rounded to f32, as ggml).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One Q4_K block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}

const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ4K {}

impl BlockFormat for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const BLOCK: usize = 256;
    type Activation = q8_k::BlockQ8K;
    const ACT_BLOCK: usize = 256;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }

    fn vec_dot_repacked(w: &[Self], a: &[Self::Activation], gemm: bool) -> f32 {
        vec_dot_repacked(w, a, gemm)
    }

    fn vec_dot_tiled(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot_tiled(w, a)
    }
}

/// Unpacks 6-bit scale and minimum `j` (0..8) from the 12 packed bytes (ggml's
/// `get_scale_min_k4`; shared with Q5_K). See the module doc for the packing.
#[inline]
pub(crate) fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        // Low 4 bits from the nibbles of byte j + 4, top 2 bits from the top 2 bits of
        // byte j - 4 (scale) and byte j (min).
        let sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        (sc, m)
    }
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 256`).
pub fn dequantize_row(blocks: &[BlockQ4K], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 256,
        "Q4_K dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = b.d.to_f32();
        let min = b.dmin.to_f32();
        for (c, (q, y)) in
            b.qs.chunks_exact(32)
                .zip(y.chunks_exact_mut(64))
                .enumerate()
        {
            let (sc1, m1) = scale_min_k4(2 * c, &b.scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, &b.scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let (lo, hi) = y.split_at_mut(32);
            for l in 0..32 {
                lo[l] = d1 * (q[l] & 0xF) as f32 - m1;
                hi[l] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

/// The 256 unsigned quants (0..15) of a block in value order.
fn unpack_quants(x: &BlockQ4K) -> [i8; 256] {
    let mut q = [0i8; 256];
    for (qs, a) in x.qs.chunks_exact(32).zip(q.chunks_exact_mut(64)) {
        for l in 0..32 {
            a[l] = (qs[l] & 0xF) as i8;
            a[l + 32] = (qs[l] >> 4) as i8;
        }
    }
    q
}

/// Per-16 scales and the four `min * bsum` pair sums of ggml's AVX2 kernel (`madd` of the
/// mins with `hadd`-ed bsums: entry `m` covers sub-blocks `2m` and `2m + 1`).
pub(crate) fn scales_and_min_pairs(scales: &[u8; 12], bsums: &[i16; 16]) -> ([i32; 16], [i32; 4]) {
    let mut sc = [0i32; 16];
    let mut mins = [0i32; 8];
    for j in 0..8 {
        let (s, m) = scale_min_k4(j, scales);
        sc[2 * j] = i32::from(s);
        sc[2 * j + 1] = i32::from(s);
        mins[j] = i32::from(m);
    }
    let q8s: [i32; 8] =
        std::array::from_fn(|j| i32::from(bsums[2 * j]) + i32::from(bsums[2 * j + 1]));
    let pairs =
        std::array::from_fn(|m| mins[2 * m] * q8s[2 * m] + mins[2 * m + 1] * q8s[2 * m + 1]);
    (sc, pairs)
}

/// Dot product of Q4_K weights with Q8_K activations, in the float order of ggml's x86
/// `ggml_vec_dot_q4_K_q8_K` (AVX2): the quants in the lanes of [`q8_k::k_lanes`] with
/// `acc[l] = fma(d_a * d, lane, acc[l])`; the minimum terms in four more lanes,
/// `acc_m[m] = fma(-d_a * dmin, pair[m], acc_m[m])`; the result is `hsum8(acc) +
/// ((acc_m0 + acc_m2) + (acc_m1 + acc_m3))`.
pub fn vec_dot(w: &[BlockQ4K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q4_K vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    let mut acc_m = [0.0f32; 4];
    for (x, y) in w.iter().zip(a) {
        let d = y.d * x.d.to_f32();
        let dmin = -y.d * x.dmin.to_f32();
        let (sc, pairs) = scales_and_min_pairs(&x.scales, &y.bsums);
        for (am, &p) in acc_m.iter_mut().zip(&pairs) {
            *am = dmin.mul_add(p as f32, *am);
        }
        let lanes = q8_k::k_lanes(&unpack_quants(x), &y.qs, &sc);
        super::lanes::fma8(&mut acc, d, &lanes);
    }
    super::lanes::hsum8(&acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]))
}

/// Dot product in the float order of ggml's repacked x86 kernels for Q4_K
/// (`ggml_gemv_q4_K_8x8_q8_K` / `ggml_gemm_q4_K_8x8_q8_K`, AVX2), which llama.cpp uses when the
/// weight has a multiple of 8 rows. The exact integer sums of the quants (`s1`) and of the
/// minimums (`s2`) go to two accumulators, `acc = fma(s1, d * d_a, acc)` and
/// `acc_m = fma(s2, dmin * d_a, acc_m)`, and the result is `acc - acc_m`; the GEMV adds once
/// per super-block, the GEMM once per 64 values (two sub-blocks).
pub fn vec_dot_repacked(w: &[BlockQ4K], a: &[q8_k::BlockQ8K], gemm: bool) -> f32 {
    assert_eq!(w.len(), a.len(), "Q4_K vec_dot: block count mismatch");
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in w.iter().zip(a) {
        let (sc, pairs) = scales_and_min_pairs(&x.scales, &y.bsums);
        let (dd, dm) = (x.d.to_f32() * y.d, x.dmin.to_f32() * y.d);
        let q = unpack_quants(x);
        if gemm {
            for (c, &pair) in pairs.iter().enumerate() {
                let s1: i32 = (64 * c..64 * c + 64)
                    .map(|i| sc[i / 16] * (i32::from(q[i]) * i32::from(y.qs[i])))
                    .sum();
                acc = (s1 as f32).mul_add(dd, acc);
                acc_m = (pair as f32).mul_add(dm, acc_m);
            }
        } else {
            let s1: i32 = q8_k::k_lanes(&q, &y.qs, &sc).iter().sum();
            let s2: i32 = pairs.iter().sum();
            acc = (s1 as f32).mul_add(dd, acc);
            acc_m = (s2 as f32).mul_add(dm, acc_m);
        }
    }
    acc - acc_m
}

/// Dot product in the float order of ggml's tiled K-quant matmul (batches of 8 or more
/// tokens, see [`q8_k::tiled_step`]).
pub fn vec_dot_tiled(w: &[BlockQ4K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q4_K vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (sc, pairs) = scales_and_min_pairs(&x.scales, &y.bsums);
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

    /// Packs 8 scales and 8 minimums (6 bits each) as the module doc describes.
    pub(crate) fn pack_scale_min(sc: [u8; 8], m: [u8; 8]) -> [u8; 12] {
        let mut q = [0u8; 12];
        for k in 0..4 {
            q[k] = sc[k] | ((sc[k + 4] >> 4) << 6);
            q[k + 4] = m[k] | ((m[k + 4] >> 4) << 6);
            q[k + 8] = (sc[k + 4] & 0xF) | ((m[k + 4] & 0xF) << 4);
        }
        q
    }

    #[test]
    fn scale_min_round_trip() {
        let sc = [0, 63, 17, 42, 5, 63, 48, 33];
        let m = [63, 0, 21, 7, 60, 16, 1, 47];
        let q = pack_scale_min(sc, m);
        for j in 0..8 {
            assert_eq!(scale_min_k4(j, &q), (sc[j], m[j]), "j = {j}");
        }
    }

    fn random_blocks(n: usize, seed: u32) -> Vec<BlockQ4K> {
        let mut w: Vec<BlockQ4K> = blocks_from_bytes(&test_bytes(n * 144, seed));
        for (i, b) in w.iter_mut().enumerate() {
            b.d = f16::from_f32(0.01 + 0.003 * i as f32);
            b.dmin = f16::from_f32(0.02 - 0.004 * i as f32);
        }
        w
    }

    #[test]
    fn hand_block() {
        let mut qs = [0u8; 128];
        qs[0] = 0x5A; // value 0 (sub-block 0) = 10, value 32 (sub-block 1) = 5
        qs[3 * 32 + 31] = 0xF7; // value 223 (sub-block 6) = 7, value 255 (sub-block 7) = 15
        let b = BlockQ4K {
            d: f16::from_f32(0.5),
            dmin: f16::from_f32(0.25),
            scales: pack_scale_min([1, 2, 3, 4, 20, 40, 63, 0], [0, 1, 2, 3, 16, 32, 63, 5]),
            qs,
        };
        let mut y = [0.0; 256];
        dequantize_row(&[b], &mut y);
        assert_eq!(y[0], 0.5 * 10.0);
        assert_eq!(y[1], 0.0);
        assert_eq!(y[32], 0.5 * 2.0 * 5.0 - 0.25);
        assert_eq!(y[64], -0.5);
        assert_eq!(y[223], 0.5 * 63.0 * 7.0 - 0.25 * 63.0);
        assert_eq!(y[255], -0.25 * 5.0);
        // With activations all 1 the dot product is the row sum (exact here).
        assert_eq!(vec_dot(&[b], &ones_activations(1)), y.iter().sum::<f32>());
    }

    #[test]
    fn dot_matches_dequantized() {
        check_dot(&random_blocks(3, 11), 5);
    }
}
