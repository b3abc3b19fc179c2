//! Q6_K weight tiles repacked eight rows to a vector for prefill (the layout of
//! `q4_k_packed`: four 6-bit quants of each of eight rows side by side in one vector), times
//! four tokens in the float order of ggml's tiled K-quant matmul; the AVX2 kernel, and the
//! layout and packing the VNNI kernel (`avxvnni::q6_k`) shares.

use std::arch::x86_64::*;

use super::f16_to_f32;
use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K, Pod};

/// The longest row the packed kernels take, in super-blocks (16384 values): the VNNI kernel's
/// per-token data lives on the stack. Longer rows go through the kernels on the blocks as
/// stored.
pub const MAX_BLOCKS: usize = 64;

/// One super-block of eight consecutive rows, repacked.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Packed8 {
    /// `q[g]`: values `4g .. 4g + 4` of row `r` as unsigned 6-bit quants (the values are
    /// `q - 32`) at bytes `4r .. 4r + 4`.
    pub(crate) q: [[u8; 32]; 64],
    /// `sc[j][r]`: the signed 8-bit scale of sub-block `j` (values `16j .. 16j + 16`) of row
    /// `r`.
    pub(crate) sc: [[i32; 8]; 16],
    /// The rows' super-block scales as f32.
    pub(crate) d: [f32; 8],
}

const _: () = assert!(std::mem::size_of::<Packed8>() == 2592);

/// The scratch bytes [`pack`] needs for the first `rows / 8 * 8` rows of a tile of `cols`
/// values a row, when there are at least eight and the rows fit the kernels
/// (`cols <= 256 * MAX_BLOCKS`); `None` otherwise.
pub fn bytes(rows: usize, cols: usize) -> Option<usize> {
    super::q4_k_packed::packed_bytes::<Packed8>(rows, cols, MAX_BLOCKS)
}

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

/// The packed rows of a tile (`packed`: `groups` groups of eight rows, `a[k].len()`
/// super-blocks each, from [`pack`]) times four activation rows: `put(r, [row r . a_0, ..,
/// row r . a_3])`, each the bits of [`crate::quant::q6_k::vec_dot_tiled`] (ggml's tiled
/// K-quant matmul).
///
/// Per super-block, lane `r` of token `k`: `s1 = sum_j sc_j * S_j - 32 * sum_j sc_j * B_j`,
/// `S_j` the exact sum of the unsigned quants times the activation over sub-block `j` and
/// `B_j` the activation's sum there (`bsums`), so `s1 = sum_j sc_j * T_j` with `T_j` the exact
/// sum of `(q - 32) * y` (|s1| <= 16 * 128 * 65024 < 2^31; each part below that too). `S_j`:
/// `maddubs` of a packed vector (four quants 0..=63 of each row) with four activation quants
/// broadcast gives two i16 pair sums per row (at most `2 * 63 * 128` in magnitude), two such
/// vectors added as i16 (at most 32256: no wrap), and a `madd` with the rows' scales as i16
/// pairs `(sc, sc)` gives `sc_j * (their sum)` in lane `r`; the `B_j` part is eight `madd`s of
/// the rows' scales paired `(sc_2m, sc_2m+1)` with the token's `bsums` pairs. Then `res = d *
/// f32(s1)` and `acc = fma(res, d_a, acc)`: the reference's operations in its order.
///
/// On the Zen 4 EPYC this kernel matched the VNNI one (64 x 2048 by 64 tokens, alternated:
/// 91.7 against 89.4 GMAC/s; compiled with AVX-512's registers 91.9; 64 x 1024 92.5 against
/// 93.3): the VNNI tables keep theirs.
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
    let nb = a[0].len();
    assert!(a.iter().all(|r| r.len() == nb) && packed.len() == groups * nb && nb <= MAX_BLOCKS);
    // SAFETY: the CPU features are this function's contract; each group and every `a[k]`
    // are `nb` blocks long.
    super::q4_k_packed::put_groups(packed, groups, nb, put, |p| unsafe { dot_8x4(p, a) });
}

