//! The f32 vector operations of the forward pass and the f16 attention operations against
//! their scalar references, bit for bit: the dispatching functions (whatever the process-wide
//! kernel table picks: AVX2 on x86, NEON on aarch64) and, where the tests can reach them, one
//! instruction set's versions called directly (the AVX2 softmax, every NEON operation), so a
//! SIMD version is checked even when `FERRITE_KERNELS=scalar` forces the reference. Inputs
//! cover every alignment of the softmax's first cell, lengths with partial groups and SIMD
//! tails of every size, exponentials that underflow and overflow, f16 rounding ties,
//! subnormals, overflow, infinities and NaNs; plus the GELU table against the direct
//! computation for every f16 input.

mod common;

use common::Rng;
use ferrite::kernels::attn;
use ferrite::ops;
use half::f16;

/// The f32 vector operations under test, as plain function pointers.
#[derive(Clone, Copy)]
struct VecOps {
    name: &'static str,
    softmax_cells: fn(&mut [f32], usize),
    swiglu: fn(&mut [f32], &[f32]),
    geglu: fn(&mut [f32], &[f32]),
    round_to_f16: fn(&mut [f32]),
    rope_head: fn(&mut [f32], &[f32], &[f32], bool),
}

/// `dot_f16_2x4`: two keys by four queries.
type Dot2x4 = fn([&[f16]; 2], [&[f32]; 4]) -> [[f32; 4]; 2];
/// `fma_f16_rows`: the rows `(offset, weight)` of a cache into one accumulator.
type FmaRows = fn(&mut [f32], &[f16], &[(usize, f32)]);
/// `fma_f16_rows_x4`: the rows `(offset, weights)` of a cache into four accumulators.
type FmaRowsX4 = fn([&mut [f32]; 4], &[f16], &[(usize, [f32; 4])]);

/// The attention operations under test (`dot_f16_x4` in the batch order only).
#[derive(Clone, Copy)]
struct AttnOps {
    name: &'static str,
    dot_f16: fn(&[f16], &[f32], bool) -> f32,
    dot_f16_x4: fn([&[f16]; 4], &[f32]) -> [f32; 4],
    dot_f16_2x4: Dot2x4,
    fma_f16: fn(&mut [f32], &[f16], f32),
    fma_f16_rows: FmaRows,
    fma_f16_rows_x4: FmaRowsX4,
}

/// The public entry points, dispatching on the process-wide kernel table.
const DISPATCH: VecOps = VecOps {
    name: "dispatch",
    softmax_cells: ops::softmax_cells,
    swiglu: ops::swiglu,
    geglu: ops::geglu,
    round_to_f16: ops::round_to_f16,
    rope_head: ops::rope_head,
};

const DISPATCH_ATTN: AttnOps = AttnOps {
    name: "dispatch",
    dot_f16: attn::dot_f16,
    dot_f16_x4: |k, q| attn::dot_f16_x4(k, q, true),
    dot_f16_2x4: attn::dot_f16_2x4,
    fma_f16: attn::fma_f16,
    fma_f16_rows: attn::fma_f16_rows,
    fma_f16_rows_x4: attn::fma_f16_rows_x4,
};

#[cfg(target_arch = "aarch64")]
mod neon {
    //! The NEON versions called directly (NEON is on every aarch64 CPU: checked once by
    //! [`available`]).
    use ferrite::kernels::aarch64::neon::ops as n;

    use super::{AttnOps, VecOps};

    /// Asserts that the CPU has NEON, the contract of every call below.
    pub fn available() {
        assert!(std::arch::is_aarch64_feature_detected!("neon"));
    }

    // SAFETY (every call below): NEON, the functions' contract, is checked by `available`,
    // which each test calls first.
    pub const OPS: VecOps = VecOps {
        name: "neon",
        softmax_cells: |x, c| unsafe { n::softmax_cells(x, c) },
        swiglu: |g, u| unsafe { n::swiglu(g, u) },
        geglu: |g, u| unsafe { n::geglu(g, u, ferrite::ops::gelu_table()) },
        round_to_f16: |x| unsafe { n::round_to_f16(x) },
        rope_head: |x, c, s, neox| unsafe { n::rope_head(x, c, s, neox) },
    };

