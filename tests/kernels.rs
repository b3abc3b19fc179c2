//! Every SIMD kernel table the host supports against the scalar reference, in the same binary.
//!
//! * Dot products in every float order ([`DotOrder`]) over random valid blocks (finite, sane
//!   f16 scales; every other byte random) and activations quantized from random values with
//!   ggml's x86 quantizers, for 1, 3, 7, 11 and 33 blocks (and for the float formats, random
//!   values of lengths with every tail: n % 32, n % 8, n % 4 != 0): bit-identical to the
//!   scalar reference of the same order (a table holds a SIMD kernel for a (format, order)
//!   pair only when it computes the same exact integer sums and then the reference's float
//!   operations in its order; the others are the reference itself).
//! * The integer accumulation exactly: with power-of-two scales and activation magnitudes
//!   chosen so that the sum of |terms| stays below 2^23 units, every partial sum is exact in
//!   f32, so the SIMD result, the scalar result and the exact value must be equal bit for bit.
//! * Extreme blocks (all-zero, all-one and alternating bytes against +-127 activations), where
//!   an i16 saturation in `maddubs` or a wrong sign trick would show.
//! * `matvec` over several rows equals the row-by-row dot products.
//! * The activation quantizers (Q8_0, Q8_1 as ggml's x86 build, Q8_K) give byte-identical blocks, including exact .5
//!   ties, zeros, sign ties of the largest magnitude, subnormals and non-finite values.

mod common;

use common::{dequantize_any, AlignedBytes, Rng};
use ferrite::kernels::{Kernels, ORDERS, TYPES};
use ferrite::quant::{
    self,
    q8_0::{BlockQ8_0, BlockQ8_1},
    q8_k::BlockQ8K,
    DotOrder, GgmlType, QK_K,
};
use half::f16;

/// Block counts tested (odd, to exercise the tails of two-accumulator loops).
const BLOCKS: [usize; 5] = [1, 3, 7, 11, 33];

fn simd_tables() -> Vec<Kernels> {
    let all = Kernels::all();
    eprintln!(
        "kernel tables on this host: {:?} (process-wide: {})",
        all.iter().map(|k| k.name()).collect::<Vec<_>>(),
        Kernels::get().name()
    );
    all.into_iter().skip(1).collect()
}

/// Values per block of the row: 32 for the small formats, 256 for the K-quants, and 32 values
/// per "block" for the float formats too (so a length in blocks means the same row sizes).
fn block_values(ty: GgmlType) -> usize {
    ty.block_size().max(32)
}

/// Byte offsets of the f16 scale fields of a block (`d` first, then `m`/`dmin`).
fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | IQ4_XS => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// Random weights of `n` values: random valid blocks for the quantized formats (random bytes,
/// f16 scales finite with magnitudes near `1e-2`), random values for the float formats.
/// With `pow2`, every scale is +-2^-4 (so dequantized values are exact multiples of a power
/// of two).
fn random_weights(ty: GgmlType, n: usize, rng: &mut Rng, pow2: bool) -> AlignedBytes {
    if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
        let x: Vec<f32> = if pow2 {
            // Small integers times 2^-4: exact in every float format.
            (0..n)
                .map(|_| ((rng.next_u64() % 33) as f32 - 16.0) * 0.0625)
                .collect()
        } else {
            rng.data(n, 0.0, 2.0)
        };
        let mut out = AlignedBytes::zeroed(ty.row_bytes(n).unwrap());
        quant::quantize_activation(ty, &x, out.bytes_mut()).unwrap();
        return out;
    }
    let size = ty.type_size();
    let mut out = AlignedBytes::zeroed(ty.row_bytes(n).unwrap());
    rng.fill_bytes(out.bytes_mut());
    for block in out.bytes_mut().chunks_exact_mut(size) {
        for &off in scale_offsets(ty) {
            let sign = if rng.next_u64() & 1 == 1 { -1.0 } else { 1.0 };
            let mag = if pow2 {
                0.0625
            } else {
                1e-2 * rng.uniform(0.25, 4.0)
            };
            block[off..off + 2].copy_from_slice(&f16::from_f32(sign * mag).to_le_bytes());
        }
    }
    out
}

