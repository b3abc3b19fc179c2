//! Attention over an f16 KV cache: `K.q` and the accumulation of `V.p`, in the float order of
//! the kernels llama.cpp multiplies an f16 cache with (see `KvBuf::dot_ggml` in
//! `src/kv_cache.rs` for which kernel when), with an AVX2 + FMA + F16C version that gives the
//! same bits: the same lanes, `_mm256_fmadd_ps` where the reference uses `f32::mul_add`, the
//! same reductions. The AVX2 path is taken when the process-wide kernel table is the AVX2 one
//! (so `FERRITE_KERNELS=scalar` forces the reference here too). On aarch64 the NEON versions
//! (`crate::kernels::aarch64::neon::ops`: each 8-lane register a pair of `float32x4_t`) are
//! taken the same way, with a NEON table.

use half::f16;

#[cfg(target_arch = "aarch64")]
use super::aarch64::neon::ops as neon_ops;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use super::Kernels;
use crate::quant::lanes;

/// Whether to use the AVX2 versions (decided with the kernel table).
#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2() -> bool {
    Kernels::get().isa().has_avx2()
}

/// Whether to use the NEON versions (decided with the kernel table).
#[cfg(target_arch = "aarch64")]
#[inline]
fn neon() -> bool {
    Kernels::get().isa().has_neon()
}

/// `k . q` (`k.len() >= q.len()`): for a batch (`batch` and a multiple of 8 values)
/// llamafile's `tinyBLAS` order: one 8-lane FMA accumulator reduced by `hsum8`; otherwise
/// `ggml_vec_dot_f16`'s: four 8-lane accumulators over groups of 32, reduced as
/// `GGML_F32x8_REDUCE`, the tail added in f64.
#[inline]
pub fn dot_f16(k: &[f16], q: &[f32], batch: bool) -> f32 {
    let k = &k[..q.len()];
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the AVX2 table is selected only when the CPU has AVX2, FMA and F16C
        // (`Kernels::avx2`); `k` and `q` have the same length (sliced above).
        return unsafe { x86::dot_f16(k, q, batch) };
    }
    #[cfg(target_arch = "aarch64")]
    if neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { neon_ops::dot_f16(k, q, batch) };
    }
    dot_f16_ref(k, q, batch)
}

/// [`dot_f16`] of four keys with one query: the same four results, computed side by side in
/// the batch order (four independent FMA chains, each query block loaded once) when the AVX2
/// or NEON path applies.
#[inline]
pub fn dot_f16_x4(k: [&[f16]; 4], q: &[f32], batch: bool) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if avx2() && batch && q.len().is_multiple_of(8) {
        let k = k.map(|k| &k[..q.len()]);
        // SAFETY: as in `dot_f16`; every key has the query's length (sliced above).
        return unsafe { x86::dot_f16_x4(k, q) };
    }
    #[cfg(target_arch = "aarch64")]
    if neon() && batch && q.len().is_multiple_of(8) {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { neon_ops::dot_f16_x4(k, q) };
    }
    k.map(|k| dot_f16(k, q, batch))
}

/// [`dot_f16`] in the batch order (`batch`, a multiple of 8 values) of two keys with four
/// queries (four heads sharing a KV head): `out[j][h] = dot_f16(k[j], q[h], true)`, the
/// same bits. With AVX2 (or NEON) the eight FMA chains run side by side and each block of a
/// key is converted from f16 once for the four queries.
#[inline]
pub fn dot_f16_2x4(k: [&[f16]; 2], q: [&[f32]; 4]) -> [[f32; 4]; 2] {
    let n = q[0].len();
    assert!(q.iter().all(|q| q.len() == n) && n.is_multiple_of(8));
    let k = k.map(|k| &k[..n]);
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: as in `dot_f16`; the keys and queries have `n` values, a multiple of 8
        // (asserted and sliced above).
        return unsafe { x86::dot_f16_2x4(k, q) };
    }
    #[cfg(target_arch = "aarch64")]
    if neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { neon_ops::dot_f16_2x4(k, q) };
    }
    k.map(|k| q.map(|q| dot_f16_ref(k, q, true)))
}

