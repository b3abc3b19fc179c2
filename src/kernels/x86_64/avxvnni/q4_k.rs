//! Q4_K weight tiles times four tokens in ggml's repacked-GEMM order, eight rows at a time
//! with the rows in the lanes.
//!
//! The AVX2 four-token kernel (`avx2::q4_k::dot_x4`) keeps the values of one row in the
//! eight lanes, so every 64-value chunk of every (row, token) ends in a horizontal sum. Here a
//! tile is first repacked (once per batch, like ggml's `block_q4_Kx8`, but into scratch and
//! with the nibbles spread to bytes): four values of each of eight rows side by side in one
//! vector ([`Packed8`]), so `vpdpbusd` with four activation bytes broadcast adds the products
//! of eight rows into eight lanes, and a sub-block's sums come out one row per lane with no
//! horizontal work. Scales, minimums and the float steps then run on eight rows at once.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::super::avx2::f16_to_f32;
use crate::kernels::scales_mins;
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K, Pod};

/// The longest row [`tile_x4`] takes, in super-blocks (16384 values): its per-token data lives
/// on the stack. Longer rows go through the AVX2 kernel.
pub const MAX_BLOCKS: usize = 64;

/// One super-block of eight consecutive rows, repacked.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Packed8 {
    /// `q[g]`: values `4g .. 4g + 4` of row `r` (each 0..=15) at bytes `4r .. 4r + 4`.
    q: [[u8; 32]; 64],
    /// `sc[j][r]`: the 6-bit scale of sub-block `j` (values `32j .. 32j + 32`) of row `r`.
    sc: [[i32; 8]; 8],
    /// `mins[c]`: row `r`'s minimums of sub-blocks `2c` and `2c + 1` at i16 lanes `2r`,
    /// `2r + 1` (a `madd` with a broadcast pair of activation sums gives `pair_c`).
    mins: [[i16; 16]; 4],
    /// The rows' super-block scales `d` and `dmin` as f32.
    d: [f32; 8],
    dmin: [f32; 8],
}

const _: () = assert!(std::mem::size_of::<Packed8>() == 2496);

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

/// What the kernel needs of one activation super-block of each of the four tokens besides
/// the quants: `pairs[k][c]` the i16 pair (sum of values `64c .. 64c + 32`, sum of `64c + 32
/// .. 64c + 64`) as one i32, and the scales.
#[derive(Clone, Copy)]
struct Prepared {
    pairs: [[i32; 4]; 4],
    d: [f32; 4],
}

vnni_entry! {
    /// The packed rows of a tile (`packed`: `groups` groups of eight rows, `a[k].len()`
    /// super-blocks each, from [`pack`]) times four activation rows: `put(r, [row r . a_0, ..,
    /// row r . a_3])`, each the bits of [`crate::quant::q4_k::vec_dot_repacked`] with `gemm`
    /// (ggml's `ggml_gemm_q4_K_8x8_q8_K`).
    ///
    /// Per super-block and 64-value chunk `c`, lane `r` of token `k`: `s1 = sc_2c * S_2c +
    /// sc_2c+1 * S_2c+1` with `S_j` the exact sub-block sums (`vpdpbusd`, at most 32 * 15 * 127
    /// in magnitude; times a 6-bit scale below 2^22), `pair = min_2c * bsum_2c + min_2c+1 *
    /// bsum_2c+1` (`madd`), then `acc = fma(f32(s1), d * d_a, acc)` and `acc_m = fma(f32(pair),
    /// dmin * d_a, acc_m)`; the result is `acc - acc_m`: the reference's operations in its order.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI.
    ///
    /// # Panics
    /// If `packed` is not `groups * nb` entries for activation rows of `nb <= MAX_BLOCKS`
    /// super-blocks.
    pub unsafe fn tile_x4(
        packed: &[Packed8],
        groups: usize,
        a: [&[BlockQ8K]; 4],
        put: &mut crate::kernels::Out4,
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
            for grp in 0..groups {
                let out = dot_8x4(&packed[grp * nb..(grp + 1) * nb], a, prep);
                for (r, v) in (8 * grp..).zip(transpose_4x8(out)) {
                    put.put(r, v);
                }
            }
        }
    }
}

/// `out[r][k] = v[k][r]`.
pub(super) fn transpose_4x8(v: [[f32; 8]; 4]) -> [[f32; 4]; 8] {
    std::array::from_fn(|r| std::array::from_fn(|k| v[k][r]))
}

