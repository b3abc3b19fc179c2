//! Matrix-vector products over quantized weights: the one seam between the forward pass and
//! the block-format kernels, and the kernel table chosen once at run time.
//!
//! [`matvec_order`]`(out, ty, weight_bytes, act, order)` computes `out[r] = dot(row r of the
//! weight, act)` where `act` is the activation already quantized to `ty.vec_dot_type()` (by
//! [`Kernels::quantize_activation`]).
//!
//! # The kernel table
//!
//! [`Kernels`] holds one dot-product function pointer per weight type and float order
//! ([`DotOrder`]: which of ggml's x86 kernels the sums are added like) and the Q8_0/Q8_1/Q8_K
//! activation quantizers for one instruction set. An entry is a SIMD kernel only where that
//! kernel is bit-identical to the scalar reference of its order; the rest are the reference. It is filled once (memchr's dispatch, ggml's
//! CPU feature scores): [`Kernels::get`] detects the best instruction set the CPU has with
//! `is_x86_feature_detected!` / `is_aarch64_feature_detected!` and keeps the table in a
//! `OnceLock`, so one binary runs everywhere with no build flags. Tests and benchmarks get
//! every variant the host supports from [`Kernels::all`] ([`Kernels::scalar`],
//! [`Kernels::avx2`], [`Kernels::avx512_vnni`], [`Kernels::avx_vnni`], [`Kernels::neon`],
//! [`Kernels::neon_dotprod`]).
//!
//! Where the kernels live (a reader finds "the Q4_K dot product for AVX2" by path):
//!
//! ```text
//! src/quant/<fmt>.rs                   the scalar reference (the specification), always built
//! src/kernels/scalar.rs                the scalar table: the reference functions, type-erased
//! src/kernels/x86_64/avx2/<fmt>.rs     AVX2 + FMA (+ F16C) kernels, `vec_dot` per format
//! src/kernels/x86_64/avx2/q{4,6}_k_packed.rs  Q4_K/Q6_K prefill tiles repacked eight rows
//!                                      to a vector: layout, packing, AVX2 kernels
//! src/kernels/x86_64/avxvnni/<fmt>.rs  AVX-VNNI + GFNI prefill tiles (Q8_0, Q4_K, Q6_K),
//!                                      decode matrix-vector products and dot products;
//!                                      compiled twice, VEX (AVX-VNNI) and EVEX (AVX512-VNNI:
//!                                      `x86_64::avx512vnni`)
//! src/kernels/aarch64/neon/<fmt>.rs    NEON kernels: `vec_dot*` (vmull/vpaddl) and
//!                                      `vec_dot*_dotprod` (sdot) per format and order
//! src/kernels/aarch64/neon/quantize.rs NEON activation quantizers (Q8_0, Q8_1, Q8_K)
//! src/kernels/{x86_64/avx2,aarch64/neon}/ops.rs  the f32 vector operations (softmax, RoPE,
//!                                      GeGLU, ...) and attention's f16 products
//! ```
//!
//! Every SIMD kernel is compared with the scalar reference in `tests/kernels.rs`; the
//! activation quantizers must produce byte-identical blocks (the goldens depend on them).
//!
//! The environment variable `FERRITE_KERNELS` (`scalar`, `avx2`, `avx512vnni`, `avxvnni`,
//! `neon`, `dotprod`) forces a table for the whole process when the CPU supports it (for debugging a
//! kernel and for side-by-side comparisons); otherwise it is ignored.

#![deny(unsafe_op_in_unsafe_fn)]
// Rust 1.87 made most `std::arch` intrinsics safe to call inside a `#[target_feature]`
// function with the same features. The kernels keep their `unsafe` blocks, each with its
// SAFETY line saying what the block relies on (the CPU features, the loads' bounds), though
// some of them now hold no unsafe operation. (The crate needs Rust 1.89: the `{vex}` and
// `{evex}` prefixes of the VNNI assembly, AVX-512 feature detection.)
#![allow(unused_unsafe)]

use std::sync::OnceLock;

use crate::quant::{
    self,
    q8_0::{BlockQ8_0, BlockQ8_1},
    q8_k::BlockQ8K,
    BlockFormat, DotOrder, GgmlType, LayoutError,
};

pub mod attn;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;

/// A byte buffer aligned to 8 bytes, for quantized activations (Q8_K blocks hold an f32, so a
/// plain `Vec<u8>` would not do).
#[derive(Default)]
pub struct AlignedBuf {
    words: Vec<u64>,
}

impl AlignedBuf {
    /// A buffer of at least `bytes` bytes.
    pub fn new(bytes: usize) -> AlignedBuf {
        AlignedBuf {
            words: vec![0; bytes.div_ceil(8)],
        }
    }
    /// The first `len` bytes (panics if `len` exceeds the capacity: sizes are fixed at
    /// session creation from the model's dimensions).
    pub fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        &mut words_as_bytes_mut(&mut self.words)[..len]
    }
    /// The capacity in bytes.
    pub fn len(&self) -> usize {
        self.words.len() * 8
    }
    /// Whether the capacity is zero.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
    /// The first `len` bytes.
    pub fn bytes(&self, len: usize) -> &[u8] {
        &quant::as_bytes(&self.words)[..len]
    }
}

fn words_as_bytes_mut(w: &mut [u64]) -> &mut [u8] {
    // SAFETY: u64 has no padding and any byte pattern is a valid u64; u8 has alignment 1; the
    // returned slice covers exactly the memory of `w` and borrows it mutably.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr() as *mut u8, std::mem::size_of_val(w)) }
}

// SAFETY: u64 is a primitive integer: every bit pattern valid, no padding.
unsafe impl quant::Pod for u64 {}

/// An instruction set a kernel table is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// The scalar reference (`src/quant/`): always available.
    Scalar,
    /// x86_64 AVX2 + FMA + F16C (every AVX2 CPU has FMA and F16C in practice; all three are
    /// checked).
    Avx2,
    /// AVX2 + FMA + F16C with AVX-VNNI (`vpdpbusd`) and GFNI (`gf2p8affineqb`, on every
    /// AVX-VNNI CPU): the AVX2 table, with decode and prefill kernels that use them
    /// (`src/kernels/x86_64/avxvnni/`).
    AvxVnni,
    /// The AVX-VNNI table's kernels with their VNNI instructions EVEX-encoded, for CPUs with
    /// AVX512-VNNI and AVX512VL (and GFNI) but not AVX-VNNI: AMD Zen 4, Intel Ice Lake, Tiger
    /// Lake, Sapphire Rapids (`x86_64::avx512vnni`, compiled from `src/kernels/x86_64/avxvnni/`).
    Avx512Vnni,
    /// aarch64 NEON (Advanced SIMD), integer dot products with `vmull`/`vpadal` (Pi 4).
    Neon,
    /// aarch64 NEON with the dot-product extension: `sdot` (Pi 5).
    NeonDotprod,
}

impl Isa {
    /// Whether the table is one of the two VNNI tables (the same kernels in two encodings).
    pub fn has_vnni(self) -> bool {
        matches!(self, Isa::AvxVnni | Isa::Avx512Vnni)
    }

    /// Whether the table's CPU has AVX2, FMA and F16C (the AVX2 and AVX-VNNI tables), so that
    /// the AVX2 versions of the vector operations may run.
    pub fn has_avx2(self) -> bool {
        matches!(self, Isa::Avx2 | Isa::AvxVnni | Isa::Avx512Vnni)
    }

    /// Whether the table is a NEON one (both aarch64 tables), so that the NEON versions of
    /// the vector operations may run (not with the scalar table, e.g. `FERRITE_KERNELS=scalar`).
    pub fn has_neon(self) -> bool {
        matches!(self, Isa::Neon | Isa::NeonDotprod)
    }

    /// The short name used by `FERRITE_KERNELS`, the benchmarks and the test messages.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
            Isa::NeonDotprod => "dotprod",
        }
    }
}

/// A type-erased dot-product kernel: `n` weight blocks at `w` times the activation blocks
/// covering the same values at `a` (`n * BLOCK / ACT_BLOCK` of them).
///
/// # Safety
/// `w` and `a` must point to that many valid, aligned blocks of the kernel's weight and
/// activation types, and the CPU must support the instruction set of the table the pointer
/// came from.
pub(crate) type VecDotFn = unsafe fn(n: usize, w: *const u8, a: *const u8) -> f32;