/// The scalar reference of [`dot_f16`].
pub fn dot_f16_ref(k: &[f16], q: &[f32], batch: bool) -> f32 {
    if batch && q.len().is_multiple_of(8) {
        let mut acc = [0.0f32; 8];
        for (i, (&k, &x)) in k.iter().zip(q).enumerate() {
            acc[i % 8] = k.to_f32().mul_add(x, acc[i % 8]);
        }
        lanes::hsum8(&acc)
    } else {
        let np = q.len() / 32 * 32;
        let mut acc = [0.0f32; 32];
        for (i, (&k, &x)) in k[..np].iter().zip(q).enumerate() {
            acc[i % 32] = k.to_f32().mul_add(x, acc[i % 32]);
        }
        let mut sum = f64::from(lanes::reduce_f32x8x4(&acc));
        for (&k, &x) in k[np..].iter().zip(&q[np..]) {
            sum += f64::from(k.to_f32() * x);
        }
        sum as f32
    }
}

/// `acc[d] = fma(v[d], w, acc[d])` for every `d < acc.len()` (one cache cell's term of `V.p`
/// added to one FMA lane of every output value).
#[inline]
pub fn fma_f16(acc: &mut [f32], v: &[f16], w: f32) {
    let v = &v[..acc.len()];
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: as in `dot_f16`; `v` has the length of `acc` (sliced above).
        return unsafe { x86::fma_f16(acc, v, w) };
    }
    #[cfg(target_arch = "aarch64")]
    if neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON.
        return unsafe { neon_ops::fma_f16(acc, v, w) };
    }
    fma_f16_ref(acc, v, w)
}

/// `acc[d] = fma(row_j[d], w_j, acc[d])` for the rows `(offset, w)` of `cache` in order: the
/// same as one [`fma_f16`] per row, with `acc` kept in registers across the rows.
#[inline]
pub fn fma_f16_rows(acc: &mut [f32], cache: &[f16], rows: &[(usize, f32)]) {
    let n = acc.len();
    assert!(
        rows.iter().all(|&(o, _)| o + n <= cache.len()),
        "V row out of the cache"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: as in `dot_f16`; every row has `n` values inside `cache` (asserted).
        return unsafe { x86::fma_f16_rows(acc, cache, rows) };
    }
    #[cfg(target_arch = "aarch64")]
    if neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON; every row has `n`
        // values inside `cache` (asserted).
        return unsafe { neon_ops::fma_f16_rows(acc, cache, rows) };
    }
    for &(o, w) in rows {
        fma_f16_ref(acc, &cache[o..o + n], w);
    }
}

/// [`fma_f16_rows`] for four accumulators (four heads sharing a KV head) at once: for the
/// rows `(offset, w)` of `cache` in order, `acc[h][d] = fma(row[d], w[h], acc[h][d])`. The
/// same bits as one [`fma_f16_rows`] per head; with AVX2 (or NEON) each row block is converted
/// from f16 once for the four.
#[inline]
pub fn fma_f16_rows_x4(acc: [&mut [f32]; 4], cache: &[f16], rows: &[(usize, [f32; 4])]) {
    let n = acc[0].len();
    assert!(
        acc.iter().all(|a| a.len() == n) && rows.iter().all(|&(o, _)| o + n <= cache.len()),
        "V rows out of the cache or accumulators of different lengths"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: as in `dot_f16`; every row has `n` values inside `cache` and every
        // accumulator `n` values (asserted).
        return unsafe { x86::fma_f16_rows_x4(acc, cache, rows) };
    }
    #[cfg(target_arch = "aarch64")]
    if neon() {
        // SAFETY: the NEON tables are selected only when the CPU has NEON; every row has `n`
        // values inside `cache` and every accumulator `n` values (asserted).
        return unsafe { neon_ops::fma_f16_rows_x4(acc, cache, rows) };
    }
    for (h, acc) in acc.into_iter().enumerate() {
        for &(o, w) in rows {
            fma_f16_ref(acc, &cache[o..o + n], w[h]);
        }
    }
}

