//! NEON kernels (plain NEON for the Pi 4, with the dot-product extension's `sdot` for the
//! Pi 5), following ggml's `ggml/src/ggml-cpu/arch/arm/quants.c` for the integer work.
//!
//! The scalar reference adds its exact integer block sums in the float order of ggml's x86
//! AVX2 kernels (eight f32 lanes fed by FMAs, see `crate::quant::lanes`), so that ferrite's
//! outputs are bit-identical to llama.cpp's on every CPU. A NEON kernel enters the table only
//! when it reproduces that order exactly (the eight lanes as pairs of 4-lane registers,
//! `vfmaq_f32` for the FMAs); until a format has one, the NEON tables use the scalar
//! reference for it. (The previous NEON kernels, bit-identical to ggml's plain C order,
//! are in the history at commit cae5e9a: their integer parts carry over.)

use super::super::{scalar, Isa, Kernels, Quantizers};

/// The NEON table (`dotprod`: the `sdot` variants). Only [`Kernels::neon`] and
/// [`Kernels::neon_dotprod`] call this, after detecting the features.
pub(crate) fn table(dotprod: bool) -> Kernels {
    Kernels::build(
        if dotprod { Isa::NeonDotprod } else { Isa::Neon },
        |_, _| None,
        Quantizers {
            q8_0: scalar::quantize_q8_0,
            q8_1: scalar::quantize_q8_1,
            q8_k: scalar::quantize_q8_k,
        },
    )
}
