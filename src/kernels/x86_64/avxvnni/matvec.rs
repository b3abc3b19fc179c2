//! The decode matrix-vector products of the formats whose quants can be read as unsigned
//! bytes with an offset — Q4_0 (`q - 8`), Q5_0 (`q - 16`) and Q8_0 (`(w ^ 0x80) - 128`) — in
//! ggml's `vec_dot` order, bit for bit, with the activation prepared once per product.
//!
//! Per block of a row: `lanes = vpdpbusd(-offset * sum4(y), q, y)`, the exact sums of
//! `(q - offset) * y` that the AVX2 kernels get with `sign`, `sign`, `maddubs` and `madd`
//! (`vpdpbusd` does not saturate; a lane is at most `4 * 255 * 127` before the bias); then
//! `acc = fma(d_w * d_a, f32(lanes), acc)`, and `hsum_float_8(acc)` at the end, as there.
//!
//! Three things make it faster than a loop of one-row dot products, none of which changes an
//! operation of a row's float chain:
//! - the activation's bias `-offset * sum4(y)` and its scale are computed once per product
//!   ([`prepare`]), not once per row;
//! - a row's scale products `d_w * d_a` are computed eight blocks at a time (`vcvtph2ps` of
//!   eight f16 scales, one `vmulps`: the same f32 products) before its loop, which then
//!   broadcasts each from memory instead of converting and multiplying per block;
//! - rows go four (Q4_0, Q5_0) or two (Q8_0) at a time ([`offset_matvec`]): one row's FMA
//!   chain waits four cycles per block on the previous FMA, and with independent chains the
//!   core keeps up with memory (measured on Gemma 3 270M decode, where the Q8_0 output matrix
//!   is most of the time; four rows stream Q8_0 from memory 10-15 % slower than two).

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::super::avx2::matvec::ScaleFirst;
use super::super::avx2::{f16_to_f32, load32};
use crate::quant::{self, q8_0::BlockQ8_0, DotOrder, GgmlType};

/// `out[r] = row_r(w) . act` in the float order `order`, if this module has a kernel for
/// (`ty`, `order`) and the row length; `false` (nothing written) otherwise, for the caller's
/// row-by-row loop. The entry point of [`crate::kernels::Kernels::matvec_order`] with this
/// table.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` must be `out.len()` rows of
/// weight blocks of `ty` and `act` the activation blocks (`ty.vec_dot_type()`) of one row.
pub unsafe fn matvec(ty: GgmlType, order: DotOrder, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    use super::{q4_0, q5_0, q8_0};
    let offset = match (ty, order) {
        // SAFETY (all three): the CPU features and the layout are this function's contract.
        (GgmlType::Q4_1, DotOrder::VecDot) => return unsafe { super::q4_1::matvec(w, act, out) },
        (GgmlType::Q5_1, DotOrder::VecDot) => return unsafe { super::q5_1::matvec(w, act, out) },
        (GgmlType::IQ4_NL, _) => return unsafe { super::iq4_nl::matvec(order, w, act, out) },
        (GgmlType::Q3_K, DotOrder::VecDot) => return unsafe { super::q3_k::matvec(w, act, out) },
        (GgmlType::Q2_K, DotOrder::VecDot) => return unsafe { super::q2_k::matvec(w, act, out) },
        (GgmlType::Q4_K, DotOrder::RepackedGemv) => {
            return unsafe { super::q4_k::matvec_gemv(w, act, out) }
        }
        (GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K, _) => {
            return unsafe { super::kmatvec::k_matvec(ty, order, w, act, out) }
        }
        (GgmlType::IQ4_XS, DotOrder::VecDot) => {
            return unsafe { super::iq4_xs::matvec(w, act, out) }
        }
        (GgmlType::Q4_0, DotOrder::VecDot | DotOrder::RepackedGemv | DotOrder::RepackedGemm) => {
            q4_0::OFFSET
        }
        (GgmlType::Q5_0, DotOrder::VecDot) => q5_0::OFFSET,
        (GgmlType::Q8_0, DotOrder::VecDot) => 128,
        _ => return false,
    };
    let Some(ab) = quant::cast_blocks::<BlockQ8_0>(act) else {
        return false;
    };
    if ab.len() > MAX_BLOCKS {
        return false;
    }
    let msg = "weights checked by the caller";
    let mut buf = PrepBuf::default();
    // SAFETY (all four): the CPU features and the layout are this function's contract.
    unsafe {
        let a = prepare(ab, offset, &mut buf);
        match ty {
            GgmlType::Q4_0 if order != DotOrder::VecDot => {
                q4_0::matvec_repacked(quant::cast_blocks(w).expect(msg), &a, ab, out)
            }
            GgmlType::Q4_0 => q4_0::matvec(quant::cast_blocks(w).expect(msg), &a, out),
            GgmlType::Q5_0 => q5_0::matvec(quant::cast_blocks(w).expect(msg), &a, out),
            _ => q8_0::matvec(quant::cast_blocks(w).expect(msg), &a, out),
        }
    }
    true
}

