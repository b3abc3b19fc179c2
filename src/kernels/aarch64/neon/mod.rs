//! NEON kernels (plain NEON for the Pi 4, with the dot-product extension's `sdot` for the
//! Pi 5), following ggml's `ggml/src/ggml-cpu/arch/arm/quants.c` for the integer work.
//!
//! The scalar reference adds its exact integer block sums in the float order of ggml's x86
//! AVX2 kernels (eight f32 lanes fed by FMAs, see `crate::quant::lanes`), so that ferrite's
//! outputs are bit-identical to llama.cpp's on every CPU. A NEON kernel enters the table only
//! when it reproduces that order exactly (the eight lanes as pairs of 4-lane registers,
//! `vfmaq_f32` for the FMAs, `hsum_float_8` on the pair); until a format has one, the NEON
//! tables use the scalar reference for it.
//!
//! NEON kernels (both variants) exist for Q8_0 (every order), Q4_0 (vec_dot, repacked),
//! Q5_0, Q4_1, Q5_1 (every order: their only x86 order is vec_dot's), IQ4_NL (vec_dot,
//! repacked), Q4_K (vec_dot, tiled, repacked GEMV, repacked GEMM), Q2_K, Q3_K, Q5_K, Q6_K
//! and IQ4_XS (vec_dot, tiled), F32, F16 and BF16 (vec_dot, llamafile; one kernel serves
//! both variants). The activation quantizers (Q8_0, Q8_1, Q8_K; [`quantize`]) are NEON too,
//! byte-identical to the scalar ones, in both tables. The f32 vector operations of the forward
//! pass (attention's f16 dot products and accumulation, softmax, RoPE, SwiGLU, GeGLU, f16
//! rounding) have NEON versions in [`ops`], bit-identical to `crate::ops` and
//! `crate::kernels::attn`'s references, which dispatch to them on aarch64.
//!
//! Prefill's four-token kernels ([`tile`]: Q8_0, and Q5_0 through it, two rows by four
//! tokens; Q4_K in the tiled and repacked GEMM orders and Q6_K in the tiled one, a
//! super-block unpacked once for four tokens) give each token the bits of these one-token
//! kernels.
//!
//! Each integer format's file has `vec_dot*` (plain NEON: `vmull_s8` + pairwise adds,
//! [`Mull`]) and `vec_dot*_dotprod` (`sdot`, [`Sdot`]) variants; both give the same i32 lanes
//! as x86's `maddubs` + `madd` (lane `l` of 16 bytes = the four products of bytes
//! `4l .. 4l + 4`), so the x86 register of eight lanes is the pair (lanes 0..4 = bytes 0..16,
//! lanes 4..8 = bytes 16..32).
//!
//! `sdot` is not a stable `std::arch` intrinsic (`stdarch_neon_dotprod`), so [`Sdot`] emits the
//! instruction with `asm!`; it is only ever inlined into `#[target_feature(enable =
//! "neon,dotprod")]` functions, which [`crate::kernels::Kernels::neon_dotprod`] hands out only
//! after detecting the extension.

use std::arch::aarch64::*;

use super::super::{erase_dot, Isa, Kernels, Quantizers, VecDotFn};
use crate::quant::{
    iq4_nl::BlockIQ4NL, q4_0::BlockQ4_0, q4_1::BlockQ4_1, q4_k::BlockQ4K, q5_0::BlockQ5_0,
    q5_1::BlockQ5_1, q5_k::BlockQ5K, q6_k::BlockQ6K, q8_0::BlockQ8_0, DotOrder, GgmlType,
};
use crate::quant::{iq4_xs::BlockIQ4XS, q2_k::BlockQ2K, q3_k::BlockQ3K};

