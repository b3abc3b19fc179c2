//! NEON versions of the f32 vector operations of the forward pass (`crate::ops`) and of the
//! attention over an f16 KV cache (`crate::kernels::attn`), each bit-identical to its scalar
//! reference, as the AVX2 versions in `crate::kernels::x86_64::avx2::ops` and
//! `crate::kernels::attn` are on x86.
//!
//! The references follow ggml's x86 AVX2 routines, so the float order here is theirs: an
//! 8-lane x86 register is a pair of `float32x4_t` (lanes 0..4, lanes 4..8), `_mm256_fmadd_ps`
//! is `vfmaq_f32` on both halves (`_mm256_fnmadd_ps` is `vfmsq_f32`), and the reductions add
//! the same lanes in the same order (`hsum8`, `reduce8x4`). Element-wise operations need
//! no lane order at all: there it is enough that every element gets the reference's
//! operations (fused where it fuses, rounded separately where it does not).
//!
//! The f16 <-> f32 conversions are `fcvtl`/`fcvtl2` (widening: exact for every pattern,
//! subnormals normalized, infinities kept, NaNs made quiet with their sign and payload) and
//! `fcvtn` (narrowing: to nearest, ties to even, in the default FPCR mode; overflow to
//! infinity, subnormal results rounded, NaNs made quiet with the payload's top bits), the
//! results of `half::f16::to_f32` and `half::f16::from_f32`. Both are base AdvSIMD
//! instructions on every aarch64 CPU (not the ARMv8.2 half-precision arithmetic). The
//! intrinsics `vcvt_f32_f16`/`vcvt_f16_f32` are stable only since Rust 1.94, after this
//! crate's MSRV (1.89), so the instructions are written with `asm!`.

use std::arch::aarch64::*;

use half::f16;

use super::{f16_to_f32, f16x4_to_f32, hsum8, load_f16x8, reduce8x4};

