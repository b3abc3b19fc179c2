//! The K-quant decode matrix-vector products (super-blocks of 256 values times Q8_K
//! activations) in ggml's `vec_dot` order (Q4_K also in its repacked GEMV order), row by row
//! with a row's scale products computed eight super-blocks at a time and a software prefetch
//! stream; the same code for the AVX2 and AVX-VNNI tables ([`k_products!`], instantiated with
//! each table's target features, so that each table's integer work inlines into it).
//!
//! A one-row `vec_dot` converts each super-block's f16 scale (and minimum) and multiplies it by
//! the activation's `d` on its own, about six scalar instructions a scale, inside the loop.
//! Here a row's scales are read eight super-blocks at a time (eight 4-byte loads gathered into
//! one vector, [`first_dwords_8`](super::matvec::first_dwords_8)), converted by one
//! `vcvtph2ps` and multiplied by the activation's eight `d`s in one `vmulps`, before the row's
//! loop: the same f32 products (the conversion is exact, the product one rounding either way),
//! which the loop then broadcasts from memory. The integer work and the float chain of each
//! row are the format's own (`lane_rows` and `mins_rows` give the float work of the
//! `lane_dots!` formats, one place for both tables and all their callers).
//! One prefetch stream runs `K_PREFETCH_AHEAD` bytes ahead of the row being read (without it
//! the scale pass waits on memory at each row's first touch: IQ4_XS with AVX-VNNI 15.5 GB/s
//! from memory, with it 25.6). Measured (4096 x 4096 from memory, against the one-row
//! kernels): AVX-VNNI Q4_K 25.0 -> 27.6 GB/s, Q5_K 24.6 -> 26.3, Q6_K 27.2 -> 32.8; AVX2 Q2_K
//! 14.8 -> 16.6, Q3_K 13.2 -> 14.8, IQ4_XS 17.0 -> 19.8, Q4_K 26.2 -> 29.0, Q6_K 27.9 -> 32.3.

use crate::quant::{
    iq4_xs::BlockIQ4XS, q2_k::BlockQ2K, q4_k::BlockQ4K, q8_k::BlockQ8K, DotOrder, GgmlType,
};

/// How far beyond the next row the K-quant row loops prefetch, in bytes: 8 KiB, shorter than
/// the other products' [`PREFETCH_AHEAD`](super::q8_0::PREFETCH_AHEAD) (12 KiB). With the
/// weights in 4 KB pages (the `cargo bench` matrices; a model file the kernel did not give
/// huge pages) the longer distance starves these slower loops: 4096 x 4096 from memory on the
/// Zen 4 EPYC, 12 KiB and 8 KiB alternated, AVX512-VNNI Q3_K 14.0-15.0 -> 16.3-17.5 GB/s,
/// IQ4_XS 15.2-17.4 -> 18.3, Q2_K 14.7-14.9 -> 15.1-15.3, Q4_K, Q5_K, Q6_K unchanged; AVX2
/// Q2_K 12.7-13.6 -> 14.2-14.5, Q3_K 11.7-11.9 -> 13.3-13.5, IQ4_XS 14.9-15.4 -> 16.2-16.4
/// (4 KiB: Q3_K and Q4_K 5-10 % slower than 8; 1-2 KiB far slower). In 2 MB pages the two
/// distances are level. (The Q4_0 .. Q8_0 products measured no different at 8 KiB.)
pub(crate) const K_PREFETCH_AHEAD: usize = 8192;

/// The longest row taken, in super-blocks (16384 values, as
/// [`MAX_BLOCKS`](super::matvec::MAX_BLOCKS)): a row's scale products live on the stack.
pub(crate) const MAX_SUPER: usize = 64;

