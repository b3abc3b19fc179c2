//! Q8_0 weight tiles (and Q5_0 tiles unpacked to Q8_0) times four tokens with `vpdpbusd`.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::super::avx2::{f16_to_f32, hsum_ps, load32, q8_0 as avx2};
use crate::quant::q8_0::BlockQ8_0;

/// The longest row [`tile_x4`] takes, in blocks (16384 values): its per-token data lives on
/// the stack (160 bytes a block). Longer rows go through the AVX2 kernels.
pub const MAX_BLOCKS: usize = 512;

/// What every row of a tile needs of one activation block of the four tokens, computed once
/// per tile: the tokens' scales as f32 and `-128 * (y[4l] + .. + y[4l + 3])` per lane `l`.
#[derive(Clone, Copy)]
struct Prepared {
    neg_bias: [__m256i; 4],
    d: [f32; 4],
}

/// The rows of a Q8_0 tile (`w`: `rows` rows of `a[k].len()` blocks) times four activation
/// rows: `put(r, [row r . a_0, .., row r . a_3])`, each the bits of
/// [`crate::quant::q8_0::vec_dot`] (ggml's `ggml_vec_dot_q8_0_q8_0`).
///
/// Per block the eight exact i32 lanes are `vpdpbusd(-128 * sum4(y), w ^ 0x80, y)`: the
/// weights made unsigned (`w + 128` in `0..=255`) once per block for the four tokens, and the
/// `128 * sum4(y)` this adds taken off by starting the accumulation at its negation, which
/// is prepared once per tile. That is one instruction per (row, token, block) where the AVX2
/// kernel spends three (`sign`, `maddubs`, `madd`). Bounds: a lane is at most
/// `4 * 255 * 127` in magnitude before the bias, far inside i32, and `vpdpbusd` does not
/// saturate. The float work is `vec_dot`'s: `acc = fma(d_w * d_a, f32(lanes), acc)`,
/// `hsum_float_8` at the end.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI.
///
/// # Panics
/// If the tile is not `rows` whole rows of the activations' length, or a row is longer than
/// [`MAX_BLOCKS`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn tile_x4(
    w: &[BlockQ8_0],
    rows: usize,
    a: [&[BlockQ8_0]; 4],
    put: &mut crate::kernels::Out4,
) {
    let nb = a[0].len();
    assert!(a.iter().all(|r| r.len() == nb) && w.len() == rows * nb && nb <= MAX_BLOCKS);
    let mut buf = [const { MaybeUninit::<Prepared>::uninit() }; MAX_BLOCKS];
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks; the first `nb` entries of `buf` are written before the slice over them is made.
    unsafe {
        let k80 = _mm256_set1_epi8(0x80u8 as i8);
        for (b, p) in buf[..nb].iter_mut().enumerate() {
            let ys: [&BlockQ8_0; 4] = std::array::from_fn(|k| a[k].get_unchecked(b));
            p.write(Prepared {
                neg_bias: ys.map(|y| {
                    let bias = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), k80, load32(&y.qs));
                    _mm256_sub_epi32(_mm256_setzero_si256(), bias)
                }),
                d: ys.map(|y| f16_to_f32(y.d)),
            });
        }
        let prep = std::slice::from_raw_parts(buf.as_ptr() as *const Prepared, nb);
        let mut r = 0;
        while r + 2 <= rows {
            let v = dot_2x4(
                [&w[r * nb..(r + 1) * nb], &w[(r + 1) * nb..(r + 2) * nb]],
                a,
                prep,
            );
            put.put(r, v[0]);
            put.put(r + 1, v[1]);
            r += 2;
        }
        if r < rows {
            put.put(r, avx2::vec_dot_x4(&w[r * nb..], a));
        }
    }
}