/// Four f32 narrowed to f16 bits, to nearest with ties to even: `fcvtn`.
///
/// # Safety
/// The CPU must support NEON.
#[inline(always)]
unsafe fn f32x4_to_f16(f: float32x4_t) -> uint16x4_t {
    let h: uint16x4_t;
    // SAFETY: NEON is the caller's contract; the instruction reads and writes registers only
    // (no memory, stack or flags). It rounds in the FPCR's mode, which Rust code never
    // changes from the default (to nearest, ties to even; no flush to zero).
    unsafe {
        std::arch::asm!(
            "fcvtn {h:v}.4h, {f:v}.4s",
            h = out(vreg) h,
            f = in(vreg) f,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    h
}

/// ggml's `ggml_v_expf` (the x86 AVX2 + FMA version, `expf8` there) on four lanes:
/// [`crate::ops::expf_ggml`] lane by lane, with its fused multiply-adds (`vfmaq_f32`, and
/// `vfmsq_f32` for `fma(-n, c, x)`) and its separate roundings where it has them.
///
/// # Safety
/// The CPU must support NEON.
#[inline]
#[target_feature(enable = "neon")]
pub unsafe fn expf4(x: float32x4_t) -> float32x4_t {
    // SAFETY: NEON is this function's contract; no memory access.
    unsafe {
        let c = |bits: u32| vdupq_n_f32(f32::from_bits(bits));
        let r = c(0x4b40_0000); // 0x1.8p23
        let z = vfmaq_f32(r, x, c(0x3fb8_aa3b)); // x * (1 / ln 2) + r
        let n = vsubq_f32(z, r);
        // b = x - n * ln2_hi - n * ln2_lo, each step fused.
        let b = vfmsq_f32(vfmsq_f32(x, n, c(0x3f31_7200)), n, c(0x35bf_be8e));
        let e = vshlq_n_u32::<23>(vreinterpretq_u32_f32(z));
        let k = vreinterpretq_f32_u32(vaddq_u32(e, vdupq_n_u32(1.0f32.to_bits())));
        let abs_n = vabsq_f32(n);
        let large = vcgtq_f32(abs_n, vdupq_n_f32(126.0));
        let u = vmulq_f32(b, b);
        let p1 = vfmaq_f32(c(0x3d2b_9f17), c(0x3c07_2010), b);
        let p2 = vfmaq_f32(c(0x3eff_fedb), c(0x3e2a_af33), b);
        let p3 = vfmaq_f32(p2, p1, u);
        let j = vfmaq_f32(vmulq_f32(c(0x3f7f_fff6), b), p3, u);
        let small = vfmaq_f32(k, j, k); // j * k + k
        if vmaxvq_u32(large) == 0 {
            return small;
        }
        // |n| > 126: scale in two steps (`n <= 0` picks the negative offset).
        let g = vandq_u32(vcleq_f32(n, vdupq_n_f32(0.0)), vdupq_n_u32(0x8200_0000));
        let s1 = vreinterpretq_f32_u32(vaddq_u32(g, vdupq_n_u32(0x7f00_0000)));
        let s2 = vreinterpretq_f32_u32(vsubq_u32(e, g));
        let huge = vcgtq_f32(abs_n, vdupq_n_f32(192.0));
        let scaled = vbslq_f32(
            huge,
            vmulq_f32(s1, s1),
            vmulq_f32(vfmaq_f32(s2, s2, j), s1), // (s2 * j + s2) * s1
        );
        vbslq_f32(large, scaled, small)
    }
}

/// [`crate::ops::softmax_cells_ref`]: whole groups of eight cells (aligned to cell 0) go
/// through [`expf4`] twice and `hsum_float_8` (`hsum8`), the partial groups at the ends
/// through the reference's lane-by-lane path (`crate::ops::softmax_group`); the maximum and
/// the final scaling are the reference's.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn softmax_cells(x: &mut [f32], cell0: usize) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    let mut i = 0;
    while i < x.len() {
        let cell = cell0 + i;
        let group_end = (cell / 8 + 1) * 8 - cell0;
        if cell.is_multiple_of(8) && group_end <= x.len() {
            // SAFETY: NEON is this function's contract; i + 8 = group_end <= x.len(): the
            // eight values are inside `x`.
            unsafe {
                let maxv = vdupq_n_f32(max);
                let p = x.as_mut_ptr().add(i);
                let lo = expf4(vsubq_f32(vld1q_f32(p), maxv));
                let hi = expf4(vsubq_f32(vld1q_f32(p.add(4)), maxv));
                vst1q_f32(p, lo);
                vst1q_f32(p.add(4), hi);
                sum += f64::from(hsum8(lo, hi));
            }
        } else {
            let end = group_end.min(x.len());
            sum += crate::ops::softmax_group(&mut x[i..end], cell, max);
        }
        i = group_end;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `gate = silu(gate) * up` as [`crate::ops::swiglu`]: the whole groups of eight (four lanes
/// at a time, the operation is element-wise) as `g / (1 + expf_ggml(0 - g)) * u` with
/// [`expf4`] and IEEE division; the remaining `len % 8` values with the C library's `expf`
/// ([`crate::ops::silu`]), as the reference.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn swiglu(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "SwiGLU halves of one length");
    let whole = gate.len() / 8 * 8;
    let (gp, upp) = (gate.as_mut_ptr(), up.as_ptr());
    // SAFETY: NEON is this function's contract; i + 4 <= whole <= len, the length of both
    // slices.
    unsafe {
        let (zero, one) = (vdupq_n_f32(0.0), vdupq_n_f32(1.0));
        for i in (0..whole).step_by(4) {
            let g = vld1q_f32(gp.add(i));
            let e = expf4(vsubq_f32(zero, g));
            let y = vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), vld1q_f32(upp.add(i)));
            vst1q_f32(gp.add(i), y);
        }
    }
    for (g, &u) in gate[whole..].iter_mut().zip(&up[whole..]) {
        *g = crate::ops::silu(*g) * u;
    }
}

/// `gate = gelu(gate) * up` ([`crate::ops::geglu`]), four values at a time: the f16 rounding
/// of the inputs (`fcvtn`, to nearest even, as `half::f16::from_f32`), the four table entries
/// (loaded one by one: NEON has no gather), their f32 values (`fcvtl`), the tails
/// (`x <= -10`: 0, `x >= 10`: x) and one multiplication: the bits of [`crate::ops::gelu`]
/// times `up`. The last `len % 4` values go through the scalar function.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn geglu(gate: &mut [f32], up: &[f32], table: &[u16; 65536]) {
    assert_eq!(gate.len(), up.len(), "GeGLU halves of one length");
    let n4 = gate.len() / 4 * 4;
    let (gp, upp) = (gate.as_mut_ptr(), up.as_ptr());
    // SAFETY: NEON is this function's contract; i + 4 <= n4 <= len, the length of both
    // slices; the table is indexed by u16 values (< 65536 entries, checked by the indexing).
    unsafe {
        let (lo_cut, hi_cut) = (vdupq_n_f32(-10.0), vdupq_n_f32(10.0));
        for i in (0..n4).step_by(4) {
            let x = vld1q_f32(gp.add(i));
            let mut idx = [0u16; 4];
            vst1_u16(idx.as_mut_ptr(), f32x4_to_f16(x));
            let entries = idx.map(|h| table[usize::from(h)]);
            let mut y = f16x4_to_f32(vld1_u16(entries.as_ptr()));
            y = vbslq_f32(vcgeq_f32(x, hi_cut), x, y);
            y = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), vcleq_f32(x, lo_cut)));
            vst1q_f32(gp.add(i), vmulq_f32(y, vld1q_f32(upp.add(i))));
        }
    }
    crate::ops::gated(&mut gate[n4..], &up[n4..], crate::ops::gelu);
}

