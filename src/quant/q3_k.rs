//! Q3_K: 3-bit weights with a 6-bit scale per 16 values, 3.4375 bits per weight (ggml's
//! `block_q3_K`). Symmetric: no minimum.
//!
//! A block holds 256 values in 110 bytes: sixteen sub-blocks of 16 values.
//!
//! ```text
//! offset  size  field
//!      0    32  hmask      the high (third) bit of each quant
//!     32    64  qs         the low 2 bits of each quant, four per byte
//!     96    12  scales     sixteen 6-bit scales, biased by 32, packed (below)
//!    108     2  d          f16 super-block scale
//! ```
//!
//! Quants: the 256 values are two halves of 128 (h = 0, 1); half h keeps its low bits in
//! `qs[32h .. 32h + 32]`, and bits `2s .. 2s + 1` (s = 0..3) of `qs[32h + l]` are the low bits
//! of value `128h + 32s + l`. The high bit of value `32j + l` (j = 0..7, l = 0..31) is bit j
//! of `hmask[l]`. The signed quant is `low2 - (high ? 0 : 4)`, in -4..3: a *clear* high bit
//! subtracts 4.
//!
//! Scale packing: the low 4 bits of scale k (k = 0..15) are nibble `k / 8` (0 low, 1 high) of
//! byte `k % 8`; its top 2 bits are bits `2 * (k / 4) .. +1` of byte `8 + k % 4`:
//!
//! ```text
//! byte k      (k = 0..7)  bits 7:4 = S(k+8) bits 3:0    bits 3:0 = S(k) bits 3:0
//! byte 8 + k  (k = 0..3)  bits 7:6 = S(k+12) bits 5:4   bits 5:4 = S(k+8) bits 5:4
//!                         bits 3:2 = S(k+4) bits 5:4    bits 1:0 = S(k) bits 5:4
//! ```
//!
//! The signed scale is `S(k) - 32`, in -32..31.
//!
//! Dequantization of value i: `x[i] = (d * (S(i / 16) - 32)) * q` (each product rounded to
//! f32, as ggml).

use half::f16;

use super::{q8_k, BlockFormat, GgmlType, Pod};

/// One Q3_K block of 256 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    pub scales: [u8; 12],
    pub d: f16,
}

const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ3K {}

impl BlockFormat for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
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

/// Unpacks the sixteen 6-bit scales and removes their bias: returns `S(k) - 32`.
///
/// This is ggml's "kmask trick": it reads the 12 bytes as three little-endian u32 words and
/// builds four words, each holding four scales in its bytes, with two masks:
/// `KMASK2 = 0x0f0f0f0f` keeps the low nibble of every byte and `KMASK1 = 0x03030303` keeps
/// the low 2 bits of every byte. Word `w0` holds bytes 0..3, `w1` bytes 4..7, `hi` bytes 8..11.
///
/// * scales 0..3:   low nibbles of `w0`, top bits = bits 1:0 of each byte of `hi`
/// * scales 4..7:   low nibbles of `w1`, top bits = bits 3:2 of each byte of `hi`
/// * scales 8..11:  high nibbles of `w0` (`w0 >> 4`), top bits = bits 5:4 of `hi`
/// * scales 12..15: high nibbles of `w1` (`w1 >> 4`), top bits = bits 7:6 of `hi`
///
/// Shifting a whole word by 4 moves bits across byte boundaries, but the masks keep only the
/// bits that stayed within their byte.
#[inline]
pub(crate) fn unpack_scales(packed: &[u8; 12]) -> [i8; 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let word =
        |i: usize| u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]]);
    let (w0, w1, hi) = (word(0), word(4), word(8));
    let words = [
        (w0 & KMASK2) | ((hi & KMASK1) << 4),
        (w1 & KMASK2) | (((hi >> 2) & KMASK1) << 4),
        ((w0 >> 4) & KMASK2) | (((hi >> 4) & KMASK1) << 4),
        ((w1 >> 4) & KMASK2) | (((hi >> 6) & KMASK1) << 4),
    ];
    let mut out = [0i8; 16];
    for (k, o) in out.iter_mut().enumerate() {
        // Each byte now holds a 6-bit scale (0..63).
        let s = words[k / 4].to_le_bytes()[k % 4];
        *o = s as i8 - 32;
    }
    out
}