/// An activation quantizer into Q8_0 blocks (`x.len() == out.len() * 32`), with the
/// semantics of ggml's x86 `quantize_row_q8_0` ([`quant::q8_0::quantize_row_x86`]).
///
/// # Safety
/// The CPU must support the instruction set of the table the pointer came from.
pub(crate) type QuantizeQ8_0Fn = unsafe fn(x: &[f32], out: &mut [BlockQ8_0]);

/// An activation quantizer into Q8_1 blocks (`x.len() == out.len() * 32`), with the
/// semantics of ggml's x86 `quantize_row_q8_1` ([`quant::q8_0::quantize_row_q8_1_x86`]).
///
/// # Safety
/// As [`QuantizeQ8_0Fn`].
pub(crate) type QuantizeQ8_1Fn = unsafe fn(x: &[f32], out: &mut [BlockQ8_1]);

/// An activation quantizer into Q8_K blocks (`x.len() == out.len() * 256`).
///
/// # Safety
/// As [`QuantizeQ8_0Fn`].
pub(crate) type QuantizeQ8KFn = unsafe fn(x: &[f32], out: &mut [BlockQ8K]);

/// The weight types with a kernel, in table order.
pub const TYPES: [GgmlType; 15] = GgmlType::SUPPORTED;

/// The float orders a table has kernels for, in table order (see [`DotOrder`]).
pub const ORDERS: [DotOrder; 5] = [
    DotOrder::VecDot,
    DotOrder::Tiled,
    DotOrder::Llamafile,
    DotOrder::RepackedGemm,
    DotOrder::RepackedGemv,
];

/// The index of `ty` in [`TYPES`] (and in a table's rows of kernels).
fn slot(ty: GgmlType) -> Option<usize> {
    TYPES.iter().position(|&t| t == ty)
}

/// The index of `order` in [`ORDERS`].
fn order_slot(order: DotOrder) -> usize {
    match order {
        DotOrder::VecDot => 0,
        DotOrder::Tiled => 1,
        DotOrder::Llamafile => 2,
        DotOrder::RepackedGemm => 3,
        DotOrder::RepackedGemv => 4,
    }
}

/// Builds a [`VecDotFn`] from a typed kernel `fn(&[B], &[B::Activation]) -> f32` (safe or
/// `unsafe`, e.g. a `#[target_feature]` function).
macro_rules! erase_dot {
    ($B:ty, $f:path) => {{
        /// # Safety
        /// As [`crate::kernels::VecDotFn`].
        #[allow(unused_unsafe)]
        unsafe fn erased(n: usize, w: *const u8, a: *const u8) -> f32 {
            use $crate::quant::BlockFormat;
            let n_act = n * <$B as BlockFormat>::BLOCK / <$B as BlockFormat>::ACT_BLOCK;
            // SAFETY: the caller guarantees `n` valid aligned weight blocks at `w` and `n_act`
            // activation blocks at `a`, and the CPU features of this table (the contract of
            // `VecDotFn`); the slices live only for this call.
            unsafe {
                let w = std::slice::from_raw_parts(w as *const $B, n);
                let a =
                    std::slice::from_raw_parts(a as *const <$B as BlockFormat>::Activation, n_act);
                $f(w, a)
            }
        }
        erased as $crate::kernels::VecDotFn
    }};
}
pub(crate) use erase_dot;

/// Runs `$e` with `$B` bound to the block type of `$ty`; `None` for a type without a kernel.
macro_rules! with_type {
    ($ty:expr, $B:ident => $e:expr) => {{
        use $crate::quant::{
            iq4_nl, iq4_xs, q2_k, q3_k, q4_0, q4_1, q4_k, q5_0, q5_1, q5_k, q6_k, q8_0, GgmlType,
        };
        match $ty {
            GgmlType::F32 => {
                type $B = core::primitive::f32;
                Some($e)
            }
            GgmlType::F16 => {
                type $B = half::f16;
                Some($e)
            }
            GgmlType::BF16 => {
                type $B = half::bf16;
                Some($e)
            }
            GgmlType::Q4_0 => {
                type $B = q4_0::BlockQ4_0;
                Some($e)
            }
            GgmlType::Q4_1 => {
                type $B = q4_1::BlockQ4_1;
                Some($e)
            }
            GgmlType::Q5_0 => {
                type $B = q5_0::BlockQ5_0;
                Some($e)
            }
            GgmlType::Q5_1 => {
                type $B = q5_1::BlockQ5_1;
                Some($e)
            }
            GgmlType::Q8_0 => {
                type $B = q8_0::BlockQ8_0;
                Some($e)
            }
            GgmlType::Q2_K => {
                type $B = q2_k::BlockQ2K;
                Some($e)
            }
            GgmlType::Q3_K => {
                type $B = q3_k::BlockQ3K;
                Some($e)
            }
            GgmlType::Q4_K => {
                type $B = q4_k::BlockQ4K;
                Some($e)
            }
            GgmlType::Q5_K => {
                type $B = q5_k::BlockQ5K;
                Some($e)
            }
            GgmlType::Q6_K => {
                type $B = q6_k::BlockQ6K;
                Some($e)
            }
            GgmlType::IQ4_NL => {
                type $B = iq4_nl::BlockIQ4NL;
                Some($e)
            }
            GgmlType::IQ4_XS => {
                type $B = iq4_xs::BlockIQ4XS;
                Some($e)
            }
            _ => None,
        }
    }};
}

/// The scalar reference of one float order, type-erased: the [`BlockFormat`] method of that
/// order (`O` is the index in [`ORDERS`]).
///
/// # Safety
/// As [`VecDotFn`] (the scalar code runs on every CPU).
unsafe fn reference_dot<B: BlockFormat, const O: usize>(
    n: usize,
    w: *const u8,
    a: *const u8,
) -> f32 {
    let n_act = n * B::BLOCK / B::ACT_BLOCK;
    // SAFETY: the caller guarantees `n` valid aligned weight blocks at `w` and `n_act`
    // activation blocks at `a` (the contract of `VecDotFn`); the slices live only for this
    // call.
    let (w, a) = unsafe {
        (
            std::slice::from_raw_parts(w as *const B, n),
            std::slice::from_raw_parts(a as *const B::Activation, n_act),
        )
    };
    match O {
        0 => B::vec_dot(w, a),
        1 => B::vec_dot_tiled(w, a),
        2 => B::vec_dot_llamafile(w, a),
        3 => B::vec_dot_repacked(w, a, true),
        _ => B::vec_dot_repacked(w, a, false),
    }
}

/// The scalar reference kernel of `ty` (a type in [`TYPES`]) in `order`, type-erased.
pub(crate) fn reference_dot_fn(ty: GgmlType, order: DotOrder) -> VecDotFn {
    with_type!(ty, B => match order_slot(order) {
        0 => reference_dot::<B, 0> as VecDotFn,
        1 => reference_dot::<B, 1> as VecDotFn,
        2 => reference_dot::<B, 2> as VecDotFn,
        3 => reference_dot::<B, 3> as VecDotFn,
        _ => reference_dot::<B, 4> as VecDotFn,
    })
    .unwrap_or_else(|| unreachable!("type {ty} has no kernel"))
}

/// One instruction set's kernels: a dot product per weight type and the activation
/// quantizers. Obtain one from [`Kernels::get`] (the process-wide choice) or from the
/// constructors, which return `None` when the CPU lacks the instruction set; a value of this
/// type is therefore proof that its kernels may run on this CPU.
///
/// For every weight type and every float order ([`DotOrder`]) the table holds the SIMD kernel
/// when there is one bit-identical to the scalar reference of that order (tested in
/// `tests/kernels.rs`), and the scalar reference otherwise: correct first, then fast.
#[derive(Clone, Copy)]
pub struct Kernels {
    isa: Isa,
    /// `dots[order_slot(o)][slot(ty)]`.
    dots: [[VecDotFn; TYPES.len()]; ORDERS.len()],
    /// Which entries of `dots` are SIMD kernels (the rest are the scalar reference).
    simd: [[bool; TYPES.len()]; ORDERS.len()],
    quantize_q8_0: QuantizeQ8_0Fn,
    quantize_q8_1: QuantizeQ8_1Fn,
    quantize_q8_k: QuantizeQ8KFn,
}

