//! Q8_0 on AVX2: the dot product with Q8_0 activations, and the Q8_0 and Q8_1 activation
//! quantizers of ggml's x86 build.

use std::arch::x86_64::*;

use half::f16;
use std::mem::MaybeUninit;

use super::matvec::block_scales_8;
use super::{f16_to_f32, hsum_ps, load32, mul_sum_i8_pairs};
use crate::quant::q8_0::{self as reference, BlockQ8_0, BlockQ8_1};

/// How far ahead of the block being multiplied the weights are prefetched, in bytes. Decode
/// streams each weight row once, and the dot product of one row is short (Gemma 3's 640
/// values are 20 blocks): without a software prefetch the loop waits on memory (measured on
/// Gemma 3 270M at one thread: 33 -> 46 tok/s with it; 2 KiB was the best of 0.5 to 4 KiB
/// with the weights in 4 KB pages). With the tensor data in 2 MB pages (`gguf`'s
/// `MADV_HUGEPAGE` map) the memory keeps up with a longer distance: Gemma tg128 at one thread,
/// alternated builds, 2 KiB 110.0-112.7 tok/s, 4 KiB 115.3-117.3, 8 KiB 122.6-125.1, 12 KiB
/// 114.0-132.5 (best in four of five runs), 16-32 KiB no better; the 4096 x 4096 bench (4 KB
/// pages) no worse.
///
/// Every x86 prefetch here is `prefetcht1` (into L2, not L1): a `prefetcht0` holds one of the
/// core's few L1 miss buffers until its line arrives from memory, which on a Zen 4 EPYC
/// (2026-12-06) capped a streamed product at half the memory's read rate and serialized it
/// with the arithmetic (4096 x 4096 from memory, T0 -> T1, two rounds: Q8_0 14-15 -> 25-27
/// GB/s, Q6_K 15 -> 23, Q4_1 12-13 -> 18, IQ4_NL 13 -> 18 with the AVX512-VNNI table; Gemma
/// tg128 at one thread 80-81 -> 100 tok/s). The demand loads then hit L2, whose latency the
/// out-of-order core hides. A prefetch never faults, so reading past the end of the weights is
/// harmless; the address is formed with `wrapping_add`, so no out-of-bounds pointer
/// arithmetic happens either.
pub(crate) const PREFETCH_AHEAD: usize = 12288;

/// Dot product of Q8_0 weights with Q8_0 activations, bit-identical to the reference
/// [`crate::quant::q8_0::vec_dot`] (ggml's AVX2 `ggml_vec_dot_q8_0_q8_0`): per block the eight
/// exact i32 lane sums of [`mul_sum_i8_pairs`] (|lane| <= 4 * 128 * 127), converted to f32 and
/// `acc = fma(d_w * d_a, lanes, acc)`; `hsum_float_8` at the end.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(w.len(), a.len());
    // SAFETY: the CPU features are this function's contract; the loads read the borrowed
    // blocks only.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.iter().zip(a) {
            _mm_prefetch::<_MM_HINT_T1>(
                (x as *const BlockQ8_0 as *const i8).wrapping_add(PREFETCH_AHEAD),
            );
            let d = _mm256_set1_ps(f16_to_f32(x.d) * f16_to_f32(y.d));
            let q = _mm256_cvtepi32_ps(mul_sum_i8_pairs(load32(&x.qs), load32(&y.qs)));
            acc = _mm256_fmadd_ps(d, q, acc);
        }
        hsum_ps(acc)
    }
}