/// Defines, with the target features `$features`: `k_rows` (the row loop), `blocks` (the
/// layout check) and `k_matvec` (Q4_K, Q5_K and Q6_K with the AVX2 integer work).
macro_rules! k_products {
    ($features:literal) => {
        /// `out[r] = row_r(w) . a` row by row: per super-block `b` of a row,
        /// `acc = step(acc, x_b, b, lo_b, hi_b)` from `acc = 0`, and `out[r] = finish(acc)`, where
        /// `lo_b` is `f32(h) * a[b].d` for the f16 value `h` in the low half of the four bytes at byte
        /// `dword` of block `x_b`, and `hi_b` that of the high half, times `-a[b].d` if `NEG_HI`
        /// (the block's `d` and `dmin`, ggml's `-y.d * dmin`, or its `d` in one of them).
        ///
        /// # Safety
        #[doc = concat!("The CPU must support the target features ", $features, ";")]
        /// `dword + 4 <= size_of::<B>()`.
        ///
        /// # Panics
        /// If `w` is not `out.len()` rows of `a.len() <= MAX_SUPER` blocks.
        #[inline]
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn k_rows<B, S: Copy, const NEG_HI: bool>(
            w: &[B],
            a: &[$crate::quant::q8_k::BlockQ8K],
            out: &mut [f32],
            dword: usize,
            zero: S,
            step: impl Fn(S, &B, usize, f32, f32) -> S,
            finish: impl Fn(S) -> f32,
        ) {
            #[allow(unused_imports)]
            use std::arch::x86_64::*;
            use std::mem::MaybeUninit;
            use $crate::kernels::x86_64::avx2::f16_to_f32;
            use $crate::kernels::x86_64::avx2::kmatvec::K_PREFETCH_AHEAD;
            use $crate::kernels::x86_64::avx2::kmatvec::MAX_SUPER;
            use $crate::kernels::x86_64::avx2::matvec::{
                f16_halves_8, first_dwords_8, prefetch_lines,
            };
            let nb = a.len();
            let size = std::mem::size_of::<B>();
            assert!(nb <= MAX_SUPER && w.len() == out.len() * nb && dword + 4 <= size);
            let nb8 = nb / 8 * 8;
            let mut ad = [0.0f32; MAX_SUPER];
            let mut hd = [0.0f32; MAX_SUPER];
            for ((d, h), y) in ad.iter_mut().zip(&mut hd).zip(a) {
                *d = y.d;
                *h = if NEG_HI { -y.d } else { y.d };
            }
            let mut lo = [const { MaybeUninit::<f32>::uninit() }; MAX_SUPER];
            let mut hi = [const { MaybeUninit::<f32>::uninit() }; MAX_SUPER];
            // SAFETY: the CPU features are this function's contract; `first_dwords_8(p, size)` at
            // byte `dword` of block `b` reads `7 * size + 4` bytes, ending at or before the end of
            // block `b + 7 < nb8 <= nb` of the row (as `dword + 4 <= size`); the stores write eight
            // f32 at `b + 8 <= nb8`; every `lo`/`hi` entry below `nb` is written before it is read;
            // a prefetch never faults (its address is formed with `wrapping_add`).
            unsafe {
                for (row, o) in w.chunks_exact(nb.max(1)).zip(out.iter_mut()) {
                    let p = row.as_ptr() as *const u8;
                    for b in (0..nb8).step_by(8) {
                        let v = first_dwords_8(p.add(b * size + dword), size);
                        let (l, h) = f16_halves_8(v);
                        let (d, e) = (
                            _mm256_loadu_ps(ad.as_ptr().add(b)),
                            _mm256_loadu_ps(hd.as_ptr().add(b)),
                        );
                        _mm256_storeu_ps(lo.as_mut_ptr().add(b) as *mut f32, _mm256_mul_ps(l, d));
                        _mm256_storeu_ps(hi.as_mut_ptr().add(b) as *mut f32, _mm256_mul_ps(h, e));
                    }
                    for b in nb8..nb {
                        let bytes = p.add(b * size + dword);
                        let half =
                            |k: usize| half::f16::from_le_bytes([*bytes.add(k), *bytes.add(k + 1)]);
                        lo[b].write(f16_to_f32(half(0)) * ad[b]);
                        hi[b].write(f16_to_f32(half(2)) * hd[b]);
                    }
                    // One prefetch stream over the rows ahead, as `avx2::matvec::dot_rows`: without
                    // it the scale pass above waits on memory at each row's first touch.
                    let mut pf = (p as *const i8).wrapping_add(nb * size + K_PREFETCH_AHEAD);
                    let mut acc = zero;
                    for (b, x) in row.iter().enumerate() {
                        prefetch_lines(pf, size);
                        pf = pf.wrapping_add(size);
                        acc = step(acc, x, b, lo[b].assume_init(), hi[b].assume_init());
                    }
                    *o = finish(acc);
                }
            }
        }

        /// The K-quant blocks and activation of a product, if the bytes are whole aligned blocks
        /// and `out.len()` rows of at most [`MAX_SUPER`] super-blocks.
        pub(crate) fn blocks<'a, B: $crate::quant::Pod>(
            w: &'a [u8],
            act: &'a [u8],
            out: &[f32],
        ) -> Option<(&'a [B], &'a [$crate::quant::q8_k::BlockQ8K])> {
            use $crate::kernels::x86_64::avx2::kmatvec::MAX_SUPER;
            use $crate::quant::q8_k::BlockQ8K;
            let (w, a) = (
                $crate::quant::cast_blocks::<B>(w)?,
                $crate::quant::cast_blocks::<BlockQ8K>(act)?,
            );
            let nb = a.len();
            (nb > 0 && nb <= MAX_SUPER && w.len() == out.len() * nb).then_some((w, a))
        }

        /// `lane_dots!`'s `vec_dot` float work through [`k_rows`]: per super-block
        /// `acc = fma(d_w * d_a, f32(lanes(x_b, b)), acc)`, `hsum_float_8(acc)` at the end; the
        /// block's f16 `d` is the low half (the high half if `D_HIGH`) of the four bytes at
        /// byte `dword`.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support the target features ", $features, ".")]
        ///
        /// # Panics
        /// As [`k_rows`].
        #[inline]
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn lane_rows<B, const D_HIGH: bool>(
            w: &[B],
            a: &[$crate::quant::q8_k::BlockQ8K],
            out: &mut [f32],
            dword: usize,
            lanes: impl Fn(&B, usize) -> std::arch::x86_64::__m256i,
        ) {
            use std::arch::x86_64::*;
            // SAFETY: the CPU features are this function's contract; `k_rows` checks the
            // layout (`dword + 4` inside a block).
            unsafe {
                let step = |acc, x: &B, b: usize, lo: f32, hi: f32| {
                    let d = if D_HIGH { hi } else { lo };
                    _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes(x, b)), acc)
                };
                let finish = |acc| $crate::kernels::x86_64::avx2::hsum_ps(acc);
                k_rows::<_, _, false>(w, a, out, dword, _mm256_setzero_ps(), step, finish);
            }
        }

        /// [`lane_rows`] with data of each activation block prepared once per product rather
        /// than once per row: `prep(y)` for every block `y` of `a` (kept on the stack), and the
        /// lanes of block `b` of a row are `lanes(x_b, a[b], prep(a[b]))` (Q3_K's bias).
        ///
        /// # Safety
        #[doc = concat!("The CPU must support the target features ", $features, ".")]
        ///
        /// # Panics
        /// As [`k_rows`].
        #[inline]
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn prepared_lane_rows<B, P: Copy, const D_HIGH: bool>(
            w: &[B],
            a: &[$crate::quant::q8_k::BlockQ8K],
            out: &mut [f32],
            dword: usize,
            prep: impl Fn(&$crate::quant::q8_k::BlockQ8K) -> P,
            lanes: impl Fn(&B, &$crate::quant::q8_k::BlockQ8K, &P) -> std::arch::x86_64::__m256i,
        ) {
            use $crate::kernels::x86_64::avx2::kmatvec::MAX_SUPER;
            let nb = a.len();
            assert!(nb <= MAX_SUPER);
            let mut buf = std::mem::MaybeUninit::<[P; MAX_SUPER]>::uninit();
            let base = buf.as_mut_ptr() as *mut P;
            // SAFETY: the CPU features are this function's contract; the first `nb <= MAX_SUPER`
            // entries of `buf` are written before the slice over them is made; `lane_rows`
            // calls the closure with `b < nb`, an index of `a` and of `prepared`.
            unsafe {
                for (i, y) in a.iter().enumerate() {
                    base.add(i).write(prep(y));
                }
                let prepared = std::slice::from_raw_parts(base as *const P, nb);
                lane_rows::<_, D_HIGH>(w, a, out, dword, |x, b| {
                    lanes(x, a.get_unchecked(b), prepared.get_unchecked(b))
                });
            }
        }

        /// `lane_dots!(mins ..)`'s `vec_dot` float work through [`k_rows`]: per super-block,
        /// with `(lanes, mins) = sums(x_b, b)`, `acc = fma(-d_a * dmin, f32(mins), acc)` then
        /// `acc = fma(d_w * d_a, f32(lanes), acc)`; `hsum_float_8(acc)` at the end. The block's
        /// f16 `d` and `dmin` are the four bytes at byte `dword`.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support the target features ", $features, ".")]
        ///
        /// # Panics
        /// As [`k_rows`].
        #[inline]
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn mins_rows<B>(
            w: &[B],
            a: &[$crate::quant::q8_k::BlockQ8K],
            out: &mut [f32],
            dword: usize,
            sums: impl Fn(&B, usize) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i),
        ) {
            use std::arch::x86_64::*;
            // SAFETY: the CPU features are this function's contract; `k_rows` checks the
            // layout (`dword + 4` inside a block).
            unsafe {
                let step = |acc, x: &B, b: usize, d: f32, dmin: f32| {
                    let (lanes, mins) = sums(x, b);
                    let acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mins), acc);
                    _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc)
                };
                let finish = |acc| $crate::kernels::x86_64::avx2::hsum_ps(acc);
                k_rows::<_, _, true>(w, a, out, dword, _mm256_setzero_ps(), step, finish);
            }
        }

        /// `out[r] = row_r(w) . act` for Q4_K, Q5_K or Q6_K weight bytes `w` and Q8_K activation
        /// bytes `act`, each the bits of the AVX2 `vec_dot` of the format (or, for Q4_K in the
        /// repacked GEMV order, of `vec_dot_repacked_gemv`: its integer work and float steps, through
        /// [`k_rows`]); `false` (nothing written) for another type or order, a row longer than
        /// [`MAX_SUPER`] super-blocks or bytes that are not whole aligned blocks.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support the target features ", $features, ";")]
        /// `w` must be `out.len()` rows of
        /// the activation's length.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn k_matvec(
            ty: $crate::quant::GgmlType,
            order: $crate::quant::DotOrder,
            w: &[u8],
            act: &[u8],
            out: &mut [f32],
        ) -> bool {
            use std::arch::x86_64::*;
            use $crate::kernels::x86_64::avx2::{
                hsum_i32, hsum_i32_128, hsum_ps, q4_k, q5_k, q6_k,
            };
            use $crate::quant::{
                q4_k::BlockQ4K, q5_k::BlockQ5K, q6_k::BlockQ6K, DotOrder, GgmlType,
            };
            // SAFETY (all three): the CPU features are this function's contract; `k_rows` calls
            // `step` with `b < nb`, an index of `a`; the scale bytes are inside each block (Q4_K and
            // Q5_K: `d`, `dmin` at 0..4; Q6_K: `d` the high half of 206..210).
            unsafe {
                match (ty, order) {
                    (GgmlType::Q4_K, DotOrder::RepackedGemv) => {
                        // `q4_k::vec_dot_repacked`'s GEMV steps: two scalar chains, `acc - acc_m`.
                        // (Row by row: the tables' products take rows eight at a time in
                        // lanes, `q4_k::gemv_8_rows`, and leave only the rows beyond the
                        // last multiple of eight, of a matrix not in that order in a model.)
                        let Some((w, a)) = blocks::<BlockQ4K>(w, act, out) else {
                            return false;
                        };
                        let step = |(acc, acc_m): (f32, f32), x: &BlockQ4K, b: usize, dd, dm| {
                            let (c, mins) = q4_k::block_sums(x, a.get_unchecked(b));
                            let acc = (hsum_i32(q4_k::lanes(&c)) as f32).mul_add(dd, acc);
                            (acc, (hsum_i32_128(mins) as f32).mul_add(dm, acc_m))
                        };
                        let finish = |(acc, acc_m): (f32, f32)| acc - acc_m;
                        k_rows::<_, _, false>(w, a, out, 0, (0.0, 0.0), step, finish);
                    }
                    (GgmlType::Q4_K, DotOrder::VecDot) => {
                        let Some((w, a)) = blocks::<BlockQ4K>(w, act, out) else {
                            return false;
                        };
                        let step = |(acc, acc_m): (__m256, __m128),
                                    x: &BlockQ4K,
                                    b: usize,
                                    d: f32,
                                    dmin: f32| {
                            let (c, mins) = q4_k::block_sums(x, a.get_unchecked(b));
                            let acc_m =
                                _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mins), acc_m);
                            let lanes = _mm256_cvtepi32_ps(q4_k::lanes(&c));
                            (_mm256_fmadd_ps(_mm256_set1_ps(d), lanes, acc), acc_m)
                        };
                        let finish = |(acc, acc_m): (__m256, __m128)| {
                            let m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
                            let m = _mm_add_ss(m, _mm_movehdup_ps(m));
                            hsum_ps(acc) + _mm_cvtss_f32(m)
                        };
                        let zero = (_mm256_setzero_ps(), _mm_setzero_ps());
                        k_rows::<_, _, true>(w, a, out, 0, zero, step, finish);
                    }
                    (GgmlType::Q5_K, DotOrder::VecDot) => {
                        let Some((w, a)) = blocks::<BlockQ5K>(w, act, out) else {
                            return false;
                        };
                        let step = |(acc, summs): (__m256, f32),
                                    x: &BlockQ5K,
                                    b: usize,
                                    d: f32,
                                    dmin: f32| {
                            let (lanes, mins) = q5_k::block_sums(x, a.get_unchecked(b));
                            let summs = dmin.mul_add(hsum_i32_128(mins) as f32, summs);
                            (
                                _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc),
                                summs,
                            )
                        };
                        let finish = |(acc, summs): (__m256, f32)| hsum_ps(acc) + summs;
                        k_rows::<_, _, true>(
                            w,
                            a,
                            out,
                            0,
                            (_mm256_setzero_ps(), 0.0),
                            step,
                            finish,
                        );
                    }
                    (GgmlType::Q6_K, DotOrder::VecDot) => {
                        let Some((w, a)) = blocks::<BlockQ6K>(w, act, out) else {
                            return false;
                        };
                        let lanes =
                            |x: &BlockQ6K, b: usize| q6_k::block_lanes(x, a.get_unchecked(b));
                        lane_rows::<_, true>(w, a, out, 206, lanes);
                    }
                    _ => return false,
                }
            }
            true
        }
    };
}
pub(crate) use k_products;

