//! Q4_0: 32 values per block, 4 bits each, one scale, symmetric (18 bytes, 4.5 bits per
//! weight).
//!
//! Layout (ggml `block_q4_0`, `ggml-common.h`):
//!
//! ```text
//! offset  size  field
//!      0     2  d      f16 scale
//!      2    16  qs     nibbles: qs[j] & 0x0F is value j, qs[j] >> 4 is value j + 16
//! ```
//!
//! Dequantization (ggml `dequantize_row_q4_0`), for `j` in `0..16`:
//!
//! ```text
//! y[j]      = ((qs[j] & 0x0F) - 8) * d
//! y[j + 16] = ((qs[j] >>   4) - 8) * d
//! ```
//!
//! (one f32 rounding, and the product is exact: 11 significant bits times at most 4.)

use half::f16;

use super::{q8_0, BlockFormat, GgmlType, Pod};

/// One Q4_0 block of 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockQ4_0 {}

impl BlockFormat for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const BLOCK: usize = 32;
    type Activation = q8_0::BlockQ8_0;
    const ACT_BLOCK: usize = 32;

    fn dequantize(blocks: &[Self], out: &mut [f32]) {
        dequantize_row(blocks, out)
    }

    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32 {
        vec_dot(w, a)
    }

    fn vec_dot_repacked(w: &[Self], a: &[Self::Activation], gemm: bool) -> f32 {
        vec_dot_repacked(w, a, gemm)
    }
}

/// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * 32`).
pub fn dequantize_row(blocks: &[BlockQ4_0], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 32,
        "Q4_0 dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = b.d.to_f32();
        let (lo, hi) = y.split_at_mut(16);
        for j in 0..16 {
            lo[j] = (i32::from(b.qs[j] & 0x0F) - 8) as f32 * d;
            hi[j] = (i32::from(b.qs[j] >> 4) - 8) as f32 * d;
        }
    }
}

/// Dot product of Q4_0 weights with BlockQ8_0 activations, in the float order of ggml's x86
/// `ggml_vec_dot_q4_0_q8_0` (AVX2, see [`super::lanes`]): per block, eight exact i32 lane
/// sums, `acc[l] = fma(d_w * d_a, sum[l], acc[l])`, then `hsum8`.
pub fn vec_dot(w: &[BlockQ4_0], a: &[q8_0::BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len(), "Q4_0 vec_dot: block count mismatch");
    let mut acc = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        // Weights in [-8, 7], activations in [-128, 127]: each lane is below 2^12.
        let mut q = [0i8; 32];
        for j in 0..16 {
            q[j] = (x.qs[j] & 0x0F) as i8 - 8;
            q[j + 16] = (x.qs[j] >> 4) as i8 - 8;
        }
        let s = super::lanes::sums_i8x32(&q, &y.qs);
        super::lanes::fma8(&mut acc, x.d.to_f32() * y.d.to_f32(), &s);
    }
    super::lanes::hsum8(&acc)
}

/// Dot product in the float order of ggml's repacked x86 kernels for Q4_0
/// (`ggml_gemv_q4_0_8x8_q8_0` / `ggml_gemm_q4_0_8x8_q8_0`, AVX2), which llama.cpp uses when the
/// weight has a multiple of 8 rows: per block the exact integer sum, `acc = fma(sum, d_w * d_a,
/// acc)`, in the GEMV and the GEMM alike.
pub fn vec_dot_repacked(w: &[BlockQ4_0], a: &[q8_0::BlockQ8_0], gemm: bool) -> f32 {
    let _ = gemm;
    assert_eq!(w.len(), a.len(), "Q4_0 vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut q = [0i8; 32];
        for j in 0..16 {
            q[j] = (x.qs[j] & 0x0F) as i8 - 8;
            q[j + 16] = (x.qs[j] >> 4) as i8 - 8;
        }
        let sumi: i32 = super::lanes::sums_i8x32(&q, &y.qs).iter().sum();
        acc = (sumi as f32).mul_add(x.d.to_f32() * y.d.to_f32(), acc);
    }
    acc
}
