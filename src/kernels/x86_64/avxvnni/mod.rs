//! AVX-VNNI kernels: AVX2 plus `vpdpbusd` (u8 x i8, four products summed into each i32 lane,
//! added to an accumulator, in one instruction; the VEX form of AVX512-VNNI, on Intel Alder
//! Lake and later and AMD Zen 5) and GFNI's `gf2p8affineqb`, which every AVX-VNNI CPU has
//! (Intel since Ice Lake and Gracemont, AMD since Zen 4): with a constant bit matrix it moves
//! any bits of each byte to any positions in one instruction (a nibble, a 2-bit quant, a high
//! bit), and with a block's bits as the matrix it spreads Q5's fifth bits to bytes in one.
//!
//! The table is the AVX2 table (its dot-product entries and quantizers) plus, chosen by
//! [`crate::kernels::Kernels::matvec_order`] and [`crate::kernels::Kernels::matmul_tile`]
//! when this table is selected:
//!
//! ```text
//! matvec.rs decode: the matrix-vector product of the formats whose quants are unsigned
//!           bytes with an offset, the activation's bias prepared once per product, rows four
//!           at a time; q8_0.rs, q4_0.rs and q5_0.rs give it their quants (nibbles and fifth
//!           bits by `gf2p8affineqb`); the entry point of every decode product below
//! q4_1.rs   decode: Q4_1 (and, for q5_1.rs, Q5_1) matrix-vector products, rows four at a
//!           time, each row's scales and minimums converted eight blocks at a time
//! q5_1.rs   decode: Q5_1's quants into q4_1.rs
//! iq4_nl.rs decode: IQ4_NL in the `vec_dot` order (rows two at a time) and the repacked
//!           GEMV/GEMM order (rows eight at a time, each row in its own lane from the start:
//!           `matvec::repacked_rows_in_lanes`), the table made unsigned and the bias prepared
//!           once per product; matvec.rs also holds Q4_0's and IQ4_NL's four-token prefill
//!           tiles in the repacked GEMM order (`repacked_tile_x4`)
//! q8_0.rs   prefill: Q8_0 (and Q5_0 unpacked to Q8_0) tiles, two rows by four tokens, the
//!           weights made unsigned and the bias prepared once per tile
//! q4_k.rs   prefill: Q4_K tiles repacked eight rows to a vector (repacked-GEMM order;
//!           the layout and packing of `avx2::q4_k_packed`); decode: the repacked GEMV
//!           order's integer sums with rows in lanes (`s1_vnni` for
//!           `avx2::q4_k::gemv_8_rows`)
//! q6_k.rs   prefill: Q6_K tiles repacked the same way (tiled K-quant order;
//!           `avx2::q6_k_packed`)
//! q2_k.rs   decode and prefill: Q2_K dot products (`vec_dot` and tiled orders), each group's
//!           quants looked up as `q * scale` by `vpshufb`, one `vpdpbusd` per run
//! q3_k.rs   decode: the matrix-vector product, quants made unsigned by two `gf2p8affineqb`
//!           a run and the bias prepared once per product, two runs scaled by one
//!           `vpdpwssd`; prefill: dot products, the high bits by one shift and `andnot` a run
//! kmatvec.rs decode: this table's instantiation of `avx2/kmatvec.rs`, the K-quant row loop
//!           (scale products eight super-blocks at a time, a prefetch stream) that q2_k.rs,
//!           q3_k.rs and iq4_xs.rs decode through, and Q4_K, Q5_K and Q6_K through it
//! iq4_xs.rs decode and prefill: IQ4_XS dot products, the scales unpacked in one vector and
//!           applied by `vpdpwssd` ([`dpwssd`]), the nibbles by one `gf2p8affineqb`; the
//!           decode product two sub-blocks per load against a rearranged activation
//! ```
//!
//! Measured, and left out because they were no faster: Q4_1/Q5_1 one-row dot products with
//! `vpdpbusd` (their scalar chain of minimum terms bounds them; two rows at a time overlap
//! the chains, see q4_1.rs), Q8_0/Q5_0 prefill tiles repacked eight rows to a vector (see
//! `PackedTile`).
//!
//! # Bit-identical to the AVX2 kernels
//!
//! `vpdpbusd` adds exact products into i32 without saturation, so the eight i32 lanes of a
//! block are the same integers as the AVX2 kernels' (`maddubs` never saturates there, see
//! `avx2::mul_sum_i8_pairs`); the float work after them is the same operations in the same
//! order. Tested against the per-token matrix-vector products of the scalar reference for
//! every table in `kernels::tile_tests`.
//!
//! # Two encodings, one source
//!
//! AVX-VNNI's `vpdpbusd` and `vpdpwssd` are the VEX forms of AVX512-VNNI's: the same
//! operation on ymm registers. CPUs with AVX512-VNNI and AVX512VL but not AVX-VNNI (AMD Zen
//! 4, Intel Ice Lake, Tiger Lake, Sapphire Rapids and their kin) run the EVEX form. These files
//! are compiled twice: as `x86_64::avxvnni` (VEX, [`Isa::AvxVnni`]) and, through `#[path]`,
//! as `x86_64::avx512vnni` (EVEX, [`Isa::Avx512Vnni`]); [`EVEX`] tells the instances apart and
//! [`dpbusd`] and [`dpwssd`] are the only code that differs. Both instances need GFNI (every
//! such CPU but Cascade Lake has it; there the AVX2 table runs).
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable =
//! "avx2,fma,f16c,gfni")]` whose caller guarantees in addition that the CPU has the instance's
//! encoding, which [`crate::kernels::Kernels::avx_vnni`] and
//! [`crate::kernels::Kernels::avx512_vnni`] check before they hand out a table. Neither VNNI
//! feature is enabled for the compiler: the two instructions are written in assembly, so it
//! cannot emit one of the wrong encoding on its own. The decode entry points (each
//! `matvec` inside `vnni_entry! { .. }`, a macro of `x86_64/mod.rs`) take their target
//! features from the instance: the EVEX instance adds AVX512F, AVX512VL and AVX512BW, which
//! lets the compiler fold broadcast loads into the FMAs and use 32 registers (the code inlined
//! into them stays 256-bit).

