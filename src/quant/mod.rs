//! Block formats: one module per GGUF tensor type.
//!
//! Each module holds a `#[repr(C)]` block struct with a size assertion, a doc comment with the
//! bit layout and the dequantization formula, a scalar `dequantize_row`, and a scalar
//! `vec_dot` against the activation format the weights pair with (Q8_0 blocks of 32 or Q8_K
//! blocks of 256, as in ggml). The scalar code is the specification: every SIMD kernel is
//! tested against it.
//!
//! The rest of the crate reaches the formats through the type-erased functions at the bottom
//! of this file ([`dequantize_row`], [`quantize_activation`], [`vec_dot`]), which take raw
//! bytes from the mmap and cast them to blocks with [`cast_blocks`] (checked size and
//! alignment).

pub mod bf16;
pub mod f16;
pub mod f32;
pub mod iq4_nl;
pub mod iq4_xs;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_k;

use std::fmt;

/// The number of values in one K-quant super-block.
pub const QK_K: usize = 256;

/// GGML tensor types, numbered as in `ggml.h` (the numbers are the on-disk ids in GGUF).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

impl GgmlType {
    /// Every type id ggml knows (so unknown ids can be told apart from unsupported ones).
    pub const ALL: [GgmlType; 32] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_K,
        GgmlType::IQ2_XXS,
        GgmlType::IQ2_XS,
        GgmlType::IQ3_XXS,
        GgmlType::IQ1_S,
        GgmlType::IQ4_NL,
        GgmlType::IQ3_S,
        GgmlType::IQ2_S,
        GgmlType::IQ4_XS,
        GgmlType::I8,
        GgmlType::I16,
        GgmlType::I32,
        GgmlType::I64,
        GgmlType::F64,
        GgmlType::IQ1_M,
        GgmlType::BF16,
        GgmlType::TQ1_0,
        GgmlType::TQ2_0,
        GgmlType::MXFP4,
    ];

    /// The type for an on-disk id, or `None` for an id ggml does not define.
    pub fn from_u32(id: u32) -> Option<GgmlType> {
        GgmlType::ALL.iter().copied().find(|t| *t as u32 == id)
    }

    /// Values per block (1 for the plain float and integer types).
    pub fn block_size(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | F16 | BF16 | I8 | I16 | I32 | I64 | F64 => 1,
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q8_1 | IQ4_NL | MXFP4 => 32,
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | Q8_K | IQ2_XXS | IQ2_XS | IQ3_XXS | IQ1_S
            | IQ3_S | IQ2_S | IQ4_XS | IQ1_M | TQ1_0 | TQ2_0 => QK_K,
        }
    }

    /// Bytes per block, as ggml's `type_size`.
    pub fn type_size(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | I32 => 4,
            F16 | BF16 | I16 => 2,
            I8 => 1,
            I64 | F64 => 8,
            Q4_0 => 18,
            Q4_1 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 => 34,
            Q8_1 => 36,
            Q2_K => 84,
            Q3_K => 110,
            Q4_K => 144,
            Q5_K => 176,
            Q6_K => 210,
            Q8_K => 292,
            IQ2_XXS => 66,
            IQ2_XS => 74,
            IQ3_XXS => 98,
            IQ1_S => 50,
            IQ4_NL => 18,
            IQ3_S => 110,
            IQ2_S => 82,
            IQ4_XS => 136,
            IQ1_M => 56,
            TQ1_0 => 54,
            TQ2_0 => 66,
            MXFP4 => 17,
        }
    }

    /// The types ferrite computes with: each has a module in `src/quant/` and an entry in
    /// every kernel table.
    pub const SUPPORTED: [GgmlType; 15] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
    ];

    /// Whether ferrite can compute with tensors of this type ([`Self::SUPPORTED`]). Files
    /// with other types are refused at load, naming the tensor.
    pub fn is_supported(self) -> bool {
        GgmlType::SUPPORTED.contains(&self)
    }

    /// The activation format a weight of this type is multiplied with (ggml's
    /// `vec_dot_type`).
    pub fn vec_dot_type(self) -> GgmlType {
        use GgmlType::*;
        match self {
            Q4_0 | Q5_0 | Q8_0 | IQ4_NL => Q8_0,
            Q4_1 | Q5_1 => Q8_1,
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS => Q8_K,
            F16 => F16,
            BF16 => BF16,
            _ => F32,
        }
    }

    /// Bytes needed for `n` values, or `None` when `n` is not a whole number of blocks or the
    /// size overflows.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        if !n.is_multiple_of(self.block_size()) {
            return None;
        }
        (n / self.block_size()).checked_mul(self.type_size())
    }

    /// The name ggml and llama.cpp print for this type.
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2_K => "Q2_K",
            Q3_K => "Q3_K",
            Q4_K => "Q4_K",
            Q5_K => "Q5_K",
            Q6_K => "Q6_K",
            Q8_K => "Q8_K",
            IQ2_XXS => "IQ2_XXS",
            IQ2_XS => "IQ2_XS",
            IQ3_XXS => "IQ3_XXS",
            IQ1_S => "IQ1_S",
            IQ4_NL => "IQ4_NL",
            IQ3_S => "IQ3_S",
            IQ2_S => "IQ2_S",
            IQ4_XS => "IQ4_XS",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            IQ1_M => "IQ1_M",
            BF16 => "BF16",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            MXFP4 => "MXFP4",
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Plain old data: a `#[repr(C)]` type without padding for which every bit pattern is a valid
/// value, so a byte slice of the right length and alignment may be viewed as a slice of it.
///
/// # Safety
/// Implement only for `#[repr(C)]` (or primitive) types made of integers, `half::f16`,
/// `half::bf16`, `f32` and arrays of them, with no padding (checked by the size assertion each
/// block module carries).
pub unsafe trait Pod: Copy + 'static {}

