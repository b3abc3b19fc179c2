//! Q5_0: 32 values per block, 5 bits each, one scale, symmetric (22 bytes, 5.5 bits per
//! weight).
//!
//! Layout (ggml `block_q5_0`, `ggml-common.h`):
//!
//! ```text
//! offset  size  field
//!      0     2  d      f16 scale
//!      2     4  qh     the fifth (high) bits: bit j of the little-endian u32 belongs to value j
//!      6    16  qs     low nibbles: qs[j] & 0x0F is value j, qs[j] >> 4 is value j + 16
//! ```
//!
//! Dequantization (ggml `dequantize_row_q5_0`), for `j` in `0..16`:
//!
//! ```text
//! q[j]      = (qs[j] & 0x0F) | (((qh >>  j      ) & 1) << 4)
//! q[j + 16] = (qs[j] >>   4) | (((qh >> (j + 16)) & 1) << 4)
//! y[i]      = (q[i] - 16) * d
//! ```
//!
//! (one f32 rounding, and the product is exact: 11 significant bits times at most 5.)

use half::f16;

use super::{q8_0, BlockFormat, GgmlType, Pod};

/// One Q5_0 block of 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ5_0 {}

impl BlockFormat for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const BLOCK: usize = 32;
    type Activation = q8_0::BlockQ8_0;
    const ACT_BLOCK: usize = 32;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }
}

/// The 32 unsigned 5-bit quants of a block (`0..=31`), in value order.
#[inline]
fn unpack(qh: [u8; 4], qs: &[u8; 16]) -> [i32; 32] {
    let qh = u32::from_le_bytes(qh);
    let mut q = [0i32; 32];
    for j in 0..16 {
        let h0 = ((qh >> j) & 1) << 4;
        let h1 = ((qh >> (j + 16)) & 1) << 4;
        q[j] = (u32::from(qs[j] & 0x0F) | h0) as i32;
        q[j + 16] = (u32::from(qs[j] >> 4) | h1) as i32;
    }
    q
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 32`).
pub fn dequantize_row(blocks: &[BlockQ5_0], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 32,
        "Q5_0 dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = b.d.to_f32();
        for (y, q) in y.iter_mut().zip(unpack(b.qh, &b.qs)) {
            *y = (q - 16) as f32 * d;
        }
    }
}

/// Unpacks Q5_0 blocks into Q8_0 blocks holding the same values (`q - 16` as i8, the same
/// scale): the Q8_0 dot product of the result adds exactly the Q5_0 dot product's integer
/// lanes in the same float order, so prefill can unpack a weight tile once and use it for
/// every token of a batch.
pub fn to_q8_0(w: &[BlockQ5_0], out: &mut [q8_0::BlockQ8_0]) {
    for (x, y) in w.iter().zip(out.iter_mut()) {
        y.d = x.d;
        for (q, u) in y.qs.iter_mut().zip(unpack(x.qh, &x.qs)) {
            *q = (u - 16) as i8;
        }
    }
}

/// Dot product of Q5_0 weights with BlockQ8_0 activations, in the float order of ggml's x86
/// `ggml_vec_dot_q5_0_q8_0` (AVX2, see [`super::lanes`]): per block, eight exact i32 lane
/// sums, `acc[l] = fma(d_w * d_a, sum[l], acc[l])`, then `hsum8`.
pub fn vec_dot(w: &[BlockQ5_0], a: &[q8_0::BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q5_0 vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        // Weights in [-16, 15], activations in [-128, 127]: each lane is below 2^13.
        let u = unpack(x.qh, &x.qs);
        let q: [i8; 32] = std::array::from_fn(|j| (u[j] - 16) as i8);
        let s = super::lanes::sums_i8x32(&q, &y.qs);
        super::lanes::fma8(&mut acc, x.d.to_f32() * y.d.to_f32(), &s);
    }
    super::lanes::hsum8(&acc)
}