/// Defines one dot order's two table entries, `$plain` (plain NEON: [`Mull`]) and `$dotprod`
/// (`sdot`: [`Sdot`]), both `$body::<D>(w, a)` (`$body::<D, $c>` with a const argument) for
/// weight blocks `$W` and activation blocks `$A`; the doc comments given come first.
macro_rules! neon_dots {
    ($(#[$doc:meta])* $plain:ident, $dotprod:ident = $body:ident $(, $c:ident)? ($W:ty, $A:ty)) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support NEON.
        #[target_feature(enable = "neon")]
        pub unsafe fn $plain(w: &[$W], a: &[$A]) -> f32 {
            // SAFETY: NEON is this function's contract.
            unsafe { $body::<$crate::kernels::aarch64::neon::Mull $(, $c)?>(w, a) }
        }

        #[doc = concat!("As [`", stringify!($plain), "`] with `sdot`.")]
        ///
        /// # Safety
        /// The CPU must support NEON and the dot-product extension.
        #[target_feature(enable = "neon,dotprod")]
        pub unsafe fn $dotprod(w: &[$W], a: &[$A]) -> f32 {
            // SAFETY: NEON and dotprod are this function's contract.
            unsafe { $body::<$crate::kernels::aarch64::neon::Sdot $(, $c)?>(w, a) }
        }
    };
}
pub(crate) use neon_dots;

/// As [`neon_dots!`] for four-token kernels: `$plain` and `$dotprod` take one weight row and
/// four activation rows and give the four dot products (`$body::<D>(w, a)`), each the bits of
/// the one-token kernel of the same order (prefill's tiles, `Kernels::matmul_tile`).
macro_rules! neon_dots_x4 {
    ($(#[$doc:meta])* $plain:ident, $dotprod:ident = $body:ident $(, $c:ident)? ($W:ty, $A:ty)) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support NEON; every `a[k]` has `w.len()` blocks.
        #[target_feature(enable = "neon")]
        pub unsafe fn $plain(w: &[$W], a: [&[$A]; 4]) -> [f32; 4] {
            assert!(a.iter().all(|r| r.len() == w.len()));
            // SAFETY: NEON is this function's contract; the lengths are checked above.
            unsafe { $body::<$crate::kernels::aarch64::neon::Mull $(, $c)?>(w, a) }
        }

        #[doc = concat!("As [`", stringify!($plain), "`] with `sdot`.")]
        ///
        /// # Safety
        /// The CPU must support NEON and the dot-product extension; every `a[k]` has
        /// `w.len()` blocks.
        #[target_feature(enable = "neon,dotprod")]
        pub unsafe fn $dotprod(w: &[$W], a: [&[$A]; 4]) -> [f32; 4] {
            assert!(a.iter().all(|r| r.len() == w.len()));
            // SAFETY: NEON and dotprod are this function's contract; the lengths are checked.
            unsafe { $body::<$crate::kernels::aarch64::neon::Sdot $(, $c)?>(w, a) }
        }
    };
}
pub(crate) use neon_dots_x4;

pub mod bf16;
pub mod f16;
pub mod f32;
pub mod iq4_nl;
pub mod iq4_xs;
pub mod matvec;
pub mod ops;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod quantize;
pub mod tile;

/// The NEON kernel of `ty` in `order` (`dotprod`: the `sdot` variant), where there is one
/// bit-identical to the scalar reference of that order (`None`: the table uses the reference).
fn simd_dot(ty: GgmlType, order: DotOrder, dotprod: bool) -> Option<VecDotFn> {
    use DotOrder::*;
    use GgmlType as T;
    Some(match (ty, order, dotprod) {
        (T::F32, Llamafile, _) => erase_dot!(f32, f32::vec_dot_llamafile),
        (T::F32, _, _) => erase_dot!(f32, f32::vec_dot),
        (T::F16, Llamafile, _) => erase_dot!(half::f16, f16::vec_dot_llamafile),
        (T::F16, _, _) => erase_dot!(half::f16, f16::vec_dot),
        (T::BF16, Llamafile, _) => erase_dot!(half::bf16, bf16::vec_dot_llamafile),
        (T::BF16, _, _) => erase_dot!(half::bf16, bf16::vec_dot),
        (T::Q8_0, _, false) => erase_dot!(BlockQ8_0, q8_0::vec_dot),
        (T::Q8_0, _, true) => erase_dot!(BlockQ8_0, q8_0::vec_dot_dotprod),
        (T::Q4_K, VecDot | Llamafile, false) => erase_dot!(BlockQ4K, q4_k::vec_dot),
        (T::Q4_K, VecDot | Llamafile, true) => erase_dot!(BlockQ4K, q4_k::vec_dot_dotprod),
        (T::Q4_K, Tiled, false) => erase_dot!(BlockQ4K, q4_k::vec_dot_tiled),
        (T::Q4_K, Tiled, true) => erase_dot!(BlockQ4K, q4_k::vec_dot_tiled_dotprod),
        (T::Q4_K, RepackedGemv, false) => erase_dot!(BlockQ4K, q4_k::vec_dot_repacked_gemv),
        (T::Q4_K, RepackedGemv, true) => {
            erase_dot!(BlockQ4K, q4_k::vec_dot_repacked_gemv_dotprod)
        }
        (T::Q4_K, RepackedGemm, false) => erase_dot!(BlockQ4K, q4_k::vec_dot_repacked_gemm),
        (T::Q4_K, RepackedGemm, true) => {
            erase_dot!(BlockQ4K, q4_k::vec_dot_repacked_gemm_dotprod)
        }
        (T::Q6_K, Tiled, false) => erase_dot!(BlockQ6K, q6_k::vec_dot_tiled),
        (T::Q6_K, Tiled, true) => erase_dot!(BlockQ6K, q6_k::vec_dot_tiled_dotprod),
        (T::Q6_K, _, false) => erase_dot!(BlockQ6K, q6_k::vec_dot),
        (T::Q6_K, _, true) => erase_dot!(BlockQ6K, q6_k::vec_dot_dotprod),
        (T::Q4_0, RepackedGemm | RepackedGemv, false) => {
            erase_dot!(BlockQ4_0, q4_0::vec_dot_repacked)
        }
        (T::Q4_0, RepackedGemm | RepackedGemv, true) => {
            erase_dot!(BlockQ4_0, q4_0::vec_dot_repacked_dotprod)
        }
        (T::Q4_0, _, false) => erase_dot!(BlockQ4_0, q4_0::vec_dot),
        (T::Q4_0, _, true) => erase_dot!(BlockQ4_0, q4_0::vec_dot_dotprod),
        (T::Q5_0, _, false) => erase_dot!(BlockQ5_0, q5_0::vec_dot),
        (T::Q5_0, _, true) => erase_dot!(BlockQ5_0, q5_0::vec_dot_dotprod),
        (T::Q4_1, _, false) => erase_dot!(BlockQ4_1, q4_1::vec_dot),
        (T::Q4_1, _, true) => erase_dot!(BlockQ4_1, q4_1::vec_dot_dotprod),
        (T::Q5_1, _, false) => erase_dot!(BlockQ5_1, q5_1::vec_dot),
        (T::Q5_1, _, true) => erase_dot!(BlockQ5_1, q5_1::vec_dot_dotprod),
        (T::IQ4_NL, RepackedGemm | RepackedGemv, false) => {
            erase_dot!(BlockIQ4NL, iq4_nl::vec_dot_repacked)
        }
        (T::IQ4_NL, RepackedGemm | RepackedGemv, true) => {
            erase_dot!(BlockIQ4NL, iq4_nl::vec_dot_repacked_dotprod)
        }
        (T::IQ4_NL, _, false) => erase_dot!(BlockIQ4NL, iq4_nl::vec_dot),
        (T::IQ4_NL, _, true) => erase_dot!(BlockIQ4NL, iq4_nl::vec_dot_dotprod),
        (T::Q5_K, Tiled, false) => erase_dot!(BlockQ5K, q5_k::vec_dot_tiled),
        (T::Q5_K, Tiled, true) => erase_dot!(BlockQ5K, q5_k::vec_dot_tiled_dotprod),
        (T::Q5_K, _, false) => erase_dot!(BlockQ5K, q5_k::vec_dot),
        (T::Q5_K, _, true) => erase_dot!(BlockQ5K, q5_k::vec_dot_dotprod),
        (T::Q2_K, Tiled, false) => erase_dot!(BlockQ2K, q2_k::vec_dot_tiled),
        (T::Q2_K, Tiled, true) => erase_dot!(BlockQ2K, q2_k::vec_dot_tiled_dotprod),
        (T::Q2_K, _, false) => erase_dot!(BlockQ2K, q2_k::vec_dot),
        (T::Q2_K, _, true) => erase_dot!(BlockQ2K, q2_k::vec_dot_dotprod),
        (T::Q3_K, Tiled, false) => erase_dot!(BlockQ3K, q3_k::vec_dot_tiled),
        (T::Q3_K, Tiled, true) => erase_dot!(BlockQ3K, q3_k::vec_dot_tiled_dotprod),
        (T::Q3_K, _, false) => erase_dot!(BlockQ3K, q3_k::vec_dot),
        (T::Q3_K, _, true) => erase_dot!(BlockQ3K, q3_k::vec_dot_dotprod),
        (T::IQ4_XS, Tiled, false) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot_tiled),
        (T::IQ4_XS, Tiled, true) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot_tiled_dotprod),
        (T::IQ4_XS, _, false) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot),
        (T::IQ4_XS, _, true) => erase_dot!(BlockIQ4XS, iq4_xs::vec_dot_dotprod),
        _ => return None,
    })
}

