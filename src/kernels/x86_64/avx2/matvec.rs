//! The decode matrix-vector products of Q4_0, Q5_0 and Q8_0 on AVX2 (no VNNI), in ggml's
//! `vec_dot` order, bit for bit: the AVX2 counterpart of `avxvnni/matvec.rs`, with the same
//! three changes to a loop of one-row dot products (four rows at a time, each with its own FMA
//! chain; a row's scale products `d_w * d_a` eight blocks at a time; one prefetch stream a
//! line at a time ahead of the next rows) and, for Q4_0 and Q5_0, unsigned quants:
//!
//! - Q8_0: the lanes of ggml's sign trick ([`super::mul_sum_i8_pairs`]);
//! - Q4_0, Q5_0: `madd(maddubs(q, y), 1) - offset * sum4(y)` with the quants `q` as unsigned
//!   bytes (0..=15, 0..=31: a `maddubs` pair is at most 2 * 31 * 127, no saturation) and
//!   `offset * sum4(y)` prepared once per product. These are the exact sums of
//!   `(q - offset) * y`, the same integers as the sign trick's on `q - offset`, in three
//!   instructions instead of five.
//!
//! The float work per row is `vec_dot`'s: `acc = fma(d_w * d_a, f32(lanes), acc)`, then
//! `hsum_float_8`.
//!
//! Also here, for both x86 tables: ggml's repacked GEMV/GEMM order of Q4_0 and IQ4_NL (a
//! row's whole block sum converted once), eight rows at a time with each row in its own
//! lane from the start (`repacked_in_lanes`: the rows' quant bytes transposed to dwords by
//! `rows8_dwords`), and its four-token prefill tile (`repacked_in_lanes_x4`).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::q8_0::PREFETCH_AHEAD;
use super::{
    bytes_from_bits_32, bytes_from_nibbles_32, f16_to_f32, hsum_i32, hsum_ps, load32,
    mul_sum_i8_pairs,
};
use crate::quant::{
    self, iq4_nl::BlockIQ4NL, q4_0::BlockQ4_0, q4_1::BlockQ4_1, q5_0::BlockQ5_0, q5_1::BlockQ5_1,
    q8_0::BlockQ8_0,
};
use crate::quant::{DotOrder, GgmlType};

/// The longest activation row taken, in blocks (16384 values; the prepared activation and a
/// pair of rows' scale products live on the stack). Longer rows use the one-row kernels.
pub(crate) const MAX_BLOCKS: usize = 512;

/// A block format whose first two bytes are its f16 scale `d` and which is at least 4 bytes
/// long: the scale products read `d` straight from the block, eight blocks (or eight rows) at
/// a time.
///
/// # Safety
/// Implement only for such blocks; `scale_first!` checks both facts at compile time.
pub(crate) unsafe trait ScaleFirst: Sized {}

macro_rules! scale_first {
    ($($B:ty),*) => {$(
        const _: () = assert!(
            std::mem::offset_of!($B, d) == 0 && std::mem::size_of::<$B>() >= 4
        );
        // SAFETY: `d` (an f16) is at offset 0 and the block at least 4 bytes, asserted above.
        unsafe impl ScaleFirst for $B {}
    )*};
}
scale_first!(BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockIQ4NL);

/// The f16 scale of a [`ScaleFirst`] block.
#[inline]
fn scale_of<B: ScaleFirst>(x: &B) -> half::f16 {
    // SAFETY: `ScaleFirst` promises an f16 in the first two bytes of `x` (read unaligned:
    // blocks are 2-byte aligned anyway).
    unsafe { std::ptr::read_unaligned(x as *const B as *const half::f16) }
}