/// Every value rounded to f16 and back ([`crate::ops::round_to_f16`]): `fcvtn` (to nearest,
/// ties to even) and `fcvtl`, four values at a time, the last `len % 4` with `half`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn round_to_f16(x: &mut [f32]) {
    let n4 = x.len() / 4 * 4;
    let p = x.as_mut_ptr();
    // SAFETY: NEON is this function's contract; i + 4 <= n4 <= x.len().
    unsafe {
        for i in (0..n4).step_by(4) {
            let h = f32x4_to_f16(vld1q_f32(p.add(i)));
            vst1q_f32(p.add(i), f16x4_to_f32(h));
        }
    }
    crate::ops::round_to_f16_ref(&mut x[n4..]);
}

/// [`crate::ops::rope_head`], four pairs at a time: `x0 * cos - x1 * sin` as
/// `fma(x0, cos, -(x1 * sin))` and `x0 * sin + x1 * cos` as `fma(x0, sin, x1 * cos)` (the
/// second product rounded, as the reference). `neox` pairs `x[i]` with `x[i + half]`
/// (contiguous loads); otherwise `x[2i]` with `x[2i + 1]` (`vld2q_f32`/`vst2q_f32`
/// de-interleave and re-interleave them). The last `half % 4` pairs are done one by one, the
/// same way.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn rope_head(x: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) {
    let half = cos.len();
    assert!(
        sin.len() >= half && x.len() >= 2 * half,
        "RoPE angles or head too short"
    );
    let n4 = half / 4 * 4;
    let (p, cp, sp) = (x.as_mut_ptr(), cos.as_ptr(), sin.as_ptr());
    // SAFETY: NEON is this function's contract; i + 4 <= n4 <= half: the loads of `cos` and
    // `sin` are inside them (asserted), and those of `x` read `x[i..i + 4]` and
    // `x[i + half..i + half + 4]` (neox) or `x[2i..2i + 8]`, all below 2 * half <= x.len().
    unsafe {
        for i in (0..n4).step_by(4) {
            let (c, s) = (vld1q_f32(cp.add(i)), vld1q_f32(sp.add(i)));
            if neox {
                let (x0, x1) = (vld1q_f32(p.add(i)), vld1q_f32(p.add(i + half)));
                vst1q_f32(p.add(i), vfmaq_f32(vnegq_f32(vmulq_f32(x1, s)), x0, c));
                vst1q_f32(p.add(i + half), vfmaq_f32(vmulq_f32(x1, c), x0, s));
            } else {
                let v = vld2q_f32(p.add(2 * i));
                let (x0, x1) = (v.0, v.1);
                let a = vfmaq_f32(vnegq_f32(vmulq_f32(x1, s)), x0, c);
                let b = vfmaq_f32(vmulq_f32(x1, c), x0, s);
                vst2q_f32(p.add(2 * i), float32x4x2_t(a, b));
            }
        }
    }
    crate::ops::rope_pairs_from(x, cos, sin, neox, n4);
}

