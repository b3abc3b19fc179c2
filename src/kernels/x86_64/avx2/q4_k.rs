//! Q4_K on AVX2: the dot products with Q8_K activations in ggml's `vec_dot`, tiled, and
//! repacked GEMV/GEMM orders. They share the integer work ([`block_sums`]) and differ only in
//! how the exact sums are added as f32.

use std::arch::x86_64::*;

use super::{f16_to_f32, hsum4_i32, hsum_i32, hsum_i32_128, hsum_ps, load32};
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K};

/// The exact integer sums of one super-block, as ggml's AVX2 `ggml_vec_dot_q4_K_q8_K` builds
/// them: `chunks[c]` holds the eight i32 lanes of values `64c .. 64c + 64` (lane `l`: the
/// values whose index mod 32 is in `4l .. 4l + 4`, each product times its sub-block's
/// scale, i.e. `crate::quant::q8_k::k_lanes` restricted to the chunk), and `mins` the four
/// `min * bsum` pair sums (lane `m`: sub-blocks `2m`, `2m + 1`).
///
/// Bounds: `maddubs` pairs of 4-bit quants and |q8| <= 127 are below 2 * 15 * 127; times a
/// 6-bit scale in `madd`, a lane of one chunk is below 2^17.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_sums(x: &BlockQ4K, y: &BlockQ8K) -> ([__m256i; 4], __m128i) {
    // SAFETY: the CPU features are this function's contract.
    unsafe { sums(&unpack(x), y) }
}

/// The weight side of [`block_sums`]: the 4-bit quants of the four 64-value chunks (low and
/// high nibbles), each sub-block's scale broadcast as i16, and the eight minimums as i16.
struct Unpacked {
    q4: [(__m256i, __m256i); 4],
    sc: [(__m256i, __m256i); 4],
    mins: __m128i,
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack(x: &BlockQ4K) -> Unpacked {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `x.qs` and bytes 4..20 of the 144-byte block (`scales` and the first bytes of `qs`).
    unsafe {
        let (sc, mins) = scales_mins_i16((x as *const BlockQ4K as *const u8).add(4));
        let m4 = _mm256_set1_epi8(0x0F);
        Unpacked {
            q4: std::array::from_fn(|c| {
                let q4 = _mm256_loadu_si256(x.qs.as_ptr().add(32 * c) as *const __m256i);
                (
                    _mm256_and_si256(q4, m4),
                    _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4),
                )
            }),
            sc: std::array::from_fn(|c| (sc[2 * c], sc[2 * c + 1])),
            mins,
        }
    }
}

/// A K-quant super-block's eight sub-block scales, each broadcast as i16 to a whole vector
/// (for `madd`), and its eight minimums as i16, from the 12 packed bytes at `p`
/// ([`scales_mins_vec`], then one `vpshufb` per scale).
///
/// # Safety
/// As [`scales_mins_vec`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scales_mins_i16(p: *const u8) -> ([__m256i; 8], __m128i) {
    // SAFETY: the CPU features are this function's contract; `scales_mins_vec` reads the 16
    // bytes at `p`, which the caller vouches for.
    unsafe {
        let sm = scales_mins_vec(p);
        let both = _mm256_broadcastsi128_si256(sm);
        let z = -128;
        let mins = _mm_shuffle_epi8(
            sm,
            _mm_setr_epi8(8, z, 9, z, 10, z, 11, z, 12, z, 13, z, 14, z, 15, z),
        );
        let sc = std::array::from_fn(|j| {
            _mm256_shuffle_epi8(both, _mm256_set1_epi16((0x8000 | j as u16) as i16))
        });
        (sc, mins)
    }
}

