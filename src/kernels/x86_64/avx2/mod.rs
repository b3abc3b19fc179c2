//! AVX2 + FMA + F16C kernels: one file per block format, with functions of the same names
//! and meanings as the scalar reference in `src/quant/<fmt>.rs` (`vec_dot`, `vec_dot_tiled`,
//! `vec_dot_repacked`); `q8_0.rs` and `q8_k.rs` also hold the activation quantizers,
//! byte-identical to the scalar ones (ggml's x86 Q8_0/Q8_1 quantizers, its reference Q8_K).
//!
//! # Bit-identical to the scalar reference of each order
//!
//! The scalar reference adds its exact integer block sums in the float order of ggml's AVX2
//! kernels (`ggml/src/ggml-cpu/arch/x86/quants.c`, the repacked GEMV/GEMM of `repack.cpp`,
//! the tiled K-quant matmul; see [`crate::quant::DotOrder`] and `crate::quant::lanes`). The
//! kernels here are those AVX2 kernels: `maddubs` (u8 x i8 -> pairs summed in i16) and `madd`
//! (i16 x i16 -> pairs summed in i32) give the same eight i32 lanes as the reference (lane `l`
//! of a 32-value run holds values `4l .. 4l + 4`), then `_mm256_fmadd_ps` where the reference
//! uses `f32::mul_add`, and `hsum_float_8` ([`hsum_ps`]) where it uses `lanes::hsum8`. The
//! results are equal bit for bit (tested in `tests/kernels.rs` for every format and order);
//! (format, order) pairs without such a kernel use the scalar reference in this table. The
//! float formats (F32, F16, BF16) have no integer work: their kernels are ggml's
//! `ggml_vec_dot_*` and llamafile's `tinyBLAS` loops, FMA for FMA and addition for addition.
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma,f16c")]`:
//! the one obligation of its caller is that the CPU has those features, which
//! [`crate::kernels::Kernels::avx2`] checks before it hands out this table.
//!
//! # Activations never hold -128
//!
//! The signed x signed products use ggml's sign trick (`maddubs(|x|, sign(y, x))`, see
//! [`mul_sum_i8_pairs`]), which is exact when `y != -128`. `y` is always the activation:
//! Q8_0/Q8_1 activations are `round(x * 127 / amax)`, in `[-127, 127]`, and Q8_K ones are
//! clamped to `[-127, 127]` by construction (see `quant::q8_0::quantize_row_x86`,
//! `quant::q8_k`), while the
//! weight side `x` may be -128 (`|x| = 128` is read as an unsigned byte).

use std::arch::x86_64::*;

use super::super::{erase_dot, Isa, Kernels, Quantizers, VecDotFn};
use crate::quant::{
    iq4_nl::BlockIQ4NL, iq4_xs::BlockIQ4XS, q2_k::BlockQ2K, q3_k::BlockQ3K, q4_0::BlockQ4_0,
    q4_1::BlockQ4_1, q4_k::BlockQ4K, q5_0::BlockQ5_0, q5_1::BlockQ5_1, q5_k::BlockQ5K,
    q6_k::BlockQ6K, q8_0::BlockQ8_0, DotOrder, GgmlType,
};