// SAFETY: primitive numeric types: every bit pattern is a valid value, no padding.
unsafe impl Pod for f32 {}
// SAFETY: as above (half's types are `repr(transparent)` over u16).
unsafe impl Pod for half::f16 {}
// SAFETY: as above.
unsafe impl Pod for half::bf16 {}
// SAFETY: as above.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}

/// Views `bytes` as a slice of blocks. Returns `None` unless the length is a whole number of
/// blocks and the start is aligned for `B` (tensor data in a GGUF file is aligned to 32 bytes,
/// so views into the mmap always are).
pub fn cast_blocks<B: Pod>(bytes: &[u8]) -> Option<&[B]> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size)
        || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<B>())
    {
        return None;
    }
    // SAFETY: the pointer is aligned for B (checked above), the length is a whole number of
    // B (checked above), B is Pod so every bit pattern is a valid B, and the returned slice
    // borrows `bytes`, so it cannot outlive the memory.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const B, bytes.len() / size) })
}

/// Mutable counterpart of [`cast_blocks`].
pub fn cast_blocks_mut<B: Pod>(bytes: &mut [u8]) -> Option<&mut [B]> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size)
        || !(bytes.as_mut_ptr() as usize).is_multiple_of(std::mem::align_of::<B>())
    {
        return None;
    }
    // SAFETY: as in `cast_blocks`; the mutable borrow of `bytes` is exclusive, and any bit
    // pattern written through B is a valid u8 sequence.
    Some(unsafe {
        std::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut B, bytes.len() / size)
    })
}

/// Views a slice of blocks as bytes.
pub fn as_bytes<B: Pod>(blocks: &[B]) -> &[u8] {
    // SAFETY: B is Pod (no padding), so all of its bytes are initialized; u8 has alignment 1.
    unsafe {
        std::slice::from_raw_parts(blocks.as_ptr() as *const u8, std::mem::size_of_val(blocks))
    }
}