/// The NEON table (`dotprod`: the `sdot` variants). Only [`Kernels::neon`] and
/// [`Kernels::neon_dotprod`] call this, after detecting the features.
pub(crate) fn table(dotprod: bool) -> Kernels {
    Kernels::build(
        if dotprod { Isa::NeonDotprod } else { Isa::Neon },
        |ty, order| simd_dot(ty, order, dotprod),
        Quantizers {
            q8_0: quantize::quantize_q8_0,
            q8_1: quantize::quantize_q8_1,
            q8_k: quantize::quantize_q8_k,
        },
    )
}

/// The exact f32 value of an f16: one `fcvt`, which is base ARMv8 floating point (every
/// aarch64 CPU). `half::f16::to_f32` checks at run time, on every call, for the FP16
/// *arithmetic* extension and without it (the Pi 4's cortex-a72) converts in software; the
/// kernels convert a scale or two per block, so that cost is inside their loops.
#[inline(always)]
pub(crate) fn f16_to_f32(h: half::f16) -> f32 {
    let out: f32;
    // SAFETY: `fcvt` reads and writes floating-point registers only (no memory, no stack, no
    // flags); floating point and NEON are part of every aarch64 CPU. It reads the low 16 bits
    // of the input register, where `to_bits` puts the f16.
    unsafe {
        std::arch::asm!(
            "fcvt {out:s}, {h:h}",
            h = in(vreg) h.to_bits(),
            out = lateout(vreg) out,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// ggml's `hsum_float_8` of the eight lanes held as (lanes 0..4, lanes 4..8):
/// `((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7))` (as `crate::quant::lanes::hsum8`).
///
/// # Safety
/// The CPU must support NEON.
#[inline(always)]
pub(crate) unsafe fn hsum8(lo: float32x4_t, hi: float32x4_t) -> f32 {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let r = vaddq_f32(hi, lo);
        (vgetq_lane_f32::<0>(r) + vgetq_lane_f32::<2>(r))
            + (vgetq_lane_f32::<1>(r) + vgetq_lane_f32::<3>(r))
    }
}

/// Eight f16 at `p` widened to f32, as (values 0..4, values 4..8): `fcvtl` and `fcvtl2`.
///
/// # Safety
/// The CPU must support NEON; `p` must be valid for reading 8 values (16 bytes).
#[inline(always)]
pub(crate) unsafe fn load_f16x8(p: *const half::f16) -> (float32x4_t, float32x4_t) {
    // SAFETY: NEON and the 16 readable bytes at `p` are the caller's contract (`vld1q_u16`
    // needs only the alignment of `u16`, which `f16` has); the instructions read and write
    // registers only.
    unsafe {
        let h = vld1q_u16(p as *const u16);
        let (lo, hi): (float32x4_t, float32x4_t);
        std::arch::asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            h = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
        (lo, hi)
    }
}

/// Four f16 (as bits) as f32 (exact conversions): one `fcvtl`.
///
/// # Safety
/// The CPU must support NEON.
#[inline(always)]
pub(crate) unsafe fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: NEON is the caller's contract; `fcvtl` reads and writes registers only.
    unsafe {
        std::arch::asm!(
            "fcvtl {out:v}.4s, {h:v}.4h",
            h = in(vreg) h,
            out = lateout(vreg) out,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// Four f16 as f32 (exact conversions): one `fcvtl`.
///
/// # Safety
/// The CPU must support NEON.
#[inline(always)]
pub(crate) unsafe fn load_f16x4(h: [half::f16; 4]) -> float32x4_t {
    let bits = u64::from(h[0].to_bits())
        | u64::from(h[1].to_bits()) << 16
        | u64::from(h[2].to_bits()) << 32
        | u64::from(h[3].to_bits()) << 48;
    // SAFETY: NEON is the caller's contract.
    unsafe { f16x4_to_f32(vcreate_u16(bits)) }
}

/// ggml's `GGML_F32x8_REDUCE` of four 8-lane accumulators held as `s[2j]`, `s[2j + 1]`
/// (lanes 0..4, 4..8 of accumulator `j`): `(s0 + s2) + (s1 + s3)` lane-wise, the halves
/// added, then `(t0 + t1) + (t2 + t3)` (as `crate::quant::lanes::reduce_f32x8x4`).
///
/// # Safety
/// The CPU must support NEON.
#[inline(always)]
pub(crate) unsafe fn reduce8x4(s: &[float32x4_t; 8]) -> f32 {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let lo = vaddq_f32(vaddq_f32(s[0], s[4]), vaddq_f32(s[2], s[6]));
        let hi = vaddq_f32(vaddq_f32(s[1], s[5]), vaddq_f32(s[3], s[7]));
        let t = vaddq_f32(lo, hi);
        (vgetq_lane_f32::<0>(t) + vgetq_lane_f32::<1>(t))
            + (vgetq_lane_f32::<2>(t) + vgetq_lane_f32::<3>(t))
    }
}

/// The 2-bit fields of a K-quant super-block's 64 `qs` bytes (Q2_K's quants, Q3_K's low
/// bits), in value order: `f(r, k, field)` for run `r` (values `32r .. 32r + 32`) and its
/// bytes `16k .. 16k + 16`, `field` holding bits `2s + 1 : 2s` of `qs[32h + 16k ..][..16]`
/// where `r = 4h + s`.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn two_bit_fields(qs: &[u8; 64], mut f: impl FnMut(usize, usize, uint8x16_t)) {
    // SAFETY: NEON is the caller's contract; the loads read 16 bytes at `32h + 16k <= 48`.
    unsafe {
        let m3 = vdupq_n_u8(3);
        for h in 0..2 {
            let mut q = [
                vld1q_u8(qs.as_ptr().add(32 * h)),
                vld1q_u8(qs.as_ptr().add(32 * h + 16)),
            ];
            for s in 0..4 {
                for (k, qk) in q.iter_mut().enumerate() {
                    f(4 * h + s, k, vandq_u8(*qk, m3));
                    *qk = vshrq_n_u8::<2>(*qk);
                }
            }
        }
    }
}

/// The float steps of a K-quant `vec_dot` whose eight lanes carry their scales (Q3_K, IQ4_XS;
/// as `crate::quant::q3_k::vec_dot`): per block `(lo, hi) = lanes(x, y)` (lanes 0..4, 4..8),
/// `acc = fma(f32(d(x)) * d_a, f32(lane), acc)` with `vfmaq_f32`, `hsum8` at the end.
///
/// # Safety
/// The CPU must support NEON and whatever `lanes` needs; inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn k_vec_dot<B>(
    w: &[B],
    a: &[crate::quant::q8_k::BlockQ8K],
    d: impl Fn(&B) -> half::f16,
    lanes: impl Fn(&B, &crate::quant::q8_k::BlockQ8K) -> (int32x4_t, int32x4_t),
) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; no memory access of its own.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let (lo, hi) = lanes(x, y);
            let d = vdupq_n_f32(f16_to_f32(d(x)) * y.d);
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        hsum8(acc_lo, acc_hi)
    }
}

