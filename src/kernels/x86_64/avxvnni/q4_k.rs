//! Q4_K with VNNI: the prefill tiles repacked eight rows to a vector (the layout, packing
//! and skeleton of `avx2::q4_k_packed`, with `vpdpbusd` for the integer sums), and the
//! repacked GEMV order's integer sums with rows in lanes for decode (`s1_vnni`).

use std::arch::x86_64::*;

use super::super::avx2::q4_k_packed::{add_chunk, block_scales, finish, tile_groups, Prepared};
pub use super::super::avx2::q4_k_packed::{pack, Packed8, MAX_BLOCKS};
use crate::quant::{q4_k::BlockQ4K, q8_k::BlockQ8K};

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
        // SAFETY: the CPU features are this function's contract; `tile_groups` hands
        // `dot_8x4` slices of the same length as every `a[k]`.
        unsafe { tile_groups(packed, groups, a, put, |p, prep| dot_8x4(p, a, prep)) }
    }
}

/// Eight packed rows times four tokens: `out[k][r]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
unsafe fn dot_8x4(p: &[Packed8], a: [&[BlockQ8K]; 4], prep: &[Prepared]) -> [[f32; 8]; 4] {
    // SAFETY: the CPU features are this function's contract; `p`, `prep` and every `a[k]`
    // have the same length (checked by the caller), the loads read inside those blocks.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 4]; 2];
        for (b, (x, pr)) in p.iter().zip(prep).enumerate() {
            let dd = block_scales(x, pr);
            let ys: [*const i8; 4] = std::array::from_fn(|k| a[k].get_unchecked(b).qs.as_ptr());
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
                add_chunk(&mut acc, &dd, x, pr, c, s1);
            }
        }
        finish(acc)
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