/// `k . q` as [`crate::kernels::attn::dot_f16_ref`] (`k` at least as long as `q`): for a
/// batch (`batch` and a multiple of 8 values) llamafile's `tinyBLAS` order, the one 8-lane
/// accumulator as two `float32x4_t` fed by `vfmaq_f32` and reduced by `hsum8`; otherwise
/// `ggml_vec_dot_f16`'s, four 8-lane accumulators (eight `float32x4_t`) over groups of 32,
/// reduced as `GGML_F32x8_REDUCE` (`reduce8x4`), the `len % 32` leftover products added in
/// f64 from left to right.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn dot_f16(k: &[f16], q: &[f32], batch: bool) -> f32 {
    let n = q.len();
    let k = &k[..n];
    let (kp, qp) = (k.as_ptr(), q.as_ptr());
    if batch && n.is_multiple_of(8) {
        // SAFETY: NEON is this function's contract; i + 8 <= n = k.len() = q.len().
        return unsafe {
            let (mut lo, mut hi) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
            for i in (0..n).step_by(8) {
                let (k0, k1) = load_f16x8(kp.add(i));
                lo = vfmaq_f32(lo, k0, vld1q_f32(qp.add(i)));
                hi = vfmaq_f32(hi, k1, vld1q_f32(qp.add(i + 4)));
            }
            hsum8(lo, hi)
        };
    }
    let np = n / 32 * 32;
    // SAFETY: NEON is this function's contract; o + 8 <= np <= n = k.len() = q.len().
    let sum = unsafe {
        // s[2j] and s[2j + 1]: lanes 0..4 and 4..8 of the x86 accumulator j.
        let mut s = [vdupq_n_f32(0.0); 8];
        for i in (0..np).step_by(32) {
            for j in 0..4 {
                let o = i + 8 * j;
                let (k0, k1) = load_f16x8(kp.add(o));
                s[2 * j] = vfmaq_f32(s[2 * j], k0, vld1q_f32(qp.add(o)));
                s[2 * j + 1] = vfmaq_f32(s[2 * j + 1], k1, vld1q_f32(qp.add(o + 4)));
            }
        }
        reduce8x4(&s)
    };
    let mut sum = f64::from(sum);
    for (&kk, &x) in k[np..].iter().zip(&q[np..]) {
        sum += f64::from(f16_to_f32(kk) * x);
    }
    sum as f32
}

/// [`dot_f16`] in the batch order of four keys with one query, side by side (four
/// independent pairs of accumulators, each query block loaded once): the four results of
/// `dot_f16_ref(k[j], q, true)`.
///
/// Panics unless `q.len()` is a multiple of 8 and every key at least as long as `q`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn dot_f16_x4(k: [&[f16]; 4], q: &[f32]) -> [f32; 4] {
    let n = q.len();
    assert!(n.is_multiple_of(8), "batch order: a multiple of 8 values");
    let kp = k.map(|k| k[..n].as_ptr());
    let qp = q.as_ptr();
    // SAFETY: NEON is this function's contract; i + 8 <= n, the length of `q` and of every
    // key's first `n` values (sliced above).
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); 2]; 4];
        for i in (0..n).step_by(8) {
            let (q0, q1) = (vld1q_f32(qp.add(i)), vld1q_f32(qp.add(i + 4)));
            for (a, &p) in acc.iter_mut().zip(&kp) {
                let (k0, k1) = load_f16x8(p.add(i));
                a[0] = vfmaq_f32(a[0], k0, q0);
                a[1] = vfmaq_f32(a[1], k1, q1);
            }
        }
        acc.map(|[lo, hi]| hsum8(lo, hi))
    }
}