/// The float steps of ggml's tiled K-quant matmul for every K-quant (as
/// `crate::quant::q8_k::tiled_step`): per block `(s1, min) = sums(x, y)`, the exact sum `s1`
/// of the quant lanes and, for the formats with minimums, `(dmin, s2)`, then
/// `acc = tiled_step(acc, f32(d(x)), s1, min, d_a)`.
///
/// # Safety
/// As [`k_vec_dot`].
#[inline(always)]
pub(crate) unsafe fn k_vec_dot_tiled<B>(
    w: &[B],
    a: &[crate::quant::q8_k::BlockQ8K],
    d: impl Fn(&B) -> half::f16,
    sums: impl Fn(&B, &crate::quant::q8_k::BlockQ8K) -> (i32, Option<(half::f16, i32)>),
) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let mut acc = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (s1, min) = sums(x, y);
        let min = min.map(|(dmin, s2)| (f16_to_f32(dmin), s2));
        acc = crate::quant::q8_k::tiled_step(acc, f16_to_f32(d(x)), s1, min, y.d);
    }
    acc
}

/// The tiled order's float steps for four tokens at once (prefill), lane `k` of each vector
/// token `k`'s, operation for operation those of [`k_vec_dot_tiled`]: per block
/// `u = unpack(x)` once for the four tokens; per token `(s1, s2) = sums(x, &u, y)`, four
/// lanes whose total is the exact `s1` and, for the formats with minimums, four whose total
/// is `s2`; then `res = fma(-dmin, s2, d * s1)` (`d * s1` without minimums) and
/// `acc = fma(res, d_a, acc)`.
///
/// # Safety
/// The CPU must support NEON and whatever `unpack` and `sums` need; inlined into such a
/// function. Every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
pub(crate) unsafe fn k_tiled_x4<B, U>(
    w: &[B],
    a: [&[crate::quant::q8_k::BlockQ8K]; 4],
    d: impl Fn(&B) -> (half::f16, Option<half::f16>),
    unpack: impl Fn(&B) -> U,
    sums: impl Fn(&B, &U, &crate::quant::q8_k::BlockQ8K) -> (int32x4_t, Option<int32x4_t>),
) -> [f32; 4] {
    // SAFETY: the caller's CPU features; `b < w.len()` indexes every activation row (the
    // caller's contract); the store writes a local array.
    unsafe {
        let mut acc = vdupq_n_f32(0.0);
        for (b, x) in w.iter().enumerate() {
            let u = unpack(x);
            let ys: [&crate::quant::q8_k::BlockQ8K; 4] =
                std::array::from_fn(|k| a[k].get_unchecked(b));
            let yd = vld1q_f32([ys[0].d, ys[1].d, ys[2].d, ys[3].d].as_ptr());
            let t = [
                sums(x, &u, ys[0]),
                sums(x, &u, ys[1]),
                sums(x, &u, ys[2]),
                sums(x, &u, ys[3]),
            ];
            let s1 = vcvtq_f32_s32(hsum_x4([t[0].0, t[1].0, t[2].0, t[3].0]));
            let (dx, dmin) = d(x);
            let mut res = vmulq_n_f32(s1, f16_to_f32(dx));
            if let (Some(dmin), Some(p0), Some(p1), Some(p2), Some(p3)) =
                (dmin, t[0].1, t[1].1, t[2].1, t[3].1)
            {
                let s2 = vcvtq_f32_s32(hsum_x4([p0, p1, p2, p3]));
                res = vfmaq_f32(res, vdupq_n_f32(-f16_to_f32(dmin)), s2);
            }
            acc = vfmaq_f32(acc, res, yd);
        }
        let mut out = [0.0f32; 4];
        vst1q_f32(out.as_mut_ptr(), acc);
        out
    }
}

