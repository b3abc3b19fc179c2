//! IQ4_NL: 32 values per block, 4-bit indices into a fixed non-linear table, one scale
//! (18 bytes, 4.5 bits per weight).
//!
//! Layout (ggml `block_iq4_nl`, `ggml-common.h`), the same shape as Q4_0:
//!
//! ```text
//! offset  size  field
//!      0     2  d      f16 scale
//!      2    16  qs     nibbles: qs[j] & 0x0F indexes value j, qs[j] >> 4 value j + 16
//! ```
//!
//! Dequantization (ggml `dequantize_row_iq4_nl`), for `j` in `0..16`:
//!
//! ```text
//! y[j]      = d * KVALUES[qs[j] & 0x0F]
//! y[j + 16] = d * KVALUES[qs[j] >>   4]
//! ```
//!
//! with [`KVALUES`] ggml's `kvalues_iq4nl` (exact products: 11 bits times at most 7).

use half::f16;

use super::{q8_0, BlockFormat, GgmlType, Pod};

/// ggml's `kvalues_iq4nl`: the 16 levels of IQ4_NL (and IQ4_XS), denser near zero.
pub const KVALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// One IQ4_NL block of 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIQ4NL {
    pub d: f16,
    pub qs: [u8; 16],
}

const _: () = assert!(std::mem::size_of::<BlockIQ4NL>() == 18);

// SAFETY: repr(C), only u8/i8/u16/f16 fields and arrays of them, no padding (size asserted).
unsafe impl Pod for BlockIQ4NL {}

impl BlockFormat for BlockIQ4NL {
    const TYPE: GgmlType = GgmlType::IQ4_NL;
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
pub fn dequantize_row(blocks: &[BlockIQ4NL], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * 32,
        "IQ4_NL dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = b.d.to_f32();
        let (lo, hi) = y.split_at_mut(16);
        for j in 0..16 {
            lo[j] = d * f32::from(KVALUES[usize::from(b.qs[j] & 0x0F)]);
            hi[j] = d * f32::from(KVALUES[usize::from(b.qs[j] >> 4)]);
        }
    }
}

/// Dot product of IQ4_NL weights with BlockQ8_0 activations, in the float order of ggml's
/// x86 `ggml_vec_dot_iq4_nl_q8_0` (AVX2, see [`super::lanes`]): blocks in pairs, the even
/// block of a pair into one set of eight lanes and the odd one into another, each with
/// `fma(d_a * d_w, sum[l], acc[l])`; then `hsum8(acc1 + acc2)`; a last unpaired block is added
/// as `fma(d_a * d_w, sumi, sumf)` (the scalar tail, contracted to an FMA by the compiler).
pub fn vec_dot(w: &[BlockIQ4NL], a: &[q8_0::BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), a.len(), "IQ4_NL vec_dot: block count mismatch");
    // Table values in [-127, 113], activations in [-128, 127]: each lane is below 2^16.
    let values = |x: &BlockIQ4NL| -> [i8; 32] {
        let mut q = [0i8; 32];
        for j in 0..16 {
            q[j] = KVALUES[usize::from(x.qs[j] & 0x0F)];
            q[j + 16] = KVALUES[usize::from(x.qs[j] >> 4)];
        }
        q
    };
    let mut acc = [[0.0f32; 8]; 2];
    let pairs = w.len() / 2 * 2;
    for (i, (x, y)) in w[..pairs].iter().zip(a).enumerate() {
        let s = super::lanes::sums_i8x32(&values(x), &y.qs);
        super::lanes::fma8(&mut acc[i % 2], y.d.to_f32() * x.d.to_f32(), &s);
    }
    let both: [f32; 8] = std::array::from_fn(|l| acc[0][l] + acc[1][l]);
    let mut sumf = super::lanes::hsum8(&both);
    for (x, y) in w[pairs..].iter().zip(&a[pairs..]) {
        let sumi: i32 = super::lanes::sums_i8x32(&values(x), &y.qs).iter().sum();
        sumf = (y.d.to_f32() * x.d.to_f32()).mul_add(sumi as f32, sumf);
    }
    sumf
}

/// Dot product in the float order of ggml's repacked x86 kernels for IQ4_NL
/// (`ggml_gemv_iq4_nl_8x8_q8_0` / `ggml_gemm_iq4_nl_8x8_q8_0`, AVX2), which llama.cpp uses when
/// the weight has a multiple of 8 rows: per block the exact integer sum,
/// `acc = fma(sum, d_w * d_a, acc)`, in the GEMV and the GEMM alike.
pub fn vec_dot_repacked(w: &[BlockIQ4NL], a: &[q8_0::BlockQ8_0], gemm: bool) -> f32 {
    let _ = gemm;
    assert_eq!(w.len(), a.len(), "IQ4_NL vec_dot: block count mismatch");
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut q = [0i8; 32];
        for j in 0..16 {
            q[j] = KVALUES[usize::from(x.qs[j] & 0x0F)];
            q[j + 16] = KVALUES[usize::from(x.qs[j] >> 4)];
        }
        let sumi: i32 = super::lanes::sums_i8x32(&q, &y.qs).iter().sum();
        acc = (sumi as f32).mul_add(x.d.to_f32() * y.d.to_f32(), acc);
    }
    acc
}
