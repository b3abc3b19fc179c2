//! Q4_K on NEON: the dot product with Q8_K activations in the float orders of ggml's AVX2
//! `ggml_vec_dot_q4_K_q8_K` (vec_dot), its tiled K-quant matmul and its repacked
//! `ggml_gemv_q4_K_8x8_q8_K` / `ggml_gemm_q4_K_8x8_q8_K`.

use std::arch::aarch64::*;

use super::{f16_to_f32, hsum8, hsum_x4, load_f16x4, mla_lane, opaque, transpose4, I8Lanes};
use crate::kernels::scales_mins;
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K};

/// A Q4_K super-block unpacked for its products with activations: the 256 quants as 16
/// registers (chunk `c`, values `64c .. 64c + 64`: `q[4c]`, `q[4c + 1]` the low nibbles of
/// `qs[32c .. 32c + 32]`, `q[4c + 2]`, `q[4c + 3]` their high nibbles), the eight six-bit
/// scales (as two 4-byte groups) and the eight minimums as i16.
pub(super) struct Unpacked {
    pub(super) q: [int8x16_t; 16],
    pub(super) sc: [[u8; 4]; 2],
    pub(super) mins: int16x8_t,
}

/// A super-block with Q4_K's scales and minimums (Q4_K, Q5_K), unpacked for the sum-only
/// products ([`chunk_sums`], [`body_tiled_x4`]).
pub(super) trait KBlock {
    /// The super-block's scale.
    fn d(&self) -> half::f16;
    /// The super-block's minimum scale.
    fn dmin(&self) -> half::f16;
    /// The quants, scales and minimums (see [`Unpacked`]).
    ///
    /// # Safety
    /// NEON (the caller's contract); inlined into such a function.
    unsafe fn unpacked(&self) -> Unpacked;
}

impl KBlock for BlockQ4K {
    #[inline(always)]
    fn d(&self) -> half::f16 {
        self.d
    }
    #[inline(always)]
    fn dmin(&self) -> half::f16 {
        self.dmin
    }
    #[inline(always)]
    unsafe fn unpacked(&self) -> Unpacked {
        // SAFETY: NEON (the caller's contract).
        unsafe { unpack(self) }
    }
}

/// The eight six-bit scales (two 4-byte groups) and the eight minimums (as i16) of Q4_K's
/// and Q5_K's 12 scale bytes.
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn scales_and_mins(scales: &[u8; 12]) -> ([[u8; 4]; 2], int16x8_t) {
    let u = scales_mins(scales);
    let mins8 = u64::from(u[2]) | (u64::from(u[3]) << 32);
    // SAFETY: NEON (the caller's contract); no memory access.
    let mins = unsafe { vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(mins8))) };
    ([u[0].to_le_bytes(), u[1].to_le_bytes()], mins)
}

/// Unpacks `x` (see [`Unpacked`]): once per token for a one-token product, once for four
/// tokens in prefill ([`body_tiled_x4`], [`body_gemm_x4`]).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
unsafe fn unpack(x: &BlockQ4K) -> Unpacked {
    // SAFETY: NEON is the caller's contract; the loads read 16 bytes at `32c + 16 <= 112`
    // of the 128 bytes of `qs`.
    unsafe {
        let (sc, mins) = scales_and_mins(&x.scales);
        let m4 = vdupq_n_u8(0x0F);
        let mut q = [vdupq_n_s8(0); 16];
        for c in 0..4 {
            let qa = vld1q_u8(x.qs.as_ptr().add(32 * c));
            let qb = vld1q_u8(x.qs.as_ptr().add(32 * c + 16));
            q[4 * c] = vreinterpretq_s8_u8(vandq_u8(qa, m4));
            q[4 * c + 1] = vreinterpretq_s8_u8(vandq_u8(qb, m4));
            q[4 * c + 2] = vreinterpretq_s8_u8(vshrq_n_u8::<4>(qa));
            q[4 * c + 3] = vreinterpretq_s8_u8(vshrq_n_u8::<4>(qb));
        }
        Unpacked { q, sc, mins }
    }
}

