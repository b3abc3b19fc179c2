//! Q8_K: the activation format the K-quants (and IQ4_XS) pair with.
//!
//! A block holds 256 values (292 bytes), as ggml's `block_q8_K`:
//!
//! ```text
//! offset  size  field
//!      0     4  d          f32 scale
//!      4   256  qs[256]    int8 quants, value i in qs[i]
//!    260    32  bsums[16]  i16, bsums[j] = sum of qs[16*j .. 16*j + 16]
//! ```
//!
//! Dequantization: `x[i] = d * qs[i]`.
//!
//! Quantization ([`quantize_row`], ggml's `quantize_row_q8_K_ref`): take the value `max` of
//! largest magnitude *with its sign*, `iscale = -127 / max`, `qs[i] = min(127,
//! round_half_even(iscale * x[i]))`, `d = 1 / iscale`. The scale is negative when `max` is
//! positive; the quants then are negated too, so `d * qs[i]` has the sign of `x[i]`. (ggml chose
//! -127 over -128 to keep its IQ2_XXS AVX kernel simple; `qs` thus never holds -128.)
//!
//! `bsums` lets a K-quant dot product apply the per-sub-block minimum or offset of the weights
//! without touching the quants: `sum_i min_j * q8_i = min_j * bsums[j]` over a 16-value group.

use super::{Pod, QK_K};

/// One Q8_K block of 256 values: an f32 scale, the int8 quants, and the sums of each group
/// of 16 quants (used by the K-quant dot products for their minimum terms).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

// SAFETY: repr(C), f32 + i8/i16 arrays, no padding (size asserted).
unsafe impl Pod for BlockQ8K {}

/// ggml's `nearest_int`: round to nearest, ties to even (it adds 1.5 * 2^23 and reads the
/// mantissa, which rounds in the FPU's default mode). Equal to `round_ties_even` for
/// |x| < 2^22; here |x| <= 127 plus rounding.
#[inline]
fn nearest_int(x: f32) -> i32 {
    x.round_ties_even() as i32
}

/// Quantizes `x` into Q8_K blocks (`x.len() == out.len() * 256`), as ggml's
/// `quantize_row_q8_K_ref`.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ8K]) {
    assert_eq!(x.len(), out.len() * QK_K, "Q8_K quantize: length mismatch");
    for (xb, y) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        // The value of largest magnitude, keeping its sign (the first one on ties).
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            // ggml leaves bsums untouched here; zero is what they would sum to.
            y.d = 0.0;
            y.qs = [0; QK_K];
            y.bsums = [0; QK_K / 16];
            continue;
        }
        let iscale = -127.0f32 / max;
        for (q, &v) in y.qs.iter_mut().zip(xb) {
            // iscale * v lies in [-127, 127] up to rounding, so after min(127) the value fits
            // in i8 (the lower end rounds to -127 at worst).
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (s, g) in y.bsums.iter_mut().zip(y.qs.chunks_exact(16)) {
            // |sum| <= 16 * 127 = 2032: fits i16.
            *s = g.iter().map(|&q| q as i16).sum();
        }
        y.d = 1.0 / iscale;
    }
}

/// Dequantizes Q8_K blocks (for tests).
pub fn dequantize_row(blocks: &[BlockQ8K], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        blocks.len() * QK_K,
        "Q8_K dequantize: length mismatch"
    );
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
        for (o, &q) in y.iter_mut().zip(b.qs.iter()) {
            *o = b.d * q as f32;
        }
    }
}

/// The eight i32 lanes ggml's x86 AVX2 K-quant kernels (`ggml_vec_dot_q*_K_q8_K`) build for
/// one super-block: `maddubs` then `madd` with the scales put value `i` in lane
/// `(i % 32) / 4`, multiplied by the scale of its 16-value group (`scale16[i / 16]`; for
/// 32-value sub-blocks both halves carry the same scale). Each lane is converted to f32 on its
/// own, so the split matters for the result, not only the total.
///
/// Overflow bound: |scale| <= 127, |w| <= 127, |a| <= 127 and 32 values per lane give
/// |lane| < 2^26.
#[inline]
pub(crate) fn k_lanes(w: &[i8; QK_K], a: &[i8; QK_K], scale16: &[i32; 16]) -> [i32; 8] {
    let mut lanes = [0i32; 8];
    for (i, (&w, &a)) in w.iter().zip(a).enumerate() {
        lanes[(i % 32) / 4] += scale16[i / 16] * (i32::from(w) * i32::from(a));
    }
    lanes
}