/// The eight 6-bit scales (bytes 0..8) and eight 6-bit minimums (bytes 8..16) packed in the
/// 12 bytes at `p` (a K-quant super-block's `scales`), the bytes of
/// [`scales_mins`](crate::kernels::scales_mins), in ten vector instructions instead of that
/// function's scalar work and a move and broadcast per scale (the scalar unpacking was a third
/// of the Q4_K decode loop's instructions).
///
/// # Safety
/// The CPU must support AVX2; `p` must be valid for reading 16 bytes (the 12 and 4 more).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scales_mins_vec(p: *const u8) -> __m128i {
    // SAFETY: the CPU features are this function's contract; reads the 16 bytes at `p`.
    unsafe {
        let b = _mm_loadu_si128(p as *const __m128i);
        // Scales 0..4: bytes 0..4 & 63; scales 4..8: bytes 8..12 & 15; minimums 0..4: bytes
        // 4..8 & 63; minimums 4..8: bytes 8..12 >> 4 ...
        let t = _mm_shuffle_epi8(
            b,
            _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11),
        );
        let lo = _mm_or_si128(
            _mm_and_si128(
                t,
                _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0),
            ),
            _mm_and_si128(
                _mm_srli_epi16::<4>(t),
                _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15),
            ),
        );
        // ... and the top two bits of scales 4..8 from bits 7:6 of bytes 0..4, of minimums
        // 4..8 from bits 7:6 of bytes 4..8 (to bits 5:4).
        let z = -128;
        let u = _mm_shuffle_epi8(
            b,
            _mm_setr_epi8(z, z, z, z, 0, 1, 2, 3, z, z, z, z, 4, 5, 6, 7),
        );
        let hi = _mm_and_si128(_mm_srli_epi16::<2>(u), _mm_set1_epi8(0x30));
        _mm_or_si128(lo, hi)
    }
}

/// The activation side of [`block_sums`] for an unpacked weight super-block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sums(x: &Unpacked, y: &BlockQ8K) -> ([__m256i; 4], __m128i) {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `y.qs` and the 16 `bsums`.
    unsafe {
        let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let q8s = _mm_hadd_epi16(
            _mm256_castsi256_si128(bs),
            _mm256_extracti128_si256::<1>(bs),
        );
        let mins = _mm_madd_epi16(x.mins, q8s);
        let chunks = std::array::from_fn(|c| {
            let q8l = load32(&*(y.qs.as_ptr().add(64 * c) as *const [i8; 32]));
            let q8h = load32(&*(y.qs.as_ptr().add(64 * c + 32) as *const [i8; 32]));
            let pl = _mm256_madd_epi16(x.sc[c].0, _mm256_maddubs_epi16(x.q4[c].0, q8l));
            let ph = _mm256_madd_epi16(x.sc[c].1, _mm256_maddubs_epi16(x.q4[c].1, q8h));
            _mm256_add_epi32(pl, ph)
        });
        (chunks, mins)
    }
}

/// [`vec_dot_repacked`] (GEMM order, `tiled == false`) or [`vec_dot_tiled`] (`tiled`) of one
/// weight row with four activation rows, each super-block unpacked once for the four: the
/// same bits as four calls (four independent chains of the same operations).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; every `a[k]` has `w.len()` blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_x4(w: &[BlockQ4K], a: [&[BlockQ8K]; 4], tiled: bool) -> [f32; 4] {
    assert!(a.iter().all(|r| r.len() == w.len()));
    // SAFETY: the CPU features are this function's contract; b < w.len() indexes every slice;
    // the stores write local arrays.
    unsafe {
        // Lane k of every vector below belongs to token k; each lane goes through exactly the
        // scalar operations of the one-token kernels, in their order.
        let mut acc = _mm_setzero_ps();
        let mut acc_m = _mm_setzero_ps();
        for (b, x) in w.iter().enumerate() {
            let u = unpack(x);
            let ys: [&BlockQ8K; 4] = std::array::from_fn(|k| a[k].get_unchecked(b));
            let yd = _mm_set_ps(ys[3].d, ys[2].d, ys[1].d, ys[0].d);
            let (d, dmin) = (f16_to_f32(x.d), f16_to_f32(x.dmin));
            // Written out, not `from_fn`: LLVM has left that closure out of line (-15 % prefill).
            let s = [
                sums(&u, ys[0]),
                sums(&u, ys[1]),
                sums(&u, ys[2]),
                sums(&u, ys[3]),
            ];
            if tiled {
                // s1 and s2 of the four tokens: the exact sums of their lanes.
                let s1 = hsum4_i32(std::array::from_fn(|k| lanes(&s[k].0)));
                let s2 = _mm_hadd_epi32(
                    _mm_hadd_epi32(s[0].1, s[1].1),
                    _mm_hadd_epi32(s[2].1, s[3].1),
                );
                let res = _mm_fmadd_ps(
                    _mm_set1_ps(-dmin),
                    _mm_cvtepi32_ps(s2),
                    _mm_mul_ps(_mm_set1_ps(d), _mm_cvtepi32_ps(s1)),
                );
                acc = _mm_fmadd_ps(res, yd, acc);
            } else {
                let dd = _mm_mul_ps(_mm_set1_ps(d), yd);
                let dm = _mm_mul_ps(_mm_set1_ps(dmin), yd);
                // Per token the four 64-value chunk sums; transposed so that vector j holds
                // chunk j of the four tokens.
                let c = transpose4(std::array::from_fn(|k| hsum4_i32(s[k].0)));
                let m = transpose4(std::array::from_fn(|k| s[k].1));
                for j in 0..4 {
                    acc = _mm_fmadd_ps(_mm_cvtepi32_ps(c[j]), dd, acc);
                    acc_m = _mm_fmadd_ps(_mm_cvtepi32_ps(m[j]), dm, acc_m);
                }
            }
        }
        let mut out = [0.0f32; 4];
        let r = if tiled { acc } else { _mm_sub_ps(acc, acc_m) };
        _mm_storeu_ps(out.as_mut_ptr(), r);
        out
    }
}