use std::arch::x86_64::*;

use super::super::{erase_dot, Isa, Kernels, VecDotFn};

pub mod iq4_nl;
pub mod iq4_xs;
pub mod kmatvec;
pub mod matvec;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q6_k;
pub mod q8_0;

/// This instance's table. Only [`Kernels::avx_vnni`] (AVX-VNNI) and [`Kernels::avx512_vnni`]
/// (AVX512-VNNI) call this, after detecting AVX2, FMA, F16C, GFNI and the encoding's features.
pub(crate) fn table() -> Kernels {
    Kernels::build(ISA, simd_dot, super::avx2::quantizers())
}

/// This table's single-row kernel of `ty` in `order`: the ones of this module, else the AVX2
/// kernel ([`super::avx2::simd_dot`]).
fn simd_dot(ty: GgmlType, order: DotOrder) -> Option<VecDotFn> {
    use DotOrder::Tiled;
    use GgmlType as T;
    Some(match (ty, order) {
        (T::Q2_K, Tiled) => erase_dot!(BlockQ2K, q2_k::vec_dot_tiled),
        (T::Q2_K, _) => erase_dot!(BlockQ2K, q2_k::vec_dot),
        (T::Q3_K, Tiled) => erase_dot!(BlockQ3K, q3_k::vec_dot_tiled),
        (T::Q3_K, _) => erase_dot!(BlockQ3K, q3_k::vec_dot),
        (T::IQ4_XS, Tiled) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot_tiled),
        (T::IQ4_XS, _) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot),
        _ => return super::avx2::simd_dot(ty, order),
    })
}

use crate::quant::{
    self, iq4_xs::BlockIQ4XS, q2_k::BlockQ2K, q3_k::BlockQ3K, q4_k::BlockQ4K, q6_k::BlockQ6K,
    q8_k::BlockQ8K,
};
use crate::quant::{DotOrder, GgmlType};