/// A block format: the link between a [`GgmlType`] and its block struct, so the type-erased
/// entry points below can be written once.
pub trait BlockFormat: Pod {
    /// The tensor type this block stores.
    const TYPE: GgmlType;
    /// Values per block.
    const BLOCK: usize;
    /// The activation block this format's dot product takes (e.g. `BlockQ8_0`).
    type Activation: Pod;
    /// Values per activation block (32 for Q8_0, 256 for Q8_K, 1 for the float types).
    const ACT_BLOCK: usize;
    /// Dequantizes `blocks` into `out` (`out.len() == blocks.len() * BLOCK`).
    fn dequantize(blocks: &[Self], out: &mut [f32]);
    /// The dot product of weight blocks with activation blocks covering the same values
    /// (`w.len() * BLOCK == a.len() * Activation::BLOCK`).
    fn vec_dot(w: &[Self], a: &[Self::Activation]) -> f32;
    /// The dot product in the float order of ggml's tiled K-quant matmul, which llama.cpp
    /// uses instead of `vec_dot` for a batch of 8 or more tokens (the K-quants and IQ4_XS;
    /// the same as `vec_dot` for the other formats).
    fn vec_dot_tiled(w: &[Self], a: &[Self::Activation]) -> f32 {
        Self::vec_dot(w, a)
    }
    /// The dot product in the float order of llamafile's `tinyBLAS`, which llama.cpp uses for
    /// F32, F16 and BF16 weights in batches of 2 or more tokens (the same as `vec_dot` for the
    /// other formats: for Q8_0, Q4_0 and Q5_0 its order is that of `vec_dot`).
    fn vec_dot_llamafile(w: &[Self], a: &[Self::Activation]) -> f32 {
        Self::vec_dot(w, a)
    }
    /// The dot product in the float order of ggml's repacked x86 kernels (`repack.cpp`: Q4_0,
    /// IQ4_NL and Q4_K weights whose row count is a multiple of 8, for any batch size): its
    /// GEMM (`gemm`, tokens taken four at a time) or its GEMV (the other tokens). The same as
    /// `vec_dot` for the other formats.
    fn vec_dot_repacked(w: &[Self], a: &[Self::Activation], gemm: bool) -> f32 {
        let _ = gemm;
        Self::vec_dot(w, a)
    }
}

/// Which of ggml's x86 matmul kernels a product is computed like: they add the same exact
/// integer block sums in different f32 orders (see [`lanes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotOrder {
    /// `ggml_vec_dot_*` (AVX2): a single token, and formats without a batched kernel.
    VecDot,
    /// ggml's tiled K-quant matmul: batches of 8 or more tokens.
    Tiled,
    /// llamafile's `tinyBLAS` (F32, F16, BF16): batches of 2 or more tokens.
    Llamafile,
    /// ggml's repacked GEMM (`repack.cpp`), for the tokens of a batch taken four at a time.
    RepackedGemm,
    /// ggml's repacked GEMV, for a single token and the last `n % 4` tokens of a batch.
    RepackedGemv,
}

/// Panic-free failure of a type-erased call: the byte lengths did not match the row length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutError;

fn dequant_as<B: BlockFormat>(src: &[u8], dst: &mut [f32]) -> Result<(), LayoutError> {
    let blocks = cast_blocks::<B>(src).ok_or(LayoutError)?;
    if blocks.len() * B::BLOCK != dst.len() {
        return Err(LayoutError);
    }
    B::dequantize(blocks, dst);
    Ok(())
}

fn dot_as<B: BlockFormat>(w: &[u8], a: &[u8]) -> Result<f32, LayoutError> {
    let wb = cast_blocks::<B>(w).ok_or(LayoutError)?;
    let ab = cast_blocks::<B::Activation>(a).ok_or(LayoutError)?;
    if ab.len() * B::ACT_BLOCK != wb.len() * B::BLOCK {
        return Err(LayoutError);
    }
    Ok(B::vec_dot(wb, ab))
}

