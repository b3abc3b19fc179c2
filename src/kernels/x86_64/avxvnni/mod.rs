//! AVX-VNNI kernels: AVX2 plus `vpdpbusd` (u8 x i8, four products summed into each i32 lane,
//! added to an accumulator, in one instruction; the VEX form of AVX512-VNNI, on Intel Alder
//! Lake and later and AMD Zen 5).
//!
//! The table is the AVX2 table (every matrix-vector kernel, every quantizer: decode streams
//! weights from memory and one fewer integer instruction per block does not change its
//! speed) with the prefill tile kernels of this module put in its place by
//! [`crate::kernels::Kernels::matmul_tile`] when this table is selected. Prefill multiplies
//! each weight block with four tokens in cache and is bound by instructions, where
//! `vpdpbusd` replaces `maddubs` + `madd` (and the sign trick, see [`q8_0`]).
//!
//! # Bit-identical to the AVX2 kernels
//!
//! `vpdpbusd` adds exact products into i32 without saturation, so the eight i32 lanes of a
//! block are the same integers as the AVX2 kernels' (`maddubs` never saturates there, see
//! `avx2::mul_sum_i8_pairs`); the float work after them is the same operations in the same
//! order. Tested against the per-token matrix-vector products of the scalar reference for
//! every table in `kernels::tile_tests`.
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable =
//! "avx2,fma,f16c,avxvnni")]`: the one obligation of its caller is that the CPU has those
//! features, which [`crate::kernels::Kernels::avx_vnni`] checks before it hands out this
//! table.

use super::super::{Isa, Kernels};

pub mod q4_k;
pub mod q8_0;

/// The AVX-VNNI table. Only [`Kernels::avx_vnni`] calls this, after detecting AVX2, FMA, F16C
/// and AVX-VNNI.
pub(crate) fn table() -> Kernels {
    Kernels::build(
        Isa::AvxVnni,
        super::avx2::simd_dot,
        super::avx2::quantizers(),
    )
}