/// [`vec_dot`] of one weight row with four activation rows at once (four tokens of a
/// prefill batch): each result adds its blocks in `vec_dot`'s order (the same bits), but the
/// four FMA chains are independent and each weight block is loaded once for the four tokens.
///
/// # Safety
/// AVX2, FMA and F16C available; every `a[k]` has `w.len()` blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_x4(w: &[BlockQ8_0], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    let nb = w.len();
    assert!(a.iter().all(|r| r.len() == nb));
    // SAFETY: the CPU features are this function's contract; b < nb indexes every slice.
    unsafe {
        let mut c0 = _mm256_setzero_ps();
        let mut c1 = _mm256_setzero_ps();
        let mut c2 = _mm256_setzero_ps();
        let mut c3 = _mm256_setzero_ps();
        for b in 0..nb {
            let x = w.get_unchecked(b);
            let xq = load32(&x.qs);
            let dx = f16_to_f32(x.d);
            let y0 = a[0].get_unchecked(b);
            let y1 = a[1].get_unchecked(b);
            let y2 = a[2].get_unchecked(b);
            let y3 = a[3].get_unchecked(b);
            let q0 = _mm256_cvtepi32_ps(mul_sum_i8_pairs(xq, load32(&y0.qs)));
            let q1 = _mm256_cvtepi32_ps(mul_sum_i8_pairs(xq, load32(&y1.qs)));
            let q2 = _mm256_cvtepi32_ps(mul_sum_i8_pairs(xq, load32(&y2.qs)));
            let q3 = _mm256_cvtepi32_ps(mul_sum_i8_pairs(xq, load32(&y3.qs)));
            c0 = _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_to_f32(y0.d)), q0, c0);
            c1 = _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_to_f32(y1.d)), q1, c1);
            c2 = _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_to_f32(y2.d)), q2, c2);
            c3 = _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_to_f32(y3.d)), q3, c3);
        }
        [hsum_ps(c0), hsum_ps(c1), hsum_ps(c2), hsum_ps(c3)]
    }
}

/// The blocks of a tile's rows taken at a time by [`tile_x4`]'s two-row kernel: the four
/// tokens' quants and scales and a row pair's scale products for that many blocks live on
/// the stack (176 bytes a block, 22 KiB), whatever the row length.
const CHUNK: usize = 128;

/// The rows whose accumulators [`tile_x4`] keeps across chunks (8 KiB of them).
const GROUP_ROWS: usize = 64;

/// A row pair's eight accumulators: `[row][token]`.
type Acc2x4 = [[__m256; 4]; 2];

/// The two rows `w` times the four tokens over one chunk of blocks, added to `c`: eight
/// independent FMA chains, `c[r][k] = fma(d_w * d_a, f32(lanes), c[r][k])` block after block,
/// each the chain of one `vec_dot` (so a row's chunks in order give its bits). `ya[b]` is the
/// four tokens' quants of block `b` (aligned copies), `dd[(2 * k + r) * CHUNK + b]` the scale
/// product `d_w * d_a` of row `r`, token `k` and block `b` (the one f32 product ggml
/// broadcasts), formed beforehand eight blocks at a time ([`pair_scales`]).
///
/// What this layout is for, measured on a Zen 3 EPYC (2026-12-07, 16 vector registers): with
/// the scale products formed in the loop (an f16 conversion share, a scalar multiply and a
/// broadcast each: LLVM turns a vector multiply of two broadcasts back into that) the loop
/// spent as many instructions on scales as on the products, and two of the eight accumulators
/// lived on the stack; with the tokens' quants read in place (byte 2 of a 34-byte block) half
/// of those loads crossed a cache line. Now the loop is 64 instructions a block, all in
/// registers. A 64-row tile with the old and new kernels alternated (Zen 3, 20 / 64 / 200
/// blocks a row): 1.02 / 0.97 / 0.96 -> 0.89 / 0.80 / 0.84 ns a row, token and block; Gemma 3
/// 270M pp512 with the AVX2 table +4-10 % at one thread and two.
///
/// # Safety
/// AVX2, FMA and F16C available; both rows and `ya` have `n <= CHUNK` blocks, and the first
/// `n` entries of each of the eight rows of `dd` are initialized.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vec_dot_2x4<const OFFSET: i8>(
    w: [&[BlockQ8_0]; 2],
    ya: &[[__m256i; 4]],
    yb: &[[__m256i; 4]],
    dd: &[MaybeUninit<f32>; 8 * CHUNK],
    c: &mut Acc2x4,
) {
    let n = ya.len();
    assert!(w.iter().all(|r| r.len() == n) && n <= CHUNK && (OFFSET == 0 || yb.len() == n));
    // SAFETY: the CPU features are this function's contract; `b < n <= CHUNK` indexes the
    // rows, `ya` and the initialized part of each row of `dd`.
    unsafe {
        let dd = dd.as_ptr().cast::<f32>();
        let ones = _mm256_set1_epi16(1);
        let mut acc = *c;
        for (b, y4) in ya.iter().enumerate() {
            let xq = w.map(|w| load32(&w.get_unchecked(b).qs));
            // The sign trick of `mul_sum_i8_pairs`: |x| once per weight block.
            let ax = xq.map(|x| _mm256_sign_epi8(x, x));
            for (k, &yq) in y4.iter().enumerate() {
                for r in 0..2 {
                    let p = if OFFSET == 0 {
                        let s = _mm256_sign_epi8(yq, xq[r]);
                        _mm256_madd_epi16(_mm256_maddubs_epi16(ax[r], s), ones)
                    } else {
                        // Unsigned quants `x + OFFSET`: their products less the activation's
                        // `OFFSET * sum4(y)` (made once per token and block).
                        let p = _mm256_madd_epi16(_mm256_maddubs_epi16(xq[r], yq), ones);
                        _mm256_sub_epi32(p, yb.get_unchecked(b)[k])
                    };
                    let d = _mm256_broadcast_ss(&*dd.add((2 * k + r) * CHUNK + b));
                    acc[r][k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r][k]);
                }
            }
        }
        *c = acc;
    }
}