/// The 4 x 4 transpose of i32 lanes: `out[j]` lane `k` = `v[k]` lane `j`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn transpose4(v: [__m128i; 4]) -> [__m128i; 4] {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let t0 = _mm_unpacklo_epi32(v[0], v[1]); // v0[0] v1[0] v0[1] v1[1]
        let t1 = _mm_unpacklo_epi32(v[2], v[3]); // v2[0] v3[0] v2[1] v3[1]
        let t2 = _mm_unpackhi_epi32(v[0], v[1]); // v0[2] v1[2] v0[3] v1[3]
        let t3 = _mm_unpackhi_epi32(v[2], v[3]); // v2[2] v3[2] v2[3] v3[3]
        [
            _mm_unpacklo_epi64(t0, t1),
            _mm_unpackhi_epi64(t0, t1),
            _mm_unpacklo_epi64(t2, t3),
            _mm_unpackhi_epi64(t2, t3),
        ]
    }
}

/// The eight lanes of the whole super-block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn lanes(c: &[__m256i; 4]) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3])) }
}

/// Bit-identical to [`crate::quant::q4_k::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q4_K_q8_K`):
/// `acc = fma(d_a * d, lanes, acc)`, `acc_m = fma(-d_a * dmin, mins, acc_m)` (4 lanes), and
/// `hsum_float_8(acc) + ((m0 + m2) + (m1 + m3))`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read the borrowed
    // blocks only.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        let mut acc_m = _mm_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            let d = y.d * f16_to_f32(x.d);
            let dmin = -y.d * f16_to_f32(x.dmin);
            let (c, mins) = block_sums(x, y);
            acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mins), acc_m);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes(&c)), acc);
        }
        let m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
        let m = _mm_add_ss(m, _mm_movehdup_ps(m));
        hsum_ps(acc) + _mm_cvtss_f32(m)
    }
}

/// Bit-identical to [`crate::quant::q4_k::vec_dot_repacked`] (ggml's repacked
/// `ggml_gemv/gemm_q4_K_8x8_q8_K`, AVX2): `acc = fma(s1, d * d_a, acc)`, `acc_m = fma(s2,
/// dmin * d_a, acc_m)` once per super-block (GEMV) or per 64 values (GEMM); `acc - acc_m`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_repacked(w: &[BlockQ4K], a: &[BlockQ8K], gemm: bool) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read the borrowed
    // blocks only, the stores write local arrays.
    unsafe {
        let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
        for (x, y) in w.iter().zip(a) {
            let (dd, dm) = (f16_to_f32(x.d) * y.d, f16_to_f32(x.dmin) * y.d);
            let (c, mins) = block_sums(x, y);
            if gemm {
                let mut s1 = [0i32; 4];
                let mut s2 = [0i32; 4];
                _mm_storeu_si128(s1.as_mut_ptr() as *mut __m128i, hsum4_i32(c));
                _mm_storeu_si128(s2.as_mut_ptr() as *mut __m128i, mins);
                for (&s1, &s2) in s1.iter().zip(&s2) {
                    acc = (s1 as f32).mul_add(dd, acc);
                    acc_m = (s2 as f32).mul_add(dm, acc_m);
                }
            } else {
                acc = (hsum_i32(lanes(&c)) as f32).mul_add(dd, acc);
                acc_m = (hsum_i32_128(mins) as f32).mul_add(dm, acc_m);
            }
        }
        acc - acc_m
    }
}