/// The integer work of one super-block times one activation block: the eight x86 lanes
/// (`q8_k::k_lanes`) of each of the four 64-value chunks (sub-blocks `2c`, `2c + 1`), as
/// (lanes 0..4, lanes 4..8), and the four `min * bsum` pair sums of `scales_and_min_pairs`
/// (`q8s[j] = bsums[2j] + bsums[2j + 1]`, `pairs[m] = mins[2m] q8s[2m] + mins[2m + 1]
/// q8s[2m + 1]`).
///
/// Bounds: a chunk lane holds 16 products, each at most 15 * 128 times a scale <= 63, so
/// |lane| < 2^21, and the sum of a block's 32 lanes < 2^26; |bsum| <= 16 * 128, a pair of
/// them fits i16 (<= 4096), times a minimum <= 63 fits i32.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn products<D: I8Lanes>(
    u: &Unpacked,
    y: &BlockQ8K,
) -> ([(int32x4_t, int32x4_t); 4], int32x4_t) {
    // SAFETY: the caller's CPU features; every load reads 16 bytes (or 8 i16) inside the
    // borrowed block's arrays (q8 `qs` 256 bytes, `bsums` 16 i16).
    unsafe {
        let pairs = min_pairs(u.mins, y);
        let q8 = y.qs.as_ptr();
        let mut chunks = [(vdupq_n_s32(0), vdupq_n_s32(0)); 4];
        for (c, ch) in chunks.iter_mut().enumerate() {
            let sl = i32::from(u.sc[c / 2][2 * (c % 2)]);
            let sh = i32::from(u.sc[c / 2][2 * (c % 2) + 1]);
            // Low nibbles: values 64c .. 64c + 32; high nibbles: 64c + 32 .. 64c + 64.
            let l0 = D::lanes16_y(u.q[4 * c], vld1q_s8(q8.add(64 * c)));
            let l1 = D::lanes16_y(u.q[4 * c + 1], vld1q_s8(q8.add(64 * c + 16)));
            let h0 = D::lanes16_y(u.q[4 * c + 2], vld1q_s8(q8.add(64 * c + 32)));
            let h1 = D::lanes16_y(u.q[4 * c + 3], vld1q_s8(q8.add(64 * c + 48)));
            *ch = (
                vmlaq_n_s32(vmulq_n_s32(l0, sl), h0, sh),
                vmlaq_n_s32(vmulq_n_s32(l1, sl), h1, sh),
            );
        }
        (chunks, pairs)
    }
}

/// The four `min * bsum` pair sums of `scales_and_min_pairs`: `q8s[j] = bsums[2j] +
/// bsums[2j + 1]`, `pairs[m] = mins[2m] q8s[2m] + mins[2m + 1] q8s[2m + 1]` (|bsum| <= 16 *
/// 128, a pair of them fits i16, times a minimum <= 63 fits i32).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
unsafe fn min_pairs(mins: int16x8_t, y: &BlockQ8K) -> int32x4_t {
    // SAFETY: NEON is the caller's contract; the loads read the 16 i16 of `bsums`.
    unsafe {
        let q8s = vpaddq_s16(
            vld1q_s16(y.bsums.as_ptr()),
            vld1q_s16(y.bsums.as_ptr().add(8)),
        );
        vpaddq_s32(
            vmull_s16(vget_low_s16(q8s), vget_low_s16(mins)),
            vmull_high_s16(q8s, mins),
        )
    }
}

/// [`products`] of one weight block and one activation block.
///
/// # Safety
/// As [`products`].
#[inline(always)]
unsafe fn block<D: I8Lanes>(
    x: &BlockQ4K,
    y: &BlockQ8K,
) -> ([(int32x4_t, int32x4_t); 4], int32x4_t) {
    // SAFETY: the caller's CPU features.
    unsafe { products::<D>(&unpack(x), y) }
}

/// The block's eight lanes (the four chunks added, exact).
///
/// # Safety
/// NEON (the caller's contract).
#[inline(always)]
pub(super) unsafe fn total(chunks: &[(int32x4_t, int32x4_t); 4]) -> (int32x4_t, int32x4_t) {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        (
            vaddq_s32(
                vaddq_s32(chunks[0].0, chunks[1].0),
                vaddq_s32(chunks[2].0, chunks[3].0),
            ),
            vaddq_s32(
                vaddq_s32(chunks[0].1, chunks[1].1),
                vaddq_s32(chunks[2].1, chunks[3].1),
            ),
        )
    }
}