/// [`dot_f16`] in the batch order of two keys with four queries (four heads sharing a KV
/// head): `out[j][h] = dot_f16_ref(k[j], q[h], true)`. The eight pairs of accumulators run
/// side by side and each block of a key is converted from f16 once for the four queries.
///
/// Panics unless every query has `q[0].len()` values, a multiple of 8, and every key at
/// least as many.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn dot_f16_2x4(k: [&[f16]; 2], q: [&[f32]; 4]) -> [[f32; 4]; 2] {
    let n = q[0].len();
    assert!(
        n.is_multiple_of(8) && q.iter().all(|q| q.len() == n),
        "batch order: queries of one length, a multiple of 8"
    );
    let kp = k.map(|k| k[..n].as_ptr());
    let qp = q.map(|q| q.as_ptr());
    // SAFETY: NEON is this function's contract; i + 8 <= n, the length of every query
    // (asserted) and of every key's first `n` values (sliced above).
    unsafe {
        let mut acc = [[[vdupq_n_f32(0.0); 2]; 4]; 2];
        for i in (0..n).step_by(8) {
            let kv = [load_f16x8(kp[0].add(i)), load_f16x8(kp[1].add(i))];
            for (h, &p) in qp.iter().enumerate() {
                let (q0, q1) = (vld1q_f32(p.add(i)), vld1q_f32(p.add(i + 4)));
                for (a, &(k0, k1)) in acc.iter_mut().zip(&kv) {
                    a[h][0] = vfmaq_f32(a[h][0], k0, q0);
                    a[h][1] = vfmaq_f32(a[h][1], k1, q1);
                }
            }
        }
        acc.map(|a| a.map(|[lo, hi]| hsum8(lo, hi)))
    }
}

/// `acc[d] = fma(v[d], w, acc[d])` for every `d < acc.len()`
/// ([`crate::kernels::attn::fma_f16_ref`]; `v` at least as long as `acc`): eight values at a
/// time with `vfmaq_f32`, the last `len % 8` one by one.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn fma_f16(acc: &mut [f32], v: &[f16], w: f32) {
    let n = acc.len();
    let v = &v[..n];
    let n8 = n / 8 * 8;
    let (ap, vp) = (acc.as_mut_ptr(), v.as_ptr());
    // SAFETY: NEON is this function's contract; i + 8 <= n8 <= n = acc.len() = v.len().
    unsafe {
        let wv = vdupq_n_f32(w);
        for i in (0..n8).step_by(8) {
            let (v0, v1) = load_f16x8(vp.add(i));
            vst1q_f32(ap.add(i), vfmaq_f32(vld1q_f32(ap.add(i)), v0, wv));
            vst1q_f32(ap.add(i + 4), vfmaq_f32(vld1q_f32(ap.add(i + 4)), v1, wv));
        }
    }
    for (a, &x) in acc[n8..].iter_mut().zip(&v[n8..]) {
        *a = f16_to_f32(x).mul_add(w, *a);
    }
}