/// [`vec_dot_repacked`] in the GEMM order (a plain function for the kernel table).
///
/// # Safety
/// As [`vec_dot_repacked`].
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_repacked_gemm(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the same contract.
    unsafe { vec_dot_repacked(w, a, true) }
}

/// [`vec_dot_repacked`] in the GEMV order (a plain function for the kernel table).
///
/// # Safety
/// As [`vec_dot_repacked`].
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_repacked_gemv(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: the same contract.
    unsafe { vec_dot_repacked(w, a, false) }
}

/// Bit-identical to [`crate::quant::q4_k::vec_dot_tiled`] (ggml's tiled K-quant matmul,
/// `crate::quant::q8_k::tiled_step`): `res = fma(-dmin, s2, d * s1)`, `acc = fma(res, d_a,
/// acc)` per super-block.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_tiled(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the helpers read the borrowed
    // blocks only.
    unsafe {
        let mut acc = 0.0f32;
        for (x, y) in w.iter().zip(a) {
            let (c, mins) = block_sums(x, y);
            let s1 = hsum_i32(lanes(&c));
            let s2 = hsum_i32_128(mins);
            let res = (-f16_to_f32(x.dmin)).mul_add(s2 as f32, f16_to_f32(x.d) * s1 as f32);
            acc = res.mul_add(y.d, acc);
        }
        acc
    }
}