/// `out[r] = row_r(w) . act` in `order`, if this module has a kernel for (`ty`, `order`) and
/// the row length; `false` (nothing written) otherwise, for the caller's row-by-row loop.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` must be `out.len()` rows of weight blocks of
/// `ty` and `act` the activation blocks (`ty.vec_dot_type()`) of one row.
pub unsafe fn matvec(ty: GgmlType, order: DotOrder, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    use DotOrder::{RepackedGemm, RepackedGemv, VecDot};
    let is_repacked = matches!(order, RepackedGemv | RepackedGemm);
    use GgmlType::{IQ4_XS, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K};
    if matches!(ty, Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS) {
        // SAFETY: the CPU features and the layout are this function's contract.
        return unsafe { super::kmatvec::matvec(ty, order, w, act, out) };
    }
    if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) && order == VecDot {
        // SAFETY: the CPU features and the layout are this function's contract.
        return unsafe { super::minmatvec::matvec(ty, w, act, out) };
    }
    match (ty, order) {
        (GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 | GgmlType::IQ4_NL, VecDot) => {}
        (GgmlType::Q4_0 | GgmlType::IQ4_NL, _) if is_repacked => {}
        _ => return false,
    }
    let Some(a) = quant::cast_blocks::<BlockQ8_0>(act) else {
        return false;
    };
    if a.len() > MAX_BLOCKS {
        return false;
    }
    let msg = "weights checked by the caller";
    // SAFETY (all): the CPU features and the layout are this function's contract; `lanes`
    // is called with `b` below the row length, an index of `a`.
    unsafe {
        match ty {
            GgmlType::Q4_0 => {
                let w: &[BlockQ4_0] = quant::cast_blocks(w).expect(msg);
                let quants = |x: &BlockQ4_0| bytes_from_nibbles_32(&x.qs);
                let repacked_row = match is_repacked {
                    true => Some(super::q4_0::vec_dot_repacked as RowFn<BlockQ4_0>),
                    false => None,
                };
                offset_matvec(w, a, 8, out, quants, repacked_row)
            }
            GgmlType::Q5_0 => {
                let w: &[BlockQ5_0] = quant::cast_blocks(w).expect(msg);
                let k10 = _mm256_set1_epi8(0x10);
                let quants = |x: &BlockQ5_0| {
                    let hi = _mm256_and_si256(bytes_from_bits_32(x.qh), k10);
                    _mm256_or_si256(bytes_from_nibbles_32(&x.qs), hi)
                };
                offset_matvec(w, a, 16, out, quants, None)
            }
            GgmlType::IQ4_NL => {
                let w: &[BlockIQ4NL] = quant::cast_blocks(w).expect(msg);
                let mut d = [const { MaybeUninit::uninit() }; MAX_BLOCKS];
                let ad = act_scales(a, &mut d);
                let row = |r: &[BlockIQ4NL]| super::iq4_nl::vec_dot_repacked(r, a);
                match is_repacked {
                    true => {
                        let table = _mm256_broadcastsi128_si256(_mm_loadu_si128(
                            quant::iq4_nl::KVALUES.as_ptr() as *const __m128i,
                        ));
                        let sums = |x: [__m256i; 4], b: usize| {
                            let u = lookup4(table, nibbles4(x));
                            iq4_nl_in_lanes(u, a.get_unchecked(b).qs.as_ptr())
                        };
                        repacked_in_lanes(w, ad, out, sums, row)
                    }
                    false => {
                        // |y| once per product, for the `vec_dot` order's sign trick.
                        let mut abs = [const { MaybeUninit::uninit() }; MAX_BLOCKS];
                        let ay = super::iq4_nl::abs_act(a, &mut abs);
                        let lanes = |x: &BlockIQ4NL, b: usize| {
                            super::iq4_nl::lanes(x, &a.get_unchecked(b).qs, ay.get_unchecked(b))
                        };
                        rows::<_, true>(w, a.len(), ad, out, lanes, true)
                    }
                }
            }
            _ => {
                let w: &[BlockQ8_0] = quant::cast_blocks(w).expect(msg);
                let mut d = [const { MaybeUninit::uninit() }; MAX_BLOCKS];
                let ad = act_scales(a, &mut d);
                let lanes = |x: &BlockQ8_0, b: usize| {
                    mul_sum_i8_pairs(load32(&x.qs), load32(&a.get_unchecked(b).qs))
                };
                rows::<_, false>(w, a.len(), ad, out, lanes, false)
            }
        }
    }
    true
}

/// A one-row kernel of the repacked order, for the last `rows % 8` ([`repacked_in_lanes`]).
type RowFn<B> = unsafe fn(&[B], &[BlockQ8_0]) -> f32;

/// The unsigned-quants products (Q4_0, Q5_0): `quants(block)` gives the 32 quants `q` in value
/// order (values `q - offset`). Rows two at a time in the `vec_dot` order, or, with
/// `repacked_row` (the one-row kernel for the last `rows % 8`), eight at a time in the
/// repacked order.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` is `out.len()` rows of `a.len()` blocks,
/// `a.len() <= MAX_BLOCKS`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn offset_matvec<B: ScaleFirst>(
    w: &[B],
    a: &[BlockQ8_0],
    offset: i8,
    out: &mut [f32],
    quants: impl Fn(&B) -> __m256i + Copy,
    repacked_row: Option<RowFn<B>>,
) {
    let nb = a.len();
    assert!(nb <= MAX_BLOCKS);
    let mut bias = [const { MaybeUninit::<__m256i>::uninit() }; MAX_BLOCKS];
    let mut d = [const { MaybeUninit::uninit() }; MAX_BLOCKS];
    // SAFETY: the CPU features are this function's contract; the first `nb` entries of
    // `bias` are written before the slice over them is made; `b < nb` in `lanes`.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let off = _mm256_set1_epi8(offset);
        for (y, o) in a.iter().zip(&mut bias) {
            // offset * (y[4l] + .. + y[4l + 3]), negated (pairs at most 2 * 16 * 127).
            let s = _mm256_madd_epi16(_mm256_maddubs_epi16(off, load32(&y.qs)), ones);
            o.write(_mm256_sub_epi32(_mm256_setzero_si256(), s));
        }
        let bias = std::slice::from_raw_parts(bias.as_ptr() as *const __m256i, nb);
        let ad = act_scales(a, &mut d);
        let lanes = |x: &B, b: usize| {
            let p = _mm256_maddubs_epi16(quants(x), load32(&a.get_unchecked(b).qs));
            _mm256_add_epi32(_mm256_madd_epi16(p, ones), *bias.get_unchecked(b))
        };
        match repacked_row {
            None => rows::<_, false>(w, nb, ad, out, lanes, true),
            Some(row) => {
                // Q4_0 (the only format here with a repacked order), rows in lanes.
                let mut bias_sum = [0i32; MAX_BLOCKS];
                for (s, v) in bias_sum.iter_mut().zip(bias) {
                    *s = super::hsum_i32(*v);
                }
                let sums = |x: [__m256i; 4], b: usize| {
                    let u = nibbles4(x);
                    q4_0_in_lanes(u, a.get_unchecked(b), *bias_sum.get_unchecked(b))
                };
                repacked_in_lanes(w, ad, out, sums, |r| row(r, a))
            }
        }
    }
}

