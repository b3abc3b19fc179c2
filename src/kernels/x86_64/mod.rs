//! x86_64 kernels: AVX2 (with FMA and F16C), what every x86 laptop of the last decade has,
//! and AVX-VNNI (`avxvnni/`), the VEX-encoded integer dot product of Intel Alder Lake and
//! later and AMD Zen 5, for the prefill kernels where it pays, and the same kernels in the
//! EVEX encoding for AVX512-VNNI CPUs (AMD Zen 4, Intel Ice Lake to Sapphire Rapids).

pub mod avx2;

// The K-quant row loop of each VNNI instance (`avxvnni/kmatvec.rs`) is compiled with its
// encoding's target feature as well, so that LLVM fuses the `vpmaddwd` + `vpaddd` pairs of the
// inlined AVX2 steps (Q4_K, Q5_K, Q6_K) into `vpdpwssd` of that encoding (measured in cache:
// Q5_K 15.9 -> 16.6-17.0 GB/s, Q4_K's repacked order 15.5 -> 15.8-15.9). A macro defined
// before a `mod` item is what that module's files see (textual scope), so the one shared file
// instantiates the row loop of its own instance.
macro_rules! vnni_k_products {
    () => {
        super::super::avx2::kmatvec::k_products!("avx2,fma,f16c,gfni,avxvnni");
    };
}
// The decode entry points of each instance (`vnni_entry! { fn .. }`; also the Q8_0 and Q4_K
// prefill tiles, whose 16 and 8 accumulator chains spilled in 16 registers: see their docs)
// and the Q4_1/Q5_1 row loop inlined into them are compiled with the instance's target
// features: the AVX-VNNI
// table's plainly; the AVX512-VNNI table's with AVX512F, VL and BW as well (which every
// AVX512-VNNI CPU has, and `Kernels::avx512_vnni` checks), so that LLVM folds each row's
// broadcast scale into its FMA (`{1to8}`) and has 32 vector registers for the byte
// instructions too (without BW, `vpshufb`, `vpmaddubsw` and the byte `and`s must stay in the
// 16 VEX registers and the 4-row Q4_K loop spent a sixth of its instructions on register
// moves). 256 x 4096 in L2 on the Zen 4 EPYC, alternated: F and VL, Q4_0 25.2-25.5 -> 28.1-28.4
// GB/s, Q4_1, Q5_0, Q5_1, IQ4_NL +2-4 %; BW too, Q4_K +5 %, its repacked GEMV +7 %, Q5_K +6 %,
// Q6_K +4 %, Q3_K +3 %, the rest level. The K-quant row loop the entry points' closures inline
// into must have the same features (a closure has its function's, and one with more than the
// loop is called instead of inlined: Q2_K 16.6 -> 11-12 GB/s).
macro_rules! vnni_entry {
    ($($item:item)*) => {
        $( #[target_feature(enable = "avx2,fma,f16c,gfni")] $item )*
    };
}
macro_rules! vnni_min_products {
    () => {
        super::super::avx2::minmatvec::min_products!("avx2,fma,f16c,gfni");
    };
}
pub mod avxvnni;

macro_rules! vnni_k_products {
    () => {
        super::super::avx2::kmatvec::k_products!(
            "avx2,fma,f16c,gfni,avx512vnni,avx512f,avx512vl,avx512bw"
        );
    };
}
macro_rules! vnni_entry {
    ($($item:item)*) => {
        $( #[target_feature(enable = "avx2,fma,f16c,gfni,avx512f,avx512vl,avx512bw")] $item )*
    };
}
macro_rules! vnni_min_products {
    () => {
        super::super::avx2::minmatvec::min_products!(
            "avx2,fma,f16c,gfni,avx512f,avx512vl,avx512bw"
        );
    };
}
/// The AVX-VNNI kernels again, with the EVEX encoding of their two VNNI instructions, for CPUs
/// with AVX512-VNNI and AVX512VL but not AVX-VNNI (see `avxvnni/mod.rs`).
// Loading the same files twice is the point here (clippy's `duplicate_mod` warns of it).
#[allow(clippy::duplicate_mod)]
#[path = "avxvnni/mod.rs"]
pub mod avx512vnni;

use crate::kernels::{Isa, Out4};
use crate::quant::{self, DotOrder, GgmlType};

/// A prefill weight tile repacked eight rows to a vector once per batch, for the packed
/// kernels of the table selected: Q4_K and Q6_K with the AVX2 table (`avx2::q4_k_packed`,
/// `avx2::q6_k_packed`) and with the two VNNI instances (their `PackedTile` types differ;
/// the kernels are the same).
pub(crate) enum PackedTile<'s> {
    /// Q4_K for the AVX2 table's repacked-GEMM order: the packed rows and how many (`rows8`).
    Avx2Q4K(&'s [avx2::q4_k_packed::Packed8], usize),
    /// Q6_K for the AVX2 table's tiled K-quant order.
    Avx2Q6K(&'s [avx2::q6_k_packed::Packed8], usize),
    Vex(avxvnni::PackedTile<'s>),
    Evex(avx512vnni::PackedTile<'s>),
}

impl<'s> PackedTile<'s> {
    /// The float order of `isa`'s packed kernel of `ty`, if the table has one.
    pub(crate) fn order(isa: Isa, ty: GgmlType) -> Option<DotOrder> {
        match isa {
            // The same kernels' orders as the VNNI tables'.
            Isa::Avx2 | Isa::AvxVnni | Isa::Avx512Vnni => avxvnni::PackedTile::order(ty),
            _ => None,
        }
    }

    /// The scratch bytes a tile of `rows` rows of `cols` values of type `ty` needs packed for
    /// `isa`'s kernel, when the table has one for `ty` and the rows fit it (and there are at
    /// least eight); `None` otherwise.
    pub(crate) fn bytes(isa: Isa, ty: GgmlType, rows: usize, cols: usize) -> Option<usize> {
        match isa {
            Isa::Avx2 | Isa::AvxVnni | Isa::Avx512Vnni => {
                avxvnni::PackedTile::bytes(ty, rows, cols)
            }
            _ => None,
        }
    }

    /// Repacks the first `rows / 8 * 8` rows of the tile `w` (type `ty`, `cols` values a row)
    /// for `isa`'s kernel into `scratch`, which must hold [`PackedTile::bytes`] and be 8-byte
    /// aligned.
    ///
    /// # Safety
    /// The CPU must have the features of `isa`'s table (AVX2, or a VNNI one).
    pub(crate) unsafe fn pack(
        isa: Isa,
        ty: GgmlType,
        w: &[u8],
        rows: usize,
        cols: usize,
        scratch: &'s mut [u8],
    ) -> PackedTile<'s> {
        // SAFETY: the caller's contract.
        unsafe {
            match isa {
                Isa::Avx512Vnni => {
                    PackedTile::Evex(avx512vnni::PackedTile::pack(ty, w, rows, cols, scratch))
                }
                Isa::AvxVnni => {
                    PackedTile::Vex(avxvnni::PackedTile::pack(ty, w, rows, cols, scratch))
                }
                _ => {
                    let bytes = Self::bytes(isa, ty, rows, cols).expect("a tile it packs");
                    let dst = &mut scratch[..bytes];
                    let (rows8, nb) = (rows / 8 * 8, cols / 256);
                    use crate::quant::{q4_k::BlockQ4K, q6_k::BlockQ6K};
                    match ty {
                        GgmlType::Q4_K => {
                            let (src, dst) = avxvnni::cast::<BlockQ4K, _>(w, dst);
                            avx2::q4_k_packed::pack(&src[..rows8 * nb], rows8, nb, dst);
                            PackedTile::Avx2Q4K(dst, rows8)
                        }
                        GgmlType::Q6_K => {
                            let (src, dst) = avxvnni::cast::<BlockQ6K, _>(w, dst);
                            avx2::q6_k_packed::pack(&src[..rows8 * nb], rows8, nb, dst);
                            PackedTile::Avx2Q6K(dst, rows8)
                        }
                        _ => unreachable!("`bytes` is None for {ty}"),
                    }
                }
            }
        }
    }

    /// The packed rows times four tokens whose activation rows are `a` and whose float order
    /// is `order`: `put(r, [row r . a_0, .., row r . a_3])` for the packed rows `r <
    /// rows8`, and `Some(rows8)`; `None` (nothing done) if the kernel is not of that order.
    ///
    /// # Safety
    /// As [`PackedTile::pack`], with the table that packed the tile.
    pub(crate) unsafe fn run_x4(
        &self,
        order: DotOrder,
        a: [&[u8]; 4],
        put: &mut Out4,
    ) -> Option<usize> {
        // SAFETY: the caller's contract; the kernels check the lengths.
        unsafe {
            match self {
                PackedTile::Avx2Q4K(p, rows8) if order == DotOrder::RepackedGemm => {
                    let a = a.map(|a| quant::cast_blocks(a).expect("Q8_K activations"));
                    avx2::q4_k_packed::tile_x4(p, rows8 / 8, a, put);
                    Some(*rows8)
                }
                PackedTile::Avx2Q6K(p, rows8) if order == DotOrder::Tiled => {
                    let a = a.map(|a| quant::cast_blocks(a).expect("Q8_K activations"));
                    avx2::q6_k_packed::tile_x4(p, rows8 / 8, a, put);
                    Some(*rows8)
                }
                PackedTile::Avx2Q4K(..) | PackedTile::Avx2Q6K(..) => None,
                PackedTile::Vex(p) => p.run_x4(order, a, put),
                PackedTile::Evex(p) => p.run_x4(order, a, put),
            }
        }
    }
}