/// Q4_K's repacked GEMV order eight rows at a time, row `r` in lane `r` of every vector from
/// the start: the rows of `w` (each `a.len()` super-blocks) in groups of eight, the rows
/// beyond the last multiple of eight left to the caller (returned: the rows done). Each row
/// is the bits of [`vec_dot_repacked_gemv`]: per super-block `acc = fma(f32(s1), d * d_a,
/// acc)`, `acc_m = fma(f32(s2), dmin * d_a, acc_m)`, then `acc - acc_m`, with `s1 = sum_j
/// sc_j * S_j` (`S_j` the exact sum of sub-block `j`'s 32 products) and `s2 = sum_j m_j *
/// B_j` (`B_j` the activation's 32-value sum) exact integers, as in the one- and four-row
/// kernels: only the way to them differs.
///
/// The eight rows' 12 scale bytes are transposed to dwords ([`rows8_dwords`]) and the 6-bit
/// scales and minimums unpacked in lanes, for eight rows at once in ten instructions
/// (`get_scale_min_k4` on whole dwords); `s2` is four `madd`s of the minimums as i16 pairs
/// against the activation's sums paired to match. `s1(q, rb, y, sc)` gives the rows' `s1` of
/// one super-block: `q` its quants in row 0 (`q + r * rb` in row `r`), `y` the activation's
/// quants, `sc` the rows' scales (sub-block `j`: byte `j % 4` of each lane of `sc[j / 4]`,
/// see [`scale_lanes`]); the instruction set's integer work (AVX2 [`s1_maddubs`], VNNI
/// `avxvnni::q4_k`).
///
/// Measured on Zen 4 with the matrix in L2, against the four-row kernel it replaced (each
/// row's lanes added across by `hadd`s before the float steps, the scales unpacked row by
/// row): AVX512-VNNI 22.5 -> 35.5 GB/s, AVX2 21.2 -> 28.8.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C (and what `s1` uses).
///
/// # Panics
/// If `w` is not `out.len()` rows of `a.len() <= MAX_SUPER` super-blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn gemv_8_rows(
    w: &[BlockQ4K],
    a: &[BlockQ8K],
    out: &mut [f32],
    s1: impl Fn(*const u8, usize, *const i8, [__m256i; 2]) -> __m256i + Copy,
) -> usize {
    use super::kmatvec::{K_PREFETCH_AHEAD, MAX_SUPER};
    use super::matvec::{f16_halves_8, first_dwords_8, prefetch_lines, rows8_dwords};
    const QS: usize = std::mem::offset_of!(BlockQ4K, qs);
    const _: () = assert!(
        std::mem::offset_of!(BlockQ4K, d) == 0
            && std::mem::offset_of!(BlockQ4K, scales) == 4
            && QS == 16
    );
    let nb = a.len();
    let size = std::mem::size_of::<BlockQ4K>();
    assert!(nb <= MAX_SUPER && w.len() == out.len() * nb);
    let rb = nb * size;
    // Per super-block the activation's 32-value sums as i16 pairs matching the minimums':
    // (B0, B2), (B1, B3), (B4, B6), (B5, B7), low half first (|B| <= 32 * 127: an i16).
    let mut pairs = [[0i32; 4]; MAX_SUPER];
    for (p, y) in pairs.iter_mut().zip(a) {
        let s = |j: usize| i32::from(y.bsums[2 * j]) + i32::from(y.bsums[2 * j + 1]);
        let pair = |lo: usize, hi: usize| (s(lo) & 0xFFFF) | (s(hi) << 16);
        *p = [pair(0, 2), pair(1, 3), pair(4, 6), pair(5, 7)];
    }
    let rows8 = out.len() / 8 * 8;
    for (o, g) in out[..rows8].chunks_exact_mut(8).zip(w.chunks_exact(8 * nb)) {
        // SAFETY: the CPU features are this function's contract; `g` is eight rows of `nb`
        // super-blocks, so for `b < nb` and `r < 8` the 16 bytes at `p + r * rb + b * size +
        // 4` (the scales and the first quant bytes) lie in block `b` of row `r`, and `s1` gets
        // the quants of block `b` of row 0 with the row stride; `first_dwords_8` at
        // `p + b * size` reads `7 * rb + 4` bytes, within the eight rows; `b < nb` indexes `a`
        // and `pairs`; a prefetch never faults.
        unsafe {
            let p = g.as_ptr() as *const u8;
            let step = 8 * size;
            let mut pf = (p as *const i8).wrapping_add(8 * rb + K_PREFETCH_AHEAD);
            let (m4, c3f, c30) = (
                _mm256_set1_epi8(0x0F),
                _mm256_set1_epi8(0x3F),
                _mm256_set1_epi8(0x30),
            );
            let ff = _mm256_set1_epi32(0x00FF_00FF);
            let mut acc = _mm256_setzero_ps();
            let mut acc_m = _mm256_setzero_ps();
            for b in 0..nb {
                prefetch_lines(pf, step);
                pf = pf.wrapping_add(step);
                let x = p.add(b * size);
                // Scale bytes 0..4, 4..8 and 8..12 of each row, unpacked as get_scale_min_k4:
                // sub-blocks 0..4 `q[j] & 63` and `q[j + 4] & 63`, sub-blocks 4..8 the low
                // (high) nibble of `q[j + 4]` with the top two bits of `q[j - 4]` (`q[j]`).
                let [d0, d1, d2, _] = rows8_dwords(x.add(4), rb);
                let sc = [
                    _mm256_and_si256(d0, c3f),
                    _mm256_or_si256(
                        _mm256_and_si256(d2, m4),
                        _mm256_and_si256(_mm256_srli_epi32::<2>(d0), c30),
                    ),
                ];
                let m_lo = _mm256_and_si256(d1, c3f);
                let m_hi = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi32::<4>(d2), m4),
                    _mm256_and_si256(_mm256_srli_epi32::<2>(d1), c30),
                );
                let s1 = s1(x.add(QS), rb, a.get_unchecked(b).qs.as_ptr(), sc);
                let pr = pairs.get_unchecked(b);
                let min_pair =
                    |m: __m256i, k: usize| _mm256_madd_epi16(m, _mm256_set1_epi32(pr[k]));
                let s2 = _mm256_add_epi32(
                    _mm256_add_epi32(
                        min_pair(_mm256_and_si256(m_lo, ff), 0),
                        min_pair(_mm256_and_si256(_mm256_srli_epi32::<8>(m_lo), ff), 1),
                    ),
                    _mm256_add_epi32(
                        min_pair(_mm256_and_si256(m_hi, ff), 2),
                        min_pair(_mm256_and_si256(_mm256_srli_epi32::<8>(m_hi), ff), 3),
                    ),
                );
                // The eight rows' d (low halves) and dmin (high halves).
                let (d, dmin) = f16_halves_8(first_dwords_8(x, rb));
                let da = _mm256_set1_ps(a.get_unchecked(b).d);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_mul_ps(d, da), acc);
                acc_m = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s2), _mm256_mul_ps(dmin, da), acc_m);
            }
            _mm256_storeu_ps(o.as_mut_ptr(), _mm256_sub_ps(acc, acc_m));
        }
    }
    rows8
}