/// The activation blocks' scales as f32, in `d`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `a.len() <= MAX_BLOCKS`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn act_scales<'d>(a: &[BlockQ8_0], d: &'d mut [MaybeUninit<f32>; MAX_BLOCKS]) -> &'d [f32] {
    // SAFETY: the CPU features are this function's contract; the first `a.len()` entries are
    // written before the slice over them is made.
    unsafe {
        for (y, d) in a.iter().zip(d.iter_mut()) {
            d.write(f16_to_f32(y.d));
        }
        std::slice::from_raw_parts(d.as_ptr() as *const f32, a.len())
    }
}

/// `out[r] = row_r(w) . a` four rows at a time if `quads` (the last `rows % 4` two, then one),
/// else two (then one). Four suit the formats whose unpacking bounds them (the rows share
/// the activation's loads and the loop: Q4_0 with AVX-VNNI 26 -> 31 GB/s in cache), two the
/// memory-bound Q8_0 (from memory: 37-42 GB/s with two, 32-35 with four). `lanes(block, b)` is
/// the eight exact i32 lanes of block `b` of a row times the activation's block `b`, `ad` the
/// activation's scales. `PAIRED` picks the float order: `false` one accumulator per row
/// (Q4_0, Q5_0, Q8_0), `true` that of IQ4_NL's `vec_dot` (blocks in pairs into two
/// accumulators, see [`dot_rows`]).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` is `out.len()` rows of `nb <= MAX_BLOCKS`
/// blocks and `ad.len() == nb`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn rows<B: ScaleFirst, const PAIRED: bool>(
    w: &[B],
    nb: usize,
    ad: &[f32],
    out: &mut [f32],
    lanes: impl Fn(&B, usize) -> __m256i + Copy,
    quads: bool,
) {
    assert!(w.len() == out.len() * nb && ad.len() == nb && nb <= MAX_BLOCKS);
    let quad_rows = if quads { out.len() / 4 * 4 } else { 0 };
    let mut quads = out[..quad_rows].chunks_exact_mut(4);
    let mut rq = w[..quad_rows * nb].chunks_exact(4 * nb);
    // SAFETY (all calls): the CPU features are this function's contract; every row has `nb`
    // blocks (asserted above).
    for (o, r) in (&mut quads).zip(&mut rq) {
        let (r0, r1) = r.split_at(nb);
        let (r1, r2) = r1.split_at(nb);
        let (r2, r3) = r2.split_at(nb);
        o.copy_from_slice(&unsafe { dot_rows::<B, 4, PAIRED>([r0, r1, r2, r3], ad, lanes) });
    }
    let (out, w) = (&mut out[quad_rows..], &w[quad_rows * nb..]);
    let mut pairs = out.chunks_exact_mut(2);
    let mut rr = w.chunks_exact(2 * nb);
    for (o, r) in (&mut pairs).zip(&mut rr) {
        let (r0, r1) = r.split_at(nb);
        o.copy_from_slice(&unsafe { dot_rows::<B, 2, PAIRED>([r0, r1], ad, lanes) });
    }
    if let [o] = pairs.into_remainder() {
        *o = unsafe { dot_rows::<B, 1, PAIRED>([rr.remainder()], ad, lanes) }[0];
    }
}

/// `R` adjacent rows (`R` = 1, 2 or 4): each row's own FMA chains, its operations those of the
/// one-row `vec_dot`: with one accumulator (`!PAIRED`) `acc = fma(d_w * d_a, f32(lanes), acc)`
/// per block, then `hsum_float_8(acc)`; `PAIRED` (ggml's AVX2 `ggml_vec_dot_iq4_nl_q8_0`)
/// the blocks in pairs into two accumulators, `acc_k = fma(d_w * d_a, f32(lanes), acc_k)`,
/// `hsum_float_8(acc_0 + acc_1)`, and a last unpaired block as `sumf = fma(d_w * d_a, sumi,
/// sumf)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_rows<B: ScaleFirst, const R: usize, const PAIRED: bool>(
    w: [&[B]; R],
    ad: &[f32],
    lanes: impl Fn(&B, usize) -> __m256i,
) -> [f32; R] {
    let nb = ad.len();
    assert!(w.iter().all(|r| r.len() == nb) && nb <= MAX_BLOCKS);
    let mut dd = [[const { MaybeUninit::<f32>::uninit() }; MAX_BLOCKS]; R];
    // SAFETY: the CPU features are this function's contract; `b < nb` indexes every slice
    // (asserted above); `scale_products` writes the first `nb` entries of each `dd` row
    // before they are read; a prefetch never faults (its address is formed with
    // `wrapping_add`).
    unsafe {
        for (row, dd) in w.iter().zip(&mut dd) {
            scale_products(row, ad, &mut dd[..nb]);
        }
        let d = |r: usize, b: usize| &*(dd[r].as_ptr().add(b) as *const f32);
        // Prefetches sweep the next rows' bytes as one stream, PREFETCH_AHEAD bytes ahead of
        // where their reads begin: per block, one prefetch per cache line of the R blocks.
        let step = R * std::mem::size_of::<B>();
        let mut pf = (w[0].as_ptr() as *const i8).wrapping_add(nb * step + PREFETCH_AHEAD);
        let (mut acc0, mut acc1) = ([_mm256_setzero_ps(); R], [_mm256_setzero_ps(); R]);
        let mut block = |b: usize, acc: &mut [__m256; R]| {
            prefetch_lines(pf, step);
            pf = pf.wrapping_add(step);
            for r in 0..R {
                let l = lanes(w[r].get_unchecked(b), b);
                let dv = _mm256_broadcast_ss(d(r, b));
                acc[r] = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(l), acc[r]);
            }
        };
        // Paired: block `b` into accumulator `b % 2`, the last unpaired one apart.
        let paired = if PAIRED { nb / 2 * 2 } else { nb };
        if PAIRED {
            for b in (0..paired).step_by(2) {
                block(b, &mut acc0);
                block(b + 1, &mut acc1);
            }
        } else {
            for b in 0..nb {
                block(b, &mut acc0);
            }
        }
        std::array::from_fn(|r| {
            if !PAIRED {
                return hsum_ps(acc0[r]);
            }
            let mut sumf = hsum_ps(_mm256_add_ps(acc0[r], acc1[r]));
            if paired < nb {
                let sumi = hsum_i32(lanes(w[r].get_unchecked(paired), paired));
                sumf = d(r, paired).mul_add(sumi as f32, sumf);
            }
            sumf
        })
    }
}