/// The scale products of a row pair and four tokens over one chunk for [`vec_dot_2x4`]: row
/// `2 * k + r` of `dd` gets `f32(d_w) * dy[k][b]` for the blocks `b` of row `r`, the same
/// f32 products as one at a time. Eight blocks at a time, each row's eight f16 scales
/// converted once ([`block_scales_8`]) for the four tokens; a last group that would run past
/// the chunk is taken at `n - 8` instead (its overlap rewrites the same values); chunks
/// shorter than eight blocks go one block at a time.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// Unless both rows and every `dy[k]` have the same `n <= CHUNK` blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pair_scales(
    rr: [&[BlockQ8_0]; 2],
    dy: [&[f32]; 4],
    dd: &mut [MaybeUninit<f32>; 8 * CHUNK],
) {
    let n = rr[0].len();
    assert!(rr[1].len() == n && dy.iter().all(|d| d.len() == n) && n <= CHUNK);
    // SAFETY: the CPU features are this function's contract; `g + 8 <= n` for every group,
    // so `block_scales_8` reads eight whole blocks of the row, and the loads and stores stay
    // within `dy[k]` and row `2 * k + r` of `dd`; the scalar path indexes `b < n`.
    unsafe {
        if n < 8 {
            for (r, row) in rr.iter().enumerate() {
                for (b, x) in row.iter().enumerate() {
                    let dw = f16_to_f32(x.d);
                    for (k, dy) in dy.iter().enumerate() {
                        dd[(2 * k + r) * CHUNK + b].write(dw * dy[b]);
                    }
                }
            }
            return;
        }
        let out = dd.as_mut_ptr().cast::<f32>();
        for (r, row) in rr.iter().enumerate() {
            let mut g = 0;
            loop {
                let dw = block_scales_8::<BlockQ8_0>(row.as_ptr().add(g) as *const u8);
                for (k, dy) in dy.iter().enumerate() {
                    let v = _mm256_mul_ps(dw, _mm256_loadu_ps(dy.as_ptr().add(g)));
                    _mm256_storeu_ps(out.add((2 * k + r) * CHUNK + g), v);
                }
                if g + 8 == n {
                    break;
                }
                g = (g + 8).min(n - 8);
            }
        }
    }
}