/// Two weight rows times the four tokens of `prep`: eight independent FMA chains, each the
/// bits of one `vec_dot`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
unsafe fn dot_2x4(w: [&[BlockQ8_0]; 2], a: [&[BlockQ8_0]; 4], prep: &[Prepared]) -> [[f32; 4]; 2] {
    let nb = prep.len();
    assert!(w.iter().all(|r| r.len() == nb) && a.iter().all(|r| r.len() == nb));
    // SAFETY: the CPU features are this function's contract; b < nb indexes every slice.
    unsafe {
        let mut c = [[_mm256_setzero_ps(); 4]; 2];
        let k80 = _mm256_set1_epi8(0x80u8 as i8);
        for (b, p) in prep.iter().enumerate() {
            let x0 = w[0].get_unchecked(b);
            let x1 = w[1].get_unchecked(b);
            let u0 = _mm256_xor_si256(load32(&x0.qs), k80);
            let u1 = _mm256_xor_si256(load32(&x1.qs), k80);
            let d0 = _mm256_set1_ps(f16_to_f32(x0.d));
            let d1 = _mm256_set1_ps(f16_to_f32(x1.d));
            for k in 0..4 {
                let yq = load32(&a[k].get_unchecked(b).qs);
                let dy = _mm256_set1_ps(p.d[k]);
                let l0 = _mm256_dpbusd_avx_epi32(p.neg_bias[k], u0, yq);
                let l1 = _mm256_dpbusd_avx_epi32(p.neg_bias[k], u1, yq);
                // `d_w * d_a` lane by lane is the one f32 product ggml broadcasts.
                c[0][k] = _mm256_fmadd_ps(_mm256_mul_ps(d0, dy), _mm256_cvtepi32_ps(l0), c[0][k]);
                c[1][k] = _mm256_fmadd_ps(_mm256_mul_ps(d1, dy), _mm256_cvtepi32_ps(l1), c[1][k]);
            }
        }
        [
            std::array::from_fn(|k| hsum_ps(c[0][k])),
            std::array::from_fn(|k| hsum_ps(c[1][k])),
        ]
    }
}

/// One Q8_0 activation block made ready for the `vpdpbusd` matrix-vector products of the
/// formats whose quants are unsigned with an offset (`super::q4_0`, `super::q5_0`):
/// `-offset * (y[4l] + .. + y[4l + 3])` per lane `l`, and the scale as f32. Prepared once per
/// matrix-vector product ([`prepare`]), it serves every row.
#[derive(Clone, Copy)]
pub struct BiasedAct {
    pub(super) neg_bias: __m256i,
    pub(super) d: f32,
}

/// The longest activation row [`prepare`] takes, in blocks (16384 values; on the stack).
pub const MAX_ACT_BLOCKS: usize = 512;

/// `out[b]` for every block of `a`: see [`BiasedAct`].
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI.
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn prepare(a: &[BlockQ8_0], offset: u8, out: &mut [MaybeUninit<BiasedAct>]) {
    assert!(out.len() >= a.len());
    // SAFETY: the CPU features are this function's contract; the loads read borrowed blocks.
    unsafe {
        let off = _mm256_set1_epi8(offset as i8);
        for (y, o) in a.iter().zip(out) {
            let sum = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), off, load32(&y.qs));
            o.write(BiasedAct {
                neg_bias: _mm256_sub_epi32(_mm256_setzero_si256(), sum),
                d: f16_to_f32(y.d),
            });
        }
    }
}

/// Bit-identical to [`crate::quant::q8_0::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q8_0_q8_0`),
/// with the activation prepared by [`prepare`] with offset 128: the weights made unsigned
/// (`w ^ 0x80 = w + 128`; lanes at most `4 * 255 * 127` before the bias), see
/// `dot_prepared`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `prep` is `a` prepared with offset 128.
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn vec_dot_prepared(w: &[BlockQ8_0], a: &[BlockQ8_0], prep: &[BiasedAct]) -> f32 {
    // SAFETY: the CPU features are this function's contract; the load reads the block.
    unsafe {
        let k80 = _mm256_set1_epi8(0x80u8 as i8);
        dot_prepared(w, a, prep, |x| (_mm256_xor_si256(load32(&x.qs), k80), x.d))
    }
}

/// The matrix-vector row product of a format whose quants are unsigned with an offset, in
/// ggml's `vec_dot` order, the activation prepared by [`prepare`] with that offset:
/// `quants(block)` gives the 32 unsigned quants `q` in value order and the block's scale;
/// the lanes are `vpdpbusd(-offset * sum4(y), q, y)`, the exact sums of `(q - offset) * y`
/// that the AVX2 kernels get with `sign`, `sign`, `maddubs` and `madd`; then `acc =
/// fma(d_w * d_a, f32(lanes), acc)` and `hsum_float_8`, as there.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub(super) unsafe fn dot_prepared<B>(
    w: &[B],
    a: &[BlockQ8_0],
    prep: &[BiasedAct],
    quants: impl Fn(&B) -> (__m256i, half::f16),
) -> f32 {
    assert!(a.len() == w.len() && prep.len() == w.len());
    // SAFETY: the CPU features are this function's contract; the loads read borrowed blocks
    // (the prefetch never faults, its address is formed with `wrapping_add`).
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for ((x, y), p) in w.iter().zip(a).zip(prep) {
            _mm_prefetch::<_MM_HINT_T0>(
                (x as *const B as *const i8).wrapping_add(avx2::PREFETCH_AHEAD),
            );
            let (q, dx) = quants(x);
            let d = _mm256_set1_ps(f16_to_f32(dx) * p.d);
            let lanes = _mm256_dpbusd_avx_epi32(p.neg_bias, q, load32(&y.qs));
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc);
        }
        hsum_ps(acc)
    }
}