k_products!("avx2,fma,f16c");

/// `out[r] = row_r(w) . act` in `order` for the K-quant weight bytes `w` (Q2_K, Q3_K,
/// IQ4_XS, Q4_K, Q5_K, Q6_K) and the Q8_K activation bytes `act`, each the bits of the AVX2
/// one-row kernel; `false` (nothing written) for another type or order, a row longer than
/// [`MAX_SUPER`] super-blocks or bytes that are not whole aligned blocks.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` must be `out.len()` rows of the activation's
/// length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn matvec(ty: GgmlType, order: DotOrder, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    use super::{iq4_xs, q2_k, q3_k, q4_k};
    // SAFETY (all): the CPU features are this function's contract; the row loop calls the closure
    // with `b < nb`, an index of `a`; the scale bytes are inside each block (Q2_K: `d`, `dmin` at
    // 80..84; Q3_K: `d` the high half of 106..110; IQ4_XS: `d` at 0..2).
    unsafe {
        match (ty, order) {
            (GgmlType::Q2_K, DotOrder::VecDot) => {
                let Some((w, a)) = blocks::<BlockQ2K>(w, act, out) else {
                    return false;
                };
                mins_rows(w, a, out, 80, |x, b| {
                    q2_k::block_sums(x, a.get_unchecked(b))
                });
            }
            (GgmlType::Q3_K, DotOrder::VecDot) => {
                return q3_k::matvec(w, act, out);
            }
            (GgmlType::Q4_K, DotOrder::RepackedGemv) => {
                // Groups of eight rows with rows in lanes, the rest four and one at a time.
                let Some((wb, a)) = blocks::<BlockQ4K>(w, act, out) else {
                    return false;
                };
                let s1 = |q, rb, y, sc| q4_k::s1_maddubs(q, rb, y, sc);
                let done = q4_k::gemv_8_rows(wb, a, out, s1);
                let rest = done * a.len() * std::mem::size_of::<BlockQ4K>();
                return k_matvec(ty, order, &w[rest..], act, &mut out[done..]);
            }
            (GgmlType::IQ4_XS, DotOrder::VecDot) => {
                let Some((w, a)) = blocks::<BlockIQ4XS>(w, act, out) else {
                    return false;
                };
                let prep = |y: &BlockQ8K| iq4_xs::pair_abs(y);
                let lanes = |x: &BlockIQ4XS, _: &BlockQ8K, p: &iq4_xs::PairAbs| {
                    iq4_xs::block_lanes_pairs(x, p)
                };
                prepared_lane_rows::<_, _, false>(w, a, out, 0, prep, lanes);
            }
            _ => return k_matvec(ty, order, w, act, out),
        }
    }
    true
}