/// A prefill weight tile repacked once per batch for this module's kernels, eight rows to a
/// vector: the first `rows8` rows (a multiple of 8) of the tile; the rest stay as stored.
///
/// (Q8_0 and Q5_0 rows packed the same way were measured no faster than [`q8_0::tile_x4`]:
/// their `vec_dot` order keeps eight f32 accumulators per (row, token), so every `vpdpbusd`
/// still needs its own conversion and FMA, and the packing cost more than the Q5_0 unpacking.)
pub(crate) enum PackedTile<'s> {
    /// Q4_K for the repacked-GEMM order ([`q4_k::tile_x4`]).
    Q4K(&'s [q4_k::Packed8], usize),
    /// Q6_K for the tiled K-quant order ([`q6_k::tile_x4`]).
    Q6K(&'s [q6_k::Packed8], usize),
}

impl<'s> PackedTile<'s> {
    /// The float order of the packed kernel of `ty`, if there is one.
    pub(crate) fn order(ty: GgmlType) -> Option<DotOrder> {
        match ty {
            GgmlType::Q4_K => Some(DotOrder::RepackedGemm),
            GgmlType::Q6_K => Some(DotOrder::Tiled),
            _ => None,
        }
    }

    /// The scratch bytes a tile of `rows` rows of `cols` values of type `ty` needs packed,
    /// when this module has a packed kernel for `ty` and the rows fit its stack buffers (and
    /// there are at least eight); `None` otherwise.
    pub(crate) fn bytes(ty: GgmlType, rows: usize, cols: usize) -> Option<usize> {
        match ty {
            GgmlType::Q4_K => super::avx2::q4_k_packed::bytes(rows, cols),
            GgmlType::Q6_K => super::avx2::q6_k_packed::bytes(rows, cols),
            _ => None,
        }
    }

    /// Repacks the first `rows / 8 * 8` rows of the tile `w` (type `ty`, `cols` values a row)
    /// into `scratch`, which must hold [`PackedTile::bytes`] and be 8-byte aligned.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI (the AVX-VNNI table is selected).
    pub(crate) unsafe fn pack(
        ty: GgmlType,
        w: &[u8],
        rows: usize,
        cols: usize,
        scratch: &'s mut [u8],
    ) -> Self {
        let bytes = Self::bytes(ty, rows, cols).expect("a tile this module packs");
        let rows8 = rows / 8 * 8;
        let dst = &mut scratch[..bytes];
        // SAFETY (all): the CPU features are this function's contract.
        match ty {
            GgmlType::Q4_K => {
                let (src, dst) = cast::<BlockQ4K, q4_k::Packed8>(w, dst);
                let nb = cols / 256;
                unsafe { q4_k::pack(&src[..rows8 * nb], rows8, nb, dst) };
                PackedTile::Q4K(dst, rows8)
            }
            GgmlType::Q6_K => {
                let (src, dst) = cast::<BlockQ6K, q6_k::Packed8>(w, dst);
                let nb = cols / 256;
                unsafe { q6_k::pack(&src[..rows8 * nb], rows8, nb, dst) };
                PackedTile::Q6K(dst, rows8)
            }
            _ => unreachable!("`bytes` is None for {ty}"),
        }
    }

    /// The packed rows times four tokens whose activation rows are `a` (bytes of Q8_K or
    /// Q8_0 blocks) and whose float order is `order`: `put(r, [row r . a_0, .., row r .
    /// a_3])` for `r < rows8`, and `Some(rows8)`; `None` (nothing done) if the kernel is not
    /// of that order.
    ///
    /// # Safety
    /// As [`PackedTile::pack`].
    pub(crate) unsafe fn run_x4(
        &self,
        order: DotOrder,
        a: [&[u8]; 4],
        put: &mut crate::kernels::Out4,
    ) -> Option<usize> {
        // SAFETY (all): the CPU features are this function's contract; the kernels check
        // the lengths.
        match *self {
            PackedTile::Q4K(p, rows8) if Self::order(GgmlType::Q4_K) == Some(order) => {
                let a = a.map(|a| quant::cast_blocks::<BlockQ8K>(a).expect("Q8_K activations"));
                unsafe { q4_k::tile_x4(p, rows8 / 8, a, put) };
                Some(rows8)
            }
            PackedTile::Q6K(p, rows8) if Self::order(GgmlType::Q6_K) == Some(order) => {
                let a = a.map(|a| quant::cast_blocks::<BlockQ8K>(a).expect("Q8_K activations"));
                unsafe { q6_k::tile_x4(p, rows8 / 8, a, put) };
                Some(rows8)
            }
            _ => None,
        }
    }
}

/// The weight blocks of a tile and the packed entries of its scratch.
pub(crate) fn cast<'a, 'b, B: quant::Pod, P: quant::Pod>(
    w: &'a [u8],
    s: &'b mut [u8],
) -> (&'a [B], &'b mut [P]) {
    (
        quant::cast_blocks(w).expect("weight blocks checked at load"),
        quant::cast_blocks_mut(s).expect("scratch 8-byte aligned"),
    )
}

/// Whether this instance of the module is the AVX512-VNNI one (`x86_64::avx512vnni`, these
/// files compiled a second time through `#[path]`): its `vpdpbusd` and `vpdpwssd` are then
/// EVEX-encoded, else VEX-encoded (AVX-VNNI). Decided by the module's own path at compile time.
pub(crate) const EVEX: bool = {
    let (path, tail) = (module_path!().as_bytes(), b"avx512vnni".as_slice());
    let mut i = 0;
    let mut ends = path.len() >= tail.len();
    while ends && i < tail.len() {
        ends = path[path.len() - tail.len() + i] == tail[i];
        i += 1;
    }
    ends
};

/// This instance's instruction set: [`Isa::Avx512Vnni`] or [`Isa::AvxVnni`].
pub(crate) const ISA: Isa = if EVEX { Isa::Avx512Vnni } else { Isa::AvxVnni };

/// `asm!` of `$template` (a VNNI instruction and its operands) with this instance's encoding
/// prefix: `{vex}` for AVX-VNNI, `{evex}` for AVX512-VNNI + AVX512VL. In assembly so that
/// the module's functions need neither feature enabled, and LLVM cannot emit either form on
/// its own.
macro_rules! vnni_asm {
    ($template:literal, $($operands:tt)*) => {
        if EVEX {
            std::arch::asm!(concat!("{{evex}} ", $template), $($operands)*)
        } else {
            std::arch::asm!(concat!("{{vex}} ", $template), $($operands)*)
        }
    };
}

/// `acc + sum4(a * b)` in one `vpdpbusd`: `a`'s bytes unsigned, `b`'s signed, the four
/// products of each i32 lane added to that lane of `acc` exactly (no saturation).
///
/// # Safety
/// The CPU must have AVX2, FMA, F16C, GFNI and this instance's encoding ([`EVEX`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn dpbusd(mut acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    // SAFETY: this instance's table is handed out only on CPUs with its encoding
    // (`Kernels::avx_vnni`, `Kernels::avx512_vnni`); the instruction only reads and writes
    // the three vector registers (no memory, no stack, no flags).
    unsafe {
        vnni_asm!(
            "vpdpbusd {acc}, {a}, {b}",
            acc = inout(ymm_reg) acc,
            a = in(ymm_reg) a,
            b = in(ymm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        )
    };
    acc
}

/// `-sum4(k * y)` in each i32 lane: the bias of weights read as unsigned bytes `q + offset`
/// (`k` the offset in every byte) against the activation quants `y`, so that
/// `vpdpbusd(bias, q + offset, y)` gives the exact sums of four products `q * y`. Prepared
/// once per product (or tile) by every VNNI product with an offset.
///
/// # Safety
/// As [`dpbusd`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn neg_bias(k: __m256i, y: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_sub_epi32(_mm256_setzero_si256(), dpbusd(_mm256_setzero_si256(), k, y)) }
}