/// The activation quantizers of one instruction set.
pub(crate) struct Quantizers {
    pub q8_0: QuantizeQ8_0Fn,
    pub q8_1: QuantizeQ8_1Fn,
    pub q8_k: QuantizeQ8KFn,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("isa", &self.isa).finish()
    }
}

static SELECTED: OnceLock<Kernels> = OnceLock::new();

impl Kernels {
    /// A table of `isa`: `simd(ty, order)` gives the instruction set's kernel where it has one
    /// (bit-identical to the reference of that order), the scalar reference fills the rest.
    pub(crate) fn build(
        isa: Isa,
        simd: impl Fn(GgmlType, DotOrder) -> Option<VecDotFn>,
        q: Quantizers,
    ) -> Kernels {
        let mut dots = [[reference_dot_fn(TYPES[0], ORDERS[0]); TYPES.len()]; ORDERS.len()];
        let mut is_simd = [[false; TYPES.len()]; ORDERS.len()];
        for (o, &order) in ORDERS.iter().enumerate() {
            for (t, &ty) in TYPES.iter().enumerate() {
                match simd(ty, order) {
                    Some(f) => {
                        dots[o][t] = f;
                        is_simd[o][t] = true;
                    }
                    None => dots[o][t] = reference_dot_fn(ty, order),
                }
            }
        }
        Kernels {
            isa,
            dots,
            simd: is_simd,
            quantize_q8_0: q.q8_0,
            quantize_q8_1: q.q8_1,
            quantize_q8_k: q.q8_k,
        }
    }

    /// Whether this table runs a SIMD kernel (rather than the scalar reference) for weights
    /// of type `ty` in `order`.
    pub fn is_simd(&self, ty: GgmlType, order: DotOrder) -> bool {
        slot(ty).is_some_and(|t| self.simd[order_slot(order)][t])
    }

    /// The scalar reference kernels (`src/quant/`), available everywhere.
    pub fn scalar() -> Kernels {
        scalar::table()
    }

    /// The AVX2 + FMA + F16C kernels, if this CPU has all three.
    pub fn avx2() -> Option<Kernels> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                // Detected above: the table's contract holds.
                return Some(x86_64::avx2::table());
            }
        }
        None
    }

    /// The AVX2 table with the AVX-VNNI kernels, if this CPU has AVX2, FMA, F16C, AVX-VNNI and
    /// GFNI.
    pub fn avx_vnni() -> Option<Kernels> {
        #[cfg(target_arch = "x86_64")]
        {
            if Kernels::avx2().is_some()
                && is_x86_feature_detected!("avxvnni")
                && is_x86_feature_detected!("gfni")
            {
                // Detected above: the table's contract holds.
                return Some(x86_64::avxvnni::table());
            }
        }
        None
    }

    /// The AVX-VNNI table's kernels in the EVEX encoding, if this CPU has AVX2, FMA, F16C,
    /// AVX512-VNNI, AVX512F, AVX512VL, AVX512BW and GFNI (every AVX512-VNNI CPU has the
    /// three, and its decode products are compiled with them).
    pub fn avx512_vnni() -> Option<Kernels> {
        #[cfg(target_arch = "x86_64")]
        {
            if Kernels::avx2().is_some()
                && is_x86_feature_detected!("avx512vnni")
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("gfni")
            {
                // Detected above: the table's contract holds.
                return Some(x86_64::avx512vnni::table());
            }
        }
        None
    }

    /// The plain NEON kernels (`vmull`/`vpadal` integer dot products), if this CPU has NEON.
    pub fn neon() -> Option<Kernels> {
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Some(aarch64::neon::table(false));
            }
        }
        None
    }

    /// The NEON kernels that use the dot-product extension (`sdot`), if this CPU has it.
    pub fn neon_dotprod() -> Option<Kernels> {
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon")
                && std::arch::is_aarch64_feature_detected!("dotprod")
            {
                return Some(aarch64::neon::table(true));
            }
        }
        None
    }

    /// Every table this CPU supports, the scalar reference first and the best last.
    pub fn all() -> Vec<Kernels> {
        let mut v = vec![Kernels::scalar()];
        v.extend(Kernels::avx2());
        // Where both VNNI instances run, the EVEX one is best: with AVX512VL enabled for its
        // K-quant row loop LLVM has 32 vector registers there (measured on a Xeon with both,
        // 256 x 4096 in cache: Q4_K 18.1 -> 19.2 GB/s, Q5_K 16.6 -> 18.6, Q6_K 20.1 -> 23.8,
        // Q3_K 14.4 -> 15.5; the other formats and Gemma's decode and prefill the same).
        v.extend(Kernels::avx_vnni());
        v.extend(Kernels::avx512_vnni());
        v.extend(Kernels::neon());
        v.extend(Kernels::neon_dotprod());
        v
    }

    /// The best table for this CPU.
    pub fn best() -> Kernels {
        Kernels::all()
            .pop()
            .expect("the scalar table is always there")
    }

    /// The process-wide table, chosen on first use: the best this CPU supports, or the one
    /// named by `FERRITE_KERNELS` when it is available.
    pub fn get() -> &'static Kernels {
        SELECTED.get_or_init(|| {
            let all = Kernels::all();
            let forced = std::env::var("FERRITE_KERNELS").ok();
            forced
                .and_then(|name| all.iter().copied().find(|k| k.isa.name() == name))
                .unwrap_or_else(|| *all.last().expect("the scalar table is always there"))
        })
    }

    /// The instruction set of this table.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The instruction set's name (`scalar`, `avx2`, `avxvnni`, `avx512vnni`, `neon`, `dotprod`).
    pub fn name(&self) -> &'static str {
        self.isa.name()
    }

    fn dot_fn(&self, ty: GgmlType, order: DotOrder) -> VecDotFn {
        match slot(ty) {
            Some(i) => self.dots[order_slot(order)][i],
            None => panic!("no kernel for type {ty}: refused at load"),
        }
    }

    /// The dot product of one weight row of type `ty` with an activation row in
    /// `ty.vec_dot_type()` format covering the same values, in ggml's `vec_dot` order (the
    /// counterpart of the scalar [`quant::vec_dot`], with this table's kernel).
    pub fn vec_dot(&self, ty: GgmlType, w: &[u8], a: &[u8]) -> Result<f32, LayoutError> {
        self.vec_dot_order(ty, DotOrder::VecDot, w, a)
    }

    /// [`Kernels::vec_dot`] in the float order `order` (the counterpart of the
    /// [`BlockFormat`] method of that order).
    pub fn vec_dot_order(
        &self,
        ty: GgmlType,
        order: DotOrder,
        w: &[u8],
        a: &[u8],
    ) -> Result<f32, LayoutError> {
        let f = slot(ty)
            .map(|i| self.dots[order_slot(order)][i])
            .ok_or(LayoutError)?;
        let (n_w, n_a) = with_type!(ty, B => layout::<B>(w, a))
            .flatten()
            .ok_or(LayoutError)?;
        if with_type!(ty, B => n_w * B::BLOCK != n_a * B::ACT_BLOCK).unwrap_or(true) {
            return Err(LayoutError);
        }
        // SAFETY: `layout` checked that `w` holds `n_w` aligned blocks of the weight type and
        // `a` the matching activation blocks (lengths checked just above); `self` exists only
        // if the CPU supports its kernels.
        Ok(unsafe { f(n_w, w.as_ptr(), a.as_ptr()) })
    }

    /// `out[r] = row_r(w) . act` for every row of the weight `w` (type `ty`, `out.len()`
    /// rows). `act` must be in `ty.vec_dot_type()` format with as many values as a row, its
    /// quants in [-127, 127] as the quantizers give them (the NEON kernels add two products
    /// in 16 bits; a -128 there may give another result, never undefined behaviour).
    ///
    /// The whole weight and the activation are checked once (length and alignment); the row
    /// loop then calls the kernel with no further checks.
    ///
    /// # Panics
    /// If the lengths do not describe `out.len()` rows of `act`'s length (checked at load and
    /// session creation, so a panic here is a bug), or `ty` has no kernel.
    pub fn matvec(&self, out: &mut [f32], ty: GgmlType, w: &[u8], act: &[u8]) {
        self.matvec_order(out, ty, w, act, DotOrder::VecDot)
    }

    /// [`Kernels::matvec`] in the float order `order` (see [`DotOrder`]).
    ///
    /// # Panics
    /// As [`Kernels::matvec`].
    pub fn matvec_order(
        &self,
        out: &mut [f32],
        ty: GgmlType,
        w: &[u8],
        act: &[u8],
        order: DotOrder,
    ) {
        let f = self.dot_fn(ty, order);
        let (n_w, n_a) = with_type!(ty, B => layout::<B>(w, act))
            .flatten()
            .expect("weight and activation bytes are whole aligned blocks (checked at load)");
        let (block, act_block, size) = with_type!(ty, B => (B::BLOCK, B::ACT_BLOCK,
            std::mem::size_of::<B>()))
        .expect("type has a kernel");
        let rows = out.len();
        let per_row = (n_a * act_block) / block;
        assert!(
            per_row * block == n_a * act_block && n_w == rows * per_row,
            "matvec {ty}: {n_w} weight blocks are not {rows} rows of {per_row}"
        );
        // The formats with a whole-matrix kernel (`x86_64::avxvnni::matvec`,
        // `x86_64::avx2::matvec`, `aarch64::neon::matvec`).
        // SAFETY (both): each table exists only on CPUs with its features; `w` holds `rows`
        // rows of `per_row` blocks and `act` the matching activation blocks of `ty` (checked
        // above).
        #[cfg(target_arch = "x86_64")]
        if self.isa == Isa::AvxVnni
            && unsafe { x86_64::avxvnni::matvec::matvec(ty, order, w, act, out) }
        {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.isa == Isa::Avx512Vnni
            && unsafe { x86_64::avx512vnni::matvec::matvec(ty, order, w, act, out) }
        {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.isa == Isa::Avx2 && unsafe { x86_64::avx2::matvec::matvec(ty, order, w, act, out) }
        {
            return;
        }
        // SAFETY (both): as above, for the NEON tables (which exist only on CPUs with NEON,
        // and dotprod for `NeonDotprod`).
        #[cfg(target_arch = "aarch64")]
        if self.isa == Isa::Neon && unsafe { aarch64::neon::matvec::matvec(ty, order, w, act, out) }
        {
            return;
        }
        #[cfg(target_arch = "aarch64")]
        if self.isa == Isa::NeonDotprod
            && unsafe { aarch64::neon::matvec::matvec_dotprod(ty, order, w, act, out) }
        {
            return;
        }
        let w = w.as_ptr();
        let a = act.as_ptr();
        for (r, o) in out.iter_mut().enumerate() {
            // SAFETY: row r is blocks r * per_row .. (r + 1) * per_row of the `n_w` blocks
            // checked above (aligned: every block starts a multiple of the block size past the
            // aligned start), `a` holds the `n_a` matching activation blocks, and `self`
            // exists only if the CPU supports its kernels.
            *o = unsafe { f(per_row, w.add(r * per_row * size), a) };
        }
    }

    /// Quantizes activations `x` into `dst` in the format `ty` as llama.cpp does on x86-64
    /// (the counterpart of [`quant::quantize_activation_x86`]; Q8_0, Q8_1 and Q8_K use this
    /// table's quantizers, which give the same bytes as the scalar ones).
    pub fn quantize_activation(
        &self,
        ty: GgmlType,
        x: &[f32],
        dst: &mut [u8],
    ) -> Result<(), LayoutError> {
        if ty.row_bytes(x.len()) != Some(dst.len()) {
            return Err(LayoutError);
        }
        match ty {
            GgmlType::Q8_0 => {
                let out = quant::cast_blocks_mut(dst).ok_or(LayoutError)?;
                self.quantize_q8_0(x, out);
                Ok(())
            }
            GgmlType::Q8_1 => {
                let out = quant::cast_blocks_mut(dst).ok_or(LayoutError)?;
                self.quantize_q8_1(x, out);
                Ok(())
            }
            GgmlType::Q8_K => {
                let out = quant::cast_blocks_mut(dst).ok_or(LayoutError)?;
                self.quantize_q8_k(x, out);
                Ok(())
            }
            _ => quant::quantize_activation_x86(ty, x, dst),
        }
    }

    /// Quantizes `x` into Q8_0 blocks with this table's quantizer (bytes identical to
    /// [`quant::q8_0::quantize_row_x86`], ggml's x86 quantizer).
    pub fn quantize_q8_0(&self, x: &[f32], out: &mut [BlockQ8_0]) {
        assert_eq!(x.len(), out.len() * 32, "Q8_0 quantize: length mismatch");
        // SAFETY: `self` exists only if the CPU supports its kernels.
        unsafe { (self.quantize_q8_0)(x, out) }
    }

    /// Quantizes `x` into Q8_1 blocks with this table's quantizer (bytes identical to
    /// [`quant::q8_0::quantize_row_q8_1_x86`]).
    pub fn quantize_q8_1(&self, x: &[f32], out: &mut [BlockQ8_1]) {
        assert_eq!(x.len(), out.len() * 32, "Q8_1 quantize: length mismatch");
        // SAFETY: `self` exists only if the CPU supports its kernels.
        unsafe { (self.quantize_q8_1)(x, out) }
    }

    /// Quantizes `x` into Q8_K blocks with this table's quantizer (bytes identical to
    /// [`quant::q8_k::quantize_row`]).
    pub fn quantize_q8_k(&self, x: &[f32], out: &mut [BlockQ8K]) {
        assert_eq!(x.len(), out.len() * 256, "Q8_K quantize: length mismatch");
        // SAFETY: `self` exists only if the CPU supports its kernels.
        unsafe { (self.quantize_q8_k)(x, out) }
    }

    /// Quantizes `x` for multiplication with weights of type `w_ty`; returns the bytes used.
    pub fn quantize_for<'a>(&self, w_ty: GgmlType, x: &[f32], buf: &'a mut AlignedBuf) -> &'a [u8] {
        let aty = w_ty.vec_dot_type();
        let len = aty
            .row_bytes(x.len())
            .expect("activation length is a multiple of the block size (checked at load)");
        let dst = buf.bytes_mut(len);
        self.quantize_activation(aty, x, dst)
            .expect("activation buffer sized at session creation");
        &*dst
    }
}

