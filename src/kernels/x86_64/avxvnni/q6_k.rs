//! Q6_K weight tiles times four tokens in the float order of ggml's tiled K-quant matmul with
//! VNNI, eight rows at a time with the rows in the lanes (the layout and packing of
//! `avx2::q6_k_packed`, with `vpdpbusd` for the integer sums).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

pub use super::super::avx2::q6_k_packed::{pack, Packed8, MAX_BLOCKS};
use super::super::avx2::{q4_k_packed::put_groups, q6_k_packed::add_block};
use crate::quant::q8_k::BlockQ8K;

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
        put_groups(packed, groups, nb, put, |p| dot_8x4(p, a, prep));
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
            add_block(&mut acc, x, s1, pr.map(|p| p.d));
        }
        acc.map(|a| {
            let mut out = [0f32; 8];
            _mm256_storeu_ps(out.as_mut_ptr(), a);
            out
        })
    }
}
