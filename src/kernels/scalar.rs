//! The scalar table: the reference functions of `src/quant/` (the specification), type-erased
//! for the kernel table. Always built; every SIMD table is tested against this one.

use super::{erase_dot, Isa, Kernels, VecDotFn, TYPES};
use crate::quant::{
    self, iq4_nl::BlockIQ4NL, iq4_xs::BlockIQ4XS, q2_k::BlockQ2K, q3_k::BlockQ3K, q4_0::BlockQ4_0,
    q4_1::BlockQ4_1, q4_k::BlockQ4K, q5_0::BlockQ5_0, q5_1::BlockQ5_1, q5_k::BlockQ5K,
    q6_k::BlockQ6K, q8_0::BlockQ8_0, q8_k::BlockQ8K, GgmlType,
};

/// The scalar dot product of `ty` (a type in [`TYPES`]), type-erased.
pub(crate) fn vec_dot_fn(ty: GgmlType) -> VecDotFn {
    match ty {
        GgmlType::F32 => erase_dot!(f32, quant::f32::vec_dot),
        GgmlType::F16 => erase_dot!(half::f16, quant::f16::vec_dot),
        GgmlType::BF16 => erase_dot!(half::bf16, quant::bf16::vec_dot),
        GgmlType::Q4_0 => erase_dot!(BlockQ4_0, quant::q4_0::vec_dot),
        GgmlType::Q4_1 => erase_dot!(BlockQ4_1, quant::q4_1::vec_dot),
        GgmlType::Q5_0 => erase_dot!(BlockQ5_0, quant::q5_0::vec_dot),
        GgmlType::Q5_1 => erase_dot!(BlockQ5_1, quant::q5_1::vec_dot),
        GgmlType::Q8_0 => erase_dot!(BlockQ8_0, quant::q8_0::vec_dot),
        GgmlType::Q2_K => erase_dot!(BlockQ2K, quant::q2_k::vec_dot),
        GgmlType::Q3_K => erase_dot!(BlockQ3K, quant::q3_k::vec_dot),
        GgmlType::Q4_K => erase_dot!(BlockQ4K, quant::q4_k::vec_dot),
        GgmlType::Q5_K => erase_dot!(BlockQ5K, quant::q5_k::vec_dot),
        GgmlType::Q6_K => erase_dot!(BlockQ6K, quant::q6_k::vec_dot),
        GgmlType::IQ4_NL => erase_dot!(BlockIQ4NL, quant::iq4_nl::vec_dot),
        GgmlType::IQ4_XS => erase_dot!(BlockIQ4XS, quant::iq4_xs::vec_dot),
        other => unreachable!("type {other} has no kernel"),
    }
}

/// Adapts the safe scalar quantizer to the table's function-pointer type.
///
/// # Safety
/// None beyond the signature: the scalar code runs on every CPU.
unsafe fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    quant::q8_0::quantize_row(x, out)
}

/// Adapts the safe scalar quantizer to the table's function-pointer type.
///
/// # Safety
/// None beyond the signature: the scalar code runs on every CPU.
unsafe fn quantize_q8_k(x: &[f32], out: &mut [BlockQ8K]) {
    quant::q8_k::quantize_row(x, out)
}

/// The scalar table.
pub(crate) fn table() -> Kernels {
    Kernels {
        isa: Isa::Scalar,
        vec_dot: TYPES.map(vec_dot_fn),
        quantize_q8_0,
        quantize_q8_k,
    }
}