/// The block counts of `w` (weight blocks of `B`) and `a` (its activation blocks), if both are
/// whole numbers of aligned blocks.
fn layout<B: BlockFormat>(w: &[u8], a: &[u8]) -> Option<(usize, usize)> {
    let wb = quant::cast_blocks::<B>(w)?;
    let ab = quant::cast_blocks::<B::Activation>(a)?;
    Some((wb.len(), ab.len()))
}

// ---- shared by the SIMD kernels -------------------------------------------------------------

const K4MASK1: u32 = 0x3f3f_3f3f;
const K4MASK2: u32 = 0x0f0f_0f0f;
const K4MASK3: u32 = 0x0303_0303;

/// The 8 six-bit scales (bytes 0..8) and 8 six-bit minimums (bytes 8..16) of a Q4_K/Q5_K
/// block, unpacked from the 12 packed bytes with ggml's `utmp` word trick (the packing is
/// described in `crate::quant::q4_k`; `scale_min_k4` there is the one-at-a-time version).
#[inline]
pub(crate) fn scales_mins(packed: &[u8; 12]) -> [u32; 4] {
    let word =
        |i: usize| u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]]);
    let (u0, u1, u2) = (word(0), word(4), word(8));
    [
        // scales 0..4: the low 6 bits of bytes 0..4
        u0 & K4MASK1,
        // scales 4..8: low nibbles of bytes 8..12, top bits from bits 7:6 of bytes 0..4
        (u2 & K4MASK2) | (((u0 >> 6) & K4MASK3) << 4),
        // mins 0..4: the low 6 bits of bytes 4..8
        u1 & K4MASK1,
        // mins 4..8: high nibbles of bytes 8..12, top bits from bits 7:6 of bytes 4..8
        ((u2 >> 4) & K4MASK2) | (((u1 >> 6) & K4MASK3) << 4),
    ]
}

/// `out[r] = row_r(w) . act` for every row of the weight `w` (type `ty`, `out.len()` rows) in
/// the float order of one of ggml's kernels (see [`quant::DotOrder`]), with the
/// process-wide table.
pub fn matvec_order(out: &mut [f32], ty: GgmlType, w: &[u8], act: &[u8], order: DotOrder) {
    Kernels::get().matvec_order(out, ty, w, act, order)
}

