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