/// The biases ([`neg_bias`]) of a Q8_K activation super-block's eight 32-value runs for
/// weights read as unsigned bytes `q + offset` (Q3_K: 4).
///
/// # Safety
/// As [`dpbusd`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn run_biases(y: &BlockQ8K, offset: u8) -> [__m256i; 8] {
    // SAFETY: the CPU features are this function's contract; each run's 32 quants lie inside
    // `y.qs` (256 bytes).
    unsafe {
        let k = _mm256_set1_epi8(offset as i8);
        std::array::from_fn(|r| {
            neg_bias(
                k,
                _mm256_loadu_si256(y.qs.as_ptr().add(32 * r) as *const __m256i),
            )
        })
    }
}

/// [`dpbusd`] of `a` and the 32 signed bytes at `b + OFF` (unaligned), in `vpdpbusd`'s memory
/// form with the offset in the instruction's address: one instruction, no load or address
/// arithmetic of its own, for activation runs read at constant offsets from one base.
///
/// # Safety
/// As [`dpbusd`]; `b + OFF` must be valid for reads of 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn dpbusd_at_off<const OFF: usize>(
    mut acc: __m256i,
    a: __m256i,
    b: *const i8,
) -> __m256i {
    // SAFETY: as in `dpbusd`; the instruction reads the 32 bytes at `b + OFF`, which the
    // caller vouches for, and writes only `acc`.
    unsafe {
        vnni_asm!(
            "vpdpbusd {acc}, {a}, ymmword ptr [{b} + {off}]",
            acc = inout(ymm_reg) acc,
            a = in(ymm_reg) a,
            b = in(reg) b,
            off = const OFF,
            options(pure, readonly, nostack, preserves_flags),
        )
    };
    acc
}