/// `out[b] = f32(scale(w[b])) * ad[b]`, eight at a time (eight 4-byte loads gathered into one
/// register, [`first_dwords_8`], one `vcvtph2ps`, one `vmulps`): the same f32 products as one
/// at a time (the conversion is exact, the product one rounding either way).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn scale_products<B: ScaleFirst>(
    w: &[B],
    ad: &[f32],
    out: &mut [MaybeUninit<f32>],
) {
    let n = w.len();
    assert!(ad.len() == n && out.len() == n);
    let n8 = n / 8 * 8;
    // SAFETY: the CPU features are this function's contract; every index is below `n`, the
    // length of all three slices; the store writes 8 f32 at `b + 8 <= n8 <= n` of `out`.
    unsafe {
        for b in (0..n8).step_by(8) {
            let dw = block_scales_8::<B>(w.as_ptr().add(b) as *const u8);
            let v = _mm256_mul_ps(dw, _mm256_loadu_ps(ad.as_ptr().add(b)));
            _mm256_storeu_ps(out.as_mut_ptr().add(b) as *mut f32, v);
        }
        for b in n8..n {
            out.get_unchecked_mut(b)
                .write(f16_to_f32(scale_of(w.get_unchecked(b))) * *ad.get_unchecked(b));
        }
    }
}

/// The f16 scales (first two bytes) of the eight [`ScaleFirst`] blocks at `p`, as f32. For
/// the 18- and 22-byte blocks (Q4_0, IQ4_NL; Q5_0) from consecutive 32-byte loads, each
/// holding two or one of the scales at a fixed position, merged by word blends: four loads
/// (five) for the eight instead of eight (a Zen 4 core has two load slots a cycle, and these
/// products spend their time waiting for them, see [`first_dwords_8`]); other sizes through
/// [`first_dwords_8`].
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `p` is valid for reading eight blocks of `B`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn block_scales_8<B: ScaleFirst>(p: *const u8) -> __m256 {
    // SAFETY: the CPU features are this function's contract; the loads read bytes 0..128
    // (18-byte blocks: of 144) or 0..160 (22-byte blocks: of 176) at `p`, or what
    // `first_dwords_8` reads of eight blocks.
    unsafe {
        let ld = |k: usize| _mm256_loadu_si256(p.add(32 * k) as *const __m256i);
        match std::mem::size_of::<B>() {
            18 => {
                // Scale 2k is word 2k of load k (its low 128 bits), scale 2k + 1 word 2k + 1
                // of its high 128 bits (byte 36k + 18 = 32k + 16 + 4k + 2).
                let v = _mm256_blend_epi32::<0x22>(ld(0), ld(1));
                let v = _mm256_blend_epi32::<0x44>(v, ld(2));
                let v = _mm256_blend_epi32::<0x88>(v, ld(3));
                let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                _mm256_cvtph_ps(_mm_blend_epi16::<0xAA>(lo, hi))
            }
            22 => {
                // Scale j at byte 22j: words (low half / high half) 0 / 3 of load 0, 6 / - of
                // load 1, 1 / 4 of load 2, 7 / - of load 3, 2 / 5 of load 4.
                let v = _mm256_blend_epi16::<0x40>(ld(0), ld(1));
                let v = _mm256_blend_epi16::<0x12>(v, ld(2));
                let v = _mm256_blend_epi16::<0x80>(v, ld(3));
                let v = _mm256_blend_epi16::<0x24>(v, ld(4));
                let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                // Words: scales 0, 3, 6, 1, 4, 7, 2, 5 -> 0..8.
                let m = _mm_blend_epi16::<0x38>(lo, hi);
                let order = _mm_setr_epi8(0, 1, 6, 7, 12, 13, 2, 3, 8, 9, 14, 15, 4, 5, 10, 11);
                _mm256_cvtph_ps(_mm_shuffle_epi8(m, order))
            }
            size => f16_halves_8(first_dwords_8(p, size)).0,
        }
    }
}

