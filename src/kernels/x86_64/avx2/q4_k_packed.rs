//! Q4_K weight tiles repacked eight rows to a vector for prefill, times four tokens in ggml's
//! repacked-GEMM order, with the rows in the lanes; the AVX2 kernel, and the layout, packing
//! and skeleton the VNNI kernel (`avxvnni::q4_k`) shares.
//!
//! The four-token kernel on the blocks as stored ([`super::q4_k::dot_x4`]) keeps the values of
//! one row in the eight lanes, so every 64-value chunk of every (row, token) ends in a
//! horizontal sum. Here a tile is first repacked (once per batch, like ggml's
//! `block_q4_Kx8`, but into scratch and with the nibbles spread to bytes): four values of each
//! of eight rows side by side in one vector ([`Packed8`]), so one product with four activation
//! bytes broadcast adds the products of eight rows into eight lanes, and a sub-block's sums
//! come out one row per lane with no horizontal work. Scales, minimums and the float steps then
//! run on eight rows at once.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::f16_to_f32;
use crate::kernels::scales_mins;
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K, Pod};

/// The longest row the packed kernels take, in super-blocks (16384 values): their per-token
/// data lives on the stack. Longer rows go through the kernels on the blocks as stored.
pub const MAX_BLOCKS: usize = 64;

/// One super-block of eight consecutive rows, repacked.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Packed8 {
    /// `q[g]`: values `4g .. 4g + 4` of row `r` (each 0..=15) at bytes `4r .. 4r + 4`.
    pub(crate) q: [[u8; 32]; 64],
    /// `sc[j][r]`: the 6-bit scale of sub-block `j` (values `32j .. 32j + 32`) of row `r`.
    pub(crate) sc: [[i32; 8]; 8],
    /// `mins[c]`: row `r`'s minimums of sub-blocks `2c` and `2c + 1` at i16 lanes `2r`,
    /// `2r + 1` (a `madd` with a broadcast pair of activation sums gives `pair_c`).
    pub(crate) mins: [[i16; 16]; 4],
    /// The rows' super-block scales `d` and `dmin` as f32.
    pub(crate) d: [f32; 8],
    pub(crate) dmin: [f32; 8],
}

const _: () = assert!(std::mem::size_of::<Packed8>() == 2496);

/// The scratch bytes [`pack`] needs for the first `rows / 8 * 8` rows of a tile of `cols`
/// values a row, when there are at least eight and the rows fit the kernels
/// (`cols <= 256 * MAX_BLOCKS`); `None` otherwise.
pub fn bytes(rows: usize, cols: usize) -> Option<usize> {
    packed_bytes::<Packed8>(rows, cols, MAX_BLOCKS)
}

/// The bytes of the packed super-blocks `P` (eight rows each) of the first `rows / 8 * 8`
/// rows of a tile of `cols` values a row, when there are at least eight rows and at most
/// `max_blocks` super-blocks a row.
pub(crate) fn packed_bytes<P>(rows: usize, cols: usize, max_blocks: usize) -> Option<usize> {
    let (groups, nb) = (rows / 8, cols / 256);
    (groups > 0 && nb <= max_blocks).then(|| groups * nb * std::mem::size_of::<P>())
}

// SAFETY: repr(C), integer and f32 arrays whose sizes are multiples of 4 (no padding, size
// asserted), every bit pattern valid.
unsafe impl Pod for Packed8 {}