impl Kernels {
    /// One weight tile times a batch of activations (prefill): `out[t * out_stride + r] =
    /// row_r(w) . act_t` for the `tile_rows` rows of `w` (type `ty`) and the `n` activation
    /// rows `act_t = acts[t * act_stride..][..act_len]`, each in the float order `order_of(t)`:
    /// the bits of one [`Kernels::matvec_order`] per token.
    ///
    /// Integer work is shared across the batch where that gives the same bits: a Q5_0 tile is
    /// unpacked once into Q8_0 blocks in `scratch` (same lanes, same order; see
    /// `quant::q5_0::to_q8_0`; Q5_0 always adds in `vec_dot`'s order; with the AVX2 table and
    /// rows in pairs, into its unsigned quants for `avx2::q8_0::tile_x4_q5`), Q8_0 rows are
    /// multiplied two rows by four tokens at a time (AVX2, AVX-VNNI and NEON tables), the
    /// Q4_K and Q6_K super-blocks are unpacked once for four tokens (AVX2 and NEON kernels;
    /// `aarch64::neon::tile`), and with the AVX2 and VNNI tables Q4_K and Q6_K tiles are
    /// repacked once, eight rows to a vector, into `scratch` for the repacked-GEMM and tiled
    /// orders (`x86_64::PackedTile`).
    ///
    /// `scratch` is [`tile_scratch_bytes`] long for the tile (less disables the unpacking
    /// and repacking, not the results) and 8-byte aligned.
    ///
    /// # Safety
    /// `out` is valid for writes at `t * out_stride + r` for `t < n`, `r < tile_rows`, and
    /// nothing else reads or writes those elements during the call.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn matmul_tile(
        &self,
        out: *mut f32,
        out_stride: usize,
        ty: GgmlType,
        w: &[u8],
        tile_rows: usize,
        acts: &[u8],
        act_stride: usize,
        act_len: usize,
        n: usize,
        order_of: &dyn Fn(usize) -> DotOrder,
        scratch: &mut [u8],
    ) {
        let act = |t: usize| &acts[t * act_stride..t * act_stride + act_len];
        let n_blocks = w.len() / ty.type_size();
        let q8_bytes = n_blocks * std::mem::size_of::<quant::q8_0::BlockQ8_0>();
        #[cfg(target_arch = "x86_64")]
        let cols = n_blocks / tile_rows.max(1) * ty.block_size();
        // The tile repacked eight rows to a vector (AVX2 and VNNI tables: Q4_K, Q6_K) when
        // the batch's first four tokens take the packed kernel's order (the others, if any
        // do not, go through the tiles as stored).
        #[cfg(target_arch = "x86_64")]
        let packs = n >= 4
            && x86_64::PackedTile::order(self.isa, ty) == Some(order_of(0))
            && x86_64::PackedTile::bytes(self.isa, ty, tile_rows, cols)
                .is_some_and(|b| b <= scratch.len());
        #[cfg(target_arch = "x86_64")]
        let mut packed = None;
        // With the AVX2 table a Q5_0 tile of paired rows is unpacked to its unsigned quants
        // for four tokens at a time (`avx2::q8_0::tile_x4_q5`); `q5_unsigned` then keeps the
        // tile as stored for the tokens that go one at a time. (The VNNI tables' Q8_0 tile
        // took the same unsigned quants no faster: its `vpxor` per row and block is not what
        // bounds it, 73.1-73.2 GMAC/s either way on a 64 x 640 tile.)
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut q5_unsigned: Option<&[u8]> = None;
        let (ty, w) = match ty {
            #[cfg(target_arch = "x86_64")]
            _ if packs => {
                // SAFETY: `packs` holds only with a table that has a packed kernel for `ty`
                // (AVX2 or VNNI), whose features this CPU has; `bytes` fit the scratch.
                packed = Some(unsafe {
                    x86_64::PackedTile::pack(self.isa, ty, w, tile_rows, cols, scratch)
                });
                (ty, w)
            }
            #[cfg(target_arch = "x86_64")]
            GgmlType::Q5_0
                if self.isa == Isa::Avx2
                    && n >= 4
                    && tile_rows.is_multiple_of(2)
                    && scratch.len() >= q8_bytes =>
            {
                let src: &[quant::q5_0::BlockQ5_0] =
                    quant::cast_blocks(w).expect("weight blocks checked at load");
                let dst = quant::cast_blocks_mut(&mut scratch[..q8_bytes])
                    .expect("scratch aligned for Q8_0 blocks");
                // SAFETY: the AVX2 table exists only on CPUs with AVX2, FMA and F16C.
                unsafe { x86_64::avx2::q5_0::to_unsigned(src, dst) };
                q5_unsigned = Some(w);
                (GgmlType::Q8_0, quant::as_bytes(dst))
            }
            GgmlType::Q5_0 if n > 1 && scratch.len() >= q8_bytes => {
                let src: &[quant::q5_0::BlockQ5_0] =
                    quant::cast_blocks(w).expect("weight blocks checked at load");
                let dst = quant::cast_blocks_mut(&mut scratch[..q8_bytes])
                    .expect("scratch aligned for Q8_0 blocks");
                self.unpack_q5_0(src, dst);
                (GgmlType::Q8_0, quant::as_bytes(dst))
            }
            _ => (ty, w),
        };
        let mut t = 0;
        while t < n {
            // Four tokens of one order through the packed tile, when it has their kernel; the
            // rows left over (fewer than eight) one token at a time.
            #[cfg(target_arch = "x86_64")]
            if let Some(p) = packed.as_ref().filter(|_| t + 4 <= n) {
                let o = order_of(t);
                let a4: [&[u8]; 4] = std::array::from_fn(|k| act(t + k));
                let done = if (1..4).all(|k| order_of(t + k) == o) {
                    // SAFETY: tokens t..t + 4 < n, rows < tile_rows: the caller's contract
                    // (the sink lives for this call only); packed by this table, whose
                    // features this CPU has (see above).
                    unsafe {
                        let mut put = Out4::new(out.add(t * out_stride), out_stride, tile_rows);
                        p.run_x4(o, a4, &mut put)
                    }
                } else {
                    None
                };
                if let Some(rows8) = done {
                    let rb = w.len() / tile_rows;
                    for (k, a) in a4.into_iter().enumerate() {
                        // SAFETY: rows [rows8, tile_rows) of token t + k < n.
                        let o = unsafe {
                            std::slice::from_raw_parts_mut(
                                out.add((t + k) * out_stride + rows8),
                                tile_rows - rows8,
                            )
                        };
                        self.matvec_order(o, ty, &w[rows8 * rb..], a, order_of(t + k));
                    }
                    t += 4;
                    continue;
                }
            }
            // Four tokens in the same order, for a format with a four-token kernel: each
            // weight block is unpacked once for the four.
            if t + 4 <= n {
                let o = order_of(t);
                let f = match q5_unsigned {
                    // (Q5_0 adds in `vec_dot`'s order; any other order goes token by token
                    // through the tile as stored.)
                    #[cfg(target_arch = "x86_64")]
                    Some(_) if o == DotOrder::VecDot => Some(q5_0_unsigned_x4 as RowX4Fn),
                    Some(_) => None,
                    None => self.row_x4(ty, o),
                };
                if let Some(f) = f.filter(|_| (1..4).all(|k| order_of(t + k) == o)) {
                    let a4: [&[u8]; 4] = std::array::from_fn(|k| act(t + k));
                    // SAFETY: tokens t..t + 4 < n, rows < tile_rows: the caller's contract.
                    let mut put =
                        unsafe { Out4::new(out.add(t * out_stride), out_stride, tile_rows) };
                    // SAFETY: `row_x4` returns kernels of this table's instruction set, which
                    // this CPU has; the tile and the activations are whole blocks of matching
                    // lengths (checked inside).
                    unsafe { f(w, tile_rows, a4, &mut put) };
                    t += 4;
                    continue;
                }
            }
            // SAFETY: row range [0, tile_rows) of token t < n: the caller's contract.
            let o = unsafe { std::slice::from_raw_parts_mut(out.add(t * out_stride), tile_rows) };
            match q5_unsigned {
                Some(q5) => self.matvec_order(o, GgmlType::Q5_0, q5, act(t), order_of(t)),
                None => self.matvec_order(o, ty, w, act(t), order_of(t)),
            }
            t += 1;
        }
    }

    /// The four-token tile kernel of `ty` in `order`, when this table has one (each gives the
    /// bits of four calls of the table's kernel for that pair).
    fn row_x4(&self, ty: GgmlType, order: DotOrder) -> Option<RowX4Fn> {
        #[cfg(target_arch = "x86_64")]
        return self.row_x4_x86(ty, order);
        #[cfg(target_arch = "aarch64")]
        return aarch64::neon::tile::row_x4(self.isa, ty, order);
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        return None;
    }

    /// [`Self::row_x4`] of the x86 tables.
    #[cfg(target_arch = "x86_64")]
    fn row_x4_x86(&self, ty: GgmlType, order: DotOrder) -> Option<RowX4Fn> {
        use quant::{q4_k::BlockQ4K, q6_k::BlockQ6K, q8_0::BlockQ8_0};
        use x86_64::{avx2, avx512vnni, avxvnni};
        // SAFETY (all): handed out by `row_x4` only for a table whose instruction set this
        // CPU has (AVX2, FMA, F16C; AVX-VNNI or AVX512-VNNI for the VNNI ones); `tile` checks
        // the lengths.
        unsafe fn q4_k_gemm(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
            tile::<BlockQ4K>(w, rows, a, put, |w, a, put| {
                each_row(w, a, put, |row, a| unsafe {
                    avx2::q4_k::dot_x4(row, a, false)
                })
            })
        }
        unsafe fn q4_k_tiled(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
            tile::<BlockQ4K>(w, rows, a, put, |w, a, put| {
                each_row(w, a, put, |row, a| unsafe {
                    avx2::q4_k::dot_x4(row, a, true)
                })
            })
        }
        unsafe fn q6_k_tiled(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
            tile::<BlockQ6K>(w, rows, a, put, |w, a, put| {
                each_row(w, a, put, |row, a| unsafe {
                    avx2::q6_k::dot_tiled_x4(row, a)
                })
            })
        }
        unsafe fn q8_0_avx2(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
            tile::<BlockQ8_0>(w, rows, a, put, |w, a, put| unsafe {
                avx2::q8_0::tile_x4(w, rows, a, put)
            })
        }
        // `EVEX`: the AVX512-VNNI instance of the VNNI kernels, else the AVX-VNNI one.
        unsafe fn q8_0_vnni<const EVEX: bool>(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
            tile::<BlockQ8_0>(w, rows, a, put, |w, a, put| unsafe {
                if a[0].len() > avxvnni::q8_0::MAX_BLOCKS {
                    avx2::q8_0::tile_x4(w, rows, a, put)
                } else if EVEX {
                    avx512vnni::q8_0::tile_x4(w, rows, a, put)
                } else {
                    avxvnni::q8_0::tile_x4(w, rows, a, put)
                }
            })
        }
        // Q4_0 and IQ4_NL in the repacked GEMM order: eight rows in lanes, a block's weights
        // unpacked once for four tokens (`avx2::matvec::repacked_in_lanes_x4`); `ISA` the
        // table whose integer work it takes (2 AVX512-VNNI, 1 AVX-VNNI, 0 AVX2).
        unsafe fn repacked_gemm<W: BlockFormat<Activation = BlockQ8_0>, const ISA: u8>(
            w: &[u8],
            rows: usize,
            a: [&[u8]; 4],
            put: PutFn,
        ) {
            tile::<W>(w, rows, a, put, |wb, a, put| unsafe {
                let bytes = quant::as_bytes(wb);
                let done = match ISA {
                    // Rows too long for the kernels' stack buffers: the one-row kernels.
                    _ if a[0].len() > avx2::matvec::MAX_BLOCKS => {
                        avx2::matvec::repacked_rows_x4(W::TYPE, bytes, a, put)
                    }
                    2 => avx512vnni::matvec::repacked_tile_x4(W::TYPE, bytes, a, put),
                    1 => avxvnni::matvec::repacked_tile_x4(W::TYPE, bytes, a, put),
                    _ => avx2::matvec::repacked_tile_x4(W::TYPE, bytes, a, put),
                };
                assert!(done, "a repacked tile kernel for {}", W::TYPE);
            })
        }
        if !self.isa.has_avx2() {
            return None;
        }
        let vnni: u8 = match self.isa {
            Isa::Avx512Vnni => 2,
            Isa::AvxVnni => 1,
            _ => 0,
        };
        match (ty, order) {
            (GgmlType::Q4_0, DotOrder::RepackedGemm) => Some(match vnni {
                2 => repacked_gemm::<quant::q4_0::BlockQ4_0, 2>,
                1 => repacked_gemm::<quant::q4_0::BlockQ4_0, 1>,
                _ => repacked_gemm::<quant::q4_0::BlockQ4_0, 0>,
            }),
            (GgmlType::IQ4_NL, DotOrder::RepackedGemm) => Some(match vnni {
                2 => repacked_gemm::<quant::iq4_nl::BlockIQ4NL, 2>,
                1 => repacked_gemm::<quant::iq4_nl::BlockIQ4NL, 1>,
                _ => repacked_gemm::<quant::iq4_nl::BlockIQ4NL, 0>,
            }),
            (GgmlType::Q8_0, _) if self.isa == Isa::AvxVnni => Some(q8_0_vnni::<false>),
            (GgmlType::Q8_0, _) if self.isa == Isa::Avx512Vnni => Some(q8_0_vnni::<true>),
            (GgmlType::Q8_0, _) => Some(q8_0_avx2),
            (GgmlType::Q4_K, DotOrder::RepackedGemm) => Some(q4_k_gemm),
            (GgmlType::Q4_K, DotOrder::Tiled) => Some(q4_k_tiled),
            (GgmlType::Q6_K, DotOrder::Tiled) => Some(q6_k_tiled),
            _ => None,
        }
    }

    /// [`quant::q5_0::to_q8_0`], with the AVX2 or NEON unpacking where this table may run it.
    fn unpack_q5_0(&self, src: &[quant::q5_0::BlockQ5_0], dst: &mut [quant::q8_0::BlockQ8_0]) {
        #[cfg(target_arch = "x86_64")]
        if self.isa.has_avx2() {
            // SAFETY: this table exists only on CPUs with AVX2, FMA and F16C.
            return unsafe { x86_64::avx2::q5_0::to_q8_0(src, dst) };
        }
        #[cfg(target_arch = "aarch64")]
        if self.isa.has_neon() {
            // SAFETY: the NEON tables exist only on CPUs with NEON.
            return unsafe { aarch64::neon::q5_0::to_q8_0(src, dst) };
        }
        quant::q5_0::to_q8_0(src, dst)
    }
}