/// Eight packed rows times four tokens: `out[k][r]`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; every `a[k]` is `p.len()` blocks long.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_8x4(p: &[Packed8], a: [&[BlockQ8K]; 4]) -> [[f32; 8]; 4] {
    // SAFETY: the CPU features are this function's contract; `b < p.len()` indexes every
    // `a[k]` (the caller's contract), the loads read inside those blocks.
    unsafe {
        // Duplicates the low i16 of each i32 lane: a sign-extended scale to the pair (sc, sc).
        #[rustfmt::skip]
        let dup = _mm256_setr_epi8(
            0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
            0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
        );
        let mut acc = [_mm256_setzero_ps(); 4];
        for (b, x) in p.iter().enumerate() {
            let ys: [&BlockQ8K; 4] = std::array::from_fn(|k| a[k].get_unchecked(b));
            let sc = |j: usize| _mm256_loadu_si256(x.sc[j].as_ptr() as *const __m256i);
            let mut s1 = [_mm256_setzero_si256(); 4];
            // sum_j sc_j * B_j: the scales of sub-blocks 2m and 2m + 1 as an i16 pair in each
            // row's lane, against the token's bsums 2m, 2m + 1 (adjacent i16s: one dword).
            for m in 0..8 {
                let pair =
                    _mm256_blend_epi16::<0xAA>(sc(2 * m), _mm256_slli_epi32::<16>(sc(2 * m + 1)));
                for k in 0..4 {
                    let bs = ys[k].bsums.as_ptr().add(2 * m) as *const i32;
                    let bs = _mm256_set1_epi32(std::ptr::read_unaligned(bs));
                    s1[k] = _mm256_add_epi32(s1[k], _mm256_madd_epi16(pair, bs));
                }
            }
            // Started at -32 * sum_j sc_j * B_j (|.| <= 32 * 16 * 128 * 2032 < 2^27).
            s1 = s1.map(|s| _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32::<5>(s)));
            for j in 0..16 {
                let scp = _mm256_shuffle_epi8(sc(j), dup);
                let wq: [__m256i; 4] = std::array::from_fn(|g| {
                    _mm256_loadu_si256(x.q[4 * j + g].as_ptr() as *const __m256i)
                });
                for k in 0..4 {
                    let y = |g: usize| {
                        let y = ys[k].qs.as_ptr().add(16 * j + 4 * g) as *const i32;
                        _mm256_set1_epi32(std::ptr::read_unaligned(y))
                    };
                    let lo = _mm256_add_epi16(
                        _mm256_maddubs_epi16(wq[0], y(0)),
                        _mm256_maddubs_epi16(wq[1], y(1)),
                    );
                    let hi = _mm256_add_epi16(
                        _mm256_maddubs_epi16(wq[2], y(2)),
                        _mm256_maddubs_epi16(wq[3], y(3)),
                    );
                    let t =
                        _mm256_add_epi32(_mm256_madd_epi16(lo, scp), _mm256_madd_epi16(hi, scp));
                    s1[k] = _mm256_add_epi32(s1[k], t);
                }
            }
            add_block(&mut acc, x, s1, ys.map(|y| y.d));
        }
        acc.map(|a| {
            let mut out = [0f32; 8];
            _mm256_storeu_ps(out.as_mut_ptr(), a);
            out
        })
    }
}

/// The float steps of one packed super-block `x` for the four tokens (`d_a`: their scales),
/// shared by the kernels: lane `r` of token `k`, `res = d * f32(s1)` and `acc = fma(res, d_a,
/// acc)`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn add_block(
    acc: &mut [__m256; 4],
    x: &Packed8,
    s1: [__m256i; 4],
    d_a: [f32; 4],
) {
    // SAFETY: the CPU features are this function's contract; the load reads `x`.
    unsafe {
        let d = _mm256_loadu_ps(x.d.as_ptr());
        for k in 0..4 {
            let res = _mm256_mul_ps(d, _mm256_cvtepi32_ps(s1[k]));
            acc[k] = _mm256_fmadd_ps(res, _mm256_set1_ps(d_a[k]), acc[k]);
        }
    }
}