/// The rows of a Q8_0 tile (`w`: `rows` rows of `a[k].len()` blocks) times four activation
/// rows: `put(r, [row r . a_0, .., row r . a_3])`, each result the bits of [`vec_dot`]. Rows
/// two at a time ([`vec_dot_2x4`]) over chunks of [`CHUNK`] blocks: per chunk, the tokens'
/// quants copied to aligned vectors and their scales converted once for all the rows, then
/// each pair's scale products and products, its accumulators carried to the next chunk. An
/// odd last row goes through [`vec_dot_x4`].
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If the tile is not `rows` whole rows of the activations' length.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn tile_x4(
    w: &[BlockQ8_0],
    rows: usize,
    a: [&[BlockQ8_0]; 4],
    put: &mut crate::kernels::Out4,
) {
    // SAFETY: the same contract.
    unsafe { tile_x4_offset::<0>(w, rows, a, put) }
}

/// [`tile_x4`] for a Q5_0 tile unpacked by [`super::q5_0::to_unsigned`] (Q8_0 blocks holding
/// the unsigned 5-bit quants `q`, the values `q - 16`): each result the bits of Q5_0's
/// `vec_dot`. The products take the quants as `maddubs`' unsigned operand directly (pairs at
/// most `2 * 31 * 127`) and subtract `16 * sum4(y)`, made once per token and block, from
/// each lane: the same exact lanes without the sign trick's two `vpsignb` per row and block.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
///
/// # Panics
/// If the tile is not `rows` whole rows of the activations' length, or `rows` is odd.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn tile_x4_q5(
    w: &[BlockQ8_0],
    rows: usize,
    a: [&[BlockQ8_0]; 4],
    put: &mut crate::kernels::Out4,
) {
    assert!(
        rows.is_multiple_of(2),
        "the unsigned Q5_0 tile takes rows in pairs"
    );
    // SAFETY: the same contract.
    unsafe { tile_x4_offset::<16>(w, rows, a, put) }
}