/// The body of [`vec_dot`] / [`vec_dot_dotprod`]: `acc = fma(d_a * d, lanes, acc)` on the
/// eight lanes, `acc_m = fma(-d_a * dmin, pairs, acc_m)` on four, `hsum8(acc) +
/// ((m0 + m2) + (m1 + m3))` (as [`crate::quant::q4_k::vec_dot`]).
#[inline(always)]
unsafe fn body<D: I8Lanes>(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the caller's CPU features; `block` reads inside the borrowed blocks.
    unsafe {
        let mut acc_lo = vdupq_n_f32(0.0);
        let mut acc_hi = vdupq_n_f32(0.0);
        let mut acc_m = vdupq_n_f32(0.0);
        for (x, y) in w.iter().zip(a) {
            let d = vdupq_n_f32(y.d * f16_to_f32(x.d));
            let dmin = vdupq_n_f32(-y.d * f16_to_f32(x.dmin));
            let (chunks, pairs) = block::<D>(x, y);
            acc_m = vfmaq_f32(acc_m, dmin, vcvtq_f32_s32(pairs));
            let (lo, hi) = total(&chunks);
            acc_lo = vfmaq_f32(acc_lo, d, vcvtq_f32_s32(lo));
            acc_hi = vfmaq_f32(acc_hi, d, vcvtq_f32_s32(hi));
        }
        let m = [
            vgetq_lane_f32::<0>(acc_m),
            vgetq_lane_f32::<1>(acc_m),
            vgetq_lane_f32::<2>(acc_m),
            vgetq_lane_f32::<3>(acc_m),
        ];
        hsum8(acc_lo, acc_hi) + ((m[0] + m[2]) + (m[1] + m[3]))
    }
}

/// The body of the tiled order (as [`crate::quant::q4_k::vec_dot_tiled`]): per block the
/// exact `s1` and `s2` ([`chunk_sums`]: this order needs only the sums).
#[inline(always)]
unsafe fn body_tiled<D: I8Lanes>(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller's CPU features; `unpack` and `chunk_sums` read inside the borrowed
    // blocks.
    unsafe {
        super::k_vec_dot_tiled(
            w,
            a,
            |x| x.d,
            |x, y| {
                let u = unpack(x);
                let (sums, pairs) = chunk_sums::<D>(&u, scales_i32(&u.sc), y);
                (vaddvq_s32(sums), Some((x.dmin, vaddvq_s32(pairs))))
            },
        )
    }
}

/// The body of the repacked orders: per block the exact `s1` (per 64-value chunk for the
/// GEMM, per block for the GEMV) and `s2` ([`chunk_sums`]), then the reference's scalar
/// float steps.
#[inline(always)]
unsafe fn body_scalar_acc<D: I8Lanes, const ORDER: u8>(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in w.iter().zip(a) {
        // SAFETY: the caller's CPU features; `unpack` and `chunk_sums` read inside the
        // borrowed blocks; the stores write local arrays.
        unsafe {
            let u = unpack(x);
            let (sums, pairs) = chunk_sums::<D>(&u, scales_i32(&u.sc), y);
            let (dd, dm) = (f16_to_f32(x.d) * y.d, f16_to_f32(x.dmin) * y.d);
            match ORDER {
                GEMV => {
                    acc = (vaddvq_s32(sums) as f32).mul_add(dd, acc);
                    acc_m = (vaddvq_s32(pairs) as f32).mul_add(dm, acc_m);
                }
                _ => {
                    let (mut s, mut p) = ([0i32; 4], [0i32; 4]);
                    vst1q_s32(s.as_mut_ptr(), sums);
                    vst1q_s32(p.as_mut_ptr(), pairs);
                    for (&s1, &pair) in s.iter().zip(&p) {
                        acc = (s1 as f32).mul_add(dd, acc);
                        acc_m = (pair as f32).mul_add(dm, acc_m);
                    }
                }
            }
        }
    }
    acc - acc_m
}

const GEMV: u8 = 1;
const GEMM: u8 = 2;

