//! Q6_K weight tiles times four tokens in the float order of ggml's tiled K-quant matmul,
//! eight rows at a time with the rows in the lanes (the layout of `super::q4_k`).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::super::avx2::f16_to_f32;
use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K, Pod};

/// The longest row [`tile_x4`] takes, in super-blocks (16384 values): its per-token data lives
/// on the stack. Longer rows go through the AVX2 kernel.
pub const MAX_BLOCKS: usize = 64;

/// One super-block of eight consecutive rows, repacked.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Packed8 {
    /// `q[g]`: values `4g .. 4g + 4` of row `r` as unsigned 6-bit quants (the values are
    /// `q - 32`) at bytes `4r .. 4r + 4`.
    q: [[u8; 32]; 64],
    /// `sc[j][r]`: the signed 8-bit scale of sub-block `j` (values `16j .. 16j + 16`) of row
    /// `r`.
    sc: [[i32; 8]; 16],
    /// The rows' super-block scales as f32.
    d: [f32; 8],
}

const _: () = assert!(std::mem::size_of::<Packed8>() == 2592);

// SAFETY: repr(C), integer and f32 arrays whose sizes are multiples of 4 (no padding, size
// asserted), every bit pattern valid.
unsafe impl Pod for Packed8 {}

/// The 256 unsigned quants (0..=63) of a Q6_K super-block in value order, 32 to a vector
/// (ggml's AVX2 unpacking: each 128-value half takes 64 bytes of `ql` and 32 of `qh`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quants(x: &BlockQ6K) -> [__m256i; 8] {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `ql` and `qh`.
    unsafe {
        let m4 = _mm256_set1_epi8(0x0F);
        let m2 = _mm256_set1_epi8(0x30);
        let mut out = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let ld = |p: *const u8| _mm256_loadu_si256(p as *const __m256i);
            let ql0 = ld(x.ql.as_ptr().add(64 * h));
            let ql1 = ld(x.ql.as_ptr().add(64 * h + 32));
            let qh = ld(x.qh.as_ptr().add(32 * h));
            let hi = |shift_left: bool, n: i32| {
                let v = match (shift_left, n) {
                    (true, 4) => _mm256_slli_epi16::<4>(qh),
                    (true, _) => _mm256_slli_epi16::<2>(qh),
                    (false, 0) => qh,
                    (false, _) => _mm256_srli_epi16::<2>(qh),
                };
                _mm256_and_si256(v, m2)
            };
            out[4 * h] = _mm256_or_si256(_mm256_and_si256(ql0, m4), hi(true, 4));
            out[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), hi(true, 2));
            out[4 * h + 2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                hi(false, 0),
            );
            out[4 * h + 3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                hi(false, 2),
            );
        }
        out
    }
}

/// Repacks `rows` rows (a multiple of 8) of `nb` super-blocks each into `out` (`rows / 8 *
/// nb` entries, the super-blocks of rows 0..8 first).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn pack(w: &[BlockQ6K], rows: usize, nb: usize, out: &mut [Packed8]) {
    assert!(rows.is_multiple_of(8) && w.len() == rows * nb && out.len() == rows / 8 * nb);
    // SAFETY: the CPU features are this function's contract; the stores write the 32 bytes
    // of one `q[g]` of `out`.
    unsafe {
        for (i, p) in out.iter_mut().enumerate() {
            let (grp, b) = (i / nb, i % nb);
            let x: [&BlockQ6K; 8] = std::array::from_fn(|r| &w[(8 * grp + r) * nb + b]);
            let q = x.map(|x| quants(x));
            for (c, dst) in p.q.chunks_exact_mut(8).enumerate() {
                // Values 32c .. 32c + 32 of the eight rows, transposed: vector g holds group
                // 8c + g of every row.
                let t = super::transpose8x32(std::array::from_fn(|r| q[r][c]));
                for (d, v) in dst.iter_mut().zip(t) {
                    _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, v);
                }
            }
            for (r, x) in x.iter().enumerate() {
                for j in 0..16 {
                    p.sc[j][r] = i32::from(x.scales[j]);
                }
                p.d[r] = f16_to_f32(x.d);
            }
        }
    }
}