/// [`dpbusd`] of `a` and the four signed bytes at `b + OFF` repeated in every i32 lane: with
/// AVX512-VNNI one `vpdpbusd` with an embedded broadcast (`{1to8}`), with AVX-VNNI a
/// `vpbroadcastd` load and a `vpdpbusd`. For products whose lanes are rows
/// ([`matvec::repacked_rows_in_lanes`], [`add_scaled_sub_blocks`]).
///
/// # Safety
/// As [`dpbusd`]; `b + OFF` must be valid for reads of 4 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn dpbusd_bcast_at<const OFF: usize>(
    mut acc: __m256i,
    a: __m256i,
    b: *const i8,
) -> __m256i {
    // SAFETY: as in `dpbusd`; the instruction (or the load) reads the 4 bytes at `b + OFF`,
    // which the caller vouches for, and writes only `acc`.
    unsafe {
        if EVEX {
            std::arch::asm!(
                "{{evex}} vpdpbusd {acc}, {a}, dword ptr [{b} + {off}]{{1to8}}",
                acc = inout(ymm_reg) acc,
                a = in(ymm_reg) a,
                b = in(reg) b,
                off = const OFF,
                options(pure, readonly, nostack, preserves_flags),
            );
            acc
        } else {
            let y = _mm256_set1_epi32(std::ptr::read_unaligned(b.add(OFF) as *const i32));
            dpbusd(acc, a, y)
        }
    }
}

/// `acc + madd(a, b)` in one `vpdpwssd` (i16 x i16 products, adjacent pairs summed into the
/// i32 lanes of `acc`; exact unless the sum leaves i32, which every caller's bounds exclude).
/// In assembly like [`dpbusd`] (LLVM would also split the intrinsic back into `vpmaddwd` and
/// `vpaddd`).
///
/// # Safety
/// As [`dpbusd`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn dpwssd(mut acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    // SAFETY: as in `dpbusd`.
    unsafe {
        vnni_asm!(
            "vpdpwssd {acc}, {a}, {b}",
            acc = inout(ymm_reg) acc,
            a = in(ymm_reg) a,
            b = in(ymm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        )
    };
    acc
}

