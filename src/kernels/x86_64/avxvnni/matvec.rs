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
//! - rows go two at a time ([`offset_matvec`]): one row's FMA chain waits four cycles per block on
//!   the previous FMA, and with two independent chains the core keeps up with memory
//!   (measured on Gemma 3 270M decode, where the Q8_0 output matrix is most of the time).

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
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI; `w` must be `out.len()` rows of
/// weight blocks of `ty` and `act` the activation blocks (`ty.vec_dot_type()`) of one row.
pub unsafe fn matvec(ty: GgmlType, order: DotOrder, w: &[u8], act: &[u8], out: &mut [f32]) -> bool {
    use super::{q4_0, q5_0, q8_0};
    let offset = match (ty, order) {
        // SAFETY (all three): the CPU features and the layout are this function's contract.
        (GgmlType::Q4_1, DotOrder::VecDot) => return unsafe { super::q4_1::matvec(w, act, out) },
        (GgmlType::Q5_1, DotOrder::VecDot) => return unsafe { super::q5_1::matvec(w, act, out) },
        (GgmlType::IQ4_NL, _) => return unsafe { super::iq4_nl::matvec(order, w, act, out) },
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

/// Storage for one prepared activation row (about 18 KB; on the caller's stack).
pub struct PrepBuf {
    neg_bias: [MaybeUninit<__m256i>; MAX_BLOCKS],
    d: [MaybeUninit<f32>; MAX_BLOCKS],
}

impl Default for PrepBuf {
    /// Uninitialized storage (nothing is read before [`prepare`] writes it).
    #[inline]
    fn default() -> PrepBuf {
        PrepBuf {
            neg_bias: [const { MaybeUninit::uninit() }; MAX_BLOCKS],
            d: [const { MaybeUninit::uninit() }; MAX_BLOCKS],
        }
    }
}

/// An activation row made ready for the products of one offset: per block,
/// `-offset * (y[4l] + .. + y[4l + 3])` in lane `l`, and its scale as f32.
pub struct Prepared<'a> {
    pub(super) a: &'a [BlockQ8_0],
    pub(super) neg_bias: &'a [__m256i],
    pub(super) d: &'a [f32],
}

/// Prepares `a` for quants with offset `offset` (see [`Prepared`]).
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI.
///
/// # Panics
/// If `a` is longer than [`MAX_BLOCKS`].
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub unsafe fn prepare<'a>(a: &'a [BlockQ8_0], offset: u8, buf: &'a mut PrepBuf) -> Prepared<'a> {
    let n = a.len();
    assert!(n <= MAX_BLOCKS);
    // SAFETY: the CPU features are this function's contract; the loads read borrowed blocks;
    // the first `n` entries of both arrays are written before the slices over them are made.
    unsafe {
        let off = _mm256_set1_epi8(offset as i8);
        for ((y, nb), d) in a.iter().zip(&mut buf.neg_bias).zip(&mut buf.d) {
            let sum = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), off, load32(&y.qs));
            nb.write(_mm256_sub_epi32(_mm256_setzero_si256(), sum));
            d.write(f16_to_f32(y.d));
        }
        Prepared {
            a,
            neg_bias: std::slice::from_raw_parts(buf.neg_bias.as_ptr() as *const __m256i, n),
            d: std::slice::from_raw_parts(buf.d.as_ptr() as *const f32, n),
        }
    }
}

/// `out[r] = row_r(w) . a` for the `out.len()` rows of `w` (`a.a.len()` blocks each), every
/// one the bits of the format's `vec_dot`. `quants(block)` gives the block's 32 unsigned
/// quants in value order (the offset of `a`'s preparation below their values), `scale`
/// its f16 scale.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-VNNI.
///
/// # Panics
/// If `w` is not `out.len()` rows of `a`'s length.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub(super) unsafe fn offset_matvec<B: ScaleFirst>(
    w: &[B],
    a: &Prepared,
    out: &mut [f32],
    quants: impl Fn(&B) -> __m256i + Copy,
) {
    let nb = a.a.len();
    assert!(w.len() == out.len() * nb && a.neg_bias.len() == nb && a.d.len() == nb);
    // SAFETY: the CPU features are this function's contract; `rows` calls `lanes` with
    // `b < nb`, an index of both activation slices.
    unsafe {
        let lanes = |x: &B, b: usize| {
            let y = load32(&a.a.get_unchecked(b).qs);
            _mm256_dpbusd_avx_epi32(*a.neg_bias.get_unchecked(b), quants(x), y)
        };
        super::super::avx2::matvec::rows(w, nb, a.d, out, lanes)
    }
}

/// The 32 quants of a Q4_0 block in value order (low nibbles, then high nibbles), with one
/// 128-bit broadcast load and a per-half shift: one instruction fewer than
/// `avx2::bytes_from_nibbles_32`, the same bytes.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
pub(super) unsafe fn nibbles_32(qs: &[u8; 16]) -> __m256i {
    // SAFETY: the CPU features are this function's contract; reads the 16 bytes of `qs`.
    unsafe {
        let both = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr() as *const __m128i));
        let shifted = _mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0));
        _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F))
    }
}