/// The exact sum of eight lanes held as (lanes 0..4, lanes 4..8).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn lane_sum((lo, hi): (int32x4_t, int32x4_t)) -> i32 {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe { vaddvq_s32(vaddq_s32(lo, hi)) }
}

/// The exact sums of the four lanes of each of `v[0..4]`, as the four lanes of one vector
/// (the caller bounds the sums).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn hsum_x4(v: [int32x4_t; 4]) -> int32x4_t {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe { vpaddq_s32(vpaddq_s32(v[0], v[1]), vpaddq_s32(v[2], v[3])) }
}

/// `v` itself, through an empty `asm!` that hides where it came from: for scale vectors made
/// by widening (`sxtl`/`uxtl`) and then used by element (`mla v, v, s.s[k]`), which the
/// compiler otherwise rewrites as a `dup` and a widening of each scale before a plain `mla`
/// (two more instructions per use; Q6_K's `vec_dot` had 33 of them a super-block).
///
/// # Safety
/// The CPU must support NEON.
#[inline(always)]
pub(crate) unsafe fn opaque(v: int32x4_t) -> int32x4_t {
    let mut v = v;
    // SAFETY: an empty instruction string; the register is only named.
    unsafe {
        std::arch::asm!("/* {v:v} */", v = inout(vreg) v, options(pure, nomem, nostack, preserves_flags));
    }
    v
}