/// Activations for `ty` quantized from random values with the scalar x86 quantizer (the one
/// the forward pass uses).
fn random_activations(ty: GgmlType, n: usize, rng: &mut Rng) -> AlignedBytes {
    let aty = ty.vec_dot_type();
    let x = rng.data(n, 0.1, 2.0);
    let mut out = AlignedBytes::zeroed(aty.row_bytes(n).unwrap());
    quant::quantize_activation_x86(aty, &x, out.bytes_mut()).unwrap();
    out
}

/// Activations for `ty` with power-of-two scale 2^-3 and integer quants drawn uniformly from
/// `-amp..=amp` (consistent `bsums` for Q8_K; for Q8_1 `s = fp16(d * sum)`, exact when
/// |sum| < 2^11, which `amp <= 63` ensures).
fn integer_activations(ty: GgmlType, n: usize, amp: i32, rng: &mut Rng) -> AlignedBytes {
    let aty = ty.vec_dot_type();
    let mut out = AlignedBytes::zeroed(aty.row_bytes(n).unwrap());
    let mut q = || (rng.next_u64() % (2 * amp as u64 + 1)) as i32 - amp;
    match aty {
        GgmlType::Q8_0 => {
            let blocks: &mut [BlockQ8_0] = quant::cast_blocks_mut(out.bytes_mut()).unwrap();
            for b in blocks {
                b.d = f16::from_f32(0.125);
                for v in b.qs.iter_mut() {
                    *v = q() as i8;
                }
            }
        }
        GgmlType::Q8_1 => {
            let blocks: &mut [BlockQ8_1] = quant::cast_blocks_mut(out.bytes_mut()).unwrap();
            for b in blocks {
                b.d = f16::from_f32(0.125);
                for v in b.qs.iter_mut() {
                    *v = q().clamp(-63, 63) as i8;
                }
                set_q8_1_sum(b);
            }
        }
        GgmlType::Q8_K => {
            let blocks: &mut [BlockQ8K] = quant::cast_blocks_mut(out.bytes_mut()).unwrap();
            for b in blocks {
                b.d = 0.125;
                for v in b.qs.iter_mut() {
                    *v = q() as i8;
                }
                for (s, g) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                    *s = g.iter().map(|&v| i16::from(v)).sum();
                }
            }
        }
        _ => {
            let x: Vec<f32> = (0..n).map(|_| q() as f32 * 0.125).collect();
            quant::quantize_activation(aty, &x, out.bytes_mut()).unwrap();
        }
    }
    out
}

/// Sets a Q8_1 block's `s` to `fp16(d * sum(qs))`.
fn set_q8_1_sum(b: &mut BlockQ8_1) {
    let sum: i32 = b.qs.iter().map(|&v| i32::from(v)).sum();
    b.s = f16::from_f32(b.d.to_f32() * sum as f32);
}

/// The exact dot product (f64, from dequantized values) and the sum of |terms|.
fn exact_dot(ty: GgmlType, w: &[u8], a: &[u8], n: usize) -> (f64, f64) {
    let wd = dequantize_any(ty, w, n);
    let ad = dequantize_any(ty.vec_dot_type(), a, n);
    let mut dot = 0.0f64;
    let mut mag = 0.0f64;
    for (&x, &y) in wd.iter().zip(&ad) {
        let t = f64::from(x) * f64::from(y);
        dot += t;
        mag += t.abs();
    }
    (dot, mag)
}