/// The first four bytes of each of the eight items at `p` (`stride` bytes apart: the blocks
/// of a row, or block `b` of eight rows), lane `j` from item `j`: eight 4-byte loads inserted
/// into two halves. (Before, eight overlapping 32-byte loads blended together, each placed so
/// that its wanted dword fell in its lane: fewer instructions, but a load that crosses a cache
/// line costs a Zen 4 core two of its two load slots a cycle, which a 32-byte load at an
/// arbitrary offset does half the time, and one that touches a line not yet read waits for
/// it. Timed on the Zen 4 EPYC, the old and the new binary alternated, medians of three or
/// five: matrices in L2 +0-5 %; from memory Q4_K 14.0 -> 21.2 GB/s, Q5_K 11.5 -> 19.5, Q6_K
/// 21.0 -> 24.6, IQ4_XS 12.8 -> 15.2 (AVX2 Q6_K 12.8 -> 24.6), Q4_0 15.6 -> 16.4, these
/// K-quant rows' scale passes being the first to touch each row.)
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `p` is valid for reading `7 * stride + 4` bytes
/// (e.g. eight whole blocks of `stride >= 4` bytes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn first_dwords_8(p: *const u8, stride: usize) -> __m256i {
    // SAFETY: the CPU features are this function's contract; load `j` (< 8) reads the four
    // bytes at `j * stride`, inside what the caller vouches for.
    unsafe {
        let ld = |j: usize| std::ptr::read_unaligned(p.add(j * stride) as *const i32);
        let half = |j: usize| _mm_setr_epi32(ld(j), ld(j + 1), ld(j + 2), ld(j + 3));
        _mm256_set_m128i(half(4), half(0))
    }
}

/// The low and high 16-bit halves of the eight dwords of `v`, each as eight f32 (exact
/// conversions of the f16 values).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn f16_halves_8(v: __m256i) -> (__m256, __m256) {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        // Per 128-bit lane: the four low halves, then the four high halves ...
        let shuf = _mm256_setr_epi8(
            0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, //
            0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
        );
        let t = _mm256_shuffle_epi8(v, shuf);
        // ... then all eight low halves, all eight high halves.
        let t = _mm256_permute4x64_epi64::<0b11_01_10_00>(t);
        (
            _mm256_cvtph_ps(_mm256_castsi256_si128(t)),
            _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(t)),
        )
    }
}

/// `out[r] = row_r(w) . a` in ggml's repacked GEMV order of Q4_0 and IQ4_NL (per block the
/// exact integer sum of the row, `acc = fma(sumi, d_w * d_a, acc)`), eight rows at a time
/// with row `r` in lane `r` from the start: the eight rows' 16 quant bytes of a block are
/// transposed to dwords ([`rows8_dwords`]), so that transposed dword `k` holds bytes
/// `4k .. 4k + 4` of every row, whose low nibbles are values `4k ..` and high nibbles values
/// `16 + 4k ..`; `sums(x, b)` gives from the four transposed dwords of block `b` the rows'
/// exact block sums, one per lane (the instruction set's integer work against activation
/// block `b`). The sums are exact integers, so they equal the one-row kernels' lanes added
/// across: the same bits. `ad` are the activation's scales; rows beyond the last multiple of eight go
/// through `row`.
///
/// Zen 4, matrices in L2, against the kernel it replaced (each row's block lanes as in the
/// `vec_dot` order, eight rows' lanes added across by a tree of six `hadd`s, two permutes and
/// an add): AVX512-VNNI Q4_0 24.4 -> 31.2 GB/s, IQ4_NL 22.4 -> 26.7; AVX2 Q4_0 18.9 -> 24.2
/// ([`q4_0_in_lanes`]), IQ4_NL 14.5 -> 17.2 ([`iq4_nl_in_lanes`]).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C (and what `sums` uses).
///
/// # Panics
/// If `w` is not `out.len()` rows of `ad.len()` blocks, or `B` is not an 18-byte block with
/// its 16 quant bytes at byte 2 (Q4_0, IQ4_NL).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn repacked_in_lanes<B: ScaleFirst>(
    w: &[B],
    ad: &[f32],
    out: &mut [f32],
    sums: impl Fn([__m256i; 4], usize) -> __m256i + Copy,
    row: impl Fn(&[B]) -> f32,
) {
    let nb = ad.len();
    let size = std::mem::size_of::<B>();
    assert!(size == 18 && w.len() == out.len() * nb);
    let rb = nb * size;
    let mut groups = out.chunks_exact_mut(8);
    let mut rows = w.chunks_exact(8 * nb);
    for (o, g) in (&mut groups).zip(&mut rows) {
        // SAFETY: the CPU features are this function's contract; `g` is eight rows of `nb`
        // blocks of 18 bytes (asserted above), so for `b < nb` and `r < 8` the 16 bytes at
        // `p + r * rb + b * 18 + 2` lie in block `b` of row `r`; `first_dwords_8` at
        // `p + b * 18` reads `7 * rb + 4` bytes (`7 * rb + b * 18 + 4 <= 8 * rb`), within the
        // eight rows; `b < nb` indexes `ad`; a prefetch never faults.
        unsafe {
            let p = g.as_ptr() as *const u8;
            let step = 8 * size;
            let mut pf = (p as *const i8).wrapping_add(8 * rb + PREFETCH_AHEAD);
            let mut acc = _mm256_setzero_ps();
            for b in 0..nb {
                prefetch_lines(pf, step);
                pf = pf.wrapping_add(step);
                let sumi = _mm256_cvtepi32_ps(sums(rows8_dwords(p.add(b * size + 2), rb), b));
                // The eight rows' f16 scales of block `b`, one per lane.
                let dw = f16_halves_8(first_dwords_8(p.add(b * size), rb)).0;
                let d = _mm256_mul_ps(dw, _mm256_set1_ps(*ad.get_unchecked(b)));
                acc = _mm256_fmadd_ps(sumi, d, acc);
            }
            _mm256_storeu_ps(o.as_mut_ptr(), acc);
        }
    }
    let rest = rows.remainder().chunks_exact(nb.max(1));
    for (o, r) in groups.into_remainder().iter_mut().zip(rest) {
        *o = row(r);
    }
}