/// Four tokens at a time (prefill) in the tiled order: each super-block is unpacked once for
/// the four ([`KBlock::unpacked`]), per token only the exact sums are formed
/// ([`chunk_sums`]), and the float steps of [`body_tiled`] run on the four tokens at once
/// ([`super::k_tiled_x4`]): each result has the bits of the one-token kernel. Q4_K's and
/// Q5_K's.
///
/// # Safety
/// As [`body`]; every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
pub(super) unsafe fn body_tiled_x4<D: I8Lanes, B: KBlock>(
    w: &[B],
    a: [&[BlockQ8K]; 4],
) -> [f32; 4] {
    // SAFETY: the caller's CPU features and lengths; `unpacked` and `chunk_sums` read inside
    // the borrowed blocks.
    unsafe {
        super::k_tiled_x4(
            w,
            a,
            |x| (x.d(), Some(x.dmin())),
            |x| {
                let u = x.unpacked();
                let sc = scales_i32(&u.sc);
                (u, sc)
            },
            |_, (u, sc), y| {
                let (sums, pairs) = chunk_sums::<D>(u, *sc, y);
                (sums, Some(pairs))
            },
        )
    }
}

/// Four tokens at a time (prefill) in the repacked GEMM order: each super-block unpacked once
/// for the four; per token the exact sums of each 64-value chunk ([`chunk_sums`]); then the
/// float steps of [`body_scalar_acc`] on the four tokens at once, lane `k` of each vector
/// token `k`'s (the chunks in order: vector `c` holds chunk `c` of the four tokens): each
/// result has the bits of the one-token kernel.
///
/// # Safety
/// As [`body`]; every `a[k]` has `w.len()` blocks (checked by the callers).
#[inline(always)]
unsafe fn body_gemm_x4<D: I8Lanes>(w: &[BlockQ4K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    // SAFETY: the caller's CPU features; `b < w.len()` indexes every activation row (the
    // caller's contract); `unpack` and `chunk_sums` read inside the borrowed blocks.
    unsafe {
        let (mut acc, mut acc_m) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        for (b, x) in w.iter().enumerate() {
            let u = unpack(x);
            let sc = scales_i32(&u.sc);
            let ys: [&BlockQ8K; 4] = std::array::from_fn(|k| a[k].get_unchecked(b));
            let yd = vld1q_f32([ys[0].d, ys[1].d, ys[2].d, ys[3].d].as_ptr());
            let (d, dmin) = (f16_to_f32(x.d), f16_to_f32(x.dmin));
            // Per token: lane c the exact sum of chunk c (its scales applied), and the four
            // min pairs.
            let (s0, p0) = chunk_sums::<D>(&u, sc, ys[0]);
            let (s1, p1) = chunk_sums::<D>(&u, sc, ys[1]);
            let (s2, p2) = chunk_sums::<D>(&u, sc, ys[2]);
            let (s3, p3) = chunk_sums::<D>(&u, sc, ys[3]);
            let (dd, dm) = (vmulq_n_f32(yd, d), vmulq_n_f32(yd, dmin));
            let s = transpose4([s0, s1, s2, s3]);
            let p = transpose4([p0, p1, p2, p3]);
            for c in 0..4 {
                acc = vfmaq_f32(acc, vcvtq_f32_s32(s[c]), dd);
                acc_m = vfmaq_f32(acc_m, vcvtq_f32_s32(p[c]), dm);
            }
        }
        let mut out = [0.0f32; 4];
        vst1q_f32(out.as_mut_ptr(), vsubq_f32(acc, acc_m));
        out
    }
}

/// The eight six-bit scales as i32: (scales 0..4, scales 4..8).
///
/// # Safety
/// NEON (the caller's contract); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn scales_i32(sc: &[[u8; 4]; 2]) -> (int32x4_t, int32x4_t) {
    // SAFETY: NEON is the caller's contract; no memory access.
    unsafe {
        let bytes =
            u64::from(u32::from_le_bytes(sc[0])) | u64::from(u32::from_le_bytes(sc[1])) << 32;
        let h = vmovl_u8(vcreate_u8(bytes));
        (
            vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(h))),
            vreinterpretq_s32_u32(vmovl_high_u16(h)),
        )
    }
}