#[test]
fn dot_products_match_the_scalar_reference() {
    let mut rng = Rng::new(0x5EED_0001);
    let mut checked = 0;
    let mut simd = 0;
    for k in simd_tables() {
        let scalar = Kernels::scalar();
        for ty in TYPES {
            let mut lens: Vec<usize> = BLOCKS.iter().map(|nb| nb * block_values(ty)).collect();
            if ty.block_size() == 1 {
                // Lengths that leave every tail of the float kernels: n % 32 != 0 with
                // n % 8 == 0 (llamafile's whole row, vec_dot's leftovers by 8), n % 4 == 0
                // (leftovers rounded) and n % 4 != 0 (the last ones fused; llamafile falls
                // back to vec_dot).
                lens.extend([1, 3, 4, 7, 8, 11, 12, 33, 36, 40, 44, 63, 255, 264]);
            }
            for n in lens {
                for _ in 0..3 {
                    let w = random_weights(ty, n, &mut rng, false);
                    let a = random_activations(ty, n, &mut rng);
                    // The table's scalar entry is the reference itself.
                    let want = scalar.vec_dot(ty, w.bytes(), a.bytes()).unwrap();
                    let reference = quant::vec_dot(ty, w.bytes(), a.bytes()).unwrap();
                    assert_eq!(want.to_bits(), reference.to_bits());
                    for order in ORDERS {
                        let got = k.vec_dot_order(ty, order, w.bytes(), a.bytes()).unwrap();
                        let want = scalar
                            .vec_dot_order(ty, order, w.bytes(), a.bytes())
                            .unwrap();
                        let what = format!("{} {ty} {order:?} n={n}", k.name());
                        assert_eq!(got.to_bits(), want.to_bits(), "{what}: {got} vs {want}");
                        checked += 1;
                        simd += usize::from(k.is_simd(ty, order));
                    }
                }
            }
        }
    }
    eprintln!("{checked} random dot products checked ({simd} with a SIMD kernel)");
    for k in simd_tables() {
        let pairs: Vec<String> = ORDERS
            .iter()
            .flat_map(|&o| TYPES.iter().map(move |&t| (t, o)))
            .filter(|&(t, o)| k.is_simd(t, o))
            .map(|(t, o)| format!("{t}/{o:?}"))
            .collect();
        eprintln!("{} SIMD kernels: {}", k.name(), pairs.join(" "));
    }
}

#[test]
fn integer_accumulation_is_exact() {
    let mut rng = Rng::new(0x5EED_0002);
    for k in Kernels::all() {
        for ty in TYPES {
            for nb in BLOCKS {
                let n = nb * block_values(ty);
                let w = random_weights(ty, n, &mut rng, true);
                // Sum of |weights| in units of the weight grid, to pick an activation
                // amplitude that keeps the sum of |terms| below 2^23 units.
                let wd = dequantize_any(ty, w.bytes(), n);
                // Every pow2 weight is a multiple of 2^-4 (scales +-2^-4 times integers).
                let unit_w = 1.0 / 16.0;
                let wsum: f64 = wd.iter().map(|&v| (f64::from(v) / unit_w).abs()).sum();
                let amp = ((f64::from(1 << 23) / wsum.max(1.0)) as i32).clamp(1, 127);
                let a = integer_activations(ty, n, amp, &mut rng);
                let (exact, mag) = exact_dot(ty, w.bytes(), a.bytes(), n);
                let unit = unit_w * 0.125;
                assert!(
                    mag / unit < f64::from(1 << 24),
                    "{ty}: test data too large for an exact check"
                );
                for order in ORDERS {
                    let got = k.vec_dot_order(ty, order, w.bytes(), a.bytes()).unwrap();
                    assert_eq!(
                        f64::from(got),
                        exact,
                        "{} {ty} {order:?} nb={nb} amp={amp}: not the exact sum",
                        k.name()
                    );
                }
            }
        }
    }
}