/// `acc` plus run pair `k`'s scaled lanes (Q2_K, Q3_K): `d0`, `d1` are two runs' exact lane
/// sums (each within i16), `scales` the sixteen i16 scales with the even groups in the low
/// 128-bit lane and the odd ones in the high lane. The two runs' lanes become the low and
/// high i16 halves of each lane and their scales (elements `2k`, `2k + 1` of each 128-bit
/// lane) the matching halves, so one `vpdpwssd` adds `s0 * d0 + s1 * d1` to every lane: the
/// same integers as scaling each run on its own.
///
/// # Safety
/// The CPU must support AVX2, AVX-VNNI (and the table's other features).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn dpwssd_run_pair(
    acc: __m256i,
    d0: __m256i,
    d1: __m256i,
    scales: __m256i,
    k: usize,
) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let packed = _mm256_blend_epi16::<0xAA>(d0, _mm256_slli_epi32::<16>(d1));
        let sc = match k {
            0 => _mm256_shuffle_epi32::<0x00>(scales),
            1 => _mm256_shuffle_epi32::<0x55>(scales),
            2 => _mm256_shuffle_epi32::<0xAA>(scales),
            _ => _mm256_shuffle_epi32::<0xFF>(scales),
        };
        dpwssd(acc, packed, sc)
    }
}

pub(crate) use super::avx2::pshufb;

/// `J` sub-blocks of eight packed rows (the layout of [`q4_k::Packed8`], [`q6_k::Packed8`])
/// times four tokens: for each sub-block `j`, `s1[k] += sc[j] * (start[j][k] + sum_g
/// vpdpbusd(q[j][g], y_jk[4g .. 4g + 4]))`, with `ys[j][k]` pointing at sub-block `j`'s
/// activation values of token `k` (`4 * q[j].len()` of them) and `sc[j]` the rows' scales of
/// the sub-block. Exact integers: the caller bounds them. The sub-blocks' `vpdpbusd` chains
/// are interleaved (`4 J` independent sums): one sub-block's four chains wait on the
/// instruction's latency. Zen 4, a 64 x 2048 Q4_K tile by 64 tokens: one sub-block at a time
/// 88 GMAC/s, two interleaved 108-113, and with AVX-512's 32 registers for the tile entry
/// (no spills) 119 (64 x 1024: 89 -> 126). Q6_K's 16-value sub-blocks measured the same
/// with one, two or four (86-87). The activation's four quants are `vpdpbusd`'s embedded
/// broadcast with AVX512-VNNI (one instruction, not a broadcast load and the product):
/// Q4_K 119.6-119.8 -> 123.8-124.0, Q6_K 86.5-87.0 -> 89.2-89.9, alternated.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; every `ys[j][k]` is valid for
/// reading `4 * q[j].len()` bytes, and every `q[j]` has the same length.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(crate) unsafe fn add_scaled_sub_blocks<const J: usize>(
    s1: &mut [__m256i; 4],
    start: [[__m256i; 4]; J],
    q: [&[[u8; 32]]; J],
    ys: [[*const i8; 4]; J],
    sc: [&[i32; 8]; J],
) {
    let n = q[0].len();
    debug_assert!(q.iter().all(|q| q.len() == n));
    // SAFETY: the CPU features are this function's contract; the loads read `q` (`g < n`,
    // every `q[j]` `n` long) and the `4 * n` activation bytes the caller vouches for.
    unsafe {
        let mut s = start;
        for g in 0..n {
            for j in 0..J {
                let wq = _mm256_loadu_si256(q[j].get_unchecked(g).as_ptr() as *const __m256i);
                for k in 0..4 {
                    s[j][k] = dpbusd_bcast_at::<0>(s[j][k], wq, ys[j][k].add(4 * g));
                }
            }
        }
        for j in 0..J {
            let sc = _mm256_loadu_si256(sc[j].as_ptr() as *const __m256i);
            for k in 0..4 {
                s1[k] = _mm256_add_epi32(s1[k], _mm256_mullo_epi32(s[j][k], sc));
            }
        }
    }
}
