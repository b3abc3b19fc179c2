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
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI.
///
/// # Panics
/// If the tile is not `rows` whole rows of the activations' length, or a row is longer than
/// [`MAX_BLOCKS`].
#[target_feature(enable = "avx2,fma,f16c,gfni")]
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
                neg_bias: ys.map(|y| super::neg_bias(k80, load32(&y.qs))),
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
#[target_feature(enable = "avx2,fma,f16c,gfni")]
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
                let l0 = super::dpbusd(p.neg_bias[k], u0, yq);
                let l1 = super::dpbusd(p.neg_bias[k], u1, yq);
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

vnni_entry! {
    /// `out[r] = row_r(w) . a` in the bits of [`crate::quant::q8_0::vec_dot`] (ggml's AVX2
    /// `ggml_vec_dot_q8_0_q8_0`), `a` prepared with offset 128: the weights made unsigned
    /// (`w ^ 0x80 = w + 128`); see [`super::matvec::offset_matvec`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `a` is prepared with offset 128.
    pub unsafe fn matvec(w: &[BlockQ8_0], a: &super::matvec::Prepared, out: &mut [f32]) {
        // SAFETY: the CPU features are this function's contract; the load reads the block.
        unsafe {
            let k80 = _mm256_set1_epi8(0x80u8 as i8);
            let quants = |x: &BlockQ8_0| _mm256_xor_si256(load32(&x.qs), k80);
            super::matvec::offset_matvec(w, a, out, quants, false)
        }
    }
}