/// Eight packed rows times four tokens: `out[k][r]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn dot_8x4(p: &[Packed8], a: [&[BlockQ8K]; 4], prep: &[Prepared]) -> [[f32; 8]; 4] {
    // SAFETY: the CPU features are this function's contract; `p`, `prep` and every `a[k]`
    // have the same length (checked by the caller), the loads read inside those blocks.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut acc_m = [_mm256_setzero_ps(); 4];
        for (b, (x, pr)) in p.iter().zip(prep).enumerate() {
            let ys: [*const i8; 4] = std::array::from_fn(|k| a[k].get_unchecked(b).qs.as_ptr());
            let d = _mm256_loadu_ps(x.d.as_ptr());
            let dmin = _mm256_loadu_ps(x.dmin.as_ptr());
            for c in 0..4 {
                let mut s1 = [_mm256_setzero_si256(); 4];
                let (j0, j1) = (2 * c, 2 * c + 1);
                let at = |j: usize| ys.map(|y| y.add(32 * j));
                super::add_scaled_sub_blocks(
                    &mut s1,
                    [[_mm256_setzero_si256(); 4]; 2],
                    [&x.q[8 * j0..8 * j0 + 8], &x.q[8 * j1..8 * j1 + 8]],
                    [at(j0), at(j1)],
                    [&x.sc[j0], &x.sc[j1]],
                );
                let mins = _mm256_loadu_si256(x.mins[c].as_ptr() as *const __m256i);
                for k in 0..4 {
                    let yd = _mm256_set1_ps(pr.d[k]);
                    let pair = _mm256_madd_epi16(mins, _mm256_set1_epi32(pr.pairs[k][c]));
                    acc[k] =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1[k]), _mm256_mul_ps(d, yd), acc[k]);
                    acc_m[k] = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(pair),
                        _mm256_mul_ps(dmin, yd),
                        acc_m[k],
                    );
                }
            }
        }
        let mut out = [[0f32; 8]; 4];
        for k in 0..4 {
            _mm256_storeu_ps(out[k].as_mut_ptr(), _mm256_sub_ps(acc[k], acc_m[k]));
        }
        out
    }
}

vnni_entry! {
    /// `out[r] = row_r(w) . act` for Q4_K weight bytes `w` and Q8_K activation bytes `act` in
    /// ggml's repacked GEMV order, each row the bits of
    /// [`crate::quant::q4_k::vec_dot_repacked`] in that order: eight rows at a time with rows
    /// in lanes ([`avx2::q4_k::gemv_8_rows`](super::super::avx2::q4_k::gemv_8_rows), with
    /// [`s1_vnni`]), the rows beyond the last multiple of eight through the K-quant row loop.
    /// `false` (nothing written) for a row over `MAX_SUPER` super-blocks or bytes that are not
    /// whole blocks.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows
    /// of the activation's length.
    pub unsafe fn matvec_gemv(w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
        use crate::quant::{DotOrder, GgmlType};
        let Some((wb, a)) = super::kmatvec::blocks::<BlockQ4K>(w, act, out) else {
            return false;
        };
        // SAFETY: the CPU features and the layout are this function's contract.
        unsafe {
            let s1 = |q, rb, y, sc| s1_vnni(q, rb, y, sc);
            let done = super::super::avx2::q4_k::gemv_8_rows(wb, a, out, s1);
            let rest = done * a.len() * std::mem::size_of::<BlockQ4K>();
            super::kmatvec::k_matvec(
                GgmlType::Q4_K,
                DotOrder::RepackedGemv,
                &w[rest..],
                act,
                &mut out[done..],
            )
        }
    }
}

/// `s1` of `avx2::q4_k::gemv_8_rows` with VNNI: per 16-byte half of each 32-byte quant
/// chunk, the eight rows' bytes transposed to dwords, and one `vpdpbusd` of a dword's low
/// (high) nibbles with four activation quants broadcast adds four products of every row's
/// sub-block `2c` (`2c + 1`) into its lane; each sub-block's exact sum `S_j` (up to
/// `32 * 15 * 128`, an i32) times the rows' scales by `vpmulld`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, GFNI and this instance's VNNI encoding; `q + r * rb`
/// (`r < 8`) must be readable for 128 bytes and `y` for 256.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn s1_vnni(q: *const u8, rb: usize, y: *const i8, sc: [__m256i; 2]) -> __m256i {
    use super::super::avx2::matvec::rows8_dwords;
    use super::super::avx2::q4_k::scale_lanes;
    // SAFETY: the CPU features are this function's contract; the reads are the caller's.
    unsafe {
        let m4 = _mm256_set1_epi8(0x0F);
        let high = _mm256_set1_epi64x(super::matvec::HIGH_NIBBLE);
        let mut s1 = _mm256_setzero_si256();
        macro_rules! chunk {
            ($c:literal) => {{
                let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                macro_rules! half {
                    ($h:literal) => {{
                        let x = rows8_dwords(q.add(32 * $c + 16 * $h), rb);
                        macro_rules! dword {
                            ($k:literal) => {{
                                const OFF: usize = 64 * $c + 16 * $h + 4 * $k;
                                let l = _mm256_and_si256(x[$k], m4);
                                let u = _mm256_gf2p8affine_epi64_epi8::<0>(x[$k], high);
                                lo = super::dpbusd_bcast_at::<OFF>(lo, l, y);
                                hi = super::dpbusd_bcast_at::<{ OFF + 32 }>(hi, u, y);
                            }};
                        }
                        dword!(0);
                        dword!(1);
                        dword!(2);
                        dword!(3);
                    }};
                }
                half!(0);
                half!(1);
                let sl = scale_lanes::<{ 2 * $c }, false>(sc);
                let sh = scale_lanes::<{ 2 * $c + 1 }, false>(sc);
                s1 = _mm256_add_epi32(s1, _mm256_mullo_epi32(lo, sl));
                s1 = _mm256_add_epi32(s1, _mm256_mullo_epi32(hi, sh));
            }};
        }
        chunk!(0);
        chunk!(1);
        chunk!(2);
        chunk!(3);
        s1
    }
}
