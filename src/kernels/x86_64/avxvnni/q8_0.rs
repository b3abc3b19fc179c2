//! Q8_0 weight tiles (and Q5_0 tiles unpacked to Q8_0) times four tokens with `vpdpbusd`.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::super::avx2::{f16_to_f32, hsum_ps, load32, q8_0 as avx2};
use crate::quant::q8_0::BlockQ8_0;

/// The longest row [`tile_x4`] takes, in blocks (16384 values): its per-token data lives on
/// the stack (160 bytes a block, and 16 bytes a block and row of a row group for the scale
/// products). Longer rows go through the AVX2 kernels.
pub const MAX_BLOCKS: usize = 512;

/// What every row of a tile needs of one activation block of the four tokens, computed once
/// per tile: the tokens' scales as f32 and `-128 * (y[4l] + .. + y[4l + 3])` per lane `l`.
#[derive(Clone, Copy)]
struct Prepared {
    neg_bias: [__m256i; 4],
    d: [f32; 4],
}

vnni_entry! {
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
    /// `hsum_float_8` at the end; the scale products of a row group are made before its
    /// integer loop and read in it as broadcasts (`dot_rx4`). With AVX-512 (32 vector
    /// registers) the rows go four at a time, else two.
    ///
    /// Gemma 3 270M's Q5_0 and Q8_0 matrices, 64 x 640 tiles by 64 tokens on a Zen 4 core
    /// (`examples/tile_count.rs` timed): 55 GMAC/s with two rows, a scalar `vmulss` and a
    /// register broadcast per (row, token, block) and one accumulator spilled; 62 with the
    /// AVX-512 registers; 75 with four rows and the products from memory, whose broadcast
    /// AVX-512 folds into the FMA. (The products stored just before their broadcasts, per
    /// block, were slower: 44.)
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI.
    ///
    /// # Panics
    /// If the tile is not `rows` whole rows of the activations' length, or a row is longer than
    /// [`MAX_BLOCKS`].
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
            // Four rows at a time where AVX-512's 32 vector registers hold the 16 chains.
            if super::EVEX {
                while r + 4 <= rows {
                    let rw = |i: usize| &w[(r + i) * nb..(r + i + 1) * nb];
                    let v = dot_rx4([rw(0), rw(1), rw(2), rw(3)], a, prep);
                    for (i, v) in v.into_iter().enumerate() {
                        put.put(r + i, v);
                    }
                    r += 4;
                }
            }
            while r + 2 <= rows {
                let rw = |i: usize| &w[(r + i) * nb..(r + i + 1) * nb];
                let v = dot_rx4([rw(0), rw(1)], a, prep);
                put.put(r, v[0]);
                put.put(r + 1, v[1]);
                r += 2;
            }
            if r < rows {
                put.put(r, avx2::vec_dot_x4(&w[r * nb..], a));
            }
        }
    }
}

/// `R` weight rows times the four tokens of `prep`: `4 R` independent FMA chains, each the
/// bits of one `vec_dot`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn dot_rx4<const R: usize>(
    w: [&[BlockQ8_0]; R],
    a: [&[BlockQ8_0]; 4],
    prep: &[Prepared],
) -> [[f32; 4]; R] {
    let nb = prep.len();
    assert!(w.iter().all(|r| r.len() == nb) && a.iter().all(|r| r.len() == nb));
    // The scale products `d_w * d_a` of every block of the rows with the four tokens, made
    // before the integer loop (one `vmulps` per row and block for four tokens) and read in
    // it as broadcasts from memory, which cost the vector pipes nothing (and AVX-512 folds
    // into the FMA).
    let mut sp = [const { MaybeUninit::<[[f32; 4]; R]>::uninit() }; MAX_BLOCKS];
    // SAFETY: the CPU features are this function's contract; b < nb <= MAX_BLOCKS indexes
    // every slice and `sp`, whose first `nb` entries are written before they are read.
    unsafe {
        for (b, p) in prep.iter().enumerate() {
            let da = _mm_loadu_ps(p.d.as_ptr());
            let mut v = [[0.0f32; 4]; R];
            for r in 0..R {
                let dw = _mm_cvtph_ps(_mm_set1_epi16(w[r].get_unchecked(b).d.to_bits() as i16));
                _mm_storeu_ps(v[r].as_mut_ptr(), _mm_mul_ps(dw, da));
            }
            sp.get_unchecked_mut(b).write(v);
        }
        let sp = std::slice::from_raw_parts(sp.as_ptr() as *const [[f32; 4]; R], nb);
        let mut c = [[_mm256_setzero_ps(); 4]; R];
        let k80 = _mm256_set1_epi8(0x80u8 as i8);
        for (b, p) in prep.iter().enumerate() {
            let mut u = [_mm256_setzero_si256(); R];
            for r in 0..R {
                u[r] = _mm256_xor_si256(load32(&w[r].get_unchecked(b).qs), k80);
            }
            let s = sp.get_unchecked(b);
            for k in 0..4 {
                let yq = load32(&a[k].get_unchecked(b).qs);
                for r in 0..R {
                    let l = super::dpbusd(p.neg_bias[k], u[r], yq);
                    // `d_w * d_a` lane by lane is the one f32 product ggml broadcasts.
                    let s = _mm256_set1_ps(s[r][k]);
                    c[r][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(l), s, c[r][k]);
                }
            }
        }
        let mut out = [[0.0; 4]; R];
        for r in 0..R {
            for k in 0..4 {
                out[r][k] = hsum_ps(c[r][k]);
            }
        }
        out
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