/// [`tile_x4`] (`OFFSET` 0: signed quants) or [`tile_x4_q5`] (`OFFSET` 16: unsigned quants
/// `x + OFFSET`, rows in pairs).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile_x4_offset<const OFFSET: i8>(
    w: &[BlockQ8_0],
    rows: usize,
    a: [&[BlockQ8_0]; 4],
    put: &mut crate::kernels::Out4,
) {
    let nb = a[0].len();
    assert!(a.iter().all(|r| r.len() == nb) && w.len() == rows * nb);
    assert!(OFFSET == 0 || rows.is_multiple_of(2));
    let row = |r: usize| &w[r * nb..(r + 1) * nb];
    // Each written for its first `n` entries (rows) before they are read, chunk by chunk
    // (`yb` only with an offset).
    let mut ya = [const { MaybeUninit::<[__m256i; 4]>::uninit() }; CHUNK];
    let mut yb = [const { MaybeUninit::<[__m256i; 4]>::uninit() }; CHUNK];
    let mut dy = [[const { MaybeUninit::<f32>::uninit() }; CHUNK]; 4];
    let mut dd = [const { MaybeUninit::<f32>::uninit() }; 8 * CHUNK];
    for g0 in (0..rows).step_by(GROUP_ROWS) {
        let pairs = (rows - g0).min(GROUP_ROWS) / 2;
        // A pair's accumulators between chunks (written at the end of every chunk but the
        // last, read at the start of every chunk but the first: a row of at most `CHUNK`
        // blocks, the common case, keeps them in registers and touches none of this).
        let mut acc = [const { MaybeUninit::<Acc2x4>::uninit() }; GROUP_ROWS / 2];
        for c0 in (0..nb).step_by(CHUNK) {
            let n = (nb - c0).min(CHUNK);
            for (b, y) in ya[..n].iter_mut().enumerate() {
                // SAFETY: the CPU features are this function's contract; `c0 + b < nb`.
                y.write(std::array::from_fn(|k| unsafe {
                    load32(&a[k].get_unchecked(c0 + b).qs)
                }));
            }
            if OFFSET != 0 {
                // SAFETY: the CPU features are this function's contract; the first `n`
                // entries of `ya` were just written.
                unsafe {
                    let (k8, ones) = (_mm256_set1_epi8(OFFSET), _mm256_set1_epi16(1));
                    for (yb, ya) in yb[..n].iter_mut().zip(&ya[..n]) {
                        // OFFSET * sum4(y) per lane (|.| <= 16 * 4 * 127).
                        let sum = |y| _mm256_madd_epi16(_mm256_maddubs_epi16(k8, y), ones);
                        yb.write(ya.assume_init_ref().map(sum));
                    }
                }
            }
            for (dy, a) in dy.iter_mut().zip(a) {
                for (d, y) in dy.iter_mut().zip(&a[c0..c0 + n]) {
                    // SAFETY: the CPU features are this function's contract (no memory access).
                    d.write(unsafe { f16_to_f32(y.d) });
                }
            }
            // SAFETY: the first `n` entries of `ya`, of `yb` (with an offset) and of each row
            // of `dy` were written just above (`MaybeUninit<T>` has `T`'s layout).
            let (ya, yb, dy) = unsafe {
                let dy: [&[f32]; 4] =
                    std::array::from_fn(|k| std::slice::from_raw_parts(dy[k].as_ptr().cast(), n));
                let yb_n = if OFFSET == 0 { 0 } else { n };
                (
                    std::slice::from_raw_parts(ya.as_ptr().cast::<[__m256i; 4]>(), n),
                    std::slice::from_raw_parts(yb.as_ptr().cast::<[__m256i; 4]>(), yb_n),
                    dy,
                )
            };
            for (p, saved) in acc[..pairs].iter_mut().enumerate() {
                let r = g0 + 2 * p;
                let rr = [&row(r)[c0..c0 + n], &row(r + 1)[c0..c0 + n]];
                // SAFETY: the CPU features are this function's contract; the rows and `ya`
                // have `n <= CHUNK` blocks, and `pair_scales` writes the first `n` entries of
                // each row of `dd`, which `vec_dot_2x4` reads; `saved` was written at the end
                // of the previous chunk when this is not the first.
                unsafe {
                    let mut c = if c0 == 0 {
                        [[_mm256_setzero_ps(); 4]; 2]
                    } else {
                        saved.assume_init_read()
                    };
                    pair_scales(rr, dy, &mut dd);
                    vec_dot_2x4::<OFFSET>(rr, ya, yb, &dd, &mut c);
                    if c0 + n < nb {
                        saved.write(c);
                    } else {
                        let v = c.map(|c| c.map(|c| hsum_ps(c)));
                        put.put(r, v[0]);
                        put.put(r + 1, v[1]);
                    }
                }
            }
        }
    }
    if rows % 2 == 1 {
        // SAFETY: the CPU features are this function's contract; the row and the
        // activations have `nb` blocks (checked inside).
        put.put(rows - 1, unsafe { vec_dot_x4(row(rows - 1), a) });
    }
}

/// The 32 values of a block times `127 / amax`, rounded half to even, as 32 i8 (ggml's AVX2
/// `quantize_row_q8_0` step), and `amax`; `None` when the block holds a non-finite value or
/// `127 / amax` overflows (the reference's saturating conversions differ from the vector
/// ones there: the caller hands such a block to the reference).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_block(xb: &[f32]) -> Option<(__m256i, f32)> {
    debug_assert_eq!(xb.len(), 32);
    // SAFETY: the CPU features are this function's contract; the loads read the 32 values of
    // `xb` (unaligned).
    unsafe {
        let p = xb.as_ptr();
        let v = [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ];
        let abs = [abs_ps(v[0]), abs_ps(v[1]), abs_ps(v[2]), abs_ps(v[3])];
        if !all_finite(abs) {
            return None;
        }
        let amax = hmax_ps(_mm256_max_ps(
            _mm256_max_ps(abs[0], abs[1]),
            _mm256_max_ps(abs[2], abs[3]),
        ));
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        if !id.is_finite() {
            return None;
        }
        let idv = _mm256_set1_ps(id);
        // |v * id| <= 127 up to one rounding, so the rounded values fit i8 and the
        // saturating packs are plain conversions.
        let mut q = [_mm256_setzero_si256(); 4];
        for (q, &v) in q.iter_mut().zip(&v) {
            let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm256_mul_ps(v, idv),
            );
            *q = _mm256_cvtps_epi32(r);
        }
        Some((pack_i32_to_i8(q), amax))
    }
}

