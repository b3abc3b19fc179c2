//! The decode matrix-vector product of the formats with a scale and a minimum times Q8_1
//! activations (Q4_1, Q5_1) in ggml's `vec_dot` order, rows four at a time: the same code for
//! the AVX2 table (here) and the AVX-VNNI one (`avxvnni/q4_1.rs`), instantiated by
//! [`min_products!`] with each table's target features so that each table's integer work
//! (`maddubs` + `madd`, or `vpdpbusd`: the same exact lanes) inlines into it.
//!
//! Per block of a row, as ggml's AVX2 `ggml_vec_dot_q4_1_q8_1`: the eight exact i32 lanes of
//! the unsigned quants times the activation, `acc = fma(d_w * d_a, f32(lanes), acc)`, and
//! beside it the scalar chain `summs = fma(m, s_a, summs)` (four rows' chains in the lanes of one
//! 128-bit FMA); the row's result is
//! `hsum_float_8(acc) + summs`. See `avxvnni/q4_1.rs` for what makes it faster than a loop of
//! one-row dot products. With the AVX2 table (4096 x 4096 from memory, against the one-row
//! kernels): Q4_1 17.2 -> 22.6, Q5_1 15.6 -> 19.6 GB/s.

use std::arch::x86_64::*;

use crate::quant::{q4_1::BlockQ4_1, q5_1::BlockQ5_1};

/// A format with an f16 scale `d` and minimum `m` as its first four bytes.
pub(crate) trait ScaleMin {
    fn dm(&self) -> (half::f16, half::f16);
}

impl ScaleMin for BlockQ4_1 {
    #[inline]
    fn dm(&self) -> (half::f16, half::f16) {
        (self.d, self.m)
    }
}

impl ScaleMin for crate::quant::q5_1::BlockQ5_1 {
    #[inline]
    fn dm(&self) -> (half::f16, half::f16) {
        (self.d, self.m)
    }
}