/// Four tokens' [`repacked_in_lanes`] over a prefill weight tile (`w`: rows of `nb` blocks;
/// `ad[t]` token `t`'s activation scales): per block of eight rows the transposed quant
/// dwords, `unpack`'s weights from them and the rows' scales are formed once for the four
/// tokens, and `sums(&u, t, b)` gives token `t`'s exact block sums from them, one row per
/// lane; then each token's float step as in the one-token product, so `put(r, [row r . a_0,
/// .., row r . a_3])` gets the bits of four calls of [`repacked_in_lanes`]. The last
/// `rows % 8` rows go through `row(r)` (the one-row kernel for the four tokens).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C (and what `unpack` and `sums` use).
///
/// # Panics
/// If `w` is not whole rows of `nb` blocks, any `ad[t]` is not `nb` long, or `B` is not an
/// 18-byte block with its 16 quant bytes at byte 2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn repacked_in_lanes_x4<B: ScaleFirst, U>(
    w: &[B],
    nb: usize,
    ad: [&[f32]; 4],
    put: &mut crate::kernels::Out4,
    unpack: impl Fn([__m256i; 4]) -> U,
    sums: impl Fn(&U, usize, usize) -> __m256i,
    row: impl Fn(&[B]) -> [f32; 4],
) {
    let size = std::mem::size_of::<B>();
    assert!(size == 18 && nb > 0 && w.len().is_multiple_of(nb) && ad.iter().all(|d| d.len() == nb));
    let rb = nb * size;
    let mut groups = w.chunks_exact(8 * nb);
    for (grp, g) in (&mut groups).enumerate() {
        // SAFETY: the CPU features are this function's contract; `g` is eight rows of `nb`
        // blocks of 18 bytes, read as in `repacked_in_lanes`; `b < nb` indexes every `ad[t]`.
        let out = unsafe {
            let p = g.as_ptr() as *const u8;
            let mut acc = [_mm256_setzero_ps(); 4];
            for b in 0..nb {
                let u = unpack(rows8_dwords(p.add(b * size + 2), rb));
                let dw = f16_halves_8(first_dwords_8(p.add(b * size), rb)).0;
                for (t, acc) in acc.iter_mut().enumerate() {
                    let sumi = _mm256_cvtepi32_ps(sums(&u, t, b));
                    let d = _mm256_mul_ps(dw, _mm256_set1_ps(*ad[t].get_unchecked(b)));
                    *acc = _mm256_fmadd_ps(sumi, d, *acc);
                }
            }
            acc.map(|v| {
                let mut o = [0.0f32; 8];
                _mm256_storeu_ps(o.as_mut_ptr(), v);
                o
            })
        };
        let rows: [[f32; 4]; 8] = std::array::from_fn(|r| std::array::from_fn(|t| out[t][r]));
        for (r, v) in rows.into_iter().enumerate() {
            put.put(8 * grp + r, v);
        }
    }
    let done = w.len() / nb / 8 * 8;
    for (r, rr) in groups.remainder().chunks_exact(nb).enumerate() {
        put.put(done + r, row(rr));
    }
}

/// The AVX2 four-token tile of Q4_0 or IQ4_NL in the repacked GEMM order
/// ([`repacked_in_lanes_x4`] with the block sums of [`q4_0_in_lanes`] or
/// [`iq4_nl_in_lanes`], the nibbles of a block split once for the four tokens). `false`
/// (nothing written) for another type.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` is whole rows of `a[t].len()` blocks of `ty`.
///
/// # Panics
/// If the rows of `a` differ in length or are longer than [`MAX_BLOCKS`] (for those:
/// [`repacked_rows_x4`]).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn repacked_tile_x4(
    ty: GgmlType,
    w: &[u8],
    a: [&[BlockQ8_0]; 4],
    put: &mut crate::kernels::Out4,
) -> bool {
    let nb = a[0].len();
    let mut act = Act4::new();
    // SAFETY: the CPU features are this function's contract.
    // (Q4_0's quants read with offset 8; IQ4_NL's sign trick needs no bias.)
    let offset = if ty == GgmlType::Q4_0 { 8 } else { 0 };
    let (ad, bias) = unsafe { act.prepare(a, offset) };
    let msg = "weights checked by the caller";
    // SAFETY (both): the CPU features are this function's contract; `sums` is called with
    // `t < 4` and `b < nb`, indexes of `a` and of each `a[t]`.
    unsafe {
        let nibbles = |x: [__m256i; 4]| nibbles4(x);
        match ty {
            GgmlType::Q4_0 => {
                let w: &[BlockQ4_0] = quant::cast_blocks(w).expect(msg);
                let sums = |u: &[[__m256i; 2]; 4], t: usize, b: usize| {
                    let y = a.get_unchecked(t).get_unchecked(b);
                    q4_0_in_lanes(*u, y, *bias.get_unchecked(t).get_unchecked(b))
                };
                let row = |r: &[BlockQ4_0]| a.map(|a| super::q4_0::vec_dot_repacked(r, a));
                repacked_in_lanes_x4(w, nb, ad, put, nibbles, sums, row);
            }
            GgmlType::IQ4_NL => {
                let w: &[BlockIQ4NL] = quant::cast_blocks(w).expect(msg);
                let table = _mm256_broadcastsi128_si256(_mm_loadu_si128(
                    quant::iq4_nl::KVALUES.as_ptr() as *const __m128i,
                ));
                let values = |x: [__m256i; 4]| lookup4(table, nibbles4(x));
                let sums = |u: &[[__m256i; 2]; 4], t: usize, b: usize| {
                    iq4_nl_in_lanes(*u, a.get_unchecked(t).get_unchecked(b).qs.as_ptr())
                };
                let row = |r: &[BlockIQ4NL]| a.map(|a| super::iq4_nl::vec_dot_repacked(r, a));
                repacked_in_lanes_x4(w, nb, ad, put, values, sums, row);
            }
            _ => return false,
        }
    }
    true
}