/// `acc[d] = fma(row_j[d], w_j, acc[d])` for the rows `(offset, w)` of `cache` in order
/// ([`crate::kernels::attn::fma_f16_rows`]): blocks of 32 values of `acc` kept in eight
/// registers across the rows, the last `len % 32` values by [`fma_f16`] per row.
///
/// # Safety
/// The CPU must support NEON; every row `cache[o..o + acc.len()]` must be inside `cache`.
#[target_feature(enable = "neon")]
pub unsafe fn fma_f16_rows(acc: &mut [f32], cache: &[f16], rows: &[(usize, f32)]) {
    let n = acc.len();
    let n32 = n / 32 * 32;
    let (ap, cp) = (acc.as_mut_ptr(), cache.as_ptr());
    // SAFETY: NEON is this function's contract; d + 32 <= n32 <= n for the accumulator, and
    // o + d + 32 <= o + n <= cache.len() for the rows (the caller's contract).
    unsafe {
        for d in (0..n32).step_by(32) {
            let mut a: [float32x4_t; 8] = std::array::from_fn(|j| vld1q_f32(ap.add(d + 4 * j)));
            for &(o, w) in rows {
                let wv = vdupq_n_f32(w);
                let p = cp.add(o + d);
                for j in 0..4 {
                    let (v0, v1) = load_f16x8(p.add(8 * j));
                    a[2 * j] = vfmaq_f32(a[2 * j], v0, wv);
                    a[2 * j + 1] = vfmaq_f32(a[2 * j + 1], v1, wv);
                }
            }
            for (j, v) in a.iter().enumerate() {
                vst1q_f32(ap.add(d + 4 * j), *v);
            }
        }
    }
    if n32 < n {
        for &(o, w) in rows {
            // SAFETY: NEON is this function's contract (the slicing checks the bounds).
            unsafe { fma_f16(&mut acc[n32..], &cache[o + n32..o + n], w) };
        }
    }
}

/// [`fma_f16_rows`] for four accumulators (four heads sharing a KV head): for the rows
/// `(offset, w)` of `cache` in order, `acc[h][d] = fma(row[d], w[h], acc[h][d])`. Blocks of
/// 16 values of the four accumulators stay in sixteen registers across the rows; each row
/// block is converted from f16 once for the four, and `w` is one register multiplied by lane
/// (`vfmaq_laneq_f32`, the same fused operation). The last `len % 16` values go through
/// [`fma_f16`] per head and row (values are independent: doing them first changes nothing).
///
/// # Safety
/// The CPU must support NEON; every accumulator must have `acc[0].len()` values and every
/// row `cache[o..o + acc[0].len()]` must be inside `cache`.
#[target_feature(enable = "neon")]
pub unsafe fn fma_f16_rows_x4(acc: [&mut [f32]; 4], cache: &[f16], rows: &[(usize, [f32; 4])]) {
    let n = acc[0].len();
    let n16 = n / 16 * 16;
    let mut acc = acc;
    if n16 < n {
        for (h, a) in acc.iter_mut().enumerate() {
            for &(o, w) in rows {
                // SAFETY: NEON is this function's contract (the slicing checks the bounds).
                unsafe { fma_f16(&mut a[n16..n], &cache[o + n16..o + n], w[h]) };
            }
        }
    }
    let ap = acc.map(|a| a.as_mut_ptr());
    let cp = cache.as_ptr();
    // SAFETY: NEON is this function's contract; d + 16 <= n16 <= n for the accumulators (each
    // has `n` values), o + d + 16 <= o + n <= cache.len() for the rows (the caller's
    // contract).
    unsafe {
        for d in (0..n16).step_by(16) {
            let mut a: [[float32x4_t; 4]; 4] =
                std::array::from_fn(|h| std::array::from_fn(|j| vld1q_f32(ap[h].add(d + 4 * j))));
            for &(o, w) in rows {
                let wv = vld1q_f32(w.as_ptr());
                let p = cp.add(o + d);
                let (v0, v1) = load_f16x8(p);
                let (v2, v3) = load_f16x8(p.add(8));
                let v = [v0, v1, v2, v3];
                for j in 0..4 {
                    a[0][j] = vfmaq_laneq_f32::<0>(a[0][j], v[j], wv);
                    a[1][j] = vfmaq_laneq_f32::<1>(a[1][j], v[j], wv);
                    a[2][j] = vfmaq_laneq_f32::<2>(a[2][j], v[j], wv);
                    a[3][j] = vfmaq_laneq_f32::<3>(a[3][j], v[j], wv);
                }
            }
            for (h, ah) in a.iter().enumerate() {
                for (j, v) in ah.iter().enumerate() {
                    vst1q_f32(ap[h].add(d + 4 * j), *v);
                }
            }
        }
    }
}