/// Repacks `rows` rows (a multiple of 8) of `nb` super-blocks each into `out` (`rows / 8 *
/// nb` entries, group-major: the super-blocks of rows 0..8, then of rows 8..16, ...).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn pack(w: &[BlockQ4K], rows: usize, nb: usize, out: &mut [Packed8]) {
    assert!(rows.is_multiple_of(8) && w.len() == rows * nb && out.len() == rows / 8 * nb);
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `qs` of borrowed blocks and the stores write the 32 bytes of one `q[g]` of `out`.
    unsafe {
        let m4 = _mm256_set1_epi8(0x0F);
        for (i, p) in out.iter_mut().enumerate() {
            let (grp, b) = (i / nb, i % nb);
            let x: [&BlockQ4K; 8] = std::array::from_fn(|r| &w[(8 * grp + r) * nb + b]);
            for c in 0..4 {
                // Row r's values 64c .. 64c + 32 (low nibbles) and 64c + 32 .. 64c + 64 (high).
                let raw: [__m256i; 8] = std::array::from_fn(|r| {
                    _mm256_loadu_si256(x[r].qs.as_ptr().add(32 * c) as *const __m256i)
                });
                let lo = raw.map(|v| _mm256_and_si256(v, m4));
                let hi = raw.map(|v| _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4));
                for (h, rows8) in [lo, hi].into_iter().enumerate() {
                    // Sub-block j = 2c + h: its eight 4-value groups of the eight rows,
                    // transposed so that vector g holds group g of every row.
                    let t = super::transpose8x32(rows8);
                    for (g, v) in t.into_iter().enumerate() {
                        let dst = p.q[8 * (2 * c + h) + g].as_mut_ptr() as *mut __m256i;
                        _mm256_storeu_si256(dst, v);
                    }
                }
            }
            for (r, x) in x.iter().enumerate() {
                let u = scales_mins(&x.scales);
                let byte = |k: usize| (u[k / 4] >> (8 * (k % 4))) as u8;
                for j in 0..8 {
                    p.sc[j][r] = i32::from(byte(j));
                }
                for c in 0..4 {
                    p.mins[c][2 * r] = i16::from(byte(8 + 2 * c));
                    p.mins[c][2 * r + 1] = i16::from(byte(8 + 2 * c + 1));
                }
                p.d[r] = f16_to_f32(x.d);
                p.dmin[r] = f16_to_f32(x.dmin);
            }
        }
    }
}

/// What the kernels need of one activation super-block of each of the four tokens besides
/// the quants: `pairs[k][c]` the i16 pair (sum of values `64c .. 64c + 32`, sum of `64c + 32
/// .. 64c + 64`) as one i32, and the scales.
#[derive(Clone, Copy)]
pub(crate) struct Prepared {
    pub(crate) pairs: [[i32; 4]; 4],
    pub(crate) d: [f32; 4],
}

/// The skeleton of the packed tile kernels: checks the lengths, prepares each activation
/// super-block's [`Prepared`] once for the tile, and runs `dot_8x4` (eight packed rows times
/// the four tokens: `out[k][r]`) over the `groups` groups of eight rows of `packed`,
/// handing each row's four results to `put`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and what `dot_8x4` needs.
///
/// # Panics
/// If `packed` is not `groups * nb` entries for activation rows of `nb <= MAX_BLOCKS`
/// super-blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn tile_groups(
    packed: &[Packed8],
    groups: usize,
    a: [&[BlockQ8K]; 4],
    put: &mut crate::kernels::Out4,
    dot_8x4: impl Fn(&[Packed8], &[Prepared]) -> [[f32; 8]; 4],
) {
    let nb = a[0].len();
    assert!(a.iter().all(|r| r.len() == nb) && packed.len() == groups * nb && nb <= MAX_BLOCKS);
    let mut buf = [const { MaybeUninit::<Prepared>::uninit() }; MAX_BLOCKS];
    // SAFETY: the CPU features are this function's contract; the loads read borrowed blocks;
    // the first `nb` entries of `buf` are written before the slice over them is made.
    unsafe {
        for (b, p) in buf[..nb].iter_mut().enumerate() {
            let ys: [&BlockQ8K; 4] = std::array::from_fn(|k| a[k].get_unchecked(b));
            p.write(Prepared {
                pairs: ys.map(|y| {
                    let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                    // The 32-value sums (|sum| <= 32 * 127, an i16) in order, pairs as i32.
                    let s = _mm_hadd_epi16(
                        _mm256_castsi256_si128(bs),
                        _mm256_extracti128_si256::<1>(bs),
                    );
                    let mut out = [0i32; 4];
                    _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, s);
                    out
                }),
                d: ys.map(|y| y.d),
            });
        }
        let prep = std::slice::from_raw_parts(buf.as_ptr() as *const Prepared, nb);
        put_groups(packed, groups, nb, put, |p| dot_8x4(p, prep));
    }
}