/// The longest activation row [`prepare`] takes, in blocks: that of the two-row loop it
/// feeds (its bias, its scales and a pair of rows' scale products live on the stack).
pub(crate) use super::super::avx2::matvec::MAX_BLOCKS;

/// Storage for one prepared activation row (about 34 KB; on the caller's stack).
pub struct PrepBuf {
    neg_bias: [MaybeUninit<__m256i>; MAX_BLOCKS],
    y: [MaybeUninit<__m256i>; MAX_BLOCKS],
    d: [MaybeUninit<f32>; MAX_BLOCKS],
}

impl Default for PrepBuf {
    /// Uninitialized storage (nothing is read before [`prepare`] writes it).
    #[inline]
    fn default() -> PrepBuf {
        PrepBuf {
            neg_bias: [const { MaybeUninit::uninit() }; MAX_BLOCKS],
            y: [const { MaybeUninit::uninit() }; MAX_BLOCKS],
            d: [const { MaybeUninit::uninit() }; MAX_BLOCKS],
        }
    }
}

/// An activation row made ready for the products of one offset: per block,
/// `-offset * (y[4l] + .. + y[4l + 3])` in lane `l`, its 32 quants copied to an aligned
/// vector (a block's quants start at byte 2 of 34: read in place, half the loads of a product
/// cross a cache line, which costs a Zen 4 core a second load slot; aligned, Q5_0 rows in L2
/// with AVX512-VNNI 20.7 -> 21.3 GB/s, Q8_0 34.8 -> 37.0, medians of five), and its scale
/// as f32.
pub struct Prepared<'a> {
    pub(super) neg_bias: &'a [__m256i],
    pub(super) y: &'a [__m256i],
    pub(super) d: &'a [f32],
}

/// Prepares `a` for quants with offset `offset` (see [`Prepared`]).
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI.
///
/// # Panics
/// If `a` is longer than [`MAX_BLOCKS`].
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub unsafe fn prepare<'a>(a: &[BlockQ8_0], offset: u8, buf: &'a mut PrepBuf) -> Prepared<'a> {
    let n = a.len();
    assert!(n <= MAX_BLOCKS);
    // SAFETY: the CPU features are this function's contract; the loads read borrowed blocks;
    // the first `n` entries of the three arrays are written before the slices over them are
    // made.
    unsafe {
        let off = _mm256_set1_epi8(offset as i8);
        for (((y, nb), d), yy) in a
            .iter()
            .zip(&mut buf.neg_bias)
            .zip(&mut buf.d)
            .zip(&mut buf.y)
        {
            let q = load32(&y.qs);
            yy.write(q);
            nb.write(super::neg_bias(off, q));
            d.write(f16_to_f32(y.d));
        }
        Prepared {
            neg_bias: std::slice::from_raw_parts(buf.neg_bias.as_ptr() as *const __m256i, n),
            y: std::slice::from_raw_parts(buf.y.as_ptr() as *const __m256i, n),
            d: std::slice::from_raw_parts(buf.d.as_ptr() as *const f32, n),
        }
    }
}

/// `out[r] = row_r(w) . a` for the `out.len()` rows of `w` (`a.y.len()` blocks each), every
/// one the bits of the format's `vec_dot`. `quants(block)` gives the block's 32 unsigned
/// quants in value order (the offset of `a`'s preparation below their values), `scale`
/// its f16 scale.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI.
///
/// # Panics
/// If `w` is not `out.len()` rows of `a`'s length.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(super) unsafe fn offset_matvec<B: ScaleFirst>(
    w: &[B],
    a: &Prepared,
    out: &mut [f32],
    quants: impl Fn(&B) -> __m256i + Copy,
    quads: bool,
) {
    let nb = a.y.len();
    assert!(w.len() == out.len() * nb && a.neg_bias.len() == nb && a.d.len() == nb);
    // SAFETY: the CPU features are this function's contract; `rows` calls `lanes` with
    // `b < nb`, an index of the three prepared slices.
    unsafe {
        let lanes = |x: &B, b: usize| {
            // In a register: the rows of one product share it (the memory form, one read per
            // row, measured Q8_0 31.5 -> 28.7 GB/s in cache).
            let y = *a.y.get_unchecked(b);
            super::dpbusd(*a.neg_bias.get_unchecked(b), quants(x), y)
        };
        super::super::avx2::matvec::rows::<_, false>(w, nb, a.d, out, lanes, quads)
    }
}