/// Four tokens' activation rows prepared for the four-token repacked tiles: per token and
/// block the scale as f32 (`d`) and the bias `-offset * sum(y)` of weights read with that
/// offset (`bias`; 0, not computed, for offset 0), in stack storage of which only the first
/// `nb` entries a token are written (zeroing the whole of it was 5 % of a Q4_0 model's
/// prefill).
pub(crate) struct Act4 {
    d: [[MaybeUninit<f32>; MAX_BLOCKS]; 4],
    bias: [[MaybeUninit<i32>; MAX_BLOCKS]; 4],
}

impl Act4 {
    /// Uninitialized storage.
    pub(crate) fn new() -> Act4 {
        Act4 {
            d: [[const { MaybeUninit::uninit() }; MAX_BLOCKS]; 4],
            bias: [[const { MaybeUninit::uninit() }; MAX_BLOCKS]; 4],
        }
    }

    /// Fills the entries of `a` (four rows of `nb <= MAX_BLOCKS` blocks) and returns them (in
    /// vector instructions: with the scalar sum of the quants this was 15 % of a Q4_0
    /// model's prefill).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    ///
    /// # Panics
    /// If a row is longer than [`MAX_BLOCKS`] or the rows differ in length.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn prepare(
        &mut self,
        a: [&[BlockQ8_0]; 4],
        offset: i32,
    ) -> ([&[f32]; 4], [&[i32]; 4]) {
        let nb = a[0].len();
        assert!(nb <= MAX_BLOCKS && a.iter().all(|a| a.len() == nb));
        // SAFETY: the CPU features are this function's contract; the loads read the blocks.
        unsafe {
            let (ones8, ones16) = (_mm256_set1_epi8(1), _mm256_set1_epi16(1));
            for ((d, bias), a) in self.d.iter_mut().zip(&mut self.bias).zip(a) {
                for ((d, bias), y) in d.iter_mut().zip(bias.iter_mut()).zip(a) {
                    d.write(f16_to_f32(y.d));
                    // sum(y): pairs by `maddubs` with ones (at most 2 * 128), then `madd`.
                    if offset == 0 {
                        bias.write(0);
                        continue;
                    }
                    let pairs = _mm256_maddubs_epi16(ones8, load32(&y.qs));
                    let sum = super::hsum_i32(_mm256_madd_epi16(pairs, ones16));
                    bias.write(-offset * sum);
                }
            }
        }
        // SAFETY: the first `nb` entries of each row were written above.
        unsafe {
            (
                std::array::from_fn(|t| {
                    std::slice::from_raw_parts(self.d[t].as_ptr() as *const f32, nb)
                }),
                std::array::from_fn(|t| {
                    std::slice::from_raw_parts(self.bias[t].as_ptr() as *const i32, nb)
                }),
            )
        }
    }
}

/// `put(r, [row r . a_0, .., row r . a_3])` by the AVX2 one-row kernels of Q4_0 or IQ4_NL
/// in the repacked order (for rows too long for [`repacked_tile_x4`]'s stack buffers);
/// `false` (nothing written) for another type.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` is whole rows of `a[t].len()` blocks of `ty`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn repacked_rows_x4(
    ty: GgmlType,
    w: &[u8],
    a: [&[BlockQ8_0]; 4],
    put: &mut crate::kernels::Out4,
) -> bool {
    let nb = a[0].len().max(1);
    let msg = "weights checked by the caller";
    // SAFETY (both): the CPU features are this function's contract.
    match ty {
        GgmlType::Q4_0 => {
            let w: &[BlockQ4_0] = quant::cast_blocks(w).expect(msg);
            for (r, row) in w.chunks_exact(nb).enumerate() {
                put.put(
                    r,
                    a.map(|a| unsafe { super::q4_0::vec_dot_repacked(row, a) }),
                );
            }
        }
        GgmlType::IQ4_NL => {
            let w: &[BlockIQ4NL] = quant::cast_blocks(w).expect(msg);
            for (r, row) in w.chunks_exact(nb).enumerate() {
                put.put(
                    r,
                    a.map(|a| unsafe { super::iq4_nl::vec_dot_repacked(row, a) }),
                );
            }
        }
        _ => return false,
    }
    true
}

/// The low and the high nibbles of every byte of four vectors, each as a byte in place.
/// (Written out: through `[T; 4]::map` with a closure, which has no target features to be
/// inlined with, each instruction became a call and the product ran twenty times slower.)
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn nibbles4(x: [__m256i; 4]) -> [[__m256i; 2]; 4] {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let m4 = _mm256_set1_epi8(0x0F);
        let n = |x: __m256i| {
            [
                _mm256_and_si256(x, m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(x), m4),
            ]
        };
        [n(x[0]), n(x[1]), n(x[2]), n(x[3])]
    }
}