/// The scale of sub-block `j` (`J`) of each lane's row from [`gemv_8_rows`]'s `sc` (byte
/// `j % 4` of `sc[j / 4]`), in each i32 lane: as an i32 (`PAIR` false) or as the same i16
/// twice (`PAIR` true, for a `madd` with i16 pair sums). One `vpshufb`.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scale_lanes<const J: usize, const PAIR: bool>(sc: [__m256i; 2]) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let k = (J % 4) as i8;
        let z = -128i8;
        let hi = if PAIR { k } else { z };
        let ctl = |i: i8| [4 * i + k, z, 4 * i + hi, z];
        let [a, b, c, d] = [ctl(0), ctl(1), ctl(2), ctl(3)];
        #[rustfmt::skip]
        let m = _mm256_setr_epi8(
            a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3],
            c[0], c[1], c[2], c[3], d[0], d[1], d[2], d[3],
            a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3],
            c[0], c[1], c[2], c[3], d[0], d[1], d[2], d[3],
        );
        _mm256_shuffle_epi8(sc[J / 4], m)
    }
}

/// [`gemv_8_rows`]' `s1` with AVX2: per sub-block the eight transposed dwords' nibbles times
/// four activation quants broadcast by `maddubs`, added as i16 (eight pair sums of at most
/// `2 * 15 * 128` each: below 2^15), then one `madd` with the rows' scales as i16 pairs.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `q + r * rb` (`r < 8`) must be readable for 128
/// bytes and `y` for 256.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn s1_maddubs(
    q: *const u8,
    rb: usize,
    y: *const i8,
    sc: [__m256i; 2],
) -> __m256i {
    use super::matvec::rows8_dwords;
    // SAFETY: the CPU features are this function's contract; the reads are the caller's.
    unsafe {
        let m4 = _mm256_set1_epi8(0x0F);
        let bcast =
            |off: usize| _mm256_set1_epi32(std::ptr::read_unaligned(y.add(off) as *const i32));
        let mut s1 = _mm256_setzero_si256();
        macro_rules! chunk {
            ($c:literal) => {{
                let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                for h in 0..2 {
                    let x = rows8_dwords(q.add(32 * $c + 16 * h), rb);
                    for (k, x) in x.into_iter().enumerate() {
                        let off = 64 * $c + 16 * h + 4 * k;
                        let l = _mm256_and_si256(x, m4);
                        let u = _mm256_and_si256(_mm256_srli_epi16::<4>(x), m4);
                        lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(l, bcast(off)));
                        hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(u, bcast(off + 32)));
                    }
                }
                s1 = _mm256_add_epi32(
                    s1,
                    _mm256_madd_epi16(lo, scale_lanes::<{ 2 * $c }, true>(sc)),
                );
                s1 = _mm256_add_epi32(
                    s1,
                    _mm256_madd_epi16(hi, scale_lanes::<{ 2 * $c + 1 }, true>(sc)),
                );
            }};
        }
        chunk!(0);
        chunk!(1);
        chunk!(2);
        chunk!(3);
        s1
    }
}