/// The 32 quants of a Q4_0 block in value order (low nibbles, then high nibbles), with one
/// 128-bit broadcast load and a per-half shift: one instruction fewer than
/// `avx2::bytes_from_nibbles_32`, the same bytes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(super) unsafe fn nibbles_32(qs: &[u8; 16]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 16 bytes of `qs`.
    unsafe {
        let both = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr() as *const __m128i));
        let m = _mm256_set_epi64x(HIGH_NIBBLE, HIGH_NIBBLE, LOW_NIBBLE, LOW_NIBBLE);
        _mm256_gf2p8affine_epi64_epi8::<0>(both, m)
    }
}

/// A `gf2p8affineqb` bit matrix: output bit `i` of each byte is the parity of the input bits
/// selected by `rows[i]` (the matrix's byte `7 - i`). With one bit per row it moves bits:
/// any selection and reordering of a byte's bits in one instruction.
pub(super) const fn bit_matrix(rows: [u8; 8]) -> i64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < 8 {
        m |= (rows[i] as u64) << (8 * (7 - i));
        i += 1;
    }
    m as i64
}

/// A `gf2p8affineqb` matrix whose only nonzero row, that of output bit `i`, is `row`.
pub(super) const fn bit_matrix_rows(i: u32, row: u8) -> i64 {
    ((row as u64) << (8 * (7 - i))) as i64
}

/// Bits 0..4 of each byte, in place (`x & 0x0F`).
pub(super) const LOW_NIBBLE: i64 = bit_matrix([1, 2, 4, 8, 0, 0, 0, 0]);
/// Bits 4..8 of each byte, moved down (`x >> 4`).
pub(super) const HIGH_NIBBLE: i64 = bit_matrix([0x10, 0x20, 0x40, 0x80, 0, 0, 0, 0]);

/// `16 * bit j of qh` in byte `j` (the fifth bits of a Q5_0/Q5_1 block, placed), in two
/// instructions: `vpshufb` puts byte `q` of `qh` into byte 3 of qword `q` (bytes `8q..8q+8`),
/// zeros elsewhere, and `gf2p8affineqb` reads that qword as a bit matrix whose only nonzero row
/// (row 4) is `qh`'s byte: output byte `i` of the qword is `parity(qh_byte & x_i) << 4` with
/// `x_i = 1 << i`, i.e. bit `i` of the byte moved to bit 4.
///
/// # Safety
/// The CPU must support AVX2 and GFNI.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(super) unsafe fn fifth_bits_32(qh: &[u8; 4]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 4 bytes of `qh`.
    unsafe {
        let h = _mm256_set1_epi32(i32::from_le_bytes(*qh));
        let z = -1i8;
        #[rustfmt::skip]
        let to_row4 = _mm256_setr_epi8(
            z, z, z, 0, z, z, z, z, z, z, z, 1, z, z, z, z,
            z, z, z, 2, z, z, z, z, z, z, z, 3, z, z, z, z,
        );
        let one_hot = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        _mm256_gf2p8affine_epi64_epi8::<0>(one_hot, _mm256_shuffle_epi8(h, to_row4))
    }
}

/// `out[r] = row_r(w) . a` in ggml's repacked GEMV order (`vec_dot_repacked` of Q4_0 and
/// IQ4_NL), eight rows at a time with row `r` in lane `r`
/// ([`repacked_in_lanes`](super::super::avx2::matvec::repacked_in_lanes)): per transposed
/// dword `k` of the rows' quants, `weights` gives the rows' unsigned weights of its low and
/// high nibbles (values `4k ..` and `16 + 4k ..`), and each meets its four activation quants
/// broadcast to every lane in one `vpdpbusd` ([`super::dpbusd_bcast_at`]; the embedded
/// broadcast of AVX512-VNNI); the block's bias is one broadcast of its lanes' sum. A
/// `vpdpbusd` per 4 bytes of eight rows is as many as one per 32 bytes of one row; what goes
/// is the `hadd` tree that added each row's lanes across. Rows beyond the last multiple of
/// eight go through `row`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `a` prepared with the offset
/// that `weights` adds.
///
/// # Panics
/// As `repacked_in_lanes`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,gfni")]
pub(super) unsafe fn repacked_rows_in_lanes<B: ScaleFirst>(
    w: &[B],
    a: &Prepared,
    out: &mut [f32],
    weights: impl Fn(__m256i) -> [__m256i; 2] + Copy,
    row: impl Fn(&[B]) -> f32,
) {
    let nb = a.y.len();
    assert!(nb <= MAX_BLOCKS && a.neg_bias.len() == nb);
    // Each block's whole bias: the sum of its `neg_bias` lanes (once per product; only these
    // products need it, so `prepare` does not make it for the others).
    let mut bias_sum = [0i32; MAX_BLOCKS];
    for (s, v) in bias_sum.iter_mut().zip(a.neg_bias) {
        // SAFETY: the CPU features are this function's contract.
        *s = unsafe { super::super::avx2::hsum_i32(*v) };
    }
    // SAFETY: the CPU features are this function's contract; `repacked_in_lanes` calls `sums`
    // with `b` below the row length, an index of the prepared slices and of `bias_sum`, and
    // `a.y[b]` holds the 32 bytes read at offsets `0 .. 32`.
    unsafe {
        let sums = |x: [__m256i; 4], b: usize| {
            let y = a.y.as_ptr().add(b) as *const i8;
            let mut lo = _mm256_set1_epi32(*bias_sum.get_unchecked(b));
            let mut hi = _mm256_setzero_si256();
            macro_rules! dword {
                ($k:literal) => {
                    let [l, h] = weights(x[$k]);
                    lo = super::dpbusd_bcast_at::<{ 4 * $k }>(lo, l, y);
                    hi = super::dpbusd_bcast_at::<{ 16 + 4 * $k }>(hi, h, y);
                };
            }
            dword!(0);
            dword!(1);
            dword!(2);
            dword!(3);
            _mm256_add_epi32(lo, hi)
        };
        super::super::avx2::matvec::repacked_in_lanes(w, a.d, out, sums, row)
    }
}

