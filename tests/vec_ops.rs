//! The f32 vector operations of the forward pass against their scalar references: the AVX2
//! softmax (ggml's `ggml_v_expf` on eight lanes) bit for bit, over every alignment of the first
//! cell and lengths with partial groups at both ends, including inputs whose exponentials
//! underflow; the GELU table against the direct computation for every f16 input.

mod common;

use common::Rng;
use ferrite::ops;

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

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_softmax_is_bit_identical() {
    if !(is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c"))
    {
        // Not a skip: the reference is all there is on such a host, and the dispatch in
        // `ops::softmax_cells` never takes the AVX2 path there.
        assert!(!ferrite::kernels::Kernels::get().isa().has_avx2());
        return;
    }
    let mut rng = Rng::new(11);
    let mut checked = 0;
    for len in 1..80 {
        for cell0 in 0..17 {
            for spread in [1.0f32, 30.0, 200.0] {
                let x: Vec<f32> = (0..len).map(|_| rng.uniform(-spread, spread)).collect();
                let mut a = x.clone();
                let mut b = x.clone();
                // SAFETY: the features were checked above.
                unsafe { ferrite::kernels::x86_64::avx2::ops::softmax_cells(&mut a, cell0) };
                ops::softmax_cells_ref(&mut b, cell0);
                for (i, (u, v)) in a.iter().zip(&b).enumerate() {
                    assert_eq!(
                        u.to_bits(),
                        v.to_bits(),
                        "len {len} cell0 {cell0} spread {spread} at {i}: {u} vs {v}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 79 * 17 * 3);
}

/// `ops::geglu` and `ops::round_to_f16` (eight lanes with F16C where the table has AVX2) give
/// the bits of their scalar forms, the tails of GELU's table (|x| >= 10), f16 overflow and
/// subnormals included.
#[test]
fn geglu_and_f16_rounding_equal_their_scalar_forms() {
    let mut rng = Rng::new(23);
    let special = [
        -10.0f32, 10.0, -9.999, 9.999, 0.0, -0.0, 1e-8, -6e-6, 65504.0, 65520.0, -1e6, 3.0e38,
    ];
    for len in [1usize, 7, 8, 9, 64, 100] {
        for spread in [1.0f32, 12.0, 70000.0] {
            let mut g: Vec<f32> = (0..len).map(|_| rng.uniform(-spread, spread)).collect();
            for (v, &s) in g
                .iter_mut()
                .zip(special.iter().cycle().skip(len % 5))
                .step_by(3)
            {
                *v = s;
            }
            let u: Vec<f32> = (0..len).map(|_| rng.uniform(-2.0, 2.0)).collect();
            let mut a = g.clone();
            ops::geglu(&mut a, &u);
            let mut b = g.clone();
            ops::gated(&mut b, &u, ops::gelu);
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert_eq!(
                    x.to_bits(),
                    y.to_bits(),
                    "geglu len {len} value {} ({i})",
                    g[i]
                );
            }
            let mut r = g.clone();
            ops::round_to_f16(&mut r);
            for (i, (x, &v)) in r.iter().zip(&g).enumerate() {
                let want = half::f16::from_f32(v).to_f32();
                assert_eq!(x.to_bits(), want.to_bits(), "f16 rounding of {v} ({i})");
            }
        }
    }
}

/// `ops::rope_head` (compiled with FMA where the table has AVX2) gives the bits of ggml's
/// rotation written out with `mul_add`, in both pair layouts.
#[test]
fn rope_head_equals_the_written_out_rotation() {
    let mut rng = Rng::new(29);
    for half in [1usize, 4, 32, 128] {
        for neox in [false, true] {
            let x: Vec<f32> = (0..2 * half).map(|_| rng.uniform(-50.0, 50.0)).collect();
            let cos: Vec<f32> = (0..half).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let sin: Vec<f32> = (0..half).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let mut got = x.clone();
            ops::rope_head(&mut got, &cos, &sin, neox);
            for i in 0..half {
                let (a, b) = if neox {
                    (i, i + half)
                } else {
                    (2 * i, 2 * i + 1)
                };
                let want_a = x[a].mul_add(cos[i], -(x[b] * sin[i]));
                let want_b = x[a].mul_add(sin[i], x[b] * cos[i]);
                assert_eq!(
                    got[a].to_bits(),
                    want_a.to_bits(),
                    "half {half} neox {neox} {a}"
                );
                assert_eq!(
                    got[b].to_bits(),
                    want_b.to_bits(),
                    "half {half} neox {neox} {b}"
                );
            }
        }
    }
}