    pub const ATTN: AttnOps = AttnOps {
        name: "neon",
        dot_f16: |k, q, batch| unsafe { n::dot_f16(k, q, batch) },
        dot_f16_x4: |k, q| unsafe { n::dot_f16_x4(k, q) },
        dot_f16_2x4: |k, q| unsafe { n::dot_f16_2x4(k, q) },
        fma_f16: |a, v, w| unsafe { n::fma_f16(a, v, w) },
        // The rows are inside the cache: `check_attn` builds them so.
        fma_f16_rows: |a, c, r| unsafe { n::fma_f16_rows(a, c, r) },
        fma_f16_rows_x4: |a, c, r| unsafe { n::fma_f16_rows_x4(a, c, r) },
    };
}

/// Asserts that `got` and `want` hold the same bits.
fn assert_bits(got: &[f32], want: &[f32], what: &dyn Fn() -> String) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{} at {i}: {a} vs {b}", what());
    }
}

#[test]
fn gelu_table_equals_the_direct_computation() {
    for bits in 0..=u16::MAX {
        let x = half::f16::from_bits(bits).to_f32();
        let (a, b) = (ops::gelu(x), ops::gelu_ref(x));
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "gelu({x}) = {a} vs {b}"
        );
    }
    let mut rng = Rng::new(7);
    for _ in 0..100_000 {
        let x = rng.uniform(-12.0, 12.0);
        assert_eq!(
            ops::gelu(x).to_bits(),
            ops::gelu_ref(x).to_bits(),
            "gelu({x})"
        );
    }
}

/// `softmax` against [`ops::softmax_cells_ref`]: every length below 80 with every alignment
/// of the first cell, spreads whose exponentials underflow, and rows with masked (`-inf`)
/// cells, huge values and all cells masked.
fn check_softmax(name: &str, softmax: fn(&mut [f32], usize)) {
    let mut rng = Rng::new(11);
    let mut checked = 0;
    for len in 1..80 {
        for cell0 in 0..17 {
            for spread in [1.0f32, 30.0, 200.0, 1e30, f32::NEG_INFINITY] {
                let x: Vec<f32> = (0..len)
                    .map(|i| match spread {
                        // Masked cells: every third; all of them in the shortest rows.
                        f32::NEG_INFINITY if i % 3 == 0 || len < 3 => f32::NEG_INFINITY,
                        f32::NEG_INFINITY => rng.uniform(-5.0, 5.0),
                        s => rng.uniform(-s, s),
                    })
                    .collect();
                let mut a = x.clone();
                let mut b = x.clone();
                softmax(&mut a, cell0);
                ops::softmax_cells_ref(&mut b, cell0);
                assert_bits(&a, &b, &|| {
                    format!("{name} softmax len {len} cell0 {cell0} spread {spread}")
                });
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 79 * 17 * 5);
}

/// Values that take every path of the exponential, the f16 rounding and GELU's tails.
const SPECIAL: [f32; 24] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    1e-40,
    -1e-40,
    88.0,
    -88.0,
    87.5,
    -104.0,
    -130.0,
    140.0,
    -1e5,
    1e5,
    -10.0,
    10.0,
    -9.999,
    9.999,
    65504.0,
    65520.0,
    -6e-8,
    3.0e38,
    -2.98e-8,
];

/// `swiglu` against [`ops::swiglu_ref`]: lengths with every tail below 8 (the reference's
/// groups of eight) and spreads reaching both scaling paths of the exponential.
fn check_swiglu(name: &str, swiglu: fn(&mut [f32], &[f32])) {
    let mut rng = Rng::new(17);
    let lens = (0..=41).chain([64, 100, 257]);
    for len in lens {
        for spread in [1.0f32, 20.0, 100.0, 200.0, 1000.0] {
            let mut g: Vec<f32> = (0..len).map(|_| rng.uniform(-spread, spread)).collect();
            for (v, &s) in g
                .iter_mut()
                .zip(SPECIAL.iter().cycle().skip(len))
                .step_by(3)
            {
                *v = s;
            }
            let u: Vec<f32> = (0..len).map(|_| rng.uniform(-2.0, 2.0)).collect();
            let mut a = g.clone();
            swiglu(&mut a, &u);
            let mut b = g.clone();
            ops::swiglu_ref(&mut b, &u);
            assert_bits(&a, &b, &|| {
                format!("{name} swiglu len {len} spread {spread}")
            });
        }
    }
}

/// `geglu` against `gated(.., gelu)` and `round_to_f16` against `half`, with the tails of
/// GELU's table (|x| >= 10), f16 overflow, subnormals, infinities and NaNs.
fn check_geglu_and_f16_rounding(ops_: VecOps) {
    let name = ops_.name;
    let mut rng = Rng::new(23);
    for len in [1usize, 2, 3, 4, 5, 6, 7, 8, 9, 13, 64, 100] {
        for spread in [1.0f32, 12.0, 70000.0] {
            let mut g: Vec<f32> = (0..len).map(|_| rng.uniform(-spread, spread)).collect();
            for (v, &s) in g
                .iter_mut()
                .zip(SPECIAL.iter().cycle().skip(len % 7))
                .step_by(3)
            {
                *v = s;
            }
            let u: Vec<f32> = (0..len).map(|_| rng.uniform(-2.0, 2.0)).collect();
            let mut a = g.clone();
            (ops_.geglu)(&mut a, &u);
            let mut b = g.clone();
            ops::gated(&mut b, &u, ops::gelu);
            assert_bits(&a, &b, &|| format!("{name} geglu len {len} of {g:?}"));
            let mut r = g.clone();
            (ops_.round_to_f16)(&mut r);
            let want: Vec<f32> = g.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
            assert_bits(&r, &want, &|| {
                format!("{name} f16 rounding len {len} of {g:?}")
            });
        }
    }
}

/// `round_to_f16` against `half` on every kind of f32: a sweep of bit patterns across the
/// whole range (NaNs with their payloads included), and for every finite f16 (both signs)
/// the f32 halfway to the next one (a tie, to even) and its two neighbours.
fn check_f16_rounding_sweep(name: &str, round: fn(&mut [f32])) {
    let mut x: Vec<f32> = (0..=u32::MAX).step_by(65_521).map(f32::from_bits).collect();
    for bits in 0..0x7C00u16 {
        let lo = f16::from_bits(bits).to_f32();
        let mid = if bits == 0x7BFF {
            65520.0
        } else {
            (lo + f16::from_bits(bits + 1).to_f32()) / 2.0
        };
        for m in [mid.to_bits() - 1, mid.to_bits(), mid.to_bits() + 1] {
            x.push(f32::from_bits(m));
            x.push(-f32::from_bits(m));
        }
    }
    // A length that leaves a tail of every kind of SIMD loop.
    x.push(1.0);
    let mut got = x.clone();
    round(&mut got);
    for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
        let want = f16::from_f32(v).to_f32();
        assert_eq!(
            g.to_bits(),
            want.to_bits(),
            "{name} f16 rounding of {v:e} ({:#010x}, {i})",
            v.to_bits()
        );
    }
}