/// Defines module `min` with the target features `$features`: `PrepBuf`, `Prepared`,
/// `prepare`, `dm_rows`, `min_matvec`, `dot_rows` and `matvec_bytes` (the entry point, taking the
/// format's lanes as a closure).
macro_rules! min_products {
    ($features:literal) => {
        /// The scale-and-minimum matrix-vector machinery with this table's target features
        /// (`avx2/minmatvec.rs`).
        pub(crate) mod min {
            use std::arch::x86_64::*;
            use $crate::kernels::x86_64::avx2::matvec::{f16_halves_8, prefetch_lines, MAX_BLOCKS};
            use $crate::kernels::x86_64::avx2::q8_0::PREFETCH_AHEAD;
            use $crate::kernels::x86_64::avx2::{f16_to_f32, hsum_ps, load32};
            use $crate::quant::q8_0::BlockQ8_1;

            /// [`min_matvec`] on bytes: `false` (nothing written) if they are not whole aligned blocks
            /// or the row is longer than [`MAX_BLOCKS`].
            ///
            /// # Safety
            /// As [`matvec`].
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn matvec_bytes<
                B: $crate::kernels::x86_64::avx2::minmatvec::ScaleMin + $crate::quant::Pod,
            >(
                w: &[u8],
                act: &[u8],
                out: &mut [f32],
                lanes: impl Fn(&B, __m256i) -> __m256i + Copy,
            ) -> bool {
                let (Some(w), Some(a)) = (
                    $crate::quant::cast_blocks::<B>(w),
                    $crate::quant::cast_blocks::<BlockQ8_1>(act),
                ) else {
                    return false;
                };
                if a.len() > MAX_BLOCKS {
                    return false;
                }
                let mut buf = PrepBuf::default();
                // SAFETY: the CPU features are this function's contract; `min_matvec` checks the rows.
                unsafe {
                    let a = prepare(a, &mut buf);
                    min_matvec(w, &a, out, lanes);
                }
                true
            }

            /// Storage for one prepared Q8_1 activation row (4 KB; on the caller's stack).
            pub(crate) struct PrepBuf {
                d: [std::mem::MaybeUninit<f32>; MAX_BLOCKS],
                s: [std::mem::MaybeUninit<f32>; MAX_BLOCKS],
            }

            impl Default for PrepBuf {
                /// Uninitialized storage (nothing is read before [`prepare`] writes it).
                #[inline]
                fn default() -> PrepBuf {
                    PrepBuf {
                        d: [const { std::mem::MaybeUninit::uninit() }; MAX_BLOCKS],
                        s: [const { std::mem::MaybeUninit::uninit() }; MAX_BLOCKS],
                    }
                }
            }

            /// A Q8_1 activation row with its scales `d` and `s` as f32.
            pub(crate) struct Prepared<'a> {
                a: &'a [BlockQ8_1],
                d: &'a [f32],
                s: &'a [f32],
            }

            /// Converts the scales of `a` (see [`Prepared`]).
            ///
            /// # Safety
            #[doc = concat!("The CPU must support the target features ", $features, ".")]
            ///
            /// # Panics
            /// If `a` is longer than [`MAX_BLOCKS`].
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn prepare<'a>(
                a: &'a [BlockQ8_1],
                buf: &'a mut PrepBuf,
            ) -> Prepared<'a> {
                let n = a.len();
                assert!(n <= MAX_BLOCKS);
                // SAFETY: the CPU features are this function's contract; the first `n` entries of both
                // arrays are written before the slices over them are made.
                unsafe {
                    for ((y, d), s) in a.iter().zip(&mut buf.d).zip(&mut buf.s) {
                        d.write(f16_to_f32(y.d));
                        s.write(f16_to_f32(y.s));
                    }
                    Prepared {
                        a,
                        d: std::slice::from_raw_parts(buf.d.as_ptr() as *const f32, n),
                        s: std::slice::from_raw_parts(buf.s.as_ptr() as *const f32, n),
                    }
                }
            }

            /// For `R <= 4` rows `w` (lane `r` of each entry from row `r`, the lanes from `R`
            /// on copies of row 0's): `dd[b][r] = f32(w_r[b].d) * ad[b]` and `mm[b][r] =
            /// f32(w_r[b].m)` for blocks whose first four bytes are the f16 `d` and `m`, two
            /// blocks of the four rows at a time (eight 4-byte loads into one vector,
            /// [`f16_halves_8`], one `vmulps`): the same f32 values as one block and row at a
            /// time (exact conversions; one rounding of the product either way). Block-major,
            /// so that the loop reads the rows' four minimums of a block in one load.
            ///
            /// # Safety
            #[doc = concat!("The CPU must support the target features ", $features, ";")]
            /// `B` starts with the f16 fields `d`
            /// and `m` (asserted for Q4_1 and Q5_1 at compile time) and `dm(x)` returns them.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn dm_rows<B, const R: usize>(
                w: [&[B]; R],
                ad: &[f32],
                dm: impl Fn(&B) -> (half::f16, half::f16),
                dd: &mut [std::mem::MaybeUninit<__m128>],
                mm: &mut [std::mem::MaybeUninit<__m128>],
            ) {
                let n = ad.len();
                assert!(
                    (1..=4).contains(&R)
                        && w.iter().all(|r| r.len() == n)
                        && dd.len() == n
                        && mm.len() == n
                        && std::mem::size_of::<B>() >= 4
                );
                let row = |r: usize| w[if r < R { r } else { 0 }];
                let n2 = n / 2 * 2;
                // SAFETY: the CPU features are this function's contract; every block index is
                // below `n`, the length of every row and of `ad`, `dd` and `mm`; a block's
                // first four bytes are inside it (`size_of::<B>() >= 4`); the stores write
                // two `__m128` entries `b, b + 1 < n` of `dd` and `mm`.
                unsafe {
                    for b in (0..n2).step_by(2) {
                        let ld = |r: usize, k: usize| {
                            let x: *const B = row(r).as_ptr().add(b + k);
                            std::ptr::read_unaligned(x as *const i32)
                        };
                        let half = |k| _mm_setr_epi32(ld(0, k), ld(1, k), ld(2, k), ld(3, k));
                        let (d, m) = f16_halves_8(_mm256_set_m128i(half(1), half(0)));
                        let a = _mm256_set_m128(
                            _mm_broadcast_ss(ad.get_unchecked(b + 1)),
                            _mm_broadcast_ss(ad.get_unchecked(b)),
                        );
                        let d = _mm256_mul_ps(d, a);
                        _mm256_storeu_ps(dd.as_mut_ptr().add(b) as *mut f32, d);
                        _mm256_storeu_ps(mm.as_mut_ptr().add(b) as *mut f32, m);
                    }
                    if n2 < n {
                        let b = n2;
                        let (dv, mv) = (
                            std::array::from_fn::<f32, 4, _>(|r| {
                                f16_to_f32(dm(row(r).get_unchecked(b)).0) * *ad.get_unchecked(b)
                            }),
                            std::array::from_fn::<f32, 4, _>(|r| {
                                f16_to_f32(dm(row(r).get_unchecked(b)).1)
                            }),
                        );
                        dd.get_unchecked_mut(b).write(_mm_loadu_ps(dv.as_ptr()));
                        mm.get_unchecked_mut(b).write(_mm_loadu_ps(mv.as_ptr()));
                    }
                }
            }

            /// `out[r] = row_r(w) . a` for the `out.len()` rows of `w` (`a.a.len()` blocks each), every
            /// one the bits of the format's `vec_dot` (Q4_1, Q5_1). `quants(block)` gives the block's 32
            /// eight exact i32 lanes of a block times the activation block whose quants are `yq`
            /// (`lanes(x, yq)`). Rows four at a time, then two, then one.
            ///
            /// # Safety
            #[doc = concat!("The CPU must support the target features ", $features, ".")]
            ///
            /// # Panics
            /// If `w` is not `out.len()` rows of `a`'s length.
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn min_matvec<
                B: $crate::kernels::x86_64::avx2::minmatvec::ScaleMin,
            >(
                w: &[B],
                a: &Prepared,
                out: &mut [f32],
                lanes: impl Fn(&B, __m256i) -> __m256i + Copy,
            ) {
                let nb = a.a.len();
                assert!(w.len() == out.len() * nb && a.d.len() == nb && a.s.len() == nb);
                let quad_rows = out.len() / 4 * 4;
                let (out4, out) = out.split_at_mut(quad_rows);
                let (w4, w) = w.split_at(quad_rows * nb);
                let quads = out4.chunks_exact_mut(4);
                let rows = w4.chunks_exact(4 * nb);
                // SAFETY (all calls): the CPU features are this function's contract; every row has
                // `nb` blocks (asserted above).
                for (o, rr) in quads.zip(rows) {
                    let (r01, r23) = rr.split_at(2 * nb);
                    let (r0, r1) = r01.split_at(nb);
                    let (r2, r3) = r23.split_at(nb);
                    o.copy_from_slice(&unsafe { dot_rows([r0, r1, r2, r3], a, lanes) });
                }
                let mut pairs = out.chunks_exact_mut(2);
                let mut rows = w.chunks_exact(2 * nb);
                for (o, rr) in (&mut pairs).zip(&mut rows) {
                    let (r0, r1) = rr.split_at(nb);
                    o.copy_from_slice(&unsafe { dot_rows([r0, r1], a, lanes) });
                }
                if let [o] = pairs.into_remainder() {
                    *o = unsafe { dot_rows([rows.remainder()], a, lanes) }[0];
                }
            }

            /// `R` adjacent rows (`R` = 1, 2 or 4) times `a`: each row's own two chains, their operations
            /// those of the one-row product.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn dot_rows<
                B: $crate::kernels::x86_64::avx2::minmatvec::ScaleMin,
                const R: usize,
            >(
                w: [&[B]; R],
                a: &Prepared,
                lanes: impl Fn(&B, __m256i) -> __m256i,
            ) -> [f32; R] {
                let nb = a.a.len();
                assert!(w.iter().all(|r| r.len() == nb) && nb <= MAX_BLOCKS);
                let mut dd = [const { std::mem::MaybeUninit::<__m128>::uninit() }; MAX_BLOCKS];
                let mut mm = [const { std::mem::MaybeUninit::<__m128>::uninit() }; MAX_BLOCKS];
                // SAFETY: the CPU features are this function's contract; `b < nb` indexes every slice
                // (asserted above); `dm_rows` writes the first `nb` entries of `dd` and `mm` before
                // they are read; the prefetch never faults (its address is formed with
                // `wrapping_add` and a prefetch of any address is allowed).
                unsafe {
                    dm_rows(w, a.d, B::dm, &mut dd[..nb], &mut mm[..nb]);
                    // One prefetch stream over the next rows' bytes, as `matvec::dot_rows`.
                    let step = R * std::mem::size_of::<B>();
                    let mut pf =
                        (w[0].as_ptr() as *const i8).wrapping_add(nb * step + PREFETCH_AHEAD);
                    let mut acc = [_mm256_setzero_ps(); R];
                    // The rows' scalar chains `summs = fma(m, s_a, summs)`, one per lane: the
                    // same roundings as four scalar FMAs, in one instruction and one load of
                    // the four minimums (Q4_1 in L2 with AVX512-VNNI: the scalar chains took a
                    // fifth of the time).
                    let mut summs = _mm_setzero_ps();
                    for b in 0..nb {
                        prefetch_lines(pf, step);
                        pf = pf.wrapping_add(step);
                        let yq = load32(&a.a.get_unchecked(b).qs);
                        let s = _mm_broadcast_ss(a.s.get_unchecked(b));
                        summs = _mm_fmadd_ps(mm.get_unchecked(b).assume_init(), s, summs);
                        let dd = dd.get_unchecked(b).as_ptr() as *const f32;
                        for r in 0..R {
                            let x = w[r].get_unchecked(b);
                            let lanes = lanes(x, yq);
                            let d = _mm256_broadcast_ss(&*dd.add(r));
                            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc[r]);
                        }
                    }
                    let mut summs_r = [0.0f32; 4];
                    _mm_storeu_ps(summs_r.as_mut_ptr(), summs);
                    std::array::from_fn(|r| hsum_ps(acc[r]) + summs_r[r])
                }
            }
        }
    };
}
pub(crate) use min_products;