/// The 16-entry byte table `table` (in both halves) looked up at every byte of `u`.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn lookup4(table: __m256i, u: [[__m256i; 2]; 4]) -> [[__m256i; 2]; 4] {
    // SAFETY: the CPU features are this function's contract (no memory access).
    unsafe {
        let l = |[lo, hi]: [__m256i; 2]| {
            [
                _mm256_shuffle_epi8(table, lo),
                _mm256_shuffle_epi8(table, hi),
            ]
        };
        [l(u[0]), l(u[1]), l(u[2]), l(u[3])]
    }
}

/// [`repacked_in_lanes`]' block sums of Q4_0 with AVX2, from the nibbles (`q`, 0..=15) of
/// the transposed dwords `k` (`u[k]`: low and high): each times four activation quants
/// broadcast (values `4k ..` and `16 + 4k ..` of block `y`), by `maddubs`, the eight i16
/// pair sums added as i16 (each at most `2 * 15 * 128`: eight stay below 2^15), one `madd`
/// with ones to i32 and the block's bias `-8 * sum(y)` added.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_in_lanes(u: [[__m256i; 2]; 4], y: &BlockQ8_0, bias: i32) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the reads are inside `y.qs`.
    unsafe {
        let q = y.qs.as_ptr();
        let bcast =
            |off: usize| _mm256_set1_epi32(std::ptr::read_unaligned(q.add(off) as *const i32));
        let mut s = _mm256_setzero_si256();
        for (k, [lo, hi]) in u.into_iter().enumerate() {
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lo, bcast(4 * k)));
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi, bcast(16 + 4 * k)));
        }
        _mm256_add_epi32(
            _mm256_madd_epi16(s, _mm256_set1_epi16(1)),
            _mm256_set1_epi32(bias),
        )
    }
}

/// [`repacked_in_lanes`]' block sums of IQ4_NL with AVX2, from the table values of the
/// transposed dwords' low and high nibbles (`u[k]`): each times four activation quants
/// broadcast (at `y + 4k` and `y + 16 + 4k`) as `maddubs(|y|, sign(w, y))` (pairs at most
/// `2 * 127 * 127`, exact), each to i32 by a `madd` with ones.
///
/// # Safety
/// The CPU must support AVX2; `y` (a block's quants) must be readable for 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_nl_in_lanes(u: [[__m256i; 2]; 4], y: *const i8) -> __m256i {
    // SAFETY: the CPU features are this function's contract; the reads are the caller's.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let bcast =
            |off: usize| _mm256_set1_epi32(std::ptr::read_unaligned(y.add(off) as *const i32));
        let mut s = _mm256_setzero_si256();
        for (k, [lo, hi]) in u.into_iter().enumerate() {
            for (w, off) in [(lo, 4 * k), (hi, 16 + 4 * k)] {
                let y = bcast(off);
                let p = _mm256_maddubs_epi16(_mm256_abs_epi8(y), _mm256_sign_epi8(w, y));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
            }
        }
        s
    }
}

/// The 16 bytes at `p + r * stride` of eight rows `r`, transposed to dwords: `x[k]` holds
/// bytes `4k .. 4k + 4` of row `r` in lane `r` (rows 0..4 in the low 128-bit half, 4..8 in
/// the high half): two 128-bit loads to a vector, then a 4 x 4 transpose of dwords per half,
/// eight shuffles. For the decode products that keep rows in lanes (ggml's repacked GEMV
/// orders, see `avxvnni::matvec::repacked_rows_in_lanes` and [`super::q4_k::gemv_8_rows`]).
///
/// # Safety
/// The CPU must support AVX2; the 16 bytes at `p + r * stride` must be readable for `r < 8`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn rows8_dwords(p: *const u8, stride: usize) -> [__m256i; 4] {
    // SAFETY: the CPU features are this function's contract; the eight loads read what the
    // caller vouches for.
    unsafe {
        let q = |r: usize| p.add(r * stride) as *const __m128i;
        let r0 = _mm256_loadu2_m128i(q(4), q(0));
        let r1 = _mm256_loadu2_m128i(q(5), q(1));
        let r2 = _mm256_loadu2_m128i(q(6), q(2));
        let r3 = _mm256_loadu2_m128i(q(7), q(3));
        let t0 = _mm256_unpacklo_epi32(r0, r1);
        let t1 = _mm256_unpackhi_epi32(r0, r1);
        let t2 = _mm256_unpacklo_epi32(r2, r3);
        let t3 = _mm256_unpackhi_epi32(r2, r3);
        [
            _mm256_unpacklo_epi64(t0, t2),
            _mm256_unpackhi_epi64(t0, t2),
            _mm256_unpacklo_epi64(t1, t3),
            _mm256_unpackhi_epi64(t1, t3),
        ]
    }
}

/// One prefetch per 64-byte line of the `bytes` bytes at `p` (the next rows' bytes a decode
/// product will read; see [`dot_rows`]), into L2 (see [`PREFETCH_AHEAD`] for why not L1). A
/// prefetch never faults, and the addresses are formed
/// with `wrapping_add`: any `p` is allowed.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn prefetch_lines(p: *const i8, bytes: usize) {
    for l in 0..bytes.div_ceil(64) {
        // SAFETY: a prefetch is a hint that never faults, at any address.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(64 * l)) };
    }
}