/// The 256 signed quants of a block (-4..3) in value order.
#[inline]
fn unpack_quants(b: &BlockQ3K) -> [i8; 256] {
    let mut a = [0i8; 256];
    // Eight runs of 32 values; run j = 4h + s takes bits 2s..2s+1 of qs[32h..] and bit j of
    // hmask.
    for (j, a) in a.chunks_exact_mut(32).enumerate() {
        let (h, shift) = (j / 4, 2 * (j % 4));
        let qs = &b.qs[32 * h..32 * h + 32];
        for l in 0..32 {
            let low = ((qs[l] >> shift) & 3) as i8;
            let high_clear = b.hmask[l] & (1 << j) == 0;
            a[l] = low - if high_clear { 4 } else { 0 };
        }
    }
    a
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 256`).
pub fn dequantize_row(blocks: &[BlockQ3K], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 256,
        "Q3_K dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = b.d.to_f32();
        let scales = unpack_scales(&b.scales);
        let q = unpack_quants(b);
        for ((q, y), &sc) in q.chunks_exact(16).zip(y.chunks_exact_mut(16)).zip(&scales) {
            let dl = d * sc as f32;
            for (y, &q) in y.iter_mut().zip(q) {
                *y = dl * q as f32;
            }
        }
    }
}

/// Dot product of Q3_K weights with Q8_K activations, in the float order of ggml's x86
/// `ggml_vec_dot_q3_K_q8_K` (AVX2): signed quants (-4..3) and scales in the lanes of
/// [`q8_k::k_lanes`], `acc[l] = fma(d_a * d, lane, acc[l])`, `hsum8` at the end.
pub fn vec_dot(w: &[BlockQ3K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q3_K vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        let sc = unpack_scales(&x.scales).map(i32::from);
        let lanes = q8_k::k_lanes(&unpack_quants(x), &y.qs, &sc);
        super::lanes::fma8(&mut acc, y.d * x.d.to_f32(), &lanes);
    }
    super::lanes::hsum8(&acc)
}

/// Dot product in the float order of ggml's tiled K-quant matmul (batches of 8 or more
/// tokens, see [`q8_k::tiled_step`]).
pub fn vec_dot_tiled(w: &[BlockQ3K], a: &[q8_k::BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q3_K vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sc = unpack_scales(&x.scales).map(i32::from);
        let s1: i32 = q8_k::k_lanes(&unpack_quants(x), &y.qs, &sc).iter().sum();
        acc = q8_k::tiled_step(acc, x.d.to_f32(), s1, None, y.d);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q8_k::test_util::*;

    /// Packs sixteen 6-bit scales as the module doc describes (one bit field at a time).
    fn pack_scales(s: [u8; 16]) -> [u8; 12] {
        let mut p = [0u8; 12];
        for (k, &v) in s.iter().enumerate() {
            p[k % 8] |= (v & 0xF) << (4 * (k / 8));
            p[8 + k % 4] |= (v >> 4) << (2 * (k / 4));
        }
        p
    }

    fn random_blocks(n: usize, seed: u32) -> Vec<BlockQ3K> {
        let mut w: Vec<BlockQ3K> = blocks_from_bytes(&test_bytes(n * 110, seed));
        for (i, b) in w.iter_mut().enumerate() {
            b.d = f16::from_f32(0.01 + 0.003 * i as f32);
        }
        w
    }

    #[test]
    fn kmask_unpacking_matches_layout() {
        let s: [u8; 16] = std::array::from_fn(|k| ((k * 37 + 5) % 64) as u8);
        let want: [i8; 16] = std::array::from_fn(|k| s[k] as i8 - 32);
        assert_eq!(unpack_scales(&pack_scales(s)), want);
        // Every bit of the 12 bytes lands in exactly one scale.
        let bytes = test_bytes(12 * 50, 3);
        for packed in bytes.chunks_exact(12) {
            let p: [u8; 12] = packed.try_into().unwrap();
            let got = unpack_scales(&p);
            let repacked = pack_scales(std::array::from_fn(|k| (got[k] + 32) as u8));
            assert_eq!(repacked, p);
        }
    }

    #[test]
    fn hand_block() {
        // Signed scales k - 8 for sub-block k.
        let scales = pack_scales(std::array::from_fn(|k| k as u8 + 24));
        let mut hmask = [0xFFu8; 32]; // all high bits set: q = low2
        let mut qs = [0u8; 64];
        hmask[0] = 0xFE; // value 0: high bit clear, low 0 -> q = -4
        hmask[5] = 0xF7; // value 96 + 5 (sub-block 6): high bit clear
        qs[5] = 0b11 << 6; //   and low 3 -> q = -1
        qs[32 + 31] = 0b10 << 6; // value 128 + 96 + 31 = 255 (sub-block 15): q = 2
        let b = BlockQ3K {
            hmask,
            qs,
            scales,
            d: f16::from_f32(0.5),
        };
        let mut y = [0.0; 256];
        dequantize_row(&[b], &mut y);
        assert_eq!(y[0], 0.5 * -8.0 * -4.0);
        assert_eq!(y[101], 1.0); // 0.5 * (-2) * (-1)
        assert_eq!(y[255], 0.5 * 7.0 * 2.0);
        assert_eq!(y.iter().filter(|&&v| v != 0.0).count(), 3);
        assert_eq!(vec_dot(&[b], &ones_activations(1)), y.iter().sum::<f32>());
    }

    #[test]
    fn dot_matches_dequantized() {
        check_dot(&random_blocks(3, 15), 9);
    }
}