/// The scalar reference of [`fma_f16`].
pub fn fma_f16_ref(acc: &mut [f32], v: &[f16], w: f32) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a = x.to_f32().mul_add(w, *a);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use half::f16;

    use crate::kernels::x86_64::avx2::hsum_ps;

    /// [`crate::quant::lanes::reduce_f32x8x4`] (ggml's `GGML_F32x8_REDUCE`) in registers, the
    /// same additions in the same order: `(x0 + x2) + (x1 + x3)` lane-wise, the halves added,
    /// two `hadd`s.
    /// (Through memory and scalar adds it was most of a decoded token's `K.q` with 64-value
    /// heads: eight FMAs, then 31 additions.) The batch order's `hsum8` is
    /// [`hsum_ps`], ggml's `hsum_float_8`.
    ///
    /// # Safety
    /// AVX2 available.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn reduce_x4(x: [__m256; 4]) -> f32 {
        let a = _mm256_add_ps(_mm256_add_ps(x[0], x[2]), _mm256_add_ps(x[1], x[3]));
        let t = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let t = _mm_hadd_ps(t, t);
        _mm_cvtss_f32(_mm_hadd_ps(t, t))
    }

    /// Eight f16 values at `p` as f32.
    ///
    /// # Safety
    /// F16C available; `p` valid for reading 8 values.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const f16) -> __m256 {
        // SAFETY: the caller guarantees 16 readable bytes at `p`; loadu has no alignment need.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }

    /// # Safety
    /// AVX2, FMA and F16C available; `k.len() == q.len()`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f16(k: &[f16], q: &[f32], batch: bool) -> f32 {
        let n = q.len();
        let (kp, qp) = (k.as_ptr(), q.as_ptr());
        if batch && n.is_multiple_of(8) {
            let mut acc = _mm256_setzero_ps();
            for i in (0..n).step_by(8) {
                // SAFETY: i + 8 <= n = k.len() = q.len().
                unsafe {
                    acc = _mm256_fmadd_ps(load8(kp.add(i)), _mm256_loadu_ps(qp.add(i)), acc);
                }
            }
            // SAFETY: the CPU features are this function's contract.
            return unsafe { hsum_ps(acc) };
        }
        let np = n / 32 * 32;
        let mut acc = [_mm256_setzero_ps(); 4];
        for i in (0..np).step_by(32) {
            for (j, a) in acc.iter_mut().enumerate() {
                let o = i + 8 * j;
                // SAFETY: o + 8 <= np <= n.
                unsafe { *a = _mm256_fmadd_ps(load8(kp.add(o)), _mm256_loadu_ps(qp.add(o)), *a) };
            }
        }
        // SAFETY: the CPU features are this function's contract.
        let mut sum = f64::from(unsafe { reduce_x4(acc) });
        for (&kk, &x) in k[np..].iter().zip(&q[np..]) {
            sum += f64::from(kk.to_f32() * x);
        }
        sum as f32
    }

    /// The batch order of `dot_f16` for four keys at once.
    ///
    /// # Safety
    /// AVX2, FMA and F16C available; every `k[j].len() == q.len()`, a multiple of 8.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f16_x4(k: [&[f16]; 4], q: &[f32]) -> [f32; 4] {
        let n = q.len();
        let qp = q.as_ptr();
        let kp = k.map(|k| k.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 <= n, the length of `q` and of every key.
            unsafe {
                let qv = _mm256_loadu_ps(qp.add(i));
                acc[0] = _mm256_fmadd_ps(load8(kp[0].add(i)), qv, acc[0]);
                acc[1] = _mm256_fmadd_ps(load8(kp[1].add(i)), qv, acc[1]);
                acc[2] = _mm256_fmadd_ps(load8(kp[2].add(i)), qv, acc[2]);
                acc[3] = _mm256_fmadd_ps(load8(kp[3].add(i)), qv, acc[3]);
            }
        }
        // SAFETY: the CPU features are this function's contract.
        acc.map(|v| unsafe { hsum_ps(v) })
    }

    /// The batch order of `dot_f16` for two keys and four queries.
    ///
    /// # Safety
    /// AVX2, FMA and F16C available; every key and query has `q[0].len()` values, a multiple
    /// of 8.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f16_2x4(k: [&[f16]; 2], q: [&[f32]; 4]) -> [[f32; 4]; 2] {
        let n = q[0].len();
        let qp = q.map(|q| q.as_ptr());
        let kp = k.map(|k| k.as_ptr());
        let mut acc = [[_mm256_setzero_ps(); 4]; 2];
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 <= n, the length of every key and query.
            unsafe {
                let kv = [load8(kp[0].add(i)), load8(kp[1].add(i))];
                for h in 0..4 {
                    let qv = _mm256_loadu_ps(qp[h].add(i));
                    acc[0][h] = _mm256_fmadd_ps(kv[0], qv, acc[0][h]);
                    acc[1][h] = _mm256_fmadd_ps(kv[1], qv, acc[1][h]);
                }
            }
        }
        // SAFETY: the CPU features are this function's contract.
        acc.map(|a| a.map(|v| unsafe { hsum_ps(v) }))
    }

    /// `fma_f16_rows` for four accumulators.
    ///
    /// # Safety
    /// AVX2, FMA and F16C available; every accumulator has `acc[0].len()` values and every
    /// row `cache[o..o + acc[0].len()]` is inside `cache`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn fma_f16_rows_x4(acc: [&mut [f32]; 4], cache: &[f16], rows: &[(usize, [f32; 4])]) {
        let n = acc[0].len();
        let n16 = n / 16 * 16;
        let ap = acc.map(|a| a.as_mut_ptr());
        let cp = cache.as_ptr();
        // SAFETY: d + 16 <= n16 <= n for the accumulators; o + d + 16 <= o + n <= cache.len()
        // for the rows (the caller's contract).
        unsafe {
            for d in (0..n16).step_by(16) {
                let mut a: [[__m256; 2]; 4] = std::array::from_fn(|h| {
                    [
                        _mm256_loadu_ps(ap[h].add(d)),
                        _mm256_loadu_ps(ap[h].add(d + 8)),
                    ]
                });
                for &(o, w) in rows {
                    let p = cp.add(o + d);
                    let v = [load8(p), load8(p.add(8))];
                    for h in 0..4 {
                        let wv = _mm256_set1_ps(w[h]);
                        a[h][0] = _mm256_fmadd_ps(v[0], wv, a[h][0]);
                        a[h][1] = _mm256_fmadd_ps(v[1], wv, a[h][1]);
                    }
                }
                for h in 0..4 {
                    _mm256_storeu_ps(ap[h].add(d), a[h][0]);
                    _mm256_storeu_ps(ap[h].add(d + 8), a[h][1]);
                }
            }
            if n16 < n {
                for (h, &a) in ap.iter().enumerate() {
                    let tail = std::slice::from_raw_parts_mut(a.add(n16), n - n16);
                    for &(o, w) in rows {
                        // SAFETY: the caller's contract, passed on for the tail.
                        fma_f16(tail, &cache[o + n16..o + n], w[h]);
                    }
                }
            }
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C available; every row `cache[o..o + acc.len()]` is inside `cache`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn fma_f16_rows(acc: &mut [f32], cache: &[f16], rows: &[(usize, f32)]) {
        let n = acc.len();
        let n32 = n / 32 * 32;
        let (ap, cp) = (acc.as_mut_ptr(), cache.as_ptr());
        // SAFETY: d + 32 <= n32 <= n for the accumulator; o + d + 32 <= o + n <= cache.len()
        // for the rows (the caller's contract).
        unsafe {
            for d in (0..n32).step_by(32) {
                let mut a = [
                    _mm256_loadu_ps(ap.add(d)),
                    _mm256_loadu_ps(ap.add(d + 8)),
                    _mm256_loadu_ps(ap.add(d + 16)),
                    _mm256_loadu_ps(ap.add(d + 24)),
                ];
                for &(o, w) in rows {
                    let wv = _mm256_set1_ps(w);
                    let p = cp.add(o + d);
                    a[0] = _mm256_fmadd_ps(load8(p), wv, a[0]);
                    a[1] = _mm256_fmadd_ps(load8(p.add(8)), wv, a[1]);
                    a[2] = _mm256_fmadd_ps(load8(p.add(16)), wv, a[2]);
                    a[3] = _mm256_fmadd_ps(load8(p.add(24)), wv, a[3]);
                }
                for (j, v) in a.iter().enumerate() {
                    _mm256_storeu_ps(ap.add(d + 8 * j), *v);
                }
            }
        }
        if n32 < n {
            for &(o, w) in rows {
                // SAFETY: the caller's contract, passed on for the tail.
                unsafe { fma_f16(&mut acc[n32..], &cache[o + n32..o + n], w) };
            }
        }
    }

    /// # Safety
    /// AVX2, FMA and F16C available; `v.len() == acc.len()`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn fma_f16(acc: &mut [f32], v: &[f16], w: f32) {
        let n = acc.len();
        let n8 = n / 8 * 8;
        let wv = _mm256_set1_ps(w);
        let (ap, vp) = (acc.as_mut_ptr(), v.as_ptr());
        for i in (0..n8).step_by(8) {
            // SAFETY: i + 8 <= n = acc.len() = v.len().
            unsafe {
                let a = _mm256_loadu_ps(ap.add(i));
                _mm256_storeu_ps(ap.add(i), _mm256_fmadd_ps(load8(vp.add(i)), wv, a));
            }
        }
        for (a, &x) in acc[n8..].iter_mut().zip(&v[n8..]) {
            *a = x.to_f32().mul_add(w, *a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_equals_reference_bit_for_bit() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        };
        for n in [8, 32, 40, 64, 100, 256] {
            let k: Vec<f16> = (0..n).map(|_| f16::from_f32(rnd())).collect();
            let q: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let k2: Vec<f16> = k.iter().rev().copied().collect();
            for batch in [false, true] {
                let a = dot_f16(&k, &q, batch);
                let b = dot_f16_ref(&k, &q, batch);
                assert_eq!(a.to_bits(), b.to_bits(), "n {n} batch {batch}");
                let x4 = dot_f16_x4([&k, &k2, &k2, &k], &q, batch);
                let b2 = dot_f16_ref(&k2, &q, batch);
                for (j, want) in [b, b2, b2, b].into_iter().enumerate() {
                    assert_eq!(
                        x4[j].to_bits(),
                        want.to_bits(),
                        "x4 {j} n {n} batch {batch}"
                    );
                }
            }
            let acc0: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let cache: Vec<f16> = k.iter().chain(&k2).chain(&k).copied().collect();
            let rows = [(0, rnd()), (n, rnd()), (2 * n, rnd()), (n, rnd())];
            let mut r1 = acc0.clone();
            fma_f16_rows(&mut r1, &cache, &rows);
            let mut r2 = acc0.clone();
            for &(o, w) in &rows {
                fma_f16_ref(&mut r2, &cache[o..o + n], w);
            }
            assert!(
                r1.iter().zip(&r2).all(|(x, y)| x.to_bits() == y.to_bits()),
                "rows n {n}"
            );
            // Four heads: two keys by four queries, and four accumulators over the rows.
            let qs: Vec<Vec<f32>> = (0..4).map(|_| (0..n).map(|_| rnd()).collect()).collect();
            let q4: [&[f32]; 4] = std::array::from_fn(|h| &qs[h][..]);
            if n % 8 == 0 {
                let d = dot_f16_2x4([&k, &k2], q4);
                for (j, key) in [&k, &k2].into_iter().enumerate() {
                    for h in 0..4 {
                        let want = dot_f16_ref(key, q4[h], true);
                        assert_eq!(
                            d[j][h].to_bits(),
                            want.to_bits(),
                            "2x4 n {n} key {j} head {h}"
                        );
                    }
                }
            }
            let rows4: Vec<(usize, [f32; 4])> = [0, n, 2 * n, n]
                .into_iter()
                .map(|o| (o, [rnd(), rnd(), rnd(), rnd()]))
                .collect();
            let mut got: Vec<Vec<f32>> = (0..4).map(|_| acc0.clone()).collect();
            let [g0, g1, g2, g3] = &mut got[..] else {
                unreachable!()
            };
            fma_f16_rows_x4([g0, g1, g2, g3], &cache, &rows4);
            for (h, g) in got.iter().enumerate() {
                let mut want = acc0.clone();
                for &(o, w) in &rows4 {
                    fma_f16_ref(&mut want, &cache[o..o + n], w[h]);
                }
                assert!(
                    g.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "rows x4 n {n} head {h}"
                );
            }
            let mut a1: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let mut a2 = a1.clone();
            let w = rnd();
            fma_f16(&mut a1, &k, w);
            fma_f16_ref(&mut a2, &k, w);
            assert!(a1.iter().zip(&a2).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}