/// `acc + b * v[k]`, fused (`vfmaq_laneq_f32` with the lane `k < 4` a constant once inlined:
/// one FMA by element): the float twin of [`mla_lane`].
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn fma_lane(
    acc: float32x4_t,
    b: float32x4_t,
    v: float32x4_t,
    k: usize,
) -> float32x4_t {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        match k {
            0 => vfmaq_laneq_f32::<0>(acc, b, v),
            1 => vfmaq_laneq_f32::<1>(acc, b, v),
            2 => vfmaq_laneq_f32::<2>(acc, b, v),
            _ => vfmaq_laneq_f32::<3>(acc, b, v),
        }
    }
}

/// `acc + s * scale g`, the scale in lane `g % 4` of `sc[g / 4]` (`g < 4N`, a constant once
/// inlined: one multiply-accumulate by element).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn mla_lane<const N: usize>(
    acc: int32x4_t,
    s: int32x4_t,
    sc: &[int32x4_t; N],
    g: usize,
) -> int32x4_t {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let v = sc[g / 4];
        match g % 4 {
            0 => vmlaq_laneq_s32::<0>(acc, s, v),
            1 => vmlaq_laneq_s32::<1>(acc, s, v),
            2 => vmlaq_laneq_s32::<2>(acc, s, v),
            _ => vmlaq_laneq_s32::<3>(acc, s, v),
        }
    }
}