vnni_entry! {
    /// The four-token tile of Q4_0 or IQ4_NL in the repacked GEMM order with this table's
    /// integer work: [`avx2::matvec::repacked_in_lanes_x4`](super::super::avx2::matvec::repacked_in_lanes_x4)
    /// with the weights of a block made unsigned once for the four tokens (Q4_0: the nibbles;
    /// IQ4_NL: the table 128 higher) and per token eight `vpdpbusd` with broadcast activation
    /// dwords from the bias `-offset * sum(y)`, as [`repacked_rows_in_lanes`] per token.
    /// `false` (nothing written) for another type.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C, AVX-VNNI and GFNI; `w` is whole rows of
    /// `a[t].len()` blocks of `ty`.
    ///
    /// # Panics
    /// As `avx2::matvec::repacked_tile_x4`.
    pub(crate) unsafe fn repacked_tile_x4(
        ty: GgmlType,
        w: &[u8],
        a: [&[BlockQ8_0]; 4],
        put: &mut crate::kernels::Out4,
    ) -> bool {
        let nb = a[0].len();
        let offset: i32 = match ty {
            GgmlType::Q4_0 => super::q4_0::OFFSET.into(),
            GgmlType::IQ4_NL => 128,
            _ => return false,
        };
        let mut act = super::super::avx2::matvec::Act4::new();
        // SAFETY: the CPU features are this function's contract.
        let (ad, bias) = unsafe { act.prepare(a, offset) };
        let msg = "weights checked by the caller";
        // SAFETY: the CPU features are this function's contract; `sums` is called with
        // `t < 4` and `b < nb`, indexes of `a`, `bias` and each `a[t]`, whose block's 32
        // quants hold the offsets read.
        unsafe {
            let sums = |u: &[[__m256i; 2]; 4], t: usize, b: usize| {
                let y = a.get_unchecked(t).get_unchecked(b).qs.as_ptr();
                let mut lo = _mm256_set1_epi32(*bias.get_unchecked(t).get_unchecked(b));
                let mut hi = _mm256_setzero_si256();
                macro_rules! dword {
                    ($k:literal) => {
                        lo = super::dpbusd_bcast_at::<{ 4 * $k }>(lo, u[$k][0], y);
                        hi = super::dpbusd_bcast_at::<{ 16 + 4 * $k }>(hi, u[$k][1], y);
                    };
                }
                dword!(0);
                dword!(1);
                dword!(2);
                dword!(3);
                _mm256_add_epi32(lo, hi)
            };
            // (Written out rather than by `[T; 4]::map`: see `avx2::matvec::nibbles4`.)
            let nibbles = |x: [__m256i; 4]| {
                use super::q4_0::nibbles_in_place as n;
                [n(x[0]), n(x[1]), n(x[2]), n(x[3])]
            };
            use super::super::avx2::matvec::repacked_in_lanes_x4 as x4;
            if ty == GgmlType::Q4_0 {
                let w: &[quant::q4_0::BlockQ4_0] = quant::cast_blocks(w).expect(msg);
                let row = |r: &[_]| a.map(|a| super::super::avx2::q4_0::vec_dot_repacked(r, a));
                x4(w, nb, ad, put, nibbles, sums, row);
            } else {
                let w: &[quant::iq4_nl::BlockIQ4NL] = quant::cast_blocks(w).expect(msg);
                let table = super::iq4_nl::table_u8();
                let values = |x| super::super::avx2::matvec::lookup4(table, nibbles(x));
                let row = |r: &[_]| a.map(|a| super::super::avx2::iq4_nl::vec_dot_repacked(r, a));
                x4(w, nb, ad, put, values, sums, row);
            }
        }
        true
    }
}
