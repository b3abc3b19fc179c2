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
use crate::quant::{DotOrder, GgmlType};

/// A prefill weight tile packed by one of the two VNNI instances (their `PackedTile` types
/// differ; the kernels are the same).
pub(crate) enum VnniPacked<'s> {
    Vex(avxvnni::PackedTile<'s>),
    Evex(avx512vnni::PackedTile<'s>),
}

impl<'s> VnniPacked<'s> {
    /// `PackedTile::pack` of the instance of `isa` (a VNNI one).
    ///
    /// # Safety
    /// As `PackedTile::pack`, with the CPU features of `isa`'s table.
    pub(crate) unsafe fn pack(
        isa: Isa,
        ty: GgmlType,
        w: &[u8],
        rows: usize,
        cols: usize,
        scratch: &'s mut [u8],
    ) -> VnniPacked<'s> {
        // SAFETY: the caller's contract.
        unsafe {
            match isa {
                Isa::Avx512Vnni => {
                    VnniPacked::Evex(avx512vnni::PackedTile::pack(ty, w, rows, cols, scratch))
                }
                _ => VnniPacked::Vex(avxvnni::PackedTile::pack(ty, w, rows, cols, scratch)),
            }
        }
    }

    /// `PackedTile::run_x4` of the tile's instance.
    ///
    /// # Safety
    /// As `PackedTile::run_x4`.
    pub(crate) unsafe fn run_x4(
        &self,
        order: DotOrder,
        a: [&[u8]; 4],
        put: &mut Out4,
    ) -> Option<usize> {
        // SAFETY: the caller's contract.
        unsafe {
            match self {
                VnniPacked::Vex(p) => p.run_x4(order, a, put),
                VnniPacked::Evex(p) => p.run_x4(order, a, put),
            }
        }
    }
}