pub mod bf16;
pub mod f16;
pub mod f32;
pub mod kmatvec;
pub mod matvec;
pub mod minmatvec;
/// The two float orders of a super-block format whose integer work is one local function
/// (`vec_dot`, ggml's AVX2 kernel, and `vec_dot_tiled`, ggml's tiled K-quant matmul), each
/// bit-identical to the scalar reference of the same name in `crate::quant::$module`, compiled
/// with the target features `$features` (the AVX2 kernels' by default; the AVX-VNNI kernels
/// give theirs). Two shapes:
///
/// - `lane_dots!(B, "q3_k")`: `block_lanes(x: &B, y: &BlockQ8K) -> __m256i` gives the eight
///   exact i32 lanes of a super-block, its scales applied, and the scale is `x.d` (Q3_K,
///   Q6_K, IQ4_XS): `acc = fma(d_w * d_a, lanes, acc)` and `hsum_float_8` at the end, or
///   `acc = fma(d_w * s, d_a, acc)` per super-block, `s` the exact sum of its lanes;
/// - `lane_dots!(mins B, "q2_k")`: `block_sums(x, y) -> (lanes, mins)` also gives the
///   minimum terms' lanes, the scales are `x.d` and `x.dmin` (Q2_K): per super-block
///   `acc = fma(-d_a * dmin, mins, acc)` then `acc = fma(d_a * d, lanes, acc)`, or
///   `res = fma(-dmin, s2, d * s1)`, `acc = fma(res, d_a, acc)`.
macro_rules! lane_dots {
    ($B:ty, $module:literal) => {
        $crate::kernels::x86_64::avx2::lane_dots!($B, $module, "avx2,fma,f16c");
    };
    (mins $B:ty, $module:literal) => {
        $crate::kernels::x86_64::avx2::lane_dots!(mins $B, $module, "avx2,fma,f16c");
    };
    ($B:ty, $module:literal, $features:literal) => {
        $crate::kernels::x86_64::avx2::lane_dots!(@dots $B, $module, $features,
            |acc: __m256, x: &$B, y: &$crate::quant::q8_k::BlockQ8K| {
                let d = _mm256_set1_ps(y.d * f16_to_f32(x.d));
                _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_lanes(x, y)), acc)
            },
            |acc: f32, x: &$B, y: &$crate::quant::q8_k::BlockQ8K| {
                let s1 = hsum_i32(block_lanes(x, y));
                (f16_to_f32(x.d) * s1 as f32).mul_add(y.d, acc)
            });
    };
    (mins $B:ty, $module:literal, $features:literal) => {
        $crate::kernels::x86_64::avx2::lane_dots!(@dots $B, $module, $features,
            |acc: __m256, x: &$B, y: &$crate::quant::q8_k::BlockQ8K| {
                let d = _mm256_set1_ps(y.d * f16_to_f32(x.d));
                let dmin = _mm256_set1_ps(-y.d * f16_to_f32(x.dmin));
                let (lanes, mins) = block_sums(x, y);
                let acc = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(mins), acc);
                _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc)
            },
            |acc: f32, x: &$B, y: &$crate::quant::q8_k::BlockQ8K| {
                let (lanes, mins) = block_sums(x, y);
                let (s1, s2) = (hsum_i32(lanes), hsum_i32(mins));
                let res = (-f16_to_f32(x.dmin)).mul_add(s2 as f32, f16_to_f32(x.d) * s1 as f32);
                res.mul_add(y.d, acc)
            });
    };
    (@dots $B:ty, $module:literal, $features:literal, $step:expr, $tiled_step:expr) => {
        #[doc = concat!("Bit-identical to `crate::quant::", $module, "::vec_dot` (ggml's AVX2 kernel).")]
        ///
        /// # Safety
        #[doc = concat!("The CPU must support the target features ", $features, ".")]
        #[target_feature(enable = $features)]
        pub unsafe fn vec_dot(w: &[$B], a: &[$crate::quant::q8_k::BlockQ8K]) -> f32 {
            use std::arch::x86_64::*;
            #[allow(unused_imports)]
            use $crate::kernels::x86_64::avx2::{f16_to_f32, hsum_i32, hsum_ps};
            debug_assert_eq!(w.len(), a.len());
            // SAFETY: the CPU features are this function's contract; the helpers read the
            // borrowed blocks only.
            unsafe {
                let step = $step;
                let mut acc = _mm256_setzero_ps();
                for (x, y) in w.iter().zip(a) {
                    acc = step(acc, x, y);
                }
                hsum_ps(acc)
            }
        }

        #[doc = concat!("Bit-identical to `crate::quant::", $module, "::vec_dot_tiled` (ggml's tiled K-quant matmul).")]
        ///
        /// # Safety
        #[doc = concat!("The CPU must support the target features ", $features, ".")]
        #[target_feature(enable = $features)]
        pub unsafe fn vec_dot_tiled(w: &[$B], a: &[$crate::quant::q8_k::BlockQ8K]) -> f32 {
            #[allow(unused_imports)]
            use std::arch::x86_64::*;
            #[allow(unused_imports)]
            use $crate::kernels::x86_64::avx2::{f16_to_f32, hsum_i32, hsum_ps};
            debug_assert_eq!(w.len(), a.len());
            // SAFETY: the CPU features are this function's contract; the helpers read the
            // borrowed blocks only.
            unsafe {
                let step = $tiled_step;
                let mut acc = 0.0f32;
                for (x, y) in w.iter().zip(a) {
                    acc = step(acc, x, y);
                }
                acc
            }
        }
    };
}
pub(crate) use lane_dots;