/// `rope_head` against ggml's rotation written out with `mul_add` (fused first product,
/// rounded second), in both pair layouts, with every tail of four pairs and dimensions past
/// `n_rot` left untouched.
fn check_rope(name: &str, rope: fn(&mut [f32], &[f32], &[f32], bool)) {
    let mut rng = Rng::new(29);
    for half in [0usize, 1, 2, 3, 4, 5, 6, 7, 8, 9, 32, 33, 64, 128] {
        for extra in [0usize, 3] {
            for neox in [false, true] {
                let x: Vec<f32> = (0..2 * half + extra)
                    .map(|_| rng.uniform(-50.0, 50.0))
                    .collect();
                let cos: Vec<f32> = (0..half).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let sin: Vec<f32> = (0..half).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let mut got = x.clone();
                rope(&mut got, &cos, &sin, neox);
                let mut want = x.clone();
                for i in 0..half {
                    let (a, b) = if neox {
                        (i, i + half)
                    } else {
                        (2 * i, 2 * i + 1)
                    };
                    want[a] = x[a].mul_add(cos[i], -(x[b] * sin[i]));
                    want[b] = x[a].mul_add(sin[i], x[b] * cos[i]);
                }
                assert_bits(&got, &want, &|| {
                    format!("{name} rope half {half} extra {extra} neox {neox}")
                });
            }
        }
    }
}

/// A random f16: mostly moderate values, sometimes any finite pattern (subnormals and
/// values up to 65504 included).
fn random_f16(rng: &mut Rng) -> f16 {
    if rng.next_u64().is_multiple_of(4) {
        let bits = rng.next_u64() as u16;
        if bits & 0x7C00 == 0x7C00 {
            f16::from_bits(bits & 0xBFFF) // exponent 31 -> 15: finite
        } else {
            f16::from_bits(bits)
        }
    } else {
        f16::from_f32(rng.uniform(-2.0, 2.0))
    }
}

