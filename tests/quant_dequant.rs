//! `dequantize_row` against an independent oracle: the Python `gguf` package's
//! `gguf.quants.dequantize` (maintained with llama.cpp), on the fixtures written by
//! `tools/gen_quant_fixtures.py` (`<type>.blocks` in, `<type>.f32` expected).
//!
//! The comparison is bit for bit. A one-ulp tolerance would be needed only where ferrite and
//! the oracle round in a different order, and for these 15 formats they do not: gguf's numpy
//! code evaluates the same f32 expressions in the same order as ggml's C reference (for
//! example `(d * sc) * q - (dmin * m)` for Q4_K, `q * d + m` for Q4_1), every f16 -> f32
//! widening is exact, and Rust never contracts `a * b + c` into a fused multiply-add. So
//! [`max_ulp`] is 0 for every format; a nonzero entry there must say which operation rounds
//! differently and why. (When the fixtures were made, ggml's own C `dequantize_row_*` and
//! `quantize_row_*_ref`, built for x86-64 without FP contraction, reproduced them bit for
//! bit too. A ggml built with FMA contraction, the default of GCC on aarch64, can differ by
//! one ulp in `q * d + m` for Q4_1/Q5_1 and in the K-formats' `d * q - m`.)
//!
//! The quantizers are checked the same way where the fixture has the f32 input
//! (`<type>.input.f32`): ferrite's F16/BF16/Q8_0 activation quantizers and the test suite's
//! reference weight quantizers (tests/common) must reproduce gguf's blocks byte for byte.

mod common;

use common::{read_f32_fixture, read_fixture, stem, ulp_distance, AlignedBytes};
use ferrite::quant::{self, GgmlType, LayoutError};

/// The largest ulp distance accepted between ferrite and the oracle for `ty` (see the module
/// docs: 0 everywhere, since both evaluate the same operations in the same order).
fn max_ulp(_ty: GgmlType) -> u32 {
    0
}