/// Dequantizes one row of `dst.len()` values of type `ty` from `src`.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), LayoutError> {
    use GgmlType::*;
    match ty {
        F32 => dequant_as::<f32>(src, dst),
        F16 => dequant_as::<half::f16>(src, dst),
        BF16 => dequant_as::<half::bf16>(src, dst),
        Q4_0 => dequant_as::<q4_0::BlockQ4_0>(src, dst),
        Q4_1 => dequant_as::<q4_1::BlockQ4_1>(src, dst),
        Q5_0 => dequant_as::<q5_0::BlockQ5_0>(src, dst),
        Q5_1 => dequant_as::<q5_1::BlockQ5_1>(src, dst),
        Q8_0 => dequant_as::<q8_0::BlockQ8_0>(src, dst),
        Q8_1 => {
            let blocks = cast_blocks::<q8_0::BlockQ8_1>(src).ok_or(LayoutError)?;
            if blocks.len() * 32 != dst.len() {
                return Err(LayoutError);
            }
            q8_0::dequantize_row_q8_1(blocks, dst);
            Ok(())
        }
        Q2_K => dequant_as::<q2_k::BlockQ2K>(src, dst),
        Q3_K => dequant_as::<q3_k::BlockQ3K>(src, dst),
        Q4_K => dequant_as::<q4_k::BlockQ4K>(src, dst),
        Q5_K => dequant_as::<q5_k::BlockQ5K>(src, dst),
        Q6_K => dequant_as::<q6_k::BlockQ6K>(src, dst),
        IQ4_NL => dequant_as::<iq4_nl::BlockIQ4NL>(src, dst),
        IQ4_XS => dequant_as::<iq4_xs::BlockIQ4XS>(src, dst),
        _ => Err(LayoutError),
    }
}

/// Quantizes activations `x` into `dst` in the format `ty` (one of Q8_0, Q8_1, Q8_K, F16,
/// BF16, F32: a [`GgmlType::vec_dot_type`]) with ggml's reference quantizers (`_ref`).
/// `dst` must hold exactly `ty.row_bytes(x.len())` bytes.
pub fn quantize_activation(ty: GgmlType, x: &[f32], dst: &mut [u8]) -> Result<(), LayoutError> {
    if ty.row_bytes(x.len()) != Some(dst.len()) {
        return Err(LayoutError);
    }
    match ty {
        GgmlType::Q8_0 => q8_0::quantize_row(x, cast_blocks_mut(dst).ok_or(LayoutError)?),
        GgmlType::Q8_1 => q8_0::quantize_row_q8_1(x, cast_blocks_mut(dst).ok_or(LayoutError)?),
        GgmlType::Q8_K => q8_k::quantize_row(x, cast_blocks_mut(dst).ok_or(LayoutError)?),
        GgmlType::F16 => f16::quantize_row(x, cast_blocks_mut(dst).ok_or(LayoutError)?),
        GgmlType::BF16 => bf16::quantize_row(x, cast_blocks_mut(dst).ok_or(LayoutError)?),
        GgmlType::F32 => cast_blocks_mut::<f32>(dst)
            .ok_or(LayoutError)?
            .copy_from_slice(x),
        _ => return Err(LayoutError),
    }
    Ok(())
}

/// Quantizes activations as llama.cpp does at run time on x86-64, which the forward pass
/// follows: ggml's x86 `quantize_row_q8_0` / `quantize_row_q8_1` (see
/// [`q8_0::quantize_row_x86`]); the other formats as [`quantize_activation`] (ggml's x86
/// `quantize_row_q8_K` is its reference one).
pub fn quantize_activation_x86(ty: GgmlType, x: &[f32], dst: &mut [u8]) -> Result<(), LayoutError> {
    if ty.row_bytes(x.len()) != Some(dst.len()) {
        return Err(LayoutError);
    }
    match ty {
        GgmlType::Q8_0 => q8_0::quantize_row_x86(x, cast_blocks_mut(dst).ok_or(LayoutError)?),
        GgmlType::Q8_1 => q8_0::quantize_row_q8_1_x86(x, cast_blocks_mut(dst).ok_or(LayoutError)?),
        _ => return quantize_activation(ty, x, dst),
    }
    Ok(())
}

