//! The four-token prefill kernels of the NEON tables (`Kernels::matmul_tile`): a weight
//! row's blocks are loaded and unpacked once for four tokens, each token's integer sums and
//! float steps those of the one-token kernel of the same order (so the results have its
//! bits), for the formats and orders that prefill uses most (ggml's orders as in
//! `session::dot_order`): Q8_0 in every order (also Q5_0, whose tiles prefill unpacks to
//! Q8_0 once), Q4_K in the tiled and repacked GEMM orders, Q6_K in the tiled order (the x86
//! tables' set), Q5_K in the tiled order (Q4_K's kernel with Q5_K's unpacking), Q2_K, Q3_K
//! and IQ4_XS in the tiled order, and Q4_0 and IQ4_NL in the repacked orders
//! (`matvec::repacked_x4`: a Q4_0 model's prefill). Every format of the K-quant and Q4_0
//! model files but Q4_1 and Q5_1.
//!
//! Measured without a Pi, as instructions executed under qemu (`tools/neon-count.sh`, a
//! 64 x 2048 tile times four tokens), per weight row and token, the one-token kernels
//! against these: the table in README "Raspberry Pi".

use super::{iq4_xs, matvec, q2_k, q3_k, q4_k, q5_k, q6_k, q8_0};
use crate::kernels::{each_row, tile, Isa, PutFn, RowX4Fn};
use crate::quant::{
    iq4_nl::BlockIQ4NL, iq4_xs::BlockIQ4XS, q2_k::BlockQ2K, q3_k::BlockQ3K, q4_0::BlockQ4_0,
    q4_k::BlockQ4K, q5_k::BlockQ5K, q6_k::BlockQ6K, q8_0::BlockQ8_0, DotOrder, GgmlType,
};

/// The four-token kernel of (`ty`, `order`) for the NEON table `isa` (`None`: none, or not a
/// NEON table; the caller then multiplies token by token).
pub(crate) fn row_x4(isa: Isa, ty: GgmlType, order: DotOrder) -> Option<RowX4Fn> {
    // Each pair: the tile function of a one-row, four-token kernel's plain and `sdot`
    // variants (`$B` the weight block).
    macro_rules! each_row_x4 {
        ($($plain:ident, $sdot:ident = $B:ty: $f:path, $f_sdot:path;)*) => {$(
            // SAFETY (both): handed out below only for the NEON tables, which exist only on
            // CPUs with NEON (and dotprod for `Isa::NeonDotprod`); `tile` checks the lengths.
            unsafe fn $plain(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
                tile::<$B>(w, rows, a, put, |w, a, put| {
                    each_row(w, a, put, |row, a| unsafe { $f(row, a) })
                })
            }
            unsafe fn $sdot(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
                tile::<$B>(w, rows, a, put, |w, a, put| {
                    each_row(w, a, put, |row, a| unsafe { $f_sdot(row, a) })
                })
            }
        )*};
    }
    each_row_x4! {
        q4_k_tiled_plain, q4_k_tiled_sdot =
            BlockQ4K: q4_k::dot_tiled_x4, q4_k::dot_tiled_x4_dotprod;
        q4_k_gemm_plain, q4_k_gemm_sdot = BlockQ4K: q4_k::dot_gemm_x4, q4_k::dot_gemm_x4_dotprod;
        q5_k_tiled_plain, q5_k_tiled_sdot =
            BlockQ5K: q5_k::dot_tiled_x4, q5_k::dot_tiled_x4_dotprod;
        q6_k_tiled_plain, q6_k_tiled_sdot =
            BlockQ6K: q6_k::dot_tiled_x4, q6_k::dot_tiled_x4_dotprod;
        q2_k_tiled_plain, q2_k_tiled_sdot =
            BlockQ2K: q2_k::dot_tiled_x4, q2_k::dot_tiled_x4_dotprod;
        q3_k_tiled_plain, q3_k_tiled_sdot =
            BlockQ3K: q3_k::dot_tiled_x4, q3_k::dot_tiled_x4_dotprod;
        iq4_xs_tiled_plain, iq4_xs_tiled_sdot =
            BlockIQ4XS: iq4_xs::dot_tiled_x4, iq4_xs::dot_tiled_x4_dotprod;
        q4_0_plain, q4_0_sdot =
            BlockQ4_0: matvec::q4_0_repacked_x4, matvec::q4_0_repacked_x4_dotprod;
        iq4_nl_plain, iq4_nl_sdot =
            BlockIQ4NL: matvec::iq4_nl_repacked_x4, matvec::iq4_nl_repacked_x4_dotprod;
    }
    // SAFETY (both): as above; `tile_x4` takes the whole tile (two rows at a time).
    unsafe fn q8_0_plain(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
        tile::<BlockQ8_0>(w, rows, a, put, |w, a, put| unsafe {
            q8_0::tile_x4(w, rows, a, put)
        })
    }
    unsafe fn q8_0_sdot(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
        tile::<BlockQ8_0>(w, rows, a, put, |w, a, put| unsafe {
            q8_0::tile_x4_dotprod(w, rows, a, put)
        })
    }
    let sdot = match isa {
        Isa::Neon => false,
        Isa::NeonDotprod => true,
        _ => return None,
    };
    Some(match (ty, order, sdot) {
        (GgmlType::Q8_0, _, false) => q8_0_plain,
        (GgmlType::Q8_0, _, true) => q8_0_sdot,
        (GgmlType::Q4_K, DotOrder::Tiled, false) => q4_k_tiled_plain,
        (GgmlType::Q4_K, DotOrder::Tiled, true) => q4_k_tiled_sdot,
        (GgmlType::Q4_K, DotOrder::RepackedGemm, false) => q4_k_gemm_plain,
        (GgmlType::Q4_K, DotOrder::RepackedGemm, true) => q4_k_gemm_sdot,
        (GgmlType::Q5_K, DotOrder::Tiled, false) => q5_k_tiled_plain,
        (GgmlType::Q5_K, DotOrder::Tiled, true) => q5_k_tiled_sdot,
        (GgmlType::Q2_K, DotOrder::Tiled, false) => q2_k_tiled_plain,
        (GgmlType::Q2_K, DotOrder::Tiled, true) => q2_k_tiled_sdot,
        (GgmlType::Q3_K, DotOrder::Tiled, false) => q3_k_tiled_plain,
        (GgmlType::Q3_K, DotOrder::Tiled, true) => q3_k_tiled_sdot,
        (GgmlType::IQ4_XS, DotOrder::Tiled, false) => iq4_xs_tiled_plain,
        (GgmlType::IQ4_XS, DotOrder::Tiled, true) => iq4_xs_tiled_sdot,
        (GgmlType::Q6_K, DotOrder::Tiled, false) => q6_k_tiled_plain,
        (GgmlType::Q6_K, DotOrder::Tiled, true) => q6_k_tiled_sdot,
        (GgmlType::Q4_0, DotOrder::RepackedGemm | DotOrder::RepackedGemv, false) => q4_0_plain,
        (GgmlType::Q4_0, DotOrder::RepackedGemm | DotOrder::RepackedGemv, true) => q4_0_sdot,
        (GgmlType::IQ4_NL, DotOrder::RepackedGemm | DotOrder::RepackedGemv, false) => iq4_nl_plain,
        (GgmlType::IQ4_NL, DotOrder::RepackedGemm | DotOrder::RepackedGemv, true) => iq4_nl_sdot,
        _ => return None,
    })
}