/// The 4 x 4 transpose: vector `j` of the result holds lane `j` of `v[0..4]`.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn transpose4(v: [int32x4_t; 4]) -> [int32x4_t; 4] {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let t0 = vreinterpretq_s64_s32(vtrn1q_s32(v[0], v[1]));
        let t1 = vreinterpretq_s64_s32(vtrn2q_s32(v[0], v[1]));
        let t2 = vreinterpretq_s64_s32(vtrn1q_s32(v[2], v[3]));
        let t3 = vreinterpretq_s64_s32(vtrn2q_s32(v[2], v[3]));
        [
            vreinterpretq_s32_s64(vtrn1q_s64(t0, t2)),
            vreinterpretq_s32_s64(vtrn1q_s64(t1, t3)),
            vreinterpretq_s32_s64(vtrn2q_s64(t0, t2)),
            vreinterpretq_s32_s64(vtrn2q_s64(t1, t3)),
        ]
    }
}

/// Sixteen high bits (the bits of `b0`, then those of `b1`, least significant first) as bytes
/// 0x10 (bit set) or 0.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(crate) unsafe fn high_bits(b0: u8, b1: u8) -> uint8x16_t {
    // SAFETY: NEON is the caller's contract; the load reads the 16-byte constant.
    unsafe {
        const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        let bytes = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1));
        vandq_u8(vtstq_u8(bytes, vld1q_u8(BIT.as_ptr())), vdupq_n_u8(0x10))
    }
}

/// Signed 8-bit products of 16 bytes summed in x86's lanes: i32 lane `l` is the exact sum of
/// the products of bytes `4l .. 4l + 4` (what `madd(maddubs(..))` gives on x86).
pub(crate) trait I8Lanes {
    /// The four lanes of `a * b` (16 bytes each). Exact for any i8 operands
    /// (|lane| <= 4 * 128 * 128).
    ///
    /// # Safety
    /// The CPU must support the implementation's features (NEON; NEON + dotprod for
    /// [`Sdot`]), and the call must be inlined into a function that enables them.
    unsafe fn lanes16(a: int8x16_t, b: int8x16_t) -> int32x4_t;

    /// `acc + lanes16(a, b)`.
    ///
    /// # Safety
    /// As [`I8Lanes::lanes16`].
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;

    /// [`I8Lanes::lanes16`] for `b` an activation's quants (in [-127, 127], as every Q8
    /// quantizer gives): every product is at most 128 * 127 in magnitude, so two of them add
    /// within i16, which saves plain NEON an instruction.
    ///
    /// # Safety
    /// As [`I8Lanes::lanes16`].
    #[inline(always)]
    unsafe fn lanes16_y(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: the caller's contract.
        unsafe { Self::lanes16(a, b) }
    }

    /// Four i32 lanes whose total is the exact sum of the 16 products `a[i] * b[i]`, spread
    /// over the lanes as the implementation likes: for kernels that need only the sum (the
    /// four-token prefill kernels, whose orders add whole runs). Exact when every
    /// `|a[i] * b[i]| < 2^14` (any weights but -128 times activations in [-127, 127]).
    ///
    /// # Safety
    /// As [`I8Lanes::lanes16`].
    unsafe fn sum16(a: int8x16_t, b: int8x16_t) -> int32x4_t;

    /// `acc` plus four lanes whose total is the exact sum of the 32 products of `a0 * b0` and
    /// `a1 * b1` (as [`I8Lanes::sum16`]). Exact when every `|product| < 2^13` (weights of at
    /// most six bits times activations).
    ///
    /// # Safety
    /// As [`I8Lanes::lanes16`].
    unsafe fn sum32(
        acc: int32x4_t,
        a0: int8x16_t,
        b0: int8x16_t,
        a1: int8x16_t,
        b1: int8x16_t,
    ) -> int32x4_t;

    /// As [`I8Lanes::sum32`] with [`I8Lanes::sum16`]'s bound (every `|product| < 2^14`).
    ///
    /// # Safety
    /// As [`I8Lanes::lanes16`].
    unsafe fn sum32_wide(
        acc: int32x4_t,
        a0: int8x16_t,
        b0: int8x16_t,
        a1: int8x16_t,
        b1: int8x16_t,
    ) -> int32x4_t;
}

/// Plain NEON: `vmull_s8` of each half (|product| <= 2^14, fits i16), `vpaddlq_s16` adds the
/// pairs into i32 and `vpaddq_s32` the neighbouring pairs into the quads of bytes `4l .. 4l + 4`.
pub(crate) struct Mull;