/// The loop over a packed tile's `groups` groups of eight rows (`nb` packed super-blocks each)
/// that every packed tile kernel ends in: `dot(group)` gives the group's `out[k][r]` (row `r`
/// times token `k`), handed to `put` row by row.
///
/// # Panics
/// If `packed` is shorter than `groups * nb` entries.
#[inline]
pub(crate) fn put_groups<P>(
    packed: &[P],
    groups: usize,
    nb: usize,
    put: &mut crate::kernels::Out4,
    mut dot: impl FnMut(&[P]) -> [[f32; 8]; 4],
) {
    for grp in 0..groups {
        let out = dot(&packed[grp * nb..(grp + 1) * nb]);
        for (r, v) in (8 * grp..).zip(transpose_4x8(out)) {
            put.put(r, v);
        }
    }
}

/// `out[r][k] = v[k][r]`.
fn transpose_4x8(v: [[f32; 8]; 4]) -> [[f32; 4]; 8] {
    std::array::from_fn(|r| std::array::from_fn(|k| v[k][r]))
}

/// The products `d * d_a` and `dmin * d_a` of a packed super-block `x` for the four tokens
/// (lane `r`: row `r`), made once per super-block for [`add_chunk`].
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_scales(x: &Packed8, pr: &Prepared) -> [[__m256; 4]; 2] {
    // SAFETY: the CPU features are this function's contract; the loads read `x`.
    unsafe {
        let d = _mm256_loadu_ps(x.d.as_ptr());
        let dmin = _mm256_loadu_ps(x.dmin.as_ptr());
        let yd = pr.d.map(|y| _mm256_set1_ps(y));
        [
            yd.map(|y| _mm256_mul_ps(d, y)),
            yd.map(|y| _mm256_mul_ps(dmin, y)),
        ]
    }
}

/// The float steps of one 64-value chunk `c` of a packed super-block `x` for the four tokens,
/// shared by the kernels: lane `r` of token `k`, `acc = fma(f32(s1), d * d_a, acc)` and
/// `acc_m = fma(f32(pair), dmin * d_a, acc_m)` (`dd` = [`block_scales`]), `pair = min_2c *
/// bsum_2c + min_2c+1 * bsum_2c+1` (one `madd` of the rows' minimums with the token's
/// broadcast pair of sums).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn add_chunk(
    acc: &mut [[__m256; 4]; 2],
    dd: &[[__m256; 4]; 2],
    x: &Packed8,
    pr: &Prepared,
    c: usize,
    s1: [__m256i; 4],
) {
    // SAFETY: the CPU features are this function's contract; the load reads `x`.
    unsafe {
        let mins = _mm256_loadu_si256(x.mins[c].as_ptr() as *const __m256i);
        for k in 0..4 {
            let pair = _mm256_madd_epi16(mins, _mm256_set1_epi32(pr.pairs[k][c]));
            acc[0][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1[k]), dd[0][k], acc[0][k]);
            acc[1][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pair), dd[1][k], acc[1][k]);
        }
    }
}

/// `acc - acc_m` per token (`[acc, acc_m]` of [`add_chunk`]): the eight rows' results.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn finish([acc, acc_m]: [[__m256; 4]; 2]) -> [[f32; 8]; 4] {
    // SAFETY: the CPU features are this function's contract; the stores write a local array.
    unsafe {
        let mut out = [[0f32; 8]; 4];
        for k in 0..4 {
            _mm256_storeu_ps(out[k].as_mut_ptr(), _mm256_sub_ps(acc[k], acc_m[k]));
        }
        out
    }
}