/// The attention operations against `attn::dot_f16_ref` / `attn::fma_f16_ref`: lengths with
/// every tail of the SIMD loops (8, 16, 32 values), keys longer than the query, rows at
/// unaligned offsets, repeated rows and no rows.
fn check_attn(ops_: AttnOps) {
    let name = ops_.name;
    let mut rng = Rng::new(31);
    let lens = (0..=41).chain([47, 48, 63, 64, 65, 100, 128, 136, 256]);
    for n in lens {
        let f16s =
            |rng: &mut Rng, len: usize| -> Vec<f16> { (0..len).map(|_| random_f16(rng)).collect() };
        let f32s = |rng: &mut Rng, len: usize| -> Vec<f32> {
            (0..len).map(|_| rng.uniform(-2.0, 2.0)).collect()
        };
        // Keys with 3 values more than the query (the functions take the first n).
        let keys: Vec<Vec<f16>> = (0..4).map(|_| f16s(&mut rng, n + 3)).collect();
        let qs: Vec<Vec<f32>> = (0..4).map(|_| f32s(&mut rng, n)).collect();
        let (k, q) = (&keys[0][..], &qs[0][..]);
        for batch in [false, true] {
            let got = (ops_.dot_f16)(k, q, batch);
            let want = attn::dot_f16_ref(&k[..n], q, batch);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{name} dot_f16 n {n} batch {batch}"
            );
        }
        if n.is_multiple_of(8) {
            let k4: [&[f16]; 4] = std::array::from_fn(|j| &keys[j][..]);
            let got = (ops_.dot_f16_x4)(k4, q);
            for (j, key) in keys.iter().enumerate() {
                let want = attn::dot_f16_ref(&key[..n], q, true);
                assert_eq!(
                    got[j].to_bits(),
                    want.to_bits(),
                    "{name} dot_f16_x4 n {n} key {j}"
                );
            }
            let q4: [&[f32]; 4] = std::array::from_fn(|h| &qs[h][..]);
            let got = (ops_.dot_f16_2x4)([&keys[0], &keys[1]], q4);
            for (j, key) in keys[..2].iter().enumerate() {
                for (h, q) in qs.iter().enumerate() {
                    let want = attn::dot_f16_ref(&key[..n], q, true);
                    assert_eq!(
                        got[j][h].to_bits(),
                        want.to_bits(),
                        "{name} dot_f16_2x4 n {n} key {j} query {h}"
                    );
                }
            }
        }

        let acc0 = f32s(&mut rng, n);
        let w = rng.uniform(-2.0, 2.0);
        let mut got = acc0.clone();
        (ops_.fma_f16)(&mut got, k, w);
        let mut want = acc0.clone();
        attn::fma_f16_ref(&mut want, &k[..n], w);
        assert_bits(&got, &want, &|| format!("{name} fma_f16 n {n}"));

        // A cache of five rows and a few more values; rows at unaligned offsets, one twice.
        let cache = f16s(&mut rng, 5 * n + 7);
        let offsets = [0, 3 * n + 5, n + 1, 4 * n + 7, n + 1];
        for count in [0, 1, 5] {
            let rows: Vec<(usize, f32)> = offsets[..count]
                .iter()
                .map(|&o| (o, rng.uniform(-1.0, 1.0)))
                .collect();
            let mut got = acc0.clone();
            (ops_.fma_f16_rows)(&mut got, &cache, &rows);
            let mut want = acc0.clone();
            for &(o, w) in &rows {
                attn::fma_f16_ref(&mut want, &cache[o..o + n], w);
            }
            assert_bits(&got, &want, &|| {
                format!("{name} fma_f16_rows n {n} rows {count}")
            });

            let rows4: Vec<(usize, [f32; 4])> = offsets[..count]
                .iter()
                .map(|&o| (o, std::array::from_fn(|_| rng.uniform(-1.0, 1.0))))
                .collect();
            let accs: Vec<Vec<f32>> = (0..4).map(|_| f32s(&mut rng, n)).collect();
            let mut got = accs.clone();
            let [g0, g1, g2, g3] = &mut got[..] else {
                unreachable!()
            };
            (ops_.fma_f16_rows_x4)([g0, g1, g2, g3], &cache, &rows4);
            for (h, acc) in accs.iter().enumerate() {
                let mut want = acc.clone();
                for &(o, w) in &rows4 {
                    attn::fma_f16_ref(&mut want, &cache[o..o + n], w[h]);
                }
                assert_bits(&got[h], &want, &|| {
                    format!("{name} fma_f16_rows_x4 n {n} rows {count} head {h}")
                });
            }
        }
    }
}

