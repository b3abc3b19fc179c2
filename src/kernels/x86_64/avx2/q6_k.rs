//! Q6_K on AVX2: the dot products with Q8_K activations in ggml's `vec_dot` and tiled
//! orders, sharing the integer work ([`block_lanes`]).

use std::arch::x86_64::*;

use crate::quant::{q6_k::BlockQ6K, q8_k::BlockQ8K};

/// The eight exact i32 lanes of one super-block as ggml's AVX2 `ggml_vec_dot_q6_K_q8_K` and
/// the reference [`crate::quant::q6_k::vec_dot`] build them: the unsigned quants (0..=63) in
/// the lanes of `crate::quant::q8_k::k_lanes` (each product times its 16-value group's
/// scale), and lane `l` less `32 * (bsums[2l] * sc[2l] + bsums[2l + 1] * sc[2l + 1])`.
///
/// Bounds: `maddubs` pairs are below 2 * 63 * 127 = 16002; times an i8 scale in `madd`, and
/// eight 32-value runs per lane, |lane| < 2^25.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_lanes(x: &BlockQ6K, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract.
    unsafe { lanes_of(&unpack(x), y) }
}

/// The weight side of [`block_lanes`]: the unsigned 6-bit quants of the eight 32-value runs,
/// each run's two 16-value group scales as i16 lanes, and the 16 scales as i8 (for the
/// `bsums` correction).
struct Unpacked {
    q: [__m256i; 8],
    sc: [__m256i; 8],
    scales: __m128i,
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack(x: &BlockQ6K) -> Unpacked {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs
    // inside `ql`, `qh` and the 16 scales.
    unsafe {
        let m4 = _mm256_set1_epi8(0x0F);
        let m2 = _mm256_set1_epi8(3);
        let scales = _mm_loadu_si128(x.scales.as_ptr() as *const __m128i);
        let mut q = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let ql = x.ql.as_ptr().add(64 * h);
            let qh = ld32(x.qh.as_ptr().add(32 * h));
            let (b1, b2) = (ld32(ql), ld32(ql.add(32)));
            q[4 * h] = _mm256_or_si256(
                _mm256_and_si256(b1, m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(qh, m2)),
            );
            q[4 * h + 1] = _mm256_or_si256(
                _mm256_and_si256(b2, m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<2>(qh), m2)),
            );
            q[4 * h + 2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(b1), m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<4>(qh), m2)),
            );
            q[4 * h + 3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(b2), m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<6>(qh), m2)),
            );
        }
        // i16 scales of run r: groups 2r (low half) and 2r + 1 (high half).
        let sc = std::array::from_fn(|run| {
            let g = (2 * run) as i64;
            let ctrl = _mm_set_epi64x((g + 1) * 0x0101_0101_0101_0101, g * 0x0101_0101_0101_0101);
            _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, ctrl))
        });
        Unpacked { q, sc, scales }
    }
}

/// The activation side of [`block_lanes`] for an unpacked weight super-block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn lanes_of(x: &Unpacked, y: &BlockQ8K) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the loads read 32-byte runs of
    // `y.qs` and the 16 `bsums`.
    unsafe {
        let mut sumi = _mm256_setzero_si256();
        for run in 0..8 {
            let q8 = ld32(y.qs.as_ptr().add(32 * run) as *const u8);
            let p = _mm256_madd_epi16(x.sc[run], _mm256_maddubs_epi16(x.q[run], q8));
            sumi = _mm256_add_epi32(sumi, p);
        }
        let bs = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let corr = _mm256_madd_epi16(bs, _mm256_cvtepi8_epi16(x.scales));
        _mm256_sub_epi32(sumi, _mm256_slli_epi32::<5>(corr))
    }
}

/// [`vec_dot_tiled`] of one weight row with four activation rows, each super-block unpacked
/// once for the four: the same bits as four calls.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; every `a[k]` has `w.len()` blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_tiled_x4(w: &[BlockQ6K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
    assert!(a.iter().all(|r| r.len() == w.len()));
    // SAFETY: the CPU features are this function's contract; b < w.len() indexes every slice.
    unsafe {
        let mut acc = [0.0f32; 4];
        for (b, x) in w.iter().enumerate() {
            let u = unpack(x);
            let d = super::f16_to_f32(x.d);
            for k in 0..4 {
                let y = a[k].get_unchecked(b);
                let s1 = super::hsum_i32(lanes_of(&u, y));
                acc[k] = (d * s1 as f32).mul_add(y.d, acc[k]);
            }
        }
        acc
    }
}

/// 32 bytes from `p` (unaligned).
///
/// # Safety
/// The CPU must support AVX2; `p` must be valid for reading 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn ld32(p: *const u8) -> __m256i {
    // SAFETY: the caller's contract.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

super::lane_dots!(BlockQ6K, "q6_k");