pub mod iq4_nl;
pub mod iq4_xs;
pub mod ops;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q4_k_packed;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q6_k_packed;
pub mod q8_0;
pub mod q8_k;

/// The AVX2 kernel of `ty` in `order`, where there is one bit-identical to the scalar
/// reference of that order (`None`: the table uses the reference).
pub(crate) fn simd_dot(ty: GgmlType, order: DotOrder) -> Option<VecDotFn> {
    use DotOrder::*;
    use GgmlType as T;
    Some(match (ty, order) {
        (T::F32, Llamafile) => erase_dot!(f32, f32::vec_dot_llamafile),
        (T::F32, _) => erase_dot!(f32, f32::vec_dot),
        (T::F16, Llamafile) => erase_dot!(half::f16, f16::vec_dot_llamafile),
        (T::F16, _) => erase_dot!(half::f16, f16::vec_dot),
        (T::BF16, Llamafile) => erase_dot!(half::bf16, bf16::vec_dot_llamafile),
        (T::BF16, _) => erase_dot!(half::bf16, bf16::vec_dot),
        (T::Q8_0, _) => erase_dot!(BlockQ8_0, q8_0::vec_dot),
        (T::Q4_0, RepackedGemm | RepackedGemv) => erase_dot!(BlockQ4_0, q4_0::vec_dot_repacked),
        (T::Q4_0, _) => erase_dot!(BlockQ4_0, q4_0::vec_dot),
        (T::Q5_0, _) => erase_dot!(BlockQ5_0, q5_0::vec_dot),
        (T::Q4_1, _) => erase_dot!(BlockQ4_1, q4_1::vec_dot),
        (T::Q5_1, _) => erase_dot!(BlockQ5_1, q5_1::vec_dot),
        (T::IQ4_NL, RepackedGemm | RepackedGemv) => {
            erase_dot!(BlockIQ4NL, iq4_nl::vec_dot_repacked)
        }
        (T::IQ4_NL, _) => erase_dot!(BlockIQ4NL, iq4_nl::vec_dot),
        (T::Q2_K, Tiled) => erase_dot!(BlockQ2K, q2_k::vec_dot_tiled),
        (T::Q2_K, _) => erase_dot!(BlockQ2K, q2_k::vec_dot),
        (T::Q3_K, Tiled) => erase_dot!(BlockQ3K, q3_k::vec_dot_tiled),
        (T::Q3_K, _) => erase_dot!(BlockQ3K, q3_k::vec_dot),
        (T::IQ4_XS, Tiled) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot_tiled),
        (T::IQ4_XS, _) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot),
        (T::Q4_K, VecDot | Llamafile) => erase_dot!(BlockQ4K, q4_k::vec_dot),
        (T::Q4_K, Tiled) => erase_dot!(BlockQ4K, q4_k::vec_dot_tiled),
        (T::Q4_K, RepackedGemm) => erase_dot!(BlockQ4K, q4_k::vec_dot_repacked_gemm),
        (T::Q4_K, RepackedGemv) => erase_dot!(BlockQ4K, q4_k::vec_dot_repacked_gemv),
        (T::Q5_K, Tiled) => erase_dot!(BlockQ5K, q5_k::vec_dot_tiled),
        (T::Q5_K, _) => erase_dot!(BlockQ5K, q5_k::vec_dot),
        (T::Q6_K, Tiled) => erase_dot!(BlockQ6K, q6_k::vec_dot_tiled),
        (T::Q6_K, _) => erase_dot!(BlockQ6K, q6_k::vec_dot),
        _ => return None,
    })
}

/// The AVX2 table. Only [`Kernels::avx2`] calls this, after detecting AVX2, FMA and F16C.
pub(crate) fn table() -> Kernels {
    Kernels::build(Isa::Avx2, simd_dot, quantizers())
}

/// The AVX2 activation quantizers (also the AVX-VNNI table's).
pub(crate) fn quantizers() -> Quantizers {
    Quantizers {
        q8_0: q8_0::quantize_row_x86,
        q8_1: q8_0::quantize_row_q8_1_x86,
        q8_k: q8_k::quantize_row,
    }
}

// ---- shared helpers (ggml's names in parentheses) ------------------------------------------