/// Quantizes `x` into Q8_0 blocks, byte-identical to
/// [`crate::quant::q8_0::quantize_row_x86`] (ggml's AVX2 `quantize_row_q8_0`: `d = amax / 127`
/// stored as f16, quants `round_half_even(x * (127 / amax))`). A block holding a NaN or an
/// infinity, or so small that `127 / amax` overflows, is handed to the scalar quantizer.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row_x86(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_0 quantize: length mismatch");
    for (xb, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        // SAFETY: the CPU features are this function's contract; the store writes the 32
        // quants of `b` (unaligned).
        unsafe {
            match quantize_block(xb) {
                Some((q, amax)) => {
                    b.d = f16::from_f32(amax / 127.0);
                    _mm256_storeu_si256(b.qs.as_mut_ptr() as *mut __m256i, q);
                }
                None => reference::quantize_row_x86(xb, std::slice::from_mut(b)),
            }
        }
    }
}

/// Quantizes `x` into Q8_1 blocks, byte-identical to
/// [`crate::quant::q8_0::quantize_row_q8_1_x86`]: the quants of [`quantize_row_x86`], and
/// `s = fp16(d * sum(qs))` with the unrounded f32 `d = amax / 127`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row_q8_1_x86(x: &[f32], out: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), out.len() * 32, "Q8_1 quantize: length mismatch");
    for (xb, b) in x.chunks_exact(32).zip(out.iter_mut()) {
        // SAFETY: the CPU features are this function's contract; the store writes the 32
        // quants of `b` (unaligned).
        unsafe {
            match quantize_block(xb) {
                Some((q, amax)) => {
                    let d = amax / 127.0;
                    b.d = f16::from_f32(d);
                    _mm256_storeu_si256(b.qs.as_mut_ptr() as *mut __m256i, q);
                    // |sum| <= 32 * 127: exact in i32 and in f32.
                    let sum = super::hsum_i32(_mm256_madd_epi16(
                        _mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
                        _mm256_set1_epi16(1),
                    ));
                    b.s = f16::from_f32(d * sum as f32);
                }
                None => reference::quantize_row_q8_1_x86(xb, std::slice::from_mut(b)),
            }
        }
    }
}

/// `|v|` lane by lane (clears the sign bits).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn abs_ps(v: __m256) -> __m256 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe { _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF))) }
}

/// Whether every lane of the (non-negative) `abs` vectors is finite: the bits of a
/// non-negative finite f32 are at most 0x7F7F_FFFF, those of +inf and NaNs greater.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn all_finite<const N: usize>(abs: [__m256; N]) -> bool {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let lim = _mm256_set1_epi32(0x7F7F_FFFF);
        let mut bad = _mm256_setzero_si256();
        for a in abs {
            bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(_mm256_castps_si256(a), lim));
        }
        _mm256_testz_si256(bad, bad) == 1
    }
}

/// The largest lane (no NaNs here).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hmax_ps(m: __m256) -> f32 {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let mut r = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
        r = _mm_max_ps(r, _mm_movehl_ps(r, r));
        r = _mm_max_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }
}

/// Packs four vectors of 8 i32 (values 0..8, 8..16, 16..24, 24..32) into 32 i8 in order,
/// saturating (ggml's pack sequence: the packs work within 128-bit halves, the final
/// permutation restores the order).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn pack_i32_to_i8(q: [__m256i; 4]) -> __m256i {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        // 0..4 8..12 4..8 12..16 (as i16)
        let a = _mm256_packs_epi32(q[0], q[1]);
        let b = _mm256_packs_epi32(q[2], q[3]);
        // 0..4 8..12 16..20 24..28 4..8 12..16 20..24 28..32 (as i8, in 4-byte groups)
        let c = _mm256_packs_epi16(a, b);
        _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }
}