/// The scratch [`Kernels::matmul_tile`] needs for tiles of `tile_rows` rows of `cols`
/// values: the larger of a Q5_0 tile unpacked to Q8_0 and a Q4_K tile repacked for
/// AVX-VNNI.
pub fn tile_scratch_bytes(tile_rows: usize, cols: usize) -> usize {
    let q8_0 = tile_rows * cols.div_ceil(32) * std::mem::size_of::<quant::q8_0::BlockQ8_0>();
    #[cfg(target_arch = "x86_64")]
    let packed = [GgmlType::Q4_K, GgmlType::Q6_K]
        .map(|ty| x86_64::avxvnni::PackedTile::bytes(ty, tile_rows, cols).unwrap_or(0));
    #[cfg(not(target_arch = "x86_64"))]
    let packed = [0];
    packed.into_iter().fold(q8_0, usize::max)
}

/// A Q5_0 tile unpacked by `avx2::q5_0::to_unsigned` times four tokens
/// (`avx2::q8_0::tile_x4_q5`), as a four-token tile kernel.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C (the AVX2 table is selected).
#[cfg(target_arch = "x86_64")]
unsafe fn q5_0_unsigned_x4(w: &[u8], rows: usize, a: [&[u8]; 4], put: PutFn) {
    tile::<quant::q8_0::BlockQ8_0>(w, rows, a, put, |w, a, put| {
        // SAFETY: this function's contract; `tile` checked the lengths.
        unsafe { x86_64::avx2::q8_0::tile_x4_q5(w, rows, a, put) }
    })
}

/// The sink of a four-token tile kernel: `put(r, [row r . a_0, .., row r . a_3])`.
pub(crate) type PutFn<'a> = &'a mut Out4;