impl I8Lanes for Mull {
    #[inline(always)]
    unsafe fn lanes16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: NEON is available (the caller's contract); no memory access.
        unsafe {
            let p0 = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
            let p1 = vpaddlq_s16(vmull_high_s8(a, b));
            vpaddq_s32(p0, p1)
        }
    }

    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: as `lanes16`.
        unsafe { vaddq_s32(acc, Self::lanes16(a, b)) }
    }

    /// `vmull_s8`, `vmull_high_s8`, `vpaddq_s16` (pairs of products, |sum| <= 2 * 128 * 127 <
    /// 2^15) and `vpaddlq_s16`: four instructions instead of five, the same lanes.
    #[inline(always)]
    unsafe fn lanes16_y(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: NEON is available (the caller's contract); no memory access.
        unsafe {
            let p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
            vpaddlq_s16(vpaddq_s16(p0, vmull_high_s8(a, b)))
        }
    }

    /// `vmull_s8` and `vmlal_high_s8`: i16 lane `l` holds products `l` and `l + 8` (|sum| <
    /// 2^15), `vpaddlq_s16` widens the pairs: three instructions instead of `lanes16`'s five.
    #[inline(always)]
    unsafe fn sum16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: NEON is available (the caller's contract); no memory access.
        unsafe {
            vpaddlq_s16(vmlal_high_s8(
                vmull_s8(vget_low_s8(a), vget_low_s8(b)),
                a,
                b,
            ))
        }
    }

    /// Four products per i16 lane (|sum| < 2^15), then `vpadalq_s16` into `acc`: five
    /// instructions instead of two `lanes16` and two adds.
    #[inline(always)]
    unsafe fn sum32(
        acc: int32x4_t,
        a0: int8x16_t,
        b0: int8x16_t,
        a1: int8x16_t,
        b1: int8x16_t,
    ) -> int32x4_t {
        // SAFETY: NEON is available (the caller's contract); no memory access.
        unsafe {
            let p = vmlal_high_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), a0, b0);
            let p = vmlal_high_s8(vmlal_s8(p, vget_low_s8(a1), vget_low_s8(b1)), a1, b1);
            vpadalq_s16(acc, p)
        }
    }

    /// Two products per i16 lane in each of two registers, each widened into `acc`.
    #[inline(always)]
    unsafe fn sum32_wide(
        acc: int32x4_t,
        a0: int8x16_t,
        b0: int8x16_t,
        a1: int8x16_t,
        b1: int8x16_t,
    ) -> int32x4_t {
        // SAFETY: NEON is available (the caller's contract); no memory access.
        unsafe {
            let p0 = vmlal_high_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), a0, b0);
            let p1 = vmlal_high_s8(vmull_s8(vget_low_s8(a1), vget_low_s8(b1)), a1, b1);
            vpadalq_s16(vpadalq_s16(acc, p0), p1)
        }
    }
}

/// The dot-product extension: `sdot` adds the four products of bytes `4l .. 4l + 4` into i32
/// lane `l`, the x86 lane mapping.
pub(crate) struct Sdot;

impl I8Lanes for Sdot {
    #[inline(always)]
    unsafe fn lanes16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: as `dot` (the caller's contract).
        unsafe { Self::dot(vdupq_n_s32(0), a, b) }
    }

    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: the caller guarantees the dotprod extension and inlining into a function
        // that enables it; the instruction reads and writes registers only.
        unsafe {
            std::arch::asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        acc
    }

    #[inline(always)]
    unsafe fn sum16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: as `dot` (the caller's contract).
        unsafe { Self::dot(vdupq_n_s32(0), a, b) }
    }

    #[inline(always)]
    unsafe fn sum32(
        acc: int32x4_t,
        a0: int8x16_t,
        b0: int8x16_t,
        a1: int8x16_t,
        b1: int8x16_t,
    ) -> int32x4_t {
        // SAFETY: as `dot` (the caller's contract).
        unsafe { Self::dot(Self::dot(acc, a0, b0), a1, b1) }
    }

    #[inline(always)]
    unsafe fn sum32_wide(
        acc: int32x4_t,
        a0: int8x16_t,
        b0: int8x16_t,
        a1: int8x16_t,
        b1: int8x16_t,
    ) -> int32x4_t {
        // SAFETY: as `dot` (the caller's contract); `sdot`'s lanes are i32 whatever the bound.
        unsafe { Self::sum32(acc, a0, b0, a1, b1) }
    }
}