min_products!("avx2,fma,f16c");

/// `out[r] = row_r(w) . act` for Q4_1 or Q5_1 weight bytes `w` and Q8_1 activation bytes
/// `act`, each the bits of the format's `vec_dot` (the lanes of ggml's AVX2 kernel,
/// `madd(maddubs(q, y), 1)` of the unsigned quants `q`); `false` (nothing written) for
/// another type, a row longer than `MAX_BLOCKS` or bytes that are not whole aligned blocks.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` must be `out.len()` rows of the activation's
/// length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn matvec(ty: crate::quant::GgmlType, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    use super::{bytes_from_bits_32, bytes_from_nibbles_32};
    use crate::quant::GgmlType;
    // SAFETY: the CPU features and the layout are this function's contract.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        match ty {
            GgmlType::Q4_1 => {
                let lanes = |x: &BlockQ4_1, yq| {
                    let q = bytes_from_nibbles_32(&x.qs);
                    _mm256_madd_epi16(_mm256_maddubs_epi16(q, yq), ones)
                };
                min::matvec_bytes::<BlockQ4_1>(w, act, out, lanes)
            }
            GgmlType::Q5_1 => {
                let k10 = _mm256_set1_epi8(0x10);
                let lanes = |x: &BlockQ5_1, yq| {
                    let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), k10);
                    let q = _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi);
                    _mm256_madd_epi16(_mm256_maddubs_epi16(q, yq), ones)
                };
                min::matvec_bytes::<BlockQ5_1>(w, act, out, lanes)
            }
            _ => false,
        }
    }
}