/// One token's exact sums of a super-block unpacked by [`unpack`]: lane `c` the sum over
/// chunk `c` of `scale * q * y` (the chunk's eight x86 lanes added), and the four min pairs
/// of [`products`]. (The lanes of a 32-value run share a scale, so its two halves go into one
/// register: half the `sdot` chains of [`products`], which keeps the eight lanes apart for
/// the `vec_dot` order.)
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); inlined into such a function.
#[inline(always)]
pub(super) unsafe fn chunk_sums<D: I8Lanes>(
    u: &Unpacked,
    (sc_lo, sc_hi): (int32x4_t, int32x4_t),
    y: &BlockQ8K,
) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller's CPU features; every load reads 16 bytes (or 8 i16) inside the
    // borrowed block's arrays (q8 `qs` 256 bytes, `bsums` 16 i16).
    unsafe {
        let pairs = min_pairs(u.mins, y);
        let q8 = y.qs.as_ptr();
        // |q * y| <= 15 * 128 < 2^13: `sum32`'s bound.
        let run = |i: usize, off: usize| {
            let (y0, y1) = (vld1q_s8(q8.add(off)), vld1q_s8(q8.add(off + 16)));
            D::sum32(vdupq_n_s32(0), u.q[i], y0, u.q[i + 1], y1)
        };
        // Run k (32 values, scale k: chunk c is runs 2c, 2c + 1): its total in lane k % 4 of
        // `t[k / 4]`, times its scale, and the chunks' pairs added. Plain vector multiplies:
        // written by element, the compiler widened a copy of each scale per run (24
        // instructions where these take 9).
        let t_lo = hsum_x4([run(0, 0), run(2, 32), run(4, 64), run(6, 96)]);
        let t_hi = hsum_x4([run(8, 128), run(10, 160), run(12, 192), run(14, 224)]);
        (
            vpaddq_s32(vmulq_s32(t_lo, sc_lo), vmulq_s32(t_hi, sc_hi)),
            pairs,
        )
    }
}

/// Four rows times one activation row in the repacked GEMV order (decode): lane `r` of each
/// vector is row `r`'s float chain of [`body_scalar_acc`] (`acc = fma(sum, d * d_a, acc)`,
/// `acc_m = fma(pairs, dmin * d_a, acc_m)`, `acc - acc_m`), its exact sums formed
/// differently: per 64-value chunk the activation's four registers are loaded once for the
/// four rows, each row's two runs (`sum32`) multiplied by their scales by element into one
/// accumulator, the minimum terms as `mins . q8s` (`q8s` the pair sums of the bsums, once
/// per block). 64 x 2048: 924 -> 728 instructions a row with `sdot`, 1054 -> 949 plain
/// (`tools/neon-count.sh`, against the one-row kernel per row).
///
/// Bounds: as [`chunk_sums`]; a row's sum is below 2^26, its minimum term below 2^21.
///
/// # Safety
/// The CPU must support NEON (and dotprod for [`Sdot`]); every `w[r]` has `a.len()` blocks;
/// inlined into such a function.
#[inline(always)]
pub(super) unsafe fn gemv_x4<D: I8Lanes>(w: [&[BlockQ4K]; 4], a: &[BlockQ8K]) -> [f32; 4] {
    // SAFETY: the caller's CPU features; `b < a.len()` indexes every row (the caller's
    // contract); every load reads 16 bytes (or 8 i16) inside a borrowed block's arrays.
    unsafe {
        let (mut acc, mut acc_m) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let m4 = vdupq_n_u8(0x0F);
        for (b, y) in a.iter().enumerate() {
            let x: [&BlockQ4K; 4] = std::array::from_fn(|r| w[r].get_unchecked(b));
            let bs = y.bsums.as_ptr();
            let q8s = vpaddq_s16(vld1q_s16(bs), vld1q_s16(bs.add(8)));
            let mut s = [vdupq_n_s32(0); 4];
            let mut m = [vdupq_n_s32(0); 4];
            let mut sc = [[vdupq_n_s32(0); 2]; 4];
            for r in 0..4 {
                let (bytes, mins) = scales_and_mins(&x[r].scales);
                let (lo, hi) = scales_i32(&bytes);
                sc[r] = [opaque(lo), opaque(hi)];
                m[r] = vmlal_high_s16(vmull_s16(vget_low_s16(mins), vget_low_s16(q8s)), mins, q8s);
            }
            let q8 = y.qs.as_ptr();
            // Chunk by chunk, unrolled by hand (as a loop the compiler kept `c` a variable and
            // chose each scale lane by branches).
            let mut chunk = |c: usize| {
                let ys: [int8x16_t; 4] = std::array::from_fn(|k| vld1q_s8(q8.add(64 * c + 16 * k)));
                for r in 0..4 {
                    let qa = vld1q_u8(x[r].qs.as_ptr().add(32 * c));
                    let qb = vld1q_u8(x[r].qs.as_ptr().add(32 * c + 16));
                    let (la, lb) = (vandq_u8(qa, m4), vandq_u8(qb, m4));
                    let (ha, hb) = (vshrq_n_u8::<4>(qa), vshrq_n_u8::<4>(qb));
                    let s8 = vreinterpretq_s8_u8;
                    // |q * y| <= 15 * 128 < 2^13: `sum32`'s bound.
                    let lo = D::sum32(vdupq_n_s32(0), s8(la), ys[0], s8(lb), ys[1]);
                    let hi = D::sum32(vdupq_n_s32(0), s8(ha), ys[2], s8(hb), ys[3]);
                    s[r] = mla_lane(s[r], lo, &sc[r], 2 * c);
                    s[r] = mla_lane(s[r], hi, &sc[r], 2 * c + 1);
                }
            };
            chunk(0);
            chunk(1);
            chunk(2);
            chunk(3);
            let dd = vmulq_n_f32(load_f16x4([x[0].d, x[1].d, x[2].d, x[3].d]), y.d);
            let dm = vmulq_n_f32(
                load_f16x4([x[0].dmin, x[1].dmin, x[2].dmin, x[3].dmin]),
                y.d,
            );
            acc = vfmaq_f32(acc, vcvtq_f32_s32(hsum_x4(s)), dd);
            acc_m = vfmaq_f32(acc_m, vcvtq_f32_s32(hsum_x4(m)), dm);
        }
        let mut out = [0.0f32; 4];
        vst1q_f32(out.as_mut_ptr(), vsubq_f32(acc, acc_m));
        out
    }
}