#[test]
fn extreme_blocks() {
    // Weight bytes all equal to one pattern (scales set to 1) against activations of +-127:
    // the largest |maddubs| pair sums each format can produce.
    let patterns = [0x00u8, 0xFF, 0x80, 0x7F, 0x55, 0xAA, 0x0F, 0xF0];
    for k in Kernels::all() {
        for ty in TYPES {
            if ty.block_size() == 1 {
                continue;
            }
            for nb in [1usize, 3] {
                let n = nb * ty.block_size();
                for &p in &patterns {
                    let mut w = AlignedBytes::zeroed(ty.row_bytes(n).unwrap());
                    w.bytes_mut().fill(p);
                    for block in w.bytes_mut().chunks_exact_mut(ty.type_size()) {
                        for &off in scale_offsets(ty) {
                            block[off..off + 2].copy_from_slice(&f16::ONE.to_le_bytes());
                        }
                    }
                    for sign in [1i32, -1, 0] {
                        let mut a = integer_activations(ty, n, 0, &mut Rng::new(1));
                        set_activation_quants(ty, a.bytes_mut(), |i| match sign {
                            0 if i % 2 == 1 => -127,
                            0 => 127,
                            s => (127 * s) as i8,
                        });
                        let (exact, mag) = exact_dot(ty, w.bytes(), a.bytes(), n);
                        for order in ORDERS {
                            let got = k.vec_dot_order(ty, order, w.bytes(), a.bytes()).unwrap();
                            let what =
                                format!("{} {ty} {order:?} pattern {p:#04x} sign {sign}", k.name());
                            if mag < f64::from(1 << 24) * 0.125 {
                                assert_eq!(f64::from(got), exact, "{what}: not the exact sum");
                            } else {
                                let err = (f64::from(got) - exact).abs();
                                assert!(err <= 1e-6 * mag, "{what}: {got} vs exact {exact}");
                            }
                            let want = Kernels::scalar()
                                .vec_dot_order(ty, order, w.bytes(), a.bytes())
                                .unwrap();
                            assert_eq!(got.to_bits(), want.to_bits(), "{what}: vs scalar");
                            // The same row five times through the several-rows kernels.
                            let mut w5 = AlignedBytes::zeroed(5 * w.bytes().len());
                            for r in w5.bytes_mut().chunks_exact_mut(w.bytes().len()) {
                                r.copy_from_slice(w.bytes());
                            }
                            let mut out = [0.0f32; 5];
                            k.matvec_order(&mut out, ty, w5.bytes(), a.bytes(), order);
                            for v in out {
                                assert_eq!(v.to_bits(), got.to_bits(), "{what}: matvec");
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn float_formats_widen_every_pattern_exactly() {
    // Every 16-bit pattern of F16 and BF16 (zeros, subnormals, infinities, NaNs included), as
    // a weight and as an activation, alone in a row of zeros against a one-hot 1.0 at its
    // position: the dot product is the widened value itself (plus zeros), so a SIMD table's
    // widening must give the reference's f32, bit for bit. Rows of 40 values, the position
    // cycling through the 32 of the SIMD loop and the 8 of vec_dot's tail (llamafile takes
    // the whole row).
    const N: usize = 40;
    for k in simd_tables() {
        let scalar = Kernels::scalar();
        for (ty, one) in [(GgmlType::F16, 0x3C00u16), (GgmlType::BF16, 0x3F80)] {
            for bits in 0..=u16::MAX {
                let pos = usize::from(bits) % N;
                let mut x = AlignedBytes::zeroed(2 * N);
                let mut e = AlignedBytes::zeroed(2 * N);
                x.bytes_mut()[2 * pos..2 * pos + 2].copy_from_slice(&bits.to_le_bytes());
                e.bytes_mut()[2 * pos..2 * pos + 2].copy_from_slice(&one.to_le_bytes());
                for (w, a) in [(&x, &e), (&e, &x)] {
                    for order in ORDERS {
                        let got = k.vec_dot_order(ty, order, w.bytes(), a.bytes()).unwrap();
                        let want = scalar
                            .vec_dot_order(ty, order, w.bytes(), a.bytes())
                            .unwrap();
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{} {ty} {order:?} pattern {bits:#06x} at {pos}: {got} vs {want}",
                            k.name()
                        );
                    }
                }
            }
        }
    }
}

/// Sets activation quant i to `f(i)` (and the Q8_K `bsums` to match).
fn set_activation_quants(ty: GgmlType, bytes: &mut [u8], f: impl Fn(usize) -> i8) {
    match ty.vec_dot_type() {
        GgmlType::Q8_0 => {
            let blocks: &mut [BlockQ8_0] = quant::cast_blocks_mut(bytes).unwrap();
            for (bi, b) in blocks.iter_mut().enumerate() {
                for (j, v) in b.qs.iter_mut().enumerate() {
                    *v = f(32 * bi + j);
                }
            }
        }
        GgmlType::Q8_1 => {
            // With d = 2^-3 and |qs| <= 127, d * sum(qs) is exact in f16.
            let blocks: &mut [BlockQ8_1] = quant::cast_blocks_mut(bytes).unwrap();
            for (bi, b) in blocks.iter_mut().enumerate() {
                for (j, v) in b.qs.iter_mut().enumerate() {
                    *v = f(32 * bi + j);
                }
                set_q8_1_sum(b);
            }
        }
        GgmlType::Q8_K => {
            let blocks: &mut [BlockQ8K] = quant::cast_blocks_mut(bytes).unwrap();
            for (bi, b) in blocks.iter_mut().enumerate() {
                for (j, v) in b.qs.iter_mut().enumerate() {
                    *v = f(QK_K * bi + j);
                }
                for (s, g) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                    *s = g.iter().map(|&v| i16::from(v)).sum();
                }
            }
        }
        other => panic!("{other} is not an integer activation format"),
    }
}

#[test]
fn matvec_equals_row_dot_products() {
    // Row counts around the four- and two-row kernels' groups, odd and even block counts
    // (IQ4_NL pairs its blocks), and rows of 8 and more blocks (the AVX-VNNI products, K-quant
    // super-blocks included, take the scales eight blocks at a time, the rest one by one), and
    // groups of eight rows with a remainder (the AVX-VNNI IQ4_NL repacked product).
    let mut rng = Rng::new(0x5EED_0003);
    for k in Kernels::all() {
        for ty in TYPES {
            for order in ORDERS {
                for (rows, nb) in [
                    (5, 3),
                    (1, 1),
                    (4, 2),
                    (9, 4),
                    (7, 5),
                    (6, 8),
                    (3, 17),
                    (17, 9),
                ] {
                    let n = nb * block_values(ty);
                    let w = random_weights(ty, rows * n, &mut rng, false);
                    let a = random_activations(ty, n, &mut rng);
                    let mut out = vec![0.0f32; rows];
                    k.matvec_order(&mut out, ty, w.bytes(), a.bytes(), order);
                    let mut want = vec![0.0f32; rows];
                    Kernels::scalar().matvec_order(&mut want, ty, w.bytes(), a.bytes(), order);
                    if order == DotOrder::VecDot {
                        let mut plain = vec![0.0f32; rows];
                        k.matvec(&mut plain, ty, w.bytes(), a.bytes());
                        assert_eq!(plain, out);
                    }
                    let row_bytes = ty.row_bytes(n).unwrap();
                    for r in 0..rows {
                        let row = &w.bytes()[r * row_bytes..(r + 1) * row_bytes];
                        let dot = k.vec_dot_order(ty, order, row, a.bytes()).unwrap();
                        let what =
                            format!("{} {ty} {order:?} matvec {rows}x{nb} row {r}", k.name());
                        assert_eq!(out[r].to_bits(), dot.to_bits(), "{what}");
                        assert_eq!(out[r].to_bits(), want[r].to_bits(), "{what} vs scalar");
                    }
                }
            }
        }
    }
}

#[test]
fn layout_errors_are_refused() {
    let mut rng = Rng::new(7);
    for k in Kernels::all() {
        let ty = GgmlType::Q4_K;
        let w = random_weights(ty, 2 * QK_K, &mut rng, false);
        let a = random_activations(ty, QK_K, &mut rng);
        assert!(k.vec_dot(ty, w.bytes(), a.bytes()).is_err());
        assert!(k.vec_dot(GgmlType::Q8_1, w.bytes(), a.bytes()).is_err());
    }
}

/// Test inputs for the activation quantizers: random values of several scales, zero blocks,
/// exact .5 ties, equal magnitudes of opposite sign, subnormals, and non-finite values.
fn quantizer_inputs(block: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(0x5EED_0004);
    let mut v = Vec::new();
    for nb in BLOCKS {
        let n = nb * block;
        v.push(rng.data(n, 0.1, 2.0));
        v.push(rng.data(n, 0.0, 1e4));
        v.push(rng.data(n, 0.0, 1e-30));
        v.push(rng.data(n, -3.0, 0.5));
    }
    // Zeros, and a zero block between non-zero ones.
    v.push(vec![0.0; 3 * block]);
    let mut z = rng.data(3 * block, 0.0, 1.0);
    z[block..2 * block].fill(0.0);
    z[5] = -0.0;
    v.push(z);
    // Exact ties: amax 127 (Q8_0: d = 1, id = 1) and max -127 (Q8_K: iscale = 1), with halves.
    for &top in &[127.0f32, -127.0] {
        let mut t: Vec<f32> = (0..2 * block)
            .map(|i| ((i % 254) as f32 - 127.0) * 0.5 + if i % 3 == 0 { 0.0 } else { 0.25 })
            .map(|x| x.clamp(-126.5, 126.5))
            .collect();
        t[0] = top;
        t[block] = top;
        t[block + 7] = 2.5;
        t[block + 8] = -2.5;
        t[block + 9] = 0.5;
        t[block + 10] = -0.5;
        v.push(t);
    }
    // Ties of the largest magnitude with opposite signs (the first one wins in Q8_K).
    for first in [1.0f32, -1.0] {
        let mut t = rng.data(2 * block, 0.0, 1.0);
        t[3] = 4.0 * first;
        t[9] = -4.0 * first;
        t[block + 200 % block] = -8.0 * first;
        t[block + 201 % block] = 8.0 * first;
        v.push(t);
    }
    // Subnormals only (for Q8_K -127 / max overflows to -inf), tiny normals (for Q8_0
    // 1 / (amax / 127) overflows), and non-finite values (handed to the reference per block).
    v.push((0..block).map(|i| f32::from_bits(1 + i as u32)).collect());
    v.push((0..block).map(|i| (i as f32 - 7.0) * 1e-40).collect());
    v.push((0..block).map(|i| (i as f32 - 7.0) * 1e-38).collect());
    let mut nf = rng.data(4 * block, 0.0, 1.0);
    nf[1] = f32::NAN;
    nf[block + 2] = f32::INFINITY;
    nf[2 * block + 3] = f32::NEG_INFINITY;
    v.push(nf);
    // Random values rounded to multiples of 1/2 in [-127, 127] around a fixed max, so that
    // x * id often lands exactly on a half.
    let mut h: Vec<f32> = (0..8 * block)
        .map(|_| (rng.next_u64() % 509) as f32 * 0.5 - 127.0)
        .collect();
    for b in h.chunks_exact_mut(block) {
        b[0] = 127.0;
    }
    v.push(h);
    v
}

#[test]
fn q8_0_quantizer_is_byte_identical() {
    for k in simd_tables() {
        for x in quantizer_inputs(32) {
            let nb = x.len() / 32;
            let mut want = AlignedBytes::zeroed(nb * 34);
            quant::q8_0::quantize_row_x86(&x, quant::cast_blocks_mut(want.bytes_mut()).unwrap());
            let mut got = AlignedBytes::zeroed(nb * 34);
            k.quantize_q8_0(&x, quant::cast_blocks_mut(got.bytes_mut()).unwrap());
            assert_eq!(
                got.bytes(),
                want.bytes(),
                "{} Q8_0 on {:?}..",
                k.name(),
                &x[..4]
            );
            // And through the type-erased entry point.
            let mut erased = AlignedBytes::zeroed(nb * 34);
            k.quantize_activation(GgmlType::Q8_0, &x, erased.bytes_mut())
                .unwrap();
            assert_eq!(erased.bytes(), want.bytes());
        }
    }
}

#[test]
fn q8_1_quantizer_is_byte_identical() {
    for k in simd_tables() {
        for x in quantizer_inputs(32) {
            let nb = x.len() / 32;
            let mut want = AlignedBytes::zeroed(nb * 36);
            quant::q8_0::quantize_row_q8_1_x86(
                &x,
                quant::cast_blocks_mut(want.bytes_mut()).unwrap(),
            );
            let mut got = AlignedBytes::zeroed(nb * 36);
            k.quantize_q8_1(&x, quant::cast_blocks_mut(got.bytes_mut()).unwrap());
            assert_eq!(
                got.bytes(),
                want.bytes(),
                "{} Q8_1 on {:?}..",
                k.name(),
                &x[..4]
            );
            let mut erased = AlignedBytes::zeroed(nb * 36);
            k.quantize_activation(GgmlType::Q8_1, &x, erased.bytes_mut())
                .unwrap();
            assert_eq!(erased.bytes(), want.bytes());
        }
    }
}

#[test]
fn q8_k_quantizer_is_byte_identical() {
    for k in simd_tables() {
        for x in quantizer_inputs(QK_K) {
            let nb = x.len() / QK_K;
            let mut want = AlignedBytes::zeroed(nb * 292);
            quant::q8_k::quantize_row(&x, quant::cast_blocks_mut(want.bytes_mut()).unwrap());
            let mut got = AlignedBytes::zeroed(nb * 292);
            k.quantize_q8_k(&x, quant::cast_blocks_mut(got.bytes_mut()).unwrap());
            assert_eq!(
                got.bytes(),
                want.bytes(),
                "{} Q8_K on {:?}..",
                k.name(),
                &x[..4]
            );
            let mut erased = AlignedBytes::zeroed(nb * 292);
            k.quantize_activation(GgmlType::Q8_K, &x, erased.bytes_mut())
                .unwrap();
            assert_eq!(erased.bytes(), want.bytes());
        }
    }
}

#[test]
fn the_process_wide_table_is_one_the_host_supports() {
    let all = Kernels::all();
    assert_eq!(all[0].name(), "scalar");
    let chosen = Kernels::get();
    assert!(all.iter().any(|k| k.isa() == chosen.isa()));
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
    {
        assert!(Kernels::avx2().is_some());
        assert_eq!(
            Kernels::avx_vnni().is_some(),
            is_x86_feature_detected!("avxvnni")
        );
        // The EVEX instance of the VNNI kernels: AVX512-VNNI with AVX512VL and GFNI (Cascade
        // Lake has the first two only and runs the AVX2 table).
        assert_eq!(
            Kernels::avx512_vnni().is_some(),
            is_x86_feature_detected!("avx512vnni")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("gfni")
        );
        // The best table is a VNNI one whenever the CPU has either encoding.
        if Kernels::avx_vnni().is_some() || Kernels::avx512_vnni().is_some() {
            assert!(Kernels::best().isa().has_vnni());
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(Kernels::neon().is_some());
        assert_eq!(
            Kernels::neon_dotprod().is_some(),
            std::arch::is_aarch64_feature_detected!("dotprod")
        );
    }
}