/// The scalar dot product of one weight row of type `ty` with an activation row already in
/// `ty.vec_dot_type()` format covering the same number of values.
pub fn vec_dot(ty: GgmlType, w: &[u8], a: &[u8]) -> Result<f32, LayoutError> {
    use GgmlType::*;
    match ty {
        F32 => dot_as::<f32>(w, a),
        F16 => dot_as::<half::f16>(w, a),
        BF16 => dot_as::<half::bf16>(w, a),
        Q4_0 => dot_as::<q4_0::BlockQ4_0>(w, a),
        Q4_1 => dot_as::<q4_1::BlockQ4_1>(w, a),
        Q5_0 => dot_as::<q5_0::BlockQ5_0>(w, a),
        Q5_1 => dot_as::<q5_1::BlockQ5_1>(w, a),
        Q8_0 => dot_as::<q8_0::BlockQ8_0>(w, a),
        Q2_K => dot_as::<q2_k::BlockQ2K>(w, a),
        Q3_K => dot_as::<q3_k::BlockQ3K>(w, a),
        Q4_K => dot_as::<q4_k::BlockQ4K>(w, a),
        Q5_K => dot_as::<q5_k::BlockQ5K>(w, a),
        Q6_K => dot_as::<q6_k::BlockQ6K>(w, a),
        IQ4_NL => dot_as::<iq4_nl::BlockIQ4NL>(w, a),
        IQ4_XS => dot_as::<iq4_xs::BlockIQ4XS>(w, a),
        _ => Err(LayoutError),
    }
}

/// The float accumulation order of ggml's x86 (AVX2 + FMA) kernels.
///
/// llama.cpp's results depend on the order in which its kernels add f32 partial sums: a
/// different but equally valid order moves a matmul output by an ulp or two, and when the
/// next matmul quantizes its input to 8 bits such an ulp occasionally tips a value over a
/// rounding boundary, which moves the output by a whole quantization step. Through a few
/// layers this grows to several hundredths of a log-probability (measured: llama.cpp
/// evaluating a prompt token by token instead of as one batch differs from itself by up to
/// 0.7 on Gemma 3 270M Q4_K_M). So the scalar kernels follow the order of the AVX2 kernels
/// of the llama.cpp build that made our goldens: eight f32 lanes, each fed by fused
/// multiply-adds, reduced at the end by [`hsum8`](lanes::hsum8).
pub mod lanes {
    /// ggml's `hsum_float_8`: `((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7))`.
    #[inline]
    pub fn hsum8(x: &[f32; 8]) -> f32 {
        let r = [x[4] + x[0], x[5] + x[1], x[6] + x[2], x[7] + x[3]];
        (r[0] + r[2]) + (r[1] + r[3])
    }

    /// ggml's `mul_sum_i8_pairs_float` on one 32-value block: lane `l` holds the exact sum of
    /// the products of values `4l .. 4l + 4` (`maddubs` then `madd`; no i16 pair saturates for
    /// ggml's operand ranges: 4- and 5-bit weights, IQ4 table values, and int8 quants with
    /// |q| <= 127 on at least one side).
    #[inline]
    pub fn sums_i8x32(w: &[i8; 32], a: &[i8; 32]) -> [i32; 8] {
        let mut s = [0i32; 8];
        for (l, sl) in s.iter_mut().enumerate() {
            for e in 4 * l..4 * l + 4 {
                *sl += i32::from(w[e]) * i32::from(a[e]);
            }
        }
        s
    }

    /// ggml's `GGML_F32x8_REDUCE` of four 8-lane accumulators (`x[j][l]` at `x[8 * j + l]`),
    /// as `ggml_vec_dot_f16` ends: `(x0 + x2) + (x1 + x3)` lane-wise, then the halves added
    /// and the four sums added pairwise by two `hadd`s:
    /// `((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))`.
    #[inline]
    pub fn reduce_f32x8x4(x: &[f32; 32]) -> f32 {
        let a: [f32; 8] = std::array::from_fn(|l| (x[l] + x[16 + l]) + (x[8 + l] + x[24 + l]));
        let t = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
        (t[0] + t[1]) + (t[2] + t[3])
    }

    /// `acc[l] = fma(d, s[l], acc[l])` for the eight lanes (`_mm256_fmadd_ps`).
    #[inline]
    pub fn fma8(acc: &mut [f32; 8], d: f32, s: &[i32; 8]) {
        for (a, &v) in acc.iter_mut().zip(s) {
            *a = d.mul_add(v as f32, *a);
        }
    }
}
