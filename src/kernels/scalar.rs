//! The scalar table: the reference functions of `src/quant/` (the specification), type-erased
//! for the kernel table, in every float order ([`crate::quant::DotOrder`]). Always built;
//! every SIMD table is tested against this one.

use super::{Isa, Kernels, Quantizers};
use crate::quant::{
    self,
    q8_0::{BlockQ8_0, BlockQ8_1},
    q8_k::BlockQ8K,
};

/// Adapts the safe scalar quantizer (ggml's x86 `quantize_row_q8_0`) to the table's
/// function-pointer type.
///
/// # Safety
/// None beyond the signature: the scalar code runs on every CPU.
pub(crate) unsafe fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    quant::q8_0::quantize_row_x86(x, out)
}

/// Adapts the safe scalar quantizer (ggml's x86 `quantize_row_q8_1`) to the table's
/// function-pointer type.
///
/// # Safety
/// None beyond the signature: the scalar code runs on every CPU.
pub(crate) unsafe fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    quant::q8_0::quantize_row_q8_1_x86(x, out)
}

/// Adapts the safe scalar quantizer (ggml's `quantize_row_q8_K_ref`, which its x86 build
/// uses too) to the table's function-pointer type.
///
/// # Safety
/// None beyond the signature: the scalar code runs on every CPU.
pub(crate) unsafe fn quantize_q8_k(x: &[f32], out: &mut [BlockQ8K]) {
    quant::q8_k::quantize_row(x, out)
}

/// The scalar table.
pub(crate) fn table() -> Kernels {
    Kernels::build(
        Isa::Scalar,
        |_, _| None,
        Quantizers {
            q8_0: quantize_q8_0,
            q8_1: quantize_q8_1,
            q8_k: quantize_q8_k,
        },
    )
}