/// Where a four-token tile kernel writes its results: [`Out4::put`]`(r, v)` stores `v[k]` at
/// `k * stride + r` past the start, for the four tokens `k` (a plain type rather than a
/// closure, so that the kernels' stores are inlined).
pub struct Out4 {
    ptr: *mut f32,
    stride: usize,
    rows: usize,
}

impl Out4 {
    /// A sink for rows `0..rows` of four outputs `stride` values apart.
    ///
    /// # Safety
    /// `ptr` is valid for writes at `k * stride + r` for `k < 4`, `r < rows`, and nothing else
    /// reads or writes those elements while the value lives.
    pub unsafe fn new(ptr: *mut f32, stride: usize, rows: usize) -> Out4 {
        Out4 { ptr, stride, rows }
    }

    /// Stores row `r`'s four results.
    ///
    /// # Panics
    /// If `r` is not below the row count.
    #[inline]
    pub fn put(&mut self, r: usize, v: [f32; 4]) {
        assert!(r < self.rows, "tile row {r} out of {}", self.rows);
        for (k, x) in v.into_iter().enumerate() {
            // SAFETY: k < 4 and r < rows: writable and exclusively ours (`new`'s contract).
            unsafe { *self.ptr.add(k * self.stride + r) = x };
        }
    }
}

/// The rows of a weight tile (bytes, `rows` rows) times four activation rows, in one float
/// order: `put(r, [row r . a_0, .., row r . a_3])` for every row.
pub(crate) type RowX4Fn = unsafe fn(&[u8], usize, [&[u8]; 4], PutFn);

/// A weight tile (bytes, `rows` rows) and four activation rows cast to blocks, their lengths
/// checked once per tile (`rows` rows of the activations' length), handed to `run`.
pub(crate) fn tile<W: BlockFormat>(
    w: &[u8],
    rows: usize,
    a: [&[u8]; 4],
    put: PutFn,
    run: impl FnOnce(&[W], [&[W::Activation]; 4], PutFn),
) {
    let w: &[W] = quant::cast_blocks(w).expect("weight tile of whole blocks");
    let nb = w.len() / rows.max(1);
    assert_eq!(nb * rows, w.len(), "weight tile of whole rows");
    let a = a.map(|a| {
        let a: &[W::Activation] = quant::cast_blocks(a).expect("activation row of whole blocks");
        assert_eq!(a.len(), nb, "weight and activation rows of one length");
        a
    });
    run(w, a, put)
}

/// `put(r, dot(row r, a))` for every row of a tile checked by [`tile`].
pub(crate) fn each_row<W: BlockFormat>(
    w: &[W],
    a: [&[W::Activation]; 4],
    put: PutFn,
    dot: impl Fn(&[W], [&[W::Activation]; 4]) -> [f32; 4],
) {
    for (r, row) in w.chunks_exact(a[0].len().max(1)).enumerate() {
        put.put(r, dot(row, a));
    }
}

#[cfg(test)]
mod tile_tests {
    use super::Kernels;
    use crate::quant::iq4_xs::BlockIQ4XS;
    use crate::quant::q2_k::BlockQ2K;
    use crate::quant::q3_k::BlockQ3K;
    use crate::quant::q4_k::BlockQ4K;
    use crate::quant::q5_0::BlockQ5_0;
    use crate::quant::q5_k::BlockQ5K;
    use crate::quant::q6_k::BlockQ6K;
    use crate::quant::q8_0::BlockQ8_0;
    use crate::quant::q8_k::{self, BlockQ8K};
    use crate::quant::{as_bytes, DotOrder, GgmlType};

    /// A xorshift generator (deterministic test data).
    fn rng(mut s: u64) -> impl FnMut() -> u64 {
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    /// A small positive f16 scale from a random word.
    fn scale(v: u64, div: f32) -> half::f16 {
        half::f16::from_f32((v % 1000) as f32 / div + 1e-4)
    }

    /// `matmul_tile` of `rows` rows of `w` (type `ty`) with the `n` activation rows of `acts`,
    /// with every table this CPU supports, equals one scalar-reference `matvec_order` per
    /// token, bit for bit.
    fn check(
        ty: GgmlType,
        w: &[u8],
        rows: usize,
        acts: &[u8],
        n: usize,
        order_of: &dyn Fn(usize) -> DotOrder,
    ) {
        let stride = acts.len() / n;
        for table in Kernels::all() {
            // An activation row's bytes (Q8_0, Q8_K) are at least its number of values.
            let mut scratch = super::AlignedBuf::new(super::tile_scratch_bytes(rows, stride));
            let mut got = vec![0f32; n * rows];
            // SAFETY: `got` holds n rows of `rows` values, written only here.
            unsafe {
                table.matmul_tile(
                    got.as_mut_ptr(),
                    rows,
                    ty,
                    w,
                    rows,
                    acts,
                    stride,
                    stride,
                    n,
                    order_of,
                    scratch.bytes_mut(super::tile_scratch_bytes(rows, stride)),
                )
            };
            for t in 0..n {
                // The scalar reference of the token's order.
                let mut want = vec![0f32; rows];
                let a = &acts[t * stride..(t + 1) * stride];
                Kernels::scalar().matvec_order(&mut want, ty, w, a, order_of(t));
                for r in 0..rows {
                    assert_eq!(
                        got[t * rows + r].to_bits(),
                        want[r].to_bits(),
                        "{} {ty} {:?} rows {rows} n {n} token {t} row {r}",
                        table.name(),
                        order_of(t)
                    );
                }
            }
        }
    }

    /// Q5_0 unpacking and the Q8_0 paths (four tokens and two rows at a time, odd rows and
    /// leftover tokens).
    #[test]
    fn q8_0_and_q5_0_tiles_equal_per_token_matvecs() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        // 513 blocks: longer than the AVX-VNNI kernel's prepared rows (it hands them to AVX2),
        // and four of the AVX2 kernel's 128-block chunks and one block; 137: a last chunk of
        // nine (its last eight scales overlapping the eight before); 67 rows: two row groups.
        for (nb, rows_list) in [
            (1usize, &[1usize, 2, 3, 16][..]),
            (3, &[1, 2, 3, 16]),
            (20, &[1, 2, 3, 16]),
            (137, &[2, 67]),
            (513, &[2, 3]),
        ] {
            for &rows in rows_list {
                for n in [1usize, 3, 4, 5, 9] {
                    // Weights may hold -128; activations are in [-127, 127] (see
                    // `x86_64::avx2`'s module doc).
                    let mut q8 = |lo: i32| BlockQ8_0 {
                        d: scale(next(), 7919.0),
                        qs: std::array::from_fn(|_| {
                            (lo + (next() % (128 - lo) as u64) as i32) as i8
                        }),
                    };
                    let w8: Vec<BlockQ8_0> = (0..rows * nb).map(|_| q8(-128)).collect();
                    let acts: Vec<BlockQ8_0> = (0..n * nb).map(|_| q8(-127)).collect();
                    let w5: Vec<BlockQ5_0> = (0..rows * nb)
                        .map(|_| BlockQ5_0 {
                            d: scale(next(), 7919.0),
                            qh: (next() as u32).to_le_bytes(),
                            qs: std::array::from_fn(|_| next() as u8),
                        })
                        .collect();
                    let vec_dot = |_| DotOrder::VecDot;
                    check(
                        GgmlType::Q8_0,
                        as_bytes(&w8),
                        rows,
                        as_bytes(&acts),
                        n,
                        &vec_dot,
                    );
                    check(
                        GgmlType::Q5_0,
                        as_bytes(&w5),
                        rows,
                        as_bytes(&acts),
                        n,
                        &vec_dot,
                    );
                }
            }
        }
    }