/// f16 -> f32 with F16C (exact, the same value as `half::f16::to_f32`).
///
/// Written in assembly so that the value enters the vector register with `vmovd`, which
/// zeroes the rest of it. From the intrinsics, LLVM emits `vpinsrw` into whatever register it
/// likes (only lane 0 is used), often a kernel's FMA accumulator: a false dependency that chained
/// every block's scale to the previous block's FMA and made the Q8_0 matrix-vector product
/// (decode's largest cost) latency-bound, about 30 % slower.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn f16_to_f32(h: half::f16) -> f32 {
    let out: __m128;
    // SAFETY: the CPU features are this function's contract; the two instructions only read
    // `bits` and write the output register (no memory, no stack, no flags).
    unsafe {
        std::arch::asm!(
            "vmovd {t}, {b:e}",
            "vcvtph2ps {t}, {t}",
            b = in(reg) u32::from(h.to_bits()),
            t = out(xmm_reg) out,
            options(pure, nomem, nostack, preserves_flags),
        );
        _mm_cvtss_f32(out)
    }
}

/// The sum of the 8 lanes (`hsum_float_8`): ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum_ps(x: __m256) -> f32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let mut r = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
        r = _mm_add_ps(r, _mm_movehl_ps(r, r));
        r = _mm_add_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }
}

/// Signed i8 x i8 products of 32 lanes, summed in groups of four into 8 i32 lanes
/// (`mul_sum_i8_pairs` / `mul_sum_i8_pairs_float` without the conversion).
///
/// `maddubs` needs an unsigned left operand, so it multiplies `|x|` by `y` with the sign of
/// `x` moved onto it. Exact when `y != -128` (negating -128 wraps): callers pass the weights
/// as `x` and the activations (in [-127, 127], see the module doc) as `y`. Bounds: each
/// product is at most 128 * 127 = 16256 in magnitude, a pair 32512 < 32767, so the i16 pair
/// sums of `maddubs` never saturate; each i32 lane holds four products.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn mul_sum_i8_pairs(x: __m256i, y: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let ax = _mm256_sign_epi8(x, x);
        let sy = _mm256_sign_epi8(y, x);
        _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
    }
}

/// Unsigned u8 x signed i8 products of 32 lanes (`x` in 0..=31, `y` any i8), summed in groups
/// of four into 8 i32 lanes. Bound: a pair is at most 2 * 31 * 128 = 7936, far from the i16
/// saturation of `maddubs`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn mul_sum_us8_pairs(x: __m256i, y: __m256i) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1)) }
}

/// The 32 nibbles of 16 bytes as bytes in 0..=15, in value order: the low nibbles of
/// `qs[0..16]` are values 0..16, the high nibbles values 16..32 (`bytes_from_nibbles_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn bytes_from_nibbles_32(qs: &[u8; 16]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 16 bytes of `qs`
    // (unaligned load).
    unsafe {
        // The 16 bytes in both halves (`vbroadcasti128` from memory: a load, no vector
        // instruction), the upper half shifted down a nibble: one shift and one `and`, not
        // ggml's shift, `vinserti128` and `and` (its own unpacking is instruction-bound).
        let tmp = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr() as *const __m128i));
        let bytes = _mm256_srlv_epi64(tmp, _mm256_set_epi64x(4, 4, 0, 0));
        _mm256_and_si256(_mm256_set1_epi8(0x0F), bytes)
    }
}

/// Spreads the 32 bits of `qh` (little-endian) to 32 bytes: byte j is 0xFF if bit j is set,
/// else 0 (`bytes_from_bits_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn bytes_from_bits_32(qh: [u8; 4]) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let x32 = u32::from_le_bytes(qh) as i32;
        // Byte j of the result takes byte j / 8 of x32 ...
        let shuf = _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32), shuf);
        // ... and sets every bit except bit j % 8, so it is all ones exactly when that bit is set.
        let bit_mask = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
        let bytes = _mm256_or_si256(bytes, bit_mask);
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }
}