/// [`body_tiled_x4`] of Q4_K.
///
/// # Safety
/// As [`body_tiled_x4`].
#[inline(always)]
unsafe fn body_tiled_x4_q4k<D: I8Lanes>(w: &[BlockQ4K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    // SAFETY: the caller's contract.
    unsafe { body_tiled_x4::<D, BlockQ4K>(w, a) }
}

super::neon_dots_x4! {
    /// One Q4_K weight row times four Q8_K activation rows in the tiled order, plain NEON;
    /// each result bit-identical to [`vec_dot_tiled`].
    dot_tiled_x4, dot_tiled_x4_dotprod = body_tiled_x4_q4k(BlockQ4K, BlockQ8K)
}

super::neon_dots_x4! {
    /// One Q4_K weight row times four Q8_K activation rows in the repacked GEMM order, plain
    /// NEON; each result bit-identical to [`vec_dot_repacked_gemm`].
    dot_gemm_x4, dot_gemm_x4_dotprod = body_gemm_x4(BlockQ4K, BlockQ8K)
}

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's AVX2 `ggml_vec_dot_q4_K_q8_K`;
    /// bit-identical to [`crate::quant::q4_k::vec_dot`].
    vec_dot, vec_dot_dotprod = body(BlockQ4K, BlockQ8K)
}

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's tiled K-quant matmul (AVX2); bit-identical
    /// to [`crate::quant::q4_k::vec_dot_tiled`].
    vec_dot_tiled, vec_dot_tiled_dotprod = body_tiled(BlockQ4K, BlockQ8K)
}

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's repacked AVX2 `ggml_gemv_q4_K_8x8_q8_K`;
    /// bit-identical to [`crate::quant::q4_k::vec_dot_repacked`] with `gemm = false`.
    vec_dot_repacked_gemv, vec_dot_repacked_gemv_dotprod = body_scalar_acc, GEMV(BlockQ4K, BlockQ8K)
}

super::neon_dots! {
    /// Q4_K x Q8_K, plain NEON, in the order of ggml's repacked AVX2 `ggml_gemm_q4_K_8x8_q8_K`;
    /// bit-identical to [`crate::quant::q4_k::vec_dot_repacked`] with `gemm = true`.
    vec_dot_repacked_gemm, vec_dot_repacked_gemm_dotprod = body_scalar_acc, GEMM(BlockQ4K, BlockQ8K)
}