/// The packed rows of a tile (`packed`: `groups` groups of eight rows, `a[k].len()`
/// super-blocks each, from [`pack`]) times four activation rows: `put(r, [row r . a_0, ..,
/// row r . a_3])`, each the bits of [`crate::quant::q4_k::vec_dot_repacked`] with `gemm`
/// (ggml's `ggml_gemm_q4_K_8x8_q8_K`).
///
/// Per super-block and sub-block `j`, lane `r` of token `k`: `maddubs` of a packed vector
/// (four 4-bit quants of each row) with four activation quants broadcast gives two i16 pair
/// sums per row (each at most `2 * 15 * 128` in magnitude), the sub-block's eight such
/// vectors added as i16 (at most `8 * 3840 = 30720`: no wrap), and one `madd` with the rows'
/// scales as i16 pairs gives `sc_j * S_j` exactly in lane `r` (`S_j` the sub-block's exact
/// sum). Per 64-value chunk `c`, `s1 = sc_2c * S_2c + sc_2c+1 * S_2c+1`, then the float steps
/// of `add_chunk`: the reference's operations in its order.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If `packed` is not `groups * nb` entries for activation rows of `nb <= MAX_BLOCKS`
/// super-blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn tile_x4(
    packed: &[Packed8],
    groups: usize,
    a: [&[BlockQ8K]; 4],
    put: &mut crate::kernels::Out4,
) {
    // SAFETY: the CPU features are this function's contract; `tile_groups` hands `dot_8x4`
    // slices of the same length as every `a[k]`.
    unsafe { tile_groups(packed, groups, a, put, |p, prep| dot_8x4(p, a, prep)) }
}

/// Eight packed rows times four tokens: `out[k][r]`.
///
/// The scale products `d * d_a`, `dmin * d_a` made once per super-block, not per chunk
/// ([`block_scales`]): 93 -> 107-109 GMAC/s (64 x 2048 by 64 tokens, Zen 4, alternated). Two
/// groups of rows sharing each broadcast activation dword (sixteen rows) measured slower
/// (97-99), also with the broadcasts in assembly so that LLVM could not repeat them.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_8x4(p: &[Packed8], a: [&[BlockQ8K]; 4], prep: &[Prepared]) -> [[f32; 8]; 4] {
    // SAFETY: the CPU features are this function's contract; `p`, `prep` and every `a[k]`
    // have the same length (checked by the caller), the loads read inside those blocks.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 4]; 2];
        for (b, (x, pr)) in p.iter().zip(prep).enumerate() {
            let dd = block_scales(x, pr);
            let ys: [*const i8; 4] = std::array::from_fn(|k| a[k].get_unchecked(b).qs.as_ptr());
            for c in 0..4 {
                // The chunk's two sub-blocks written out (a loop over them LLVM kept rolled:
                // 107 -> 92 GMAC/s).
                let (s0, s1) = (sub_block(x, ys, 2 * c), sub_block(x, ys, 2 * c + 1));
                let s1: [__m256i; 4] = std::array::from_fn(|k| _mm256_add_epi32(s0[k], s1[k]));
                add_chunk(&mut acc, &dd, x, pr, c, s1);
            }
        }
        finish(acc)
    }
}

/// `sc_j * S_j` of sub-block `j` of the packed rows `x` for the four tokens (`ys[k]`: token
/// `k`'s quants of the super-block), row `r` in lane `r`: eight `maddubs` pair sums added as
/// i16, then one `madd` with the rows' scales as i16 pairs `(sc, sc)`.
///
/// # Safety
/// The CPU must support AVX2; every `ys[k]` must be valid for reading 256 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sub_block(x: &Packed8, ys: [*const i8; 4], j: usize) -> [__m256i; 4] {
    // SAFETY: the CPU features are this function's contract; the loads read `x` and bytes
    // `32 j .. 32 j + 32` of each `ys[k]`.
    unsafe {
        let mut s = [_mm256_setzero_si256(); 4];
        for g in 0..8 {
            let wq = _mm256_loadu_si256(x.q[8 * j + g].as_ptr() as *const __m256i);
            for k in 0..4 {
                let y = ys[k].add(32 * j + 4 * g) as *const i32;
                let y = _mm256_set1_epi32(std::ptr::read_unaligned(y));
                s[k] = _mm256_add_epi16(s[k], _mm256_maddubs_epi16(wq, y));
            }
        }
        let sc = _mm256_loadu_si256(x.sc[j].as_ptr() as *const __m256i);
        let sc = _mm256_or_si256(sc, _mm256_slli_epi32::<16>(sc));
        s.map(|s| _mm256_madd_epi16(s, sc))
    }
}