fn check_dequant(ty: GgmlType) {
    let name = stem(ty);
    let blocks = read_fixture(&format!("{name}.blocks"));
    let expected = read_f32_fixture(&format!("{name}.f32"));
    let n = expected.len();
    assert_eq!(
        ty.row_bytes(n),
        Some(blocks.bytes().len()),
        "{ty}: fixture sizes disagree"
    );
    assert!(
        n / ty.block_size() % 2 == 1,
        "{ty}: the fixture should hold an odd number of blocks"
    );

    let mut got = vec![f32::NAN; n];
    quant::dequantize_row(ty, blocks.bytes(), &mut got).expect("layout");

    let tol = max_ulp(ty);
    let mut bad = Vec::new();
    let mut worst = 0;
    for (i, (&g, &e)) in got.iter().zip(&expected).enumerate() {
        let d = ulp_distance(g, e);
        // Also require identical bits for zeros: -0.0 must stay -0.0.
        if d > tol || (tol == 0 && g.to_bits() != e.to_bits()) {
            bad.push(format!(
                "  [{i}] block {}: got {g:e} ({:#010x}), want {e:e} ({:#010x}), {d} ulp",
                i / ty.block_size(),
                g.to_bits(),
                e.to_bits()
            ));
        }
        worst = worst.max(d);
    }
    assert!(
        bad.is_empty(),
        "{ty}: {} of {n} values differ from gguf.quants.dequantize (max {worst} ulp, \
         allowed {tol}); first ones:\n{}",
        bad.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
}

macro_rules! dequant_tests {
    ($($fn_name:ident => $ty:ident),* $(,)?) => {
        $(
            #[test]
            fn $fn_name() {
                check_dequant(GgmlType::$ty);
            }
        )*
    };
}

dequant_tests! {
    dequant_f32 => F32,
    dequant_f16 => F16,
    dequant_bf16 => BF16,
    dequant_q4_0 => Q4_0,
    dequant_q4_1 => Q4_1,
    dequant_q5_0 => Q5_0,
    dequant_q5_1 => Q5_1,
    dequant_q8_0 => Q8_0,
    dequant_iq4_nl => IQ4_NL,
    dequant_q2_k => Q2_K,
    dequant_q3_k => Q3_K,
    dequant_q4_k => Q4_K,
    dequant_q5_k => Q5_K,
    dequant_q6_k => Q6_K,
    dequant_iq4_xs => IQ4_XS,
}

/// The quantizers reproduce gguf's `quantize` (which follows ggml's `quantize_row_*_ref`).
fn check_quantize(ty: GgmlType) {
    let name = stem(ty);
    let input = read_f32_fixture(&format!("{name}.input.f32"));
    let expected = read_fixture(&format!("{name}.blocks"));
    let got = common::quantize_weights(ty, &input);
    let (g, e) = (got.bytes(), expected.bytes());
    assert_eq!(g.len(), e.len(), "{ty}: size");
    let bs = ty.type_size();
    let diffs: Vec<String> = g
        .chunks_exact(bs)
        .zip(e.chunks_exact(bs))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("  block {i}:\n    got  {a:02x?}\n    want {b:02x?}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{ty}: {} blocks differ from gguf.quants.quantize:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

macro_rules! quantize_tests {
    ($($fn_name:ident => $ty:ident),* $(,)?) => {
        $(
            #[test]
            fn $fn_name() {
                check_quantize(GgmlType::$ty);
            }
        )*
    };
}

quantize_tests! {
    quantize_f32 => F32,
    quantize_f16 => F16,
    quantize_bf16 => BF16,
    quantize_q4_0 => Q4_0,
    quantize_q4_1 => Q4_1,
    quantize_q5_0 => Q5_0,
    quantize_q5_1 => Q5_1,
    quantize_q8_0 => Q8_0,
}

/// The type-erased entry points refuse bad layouts instead of panicking.
#[test]
fn layout_errors() {
    let blocks = read_fixture("q8_0.blocks");
    let n = blocks.bytes().len() / 34 * 32;
    let mut out = vec![0.0f32; n];
    // Wrong output length.
    assert_eq!(
        quant::dequantize_row(GgmlType::Q8_0, blocks.bytes(), &mut out[1..]),
        Err(LayoutError)
    );
    // Not a whole number of blocks.
    assert_eq!(
        quant::dequantize_row(GgmlType::Q8_0, &blocks.bytes()[1..], &mut out[32..]),
        Err(LayoutError)
    );
    // Misaligned for a type with 2-byte alignment (Q8_0's f16 scale).
    let mut shifted = AlignedBytes::zeroed(blocks.bytes().len() + 1);
    shifted.bytes_mut()[1..].copy_from_slice(blocks.bytes());
    assert_eq!(
        quant::dequantize_row(GgmlType::Q8_0, &shifted.bytes()[1..], &mut out),
        Err(LayoutError)
    );
    // Unsupported type.
    assert_eq!(
        quant::dequantize_row(GgmlType::IQ2_XXS, &[0u8; 66], &mut [0.0; 256]),
        Err(LayoutError)
    );
    // Activation buffer of the wrong size, and a type that is no activation format.
    assert_eq!(
        quant::quantize_activation(GgmlType::Q8_0, &[0.0; 32], &mut [0u8; 33]),
        Err(LayoutError)
    );
    assert_eq!(
        quant::quantize_activation(GgmlType::Q4_0, &[0.0; 32], &mut [0u8; 18]),
        Err(LayoutError)
    );
    // Weight and activation rows of different lengths.
    let mut act = AlignedBytes::zeroed(34 * 2);
    assert_eq!(
        quant::quantize_activation(GgmlType::Q8_0, &[0.5; 64], act.bytes_mut()),
        Ok(())
    );
    assert_eq!(
        quant::vec_dot(GgmlType::Q8_0, &blocks.bytes()[..34 * 3], act.bytes()),
        Err(LayoutError)
    );
}

#[test]
fn fixtures_cover_every_format() {
    for ty in common::FORMATS {
        assert!(ty.is_supported(), "{ty}");
        assert!(
            common::fixture_path(&format!("{}.blocks", stem(ty))).is_file(),
            "{ty}: missing fixture"
        );
    }
}