/// One super-block's term in ggml's tiled K-quant matmul (`ggml-cpu/tiled`, AVX2), which
/// llama.cpp uses for K-quant weights once a batch has 8 or more tokens: with `s1` the exact
/// integer `sum(scale * w * a)` and `s2` the exact `sum(min * bsum)` of the block,
/// `res = fma(-dmin, s2, d * s1)` and `acc = fma(res, d_a, acc)`, the blocks taken in order.
#[inline]
pub(crate) fn tiled_step(acc: f32, d: f32, s1: i32, min: Option<(f32, i32)>, d_a: f32) -> f32 {
    let mut res = d * s1 as f32;
    if let Some((dmin, s2)) = min {
        res = (-dmin).mul_add(s2 as f32, res);
    }
    res.mul_add(d_a, acc)
}

/// Helpers for the unit tests of the formats that pair with Q8_K.
#[cfg(test)]
pub(crate) mod test_util {
    use super::super::{as_bytes, cast_blocks, BlockFormat};
    use super::*;

    /// A deterministic pseudo-random sequence in [-1, 1) (xorshift32), for test data.
    pub(crate) fn test_values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Deterministic pseudo-random bytes (xorshift32), to fill weight blocks.
    pub(crate) fn test_bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8
            })
            .collect()
    }

    /// `n_blocks` Q8_K activation blocks quantized from pseudo-random values.
    pub(crate) fn test_activations(n_blocks: usize, seed: u32) -> Vec<BlockQ8K> {
        let x = test_values(n_blocks * QK_K, seed);
        let mut q = vec![
            BlockQ8K {
                d: 0.0,
                qs: [0; QK_K],
                bsums: [0; QK_K / 16]
            };
            n_blocks
        ];
        quantize_row(&x, &mut q);
        q
    }

    /// The dot product recomputed in f64 from dequantized weights and activations.
    pub(crate) fn f64_dot(w: &[f32], a: &[BlockQ8K]) -> f64 {
        let mut y = vec![0.0; a.len() * QK_K];
        dequantize_row(a, &mut y);
        w.iter().zip(&y).map(|(&p, &q)| p as f64 * q as f64).sum()
    }

    /// Copies `bytes` (a whole number of blocks) into a vector of blocks.
    pub(crate) fn blocks_from_bytes<B: Pod>(bytes: &[u8]) -> Vec<B> {
        // An f32 buffer (bits copied verbatim) is aligned for every block type here.
        assert!(std::mem::align_of::<B>() <= 4);
        let words: Vec<f32> = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                f32::from_bits(u32::from_le_bytes(w))
            })
            .collect();
        cast_blocks::<B>(&as_bytes(&words)[..bytes.len()])
            .expect("whole blocks")
            .to_vec()
    }

    /// Activations whose every value is exactly 1 (d = 1, qs = 1): the dot product of a row
    /// with them is the sum of the row's dequantized values.
    pub(crate) fn ones_activations(n_blocks: usize) -> Vec<BlockQ8K> {
        vec![
            BlockQ8K {
                d: 1.0,
                qs: [1; QK_K],
                bsums: [16; QK_K / 16]
            };
            n_blocks
        ]
    }

    /// Checks a format's dot product on `w` (every prefix length, which includes odd block
    /// counts): against the f64 recomputation from dequantized values, and the type-erased
    /// entry point against the direct call (bit for bit).
    pub(crate) fn check_dot<B: BlockFormat<Activation = BlockQ8K>>(w: &[B], seed: u32) {
        let a = test_activations(w.len(), seed);
        for n in 1..=w.len() {
            let mut deq = vec![0.0; n * QK_K];
            B::dequantize(&w[..n], &mut deq);
            let got = B::vec_dot(&w[..n], &a[..n]);
            assert_dot_close(got, &deq, &a[..n]);
            let erased =
                super::super::vec_dot(B::TYPE, as_bytes(&w[..n]), as_bytes(&a[..n])).unwrap();
            assert_eq!(erased.to_bits(), got.to_bits());
        }
        // A mismatched activation length is refused by the type-erased entry point.
        assert!(super::super::vec_dot(B::TYPE, as_bytes(w), as_bytes(&a[..a.len() - 1])).is_err());
    }

    /// Asserts that an f32 dot product agrees with its f64 recomputation to a tolerance
    /// relative to the sum of the magnitudes of the terms.
    pub(crate) fn assert_dot_close(got: f32, w: &[f32], a: &[BlockQ8K]) {
        let want = f64_dot(w, a);
        let mut y = vec![0.0; a.len() * QK_K];
        dequantize_row(a, &mut y);
        let mag: f64 = w
            .iter()
            .zip(&y)
            .map(|(&p, &q)| (p as f64 * q as f64).abs())
            .sum();
        let err = (got as f64 - want).abs();
        assert!(
            err <= 1e-5 * mag.max(1e-30),
            "dot {got} vs f64 {want} (err {err}, mag {mag})"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::test_values;
    use super::*;

    fn zero_block() -> BlockQ8K {
        BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16],
        }
    }

    #[test]
    fn round_trip_within_half_step() {
        let x = test_values(3 * QK_K, 7);
        let mut q = vec![zero_block(); 3];
        quantize_row(&x, &mut q);
        let mut y = vec![0.0; x.len()];
        dequantize_row(&q, &mut y);
        for (b, (xb, yb)) in q.iter().zip(x.chunks(QK_K).zip(y.chunks(QK_K))) {
            let step = b.d.abs();
            for (a, c) in xb.iter().zip(yb) {
                assert!(
                    (a - c).abs() <= 0.5 * step * 1.0001,
                    "{a} vs {c}, step {step}"
                );
            }
            // bsums are the sums of the quants.
            for (j, g) in b.qs.chunks(16).enumerate() {
                assert_eq!(b.bsums[j] as i32, g.iter().map(|&v| v as i32).sum::<i32>());
            }
        }
    }

    #[test]
    fn signed_max_and_clamp() {
        // Largest magnitude is positive: iscale is negative, the max maps to -127.
        let mut x = vec![0.0f32; QK_K];
        x[3] = 2.0;
        x[4] = -2.0; // same magnitude, later: the first one wins
        x[5] = 1.0;
        let mut q = [zero_block()];
        quantize_row(&x, &mut q);
        assert_eq!(q[0].d, 1.0 / (-127.0f32 / 2.0));
        assert!(q[0].d < 0.0);
        assert_eq!(q[0].qs[3], -127);
        assert_eq!(q[0].qs[4], 127);
        assert_eq!(q[0].qs[5], -64); // -63.5 is a tie: to even
        assert_eq!(q[0].bsums[0], -127 + 127 - 64);
        let mut y = [0.0; QK_K];
        dequantize_row(&q, &mut y);
        assert_eq!(y[3], 2.0);
        assert_eq!(y[4], -2.0);

        // Largest magnitude is negative: iscale is positive.
        x[4] = -3.0;
        quantize_row(&x, &mut q);
        assert!(q[0].d > 0.0);
        assert_eq!(q[0].qs[4], -127);
    }

    #[test]
    fn zero_block_is_zero() {
        let x = vec![0.0f32; 2 * QK_K];
        let mut q = vec![zero_block(); 2];
        q[1].bsums = [5; 16];
        q[1].qs = [3; QK_K];
        quantize_row(&x, &mut q);
        for b in &q {
            assert_eq!(b.d, 0.0);
            assert!(b.qs.iter().all(|&v| v == 0));
            assert!(b.bsums.iter().all(|&v| v == 0));
        }
    }

    #[test]
    fn nearest_int_ties_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(126.6), 127);
    }
}