    /// The four-token paths of Q4_0 and IQ4_NL in the repacked orders (NEON), with the GEMV
    /// order for the last `n % 4` tokens as prefill gives them, and their `vec_dot` order.
    #[test]
    fn q4_0_and_iq4_nl_tiles_equal_per_token_matvecs() {
        use crate::quant::{iq4_nl::BlockIQ4NL, q4_0::BlockQ4_0};
        let mut next = rng(0x1234_5678_9abc_def1);
        // Groups of eight rows with and without a remainder (the x86 four-token kernels take
        // rows eight at a time), and a row longer than their stack buffers (x86 `MAX_BLOCKS`).
        for (nb, rows) in [
            (1usize, 1usize),
            (3, 5),
            (8, 16),
            (20, 3),
            (4, 13),
            (513, 9),
        ] {
            for n in [1usize, 4, 6, 9] {
                let w4: Vec<BlockQ4_0> = (0..rows * nb)
                    .map(|_| BlockQ4_0 {
                        d: scale(next(), 7919.0),
                        qs: std::array::from_fn(|_| next() as u8),
                    })
                    .collect();
                let wn: Vec<BlockIQ4NL> = (0..rows * nb)
                    .map(|_| BlockIQ4NL {
                        d: scale(next(), 7919.0),
                        qs: std::array::from_fn(|_| next() as u8),
                    })
                    .collect();
                let acts: Vec<BlockQ8_0> = (0..n * nb)
                    .map(|_| BlockQ8_0 {
                        d: scale(next(), 7919.0),
                        qs: std::array::from_fn(|_| ((next() % 255) as i32 - 127) as i8),
                    })
                    .collect();
                let gemm_or_gemv = |t: usize| {
                    if t < n / 4 * 4 {
                        DotOrder::RepackedGemm
                    } else {
                        DotOrder::RepackedGemv
                    }
                };
                let acts = as_bytes(&acts);
                for order_of in [&gemm_or_gemv as &dyn Fn(usize) -> DotOrder, &|_| {
                    DotOrder::VecDot
                }] {
                    check(GgmlType::Q4_0, as_bytes(&w4), rows, acts, n, order_of);
                    check(GgmlType::IQ4_NL, as_bytes(&wn), rows, acts, n, order_of);
                }
            }
        }
    }

    /// The Q4_K and Q6_K tile kernels at the edges of their integer bounds: every quant at
    /// its largest, the scales at their ends, activations all +127 or all -127 (the AVX2
    /// packed Q4_K kernel adds eight `maddubs` pair sums of up to 2 * 15 * 127 as i16: 30480,
    /// near i16's limit).
    #[test]
    fn q4_k_and_q6_k_tiles_at_their_integer_bounds() {
        for sign in [1i8, -1] {
            let (nb, rows, n) = (2, 16, 5);
            let w: Vec<BlockQ4K> = (0..rows * nb)
                .map(|i| BlockQ4K {
                    d: half::f16::from_f32(0.01 + i as f32 * 1e-4),
                    dmin: half::f16::from_f32(0.02),
                    scales: [0xFF; 12],
                    qs: [0xFF; 128],
                })
                .collect();
            // Activation blocks made directly (the quantizer gives -127 for a constant row).
            let acts: Vec<BlockQ8K> = (0..n * nb)
                .map(|i| BlockQ8K {
                    d: 0.5 + i as f32 * 0.01,
                    qs: [sign * 127; 256],
                    bsums: [sign as i16 * 16 * 127; 16],
                })
                .collect();
            let gemm = |t: usize| {
                if t < n / 4 * 4 {
                    DotOrder::RepackedGemm
                } else {
                    DotOrder::RepackedGemv
                }
            };
            check(
                GgmlType::Q4_K,
                as_bytes(&w),
                rows,
                as_bytes(&acts),
                n,
                &gemm,
            );
            check(
                GgmlType::Q4_K,
                as_bytes(&w),
                rows,
                as_bytes(&acts),
                n,
                &|_| DotOrder::Tiled,
            );
            // Q6_K: every quant 63 (the AVX2 packed kernel adds two `maddubs` pair sums of up
            // to 2 * 63 * 127 as i16: 32004), the scales at both ends of i8.
            let w6: Vec<BlockQ6K> = (0..rows * nb)
                .map(|i| BlockQ6K {
                    ql: [0xFF; 128],
                    qh: [0xFF; 64],
                    scales: std::array::from_fn(|j| if (i + j) % 3 == 0 { -128 } else { 127 }),
                    d: half::f16::from_f32(0.01 + i as f32 * 1e-4),
                })
                .collect();
            let tiled = |_| DotOrder::Tiled;
            check(
                GgmlType::Q6_K,
                as_bytes(&w6),
                rows,
                as_bytes(&acts),
                n,
                &tiled,
            );
        }
    }

    /// The four-token K-quant paths (Q4_K repacked GEMM and tiled, Q2_K, Q3_K, Q5_K, IQ4_XS and
    /// Q6_K tiled), also when the tokens' orders change inside the batch (the repacked GEMM's last
    /// `n % 4` tokens take the GEMV order).
    #[test]
    fn k_quant_tiles_equal_per_token_matvecs() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        // 19 rows: two groups of eight for the AVX-VNNI repacked tile, three left over.
        for (nb, rows, n) in [
            (3, 5, 1usize),
            (3, 5, 4),
            (3, 5, 6),
            (3, 5, 9),
            (2, 19, 4),
            (3, 19, 9),
        ] {
            let w4: Vec<BlockQ4K> = (0..rows * nb)
                .map(|_| BlockQ4K {
                    d: scale(next(), 91_919.0),
                    dmin: scale(next(), 91_919.0),
                    scales: std::array::from_fn(|_| next() as u8),
                    qs: std::array::from_fn(|_| next() as u8),
                })
                .collect();
            let w5: Vec<BlockQ5K> = (0..rows * nb)
                .map(|_| BlockQ5K {
                    d: scale(next(), 91_919.0),
                    dmin: scale(next(), 91_919.0),
                    scales: std::array::from_fn(|_| next() as u8),
                    qh: std::array::from_fn(|_| next() as u8),
                    qs: std::array::from_fn(|_| next() as u8),
                })
                .collect();
            let wx: Vec<BlockIQ4XS> = (0..rows * nb)
                .map(|_| BlockIQ4XS {
                    d: scale(next(), 91_919.0),
                    scales_h: next() as u16,
                    scales_l: std::array::from_fn(|_| next() as u8),
                    qs: std::array::from_fn(|_| next() as u8),
                })
                .collect();
            let w2: Vec<BlockQ2K> = (0..rows * nb)
                .map(|_| BlockQ2K {
                    scales: std::array::from_fn(|_| next() as u8),
                    qs: std::array::from_fn(|_| next() as u8),
                    d: scale(next(), 91_919.0),
                    dmin: scale(next(), 91_919.0),
                })
                .collect();
            let w3: Vec<BlockQ3K> = (0..rows * nb)
                .map(|_| BlockQ3K {
                    hmask: std::array::from_fn(|_| next() as u8),
                    qs: std::array::from_fn(|_| next() as u8),
                    scales: std::array::from_fn(|_| next() as u8),
                    d: scale(next(), 91_919.0),
                })
                .collect();
            let w6: Vec<BlockQ6K> = (0..rows * nb)
                .map(|_| BlockQ6K {
                    ql: std::array::from_fn(|_| next() as u8),
                    qh: std::array::from_fn(|_| next() as u8),
                    scales: std::array::from_fn(|_| next() as i8),
                    d: scale(next(), 91_919.0),
                })
                .collect();
            let x: Vec<f32> = (0..n * nb * 256)
                .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            let zero = BlockQ8K {
                d: 0.0,
                qs: [0; 256],
                bsums: [0; 16],
            };
            let mut acts = vec![zero; n * nb];
            for (xs, a) in x.chunks(nb * 256).zip(acts.chunks_mut(nb)) {
                q8_k::quantize_row(xs, a);
            }
            let acts = as_bytes(&acts);
            let gemm_or_gemv = |t: usize| {
                if t < n / 4 * 4 {
                    DotOrder::RepackedGemm
                } else {
                    DotOrder::RepackedGemv
                }
            };
            check(GgmlType::Q4_K, as_bytes(&w4), rows, acts, n, &gemm_or_gemv);
            check(GgmlType::Q4_K, as_bytes(&w4), rows, acts, n, &|_| {
                DotOrder::Tiled
            });
            check(GgmlType::Q5_K, as_bytes(&w5), rows, acts, n, &|_| {
                DotOrder::Tiled
            });
            check(GgmlType::IQ4_XS, as_bytes(&wx), rows, acts, n, &|_| {
                DotOrder::Tiled
            });
            check(GgmlType::Q2_K, as_bytes(&w2), rows, acts, n, &|_| {
                DotOrder::Tiled
            });
            check(GgmlType::Q3_K, as_bytes(&w3), rows, acts, n, &|_| {
                DotOrder::Tiled
            });
            check(GgmlType::Q6_K, as_bytes(&w6), rows, acts, n, &|_| {
                DotOrder::Tiled
            });
        }
    }
}