/// The vector operations as the forward pass calls them (AVX2 or NEON where the process-wide
/// table has it, the reference otherwise) give their references' bits.
#[test]
fn vector_ops_equal_their_references() {
    check_softmax(DISPATCH.name, DISPATCH.softmax_cells);
    check_swiglu(DISPATCH.name, DISPATCH.swiglu);
    check_geglu_and_f16_rounding(DISPATCH);
    check_f16_rounding_sweep(DISPATCH.name, DISPATCH.round_to_f16);
    check_rope(DISPATCH.name, DISPATCH.rope_head);
}

/// The attention operations as the forward pass calls them give their references' bits.
#[test]
fn attention_ops_equal_their_references() {
    check_attn(DISPATCH_ATTN);
}

#[cfg(target_arch = "aarch64")]
#[test]
fn neon_vector_ops_equal_their_references() {
    neon::available();
    check_softmax(neon::OPS.name, neon::OPS.softmax_cells);
    check_swiglu(neon::OPS.name, neon::OPS.swiglu);
    check_geglu_and_f16_rounding(neon::OPS);
    check_f16_rounding_sweep(neon::OPS.name, neon::OPS.round_to_f16);
    check_rope(neon::OPS.name, neon::OPS.rope_head);
}

#[cfg(target_arch = "aarch64")]
#[test]
fn neon_attention_ops_equal_their_references() {
    neon::available();
    check_attn(neon::ATTN);
}

/// `expf4` against `expf_ggml` lane by lane, on the whole f32 range (both scaling paths of
/// large `|n|`, overflow, underflow, infinities and NaNs), each value in every lane.
#[cfg(target_arch = "aarch64")]
#[test]
fn neon_expf4_equals_expf_ggml() {
    use std::arch::aarch64::{float32x4_t, vld1q_f32, vst1q_f32};
    neon::available();
    let mut rng = Rng::new(37);
    let mut x: Vec<f32> = (0..=u32::MAX)
        .step_by(262_139)
        .map(f32::from_bits)
        .collect();
    x.extend((0..20_000).map(|_| rng.uniform(-200.0, 200.0)));
    x.extend(SPECIAL);
    x.extend([
        126.5f32, -126.5, 127.0, -127.0, 191.9, -191.9, 192.5, -192.5, 89.0, -103.0,
    ]);
    // Near the multiples of ln 2, where the reduced argument is small and the last bit of its
    // fused steps shows.
    for k in (-150i32..=150).filter(|&k| k != 0) {
        let base = (f64::from(k) * std::f64::consts::LN_2) as f32;
        x.extend((-64..=64).map(|d| f32::from_bits(base.to_bits().wrapping_add_signed(d))));
    }
    for chunk in x.windows(4) {
        // SAFETY: NEON is available (checked above); the loads and the store touch the four
        // values of `chunk` and of `out`.
        let got: [f32; 4] = unsafe {
            let v: float32x4_t = vld1q_f32(chunk.as_ptr());
            let mut out = [0f32; 4];
            vst1q_f32(
                out.as_mut_ptr(),
                ferrite::kernels::aarch64::neon::ops::expf4(v),
            );
            out
        };
        for (g, &v) in got.iter().zip(chunk) {
            let want = ops::expf_ggml(v);
            assert_eq!(
                g.to_bits(),
                want.to_bits(),
                "expf4({v:e}): {g:e} vs {want:e}"
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_softmax_and_swiglu_are_bit_identical() {
    if !(is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c"))
    {
        // Not a skip: the reference is all there is on such a host, and the dispatch in
        // `ops::softmax_cells` never takes the AVX2 path there.
        assert!(!ferrite::kernels::Kernels::get().isa().has_avx2());
        return;
    }
    // SAFETY: the features were checked above.
    check_softmax("avx2", |x, c| unsafe {
        ferrite::kernels::x86_64::avx2::ops::softmax_cells(x, c)
    });
    // SAFETY: as above.
    check_swiglu("avx2", |g, u| unsafe {
        ferrite::kernels::x86_64::avx2::ops::swiglu(g, u)
    });
}