/// What the kernel needs of one activation super-block of one token besides the quants:
/// `bias[j] = -32 * bsum_j` (the sum of values `16j .. 16j + 16`, so that a sub-block's sum of
/// `q * y` started there is the exact sum of `(q - 32) * y`), and the scale.
#[derive(Clone, Copy)]
struct Prepared {
    bias: [i32; 16],
    d: f32,
}

/// The packed rows of a tile (`packed`: `groups` groups of eight rows, `a[k].len()`
/// super-blocks each, from [`pack`]) times four activation rows: `put(r, [row r . a_0, ..,
/// row r . a_3])`, each the bits of [`crate::quant::q6_k::vec_dot_tiled`] (ggml's tiled
/// K-quant matmul).
///
/// Per super-block, lane `r` of token `k`: `s1 = sum_j sc_j * T_j` with `T_j` the exact sum of
/// `(q - 32) * y` over sub-block `j` (`vpdpbusd` from `-32 * bsum_j`; |T_j| <= 16 * 32 * 127,
/// |s1| <= 16 * 128 * 65024 < 2^31), then `res = d * f32(s1)` and `acc = fma(res, d_a, acc)`:
/// the reference's operations in its order.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI.
///
/// # Panics
/// If `packed` is not `groups * nb` entries for activation rows of `nb <= MAX_BLOCKS`
/// super-blocks.
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub unsafe fn tile_x4(
    packed: &[Packed8],
    groups: usize,
    a: [&[BlockQ8K]; 4],
    put: &mut crate::kernels::Out4,
) {
    let nb = a[0].len();
    assert!(a.iter().all(|r| r.len() == nb) && packed.len() == groups * nb && nb <= MAX_BLOCKS);
    let mut buf = [const { MaybeUninit::<[Prepared; 4]>::uninit() }; MAX_BLOCKS];
    // SAFETY: the CPU features are this function's contract; the loads read borrowed blocks;
    // the first `nb` entries of `buf` are written before the slice over them is made.
    unsafe {
        for (b, p) in buf[..nb].iter_mut().enumerate() {
            p.write(std::array::from_fn(|k| {
                let y = a[k].get_unchecked(b);
                Prepared {
                    bias: y.bsums.map(|s| -32 * i32::from(s)),
                    d: y.d,
                }
            }));
        }
        let prep = std::slice::from_raw_parts(buf.as_ptr() as *const [Prepared; 4], nb);
        for grp in 0..groups {
            let out = dot_8x4(&packed[grp * nb..(grp + 1) * nb], a, prep);
            for (r, v) in (8 * grp..).zip(super::super::avx2::q4_k_packed::transpose_4x8(out)) {
                put.put(r, v);
            }
        }
    }
}

/// Eight packed rows times four tokens: `out[k][r]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn dot_8x4(p: &[Packed8], a: [&[BlockQ8K]; 4], prep: &[[Prepared; 4]]) -> [[f32; 8]; 4] {
    // SAFETY: the CPU features are this function's contract; `p`, `prep` and every `a[k]`
    // have the same length (checked by the caller), the loads read inside those blocks.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        for (b, (x, pr)) in p.iter().zip(prep).enumerate() {
            let ys: [*const i8; 4] = std::array::from_fn(|k| a[k].get_unchecked(b).qs.as_ptr());
            let mut s1 = [_mm256_setzero_si256(); 4];
            for j in 0..16 {
                // One sub-block at a time: two or four interleaved measured the same here
                // (Zen 4, 64 x 2048 by 64 tokens: 86-87 GMAC/s), unlike Q4_K's.
                super::add_scaled_sub_blocks(
                    &mut s1,
                    [std::array::from_fn(|k| _mm256_set1_epi32(pr[k].bias[j]))],
                    [&x.q[4 * j..4 * j + 4]],
                    [ys.map(|y| y.add(16 * j))],
                    [&x.sc[j]],
                );
            }
            let d = _mm256_loadu_ps(x.d.as_ptr());
            for k in 0..4 {
                let res = _mm256_mul_ps(d, _mm256_cvtepi32_ps(s1[k]));
                acc[k] = _mm256_fmadd_ps(res, _mm256_set1_ps(pr[k].d), acc[k]);
            }
        }
        let mut out = [[0f32; 8]; 4];
        for k in 0..4 {
            _mm256_storeu_ps(out[k].as_mut_ptr(), acc[k]);
        }
        out
    }
}
