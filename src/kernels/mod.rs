//! Matrix-vector products over quantized weights: the one seam between the forward pass and
//! the block-format kernels.
//!
//! `matvec(out, weight_bytes, ty, act)` computes `out[r] = dot(row r of the weight, act)` where
//! `act` is the activation already quantized to `ty.vec_dot_type()`. The dispatch on the
//! weight type happens once per call; the inner loop calls the format's dot product per row.

use crate::quant::{self, BlockFormat, GgmlType};

/// A byte buffer aligned to 8 bytes, for quantized activations (Q8_K blocks hold an f32, so a
/// plain `Vec<u8>` would not do).
#[derive(Default)]
pub struct AlignedBuf {
    words: Vec<u64>,
}

impl AlignedBuf {
    /// A buffer of at least `bytes` bytes.
    pub fn new(bytes: usize) -> AlignedBuf {
        AlignedBuf {
            words: vec![0; bytes.div_ceil(8)],
        }
    }
    /// The first `len` bytes (panics if `len` exceeds the capacity: sizes are fixed at
    /// session creation from the model's dimensions).
    pub fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        &mut words_as_bytes_mut(&mut self.words)[..len]
    }
    /// The first `len` bytes.
    pub fn bytes(&self, len: usize) -> &[u8] {
        &quant::as_bytes(&self.words)[..len]
    }
}

fn words_as_bytes_mut(w: &mut [u64]) -> &mut [u8] {
    // SAFETY: u64 has no padding and any byte pattern is a valid u64; u8 has alignment 1; the
    // returned slice covers exactly the memory of `w` and borrows it mutably.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr() as *mut u8, std::mem::size_of_val(w)) }
}

// SAFETY: u64 is a primitive integer: every bit pattern valid, no padding.
unsafe impl quant::Pod for u64 {}

/// Quantizes `x` for multiplication with weights of type `w_ty`; returns the bytes used.
pub fn quantize_for<'a>(w_ty: GgmlType, x: &[f32], buf: &'a mut AlignedBuf) -> &'a [u8] {
    let aty = w_ty.vec_dot_type();
    let len = aty
        .row_bytes(x.len())
        .expect("activation length is a multiple of the block size (checked at load)");
    let dst = buf.bytes_mut(len);
    quant::quantize_activation_x86(aty, x, dst)
        .expect("activation buffer sized at session creation");
    &*dst
}

fn matvec_as<B: BlockFormat>(out: &mut [f32], w: &[u8], act: &[u8], order: quant::DotOrder) {
    let blocks: &[B] = quant::cast_blocks(w).expect("weight bytes validated at load");
    let acts: &[B::Activation] = quant::cast_blocks(act).expect("activation bytes aligned");
    let per_row = blocks.len() / out.len();
    for (o, row) in out.iter_mut().zip(blocks.chunks_exact(per_row)) {
        *o = match order {
            quant::DotOrder::VecDot => B::vec_dot(row, acts),
            quant::DotOrder::Tiled => B::vec_dot_tiled(row, acts),
            quant::DotOrder::Llamafile => B::vec_dot_llamafile(row, acts),
            quant::DotOrder::RepackedGemm => B::vec_dot_repacked(row, acts, true),
            quant::DotOrder::RepackedGemv => B::vec_dot_repacked(row, acts, false),
        };
    }
}

/// `out[r] = row_r(w) . act` for every row of the weight `w` (type `ty`, `out.len()` rows).
/// `act` must be in `ty.vec_dot_type()` format with as many values as a row.
pub fn matvec(out: &mut [f32], ty: GgmlType, w: &[u8], act: &[u8]) {
    matvec_order(out, ty, w, act, quant::DotOrder::VecDot)
}

/// [`matvec`] with the float order of one of ggml's kernels (see [`quant::DotOrder`]).
pub fn matvec_order(out: &mut [f32], ty: GgmlType, w: &[u8], act: &[u8], order: quant::DotOrder) {
    use quant::*;
    match ty {
        GgmlType::F32 => matvec_as::<f32>(out, w, act, order),
        GgmlType::F16 => matvec_as::<half::f16>(out, w, act, order),
        GgmlType::BF16 => matvec_as::<half::bf16>(out, w, act, order),
        GgmlType::Q4_0 => matvec_as::<q4_0::BlockQ4_0>(out, w, act, order),
        GgmlType::Q4_1 => matvec_as::<q4_1::BlockQ4_1>(out, w, act, order),
        GgmlType::Q5_0 => matvec_as::<q5_0::BlockQ5_0>(out, w, act, order),
        GgmlType::Q5_1 => matvec_as::<q5_1::BlockQ5_1>(out, w, act, order),
        GgmlType::Q8_0 => matvec_as::<q8_0::BlockQ8_0>(out, w, act, order),
        GgmlType::Q2_K => matvec_as::<q2_k::BlockQ2K>(out, w, act, order),
        GgmlType::Q3_K => matvec_as::<q3_k::BlockQ3K>(out, w, act, order),
        GgmlType::Q4_K => matvec_as::<q4_k::BlockQ4K>(out, w, act, order),
        GgmlType::Q5_K => matvec_as::<q5_k::BlockQ5K>(out, w, act, order),
        GgmlType::Q6_K => matvec_as::<q6_k::BlockQ6K>(out, w, act, order),
        GgmlType::IQ4_NL => matvec_as::<iq4_nl::BlockIQ4NL>(out, w, act, order),
        GgmlType::IQ4_XS => matvec_as::<iq4_xs::BlockIQ4XS>(out, w, act, order),
        other => unreachable!("type {other} is refused at load"),
    }
}