/// `vpshufb` of `a` by `ctrl` kept as one instruction (in assembly: LLVM rewrites a
/// constant-control `vpshufb` that broadcasts one i16 into two shuffles, `vpshufd`/`vpsrld`
/// and `vpbroadcastw`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn pshufb(a: __m256i, ctrl: __m256i) -> __m256i {
    let out;
    // SAFETY: the CPU features are this function's contract; the instruction only reads and
    // writes vector registers (no memory, no stack, no flags).
    unsafe {
        std::arch::asm!(
            "vpshufb {out}, {a}, {ctrl}",
            out = lateout(ymm_reg) out,
            a = in(ymm_reg) a,
            ctrl = in(ymm_reg) ctrl,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Sixteen i8 scales of a K-quant super-block's 16-value groups as i16, the even groups
/// (run `r`'s low halves) in the low 128-bit lane and the odd ones in the high lane, so that
/// one in-lane `vpshufb` ([`run_scales`]) gives a 32-value run's two scales.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn group_scales_i16(sc: __m128i) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let evens_odds = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, evens_odds))
    }
}

/// Run `run`'s scales from [`group_scales_i16`]: group `2 * run` in every i16 of the low
/// lane, `2 * run + 1` in the high lane (one `vpshufb`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn run_scales(scales: __m256i, run: usize) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let b = (2 * run) as u8;
        pshufb(scales, _mm256_set1_epi16(i16::from_le_bytes([b, b + 1])))
    }
}

/// Loads 32 bytes from a reference to (at least) 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load32<T>(p: &[T; 32]) -> __m256i
where
    T: Copy,
{
    debug_assert!(std::mem::size_of::<T>() == 1);
    // SAFETY: `p` is 32 one-byte values (asserted in debug builds; every caller passes u8 or
    // i8 arrays); the load is unaligned.
    unsafe { _mm256_loadu_si256(p.as_ptr() as *const __m256i) }
}

/// The sum of the 8 i32 lanes of `v` (`hsum_i32_8`); exact (wrapping, but every caller's
/// bound keeps the sum inside i32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum_i32(v: __m256i) -> i32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        hsum_i32_128(s)
    }
}

/// The sum of the 4 i32 lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum_i32_128(v: __m128i) -> i32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let s = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}

/// The sums of the 8 i32 lanes of each of four vectors, as the four lanes of one vector (two
/// rounds of `hadd` and one add of the halves).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum4_i32(v: [__m256i; 4]) -> __m128i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        // [v0 lo, v1 lo, v2 lo, v3 lo | v0 hi, v1 hi, v2 hi, v3 hi]
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
    }
}

/// The 8 x 8 transpose of 32-bit units: `out[g]` unit `r` = `v[r]` unit `g`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn transpose8x32(v: [__m256i; 8]) -> [__m256i; 8] {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let a0 = _mm256_unpacklo_epi32(v[0], v[1]); // 00 10 01 11 | 04 14 05 15
        let a1 = _mm256_unpackhi_epi32(v[0], v[1]); // 02 12 03 13 | 06 16 07 17
        let a2 = _mm256_unpacklo_epi32(v[2], v[3]);
        let a3 = _mm256_unpackhi_epi32(v[2], v[3]);
        let a4 = _mm256_unpacklo_epi32(v[4], v[5]);
        let a5 = _mm256_unpackhi_epi32(v[4], v[5]);
        let a6 = _mm256_unpacklo_epi32(v[6], v[7]);
        let a7 = _mm256_unpackhi_epi32(v[6], v[7]);
        let b0 = _mm256_unpacklo_epi64(a0, a2); // 00 10 20 30 | 04 14 24 34
        let b1 = _mm256_unpackhi_epi64(a0, a2); // 01 11 21 31 | 05 ..
        let b2 = _mm256_unpacklo_epi64(a1, a3); // 02 ..       | 06 ..
        let b3 = _mm256_unpackhi_epi64(a1, a3); // 03 ..       | 07 ..
        let b4 = _mm256_unpacklo_epi64(a4, a6); // 40 50 60 70 | 44 ..
        let b5 = _mm256_unpackhi_epi64(a4, a6);
        let b6 = _mm256_unpacklo_epi64(a5, a7);
        let b7 = _mm256_unpackhi_epi64(a5, a7);
        [
            _mm256_permute2x128_si256::<0x20>(b0, b4),
            _mm256_permute2x128_si256::<0x20>(b1, b5),
            _mm256_permute2x128_si256::<0x20>(b2, b6),
            _mm256_permute2x128_si256::<0x20>(b3, b7),
            _mm256_permute2x128_si256::<0x31>(b0, b4),
            _mm256_permute2x128_si256::<0x31>(b1, b5),
            _mm256_permute2x128_si256::<0x31>(b2, b6),
            _mm256_permute2x128_si256::<0x31>(b3, b7),
        ]
    }
}
