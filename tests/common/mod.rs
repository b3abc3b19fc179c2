//! Helpers shared by the block-format tests: a seeded RNG, aligned byte buffers, fixture
//! loading, ULP distance, reference weight quantizers and random valid blocks.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use ferrite::quant::{
    self, cast_blocks_mut, q4_0::BlockQ4_0, q4_1::BlockQ4_1, q5_0::BlockQ5_0, q5_1::BlockQ5_1,
    GgmlType,
};
use half::f16;

/// The 15 block formats ferrite supports.
pub const FORMATS: [GgmlType; 15] = GgmlType::SUPPORTED;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 24 random bits.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }

    /// `n` values `offset + amplitude * u` with `u` uniform in [-1, 1) (ggml's test data has
    /// the same range: `0.1 + 2 * cos(i + offset)`).
    pub fn data(&mut self, n: usize, offset: f32, amplitude: f32) -> Vec<f32> {
        (0..n)
            .map(|_| offset + amplitude * self.uniform(-1.0, 1.0))
            .collect()
    }
}

/// A byte buffer aligned to 8 bytes (enough for every block type: the strictest is Q8_K with
/// its f32 scale), since `cast_blocks` refuses misaligned input.
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    pub fn zeroed(len: usize) -> AlignedBytes {
        AlignedBytes {
            words: vec![0u64; len.div_ceil(8)],
            len,
        }
    }

    pub fn from_slice(bytes: &[u8]) -> AlignedBytes {
        let mut b = AlignedBytes::zeroed(bytes.len());
        b.bytes_mut().copy_from_slice(bytes);
        b
    }

    pub fn bytes(&self) -> &[u8] {
        &cast_u64(&self.words)[..self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        // SAFETY: u64 has no padding and every byte pattern is a valid u64; the byte view
        // borrows `self.words` mutably, and `len <= 8 * words.len()` by construction.
        let all = unsafe {
            std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.words.len() * 8)
        };
        &mut all[..len]
    }
}

fn cast_u64(words: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding, so all its bytes are initialized; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, words.len() * 8) }
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/quant")
        .join(name)
}

/// Reads a fixture file into an aligned buffer.
pub fn read_fixture(name: &str) -> AlignedBytes {
    let path = fixture_path(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tools/gen_quant_fixtures.py)", path.display()));
    AlignedBytes::from_slice(&bytes)
}

/// Reads a little-endian f32 fixture file.
pub fn read_f32_fixture(name: &str) -> Vec<f32> {
    let b = read_fixture(name);
    assert_eq!(b.bytes().len() % 4, 0, "{name}: not a whole number of f32");
    b.bytes()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The fixture file stem of a type (`Q4_K` -> `q4_k`).
pub fn stem(ty: GgmlType) -> String {
    ty.name().to_ascii_lowercase()
}

/// Distance in units in the last place between two f32 values (0 for identical bits and for
/// +0/-0; `u32::MAX` when exactly one is NaN; NaNs compare by bits).
pub fn ulp_distance(a: f32, b: f32) -> u32 {
    if a.is_nan() || b.is_nan() {
        return if a.to_bits() == b.to_bits() {
            0
        } else {
            u32::MAX
        };
    }
    // Map the sign-magnitude bit patterns onto a monotonic integer line.
    fn key(x: f32) -> i64 {
        let u = x.to_bits();
        if u & 0x8000_0000 != 0 {
            -i64::from(u & 0x7FFF_FFFF)
        } else {
            i64::from(u)
        }
    }
    (key(a) - key(b))
        .unsigned_abs()
        .min(u64::from(u32::MAX - 1)) as u32
}

/// Whether `ferrite_quantize_weights` below has a quantizer for `ty`.
pub fn has_weight_quantizer(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(ty, F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0)
}

/// Quantizes weights `x` to `ty` with ggml's reference quantizers (`quantize_row_*_ref` in
/// `ggml-quants.c`; these are what the gguf package reproduces, and
/// `quant_dequant.rs` checks them against its output bit for bit).
pub fn quantize_weights(ty: GgmlType, x: &[f32]) -> AlignedBytes {
    let mut out = AlignedBytes::zeroed(ty.row_bytes(x.len()).expect("whole blocks"));
    let dst = out.bytes_mut();
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 | GgmlType::Q8_0 => {
            quant::quantize_activation(ty, x, dst).expect("layout")
        }
        GgmlType::Q4_0 => quantize_q4_0(x, cast_blocks_mut(dst).unwrap()),
        GgmlType::Q4_1 => quantize_q4_1(x, cast_blocks_mut(dst).unwrap()),
        GgmlType::Q5_0 => quantize_q5_0(x, cast_blocks_mut(dst).unwrap()),
        GgmlType::Q5_1 => quantize_q5_1(x, cast_blocks_mut(dst).unwrap()),
        _ => panic!("no weight quantizer for {ty}"),
    }
    out
}

/// The value of largest magnitude (the first one on ties), as ggml's Q4_0/Q5_0 quantizers
/// pick it.
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// `(min, max)` starting from `(FLT_MAX, -FLT_MAX)`, as ggml's Q4_1/Q5_1 quantizers.
fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// ggml `quantize_row_q4_0_ref`.
fn quantize_q4_0(x: &[f32], out: &mut [BlockQ4_0]) {
    for (x, b) in x.chunks_exact(32).zip(out) {
        let d = signed_absmax(x) / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        for j in 0..16 {
            // C: MIN(15, (int8_t)(x*id + 8.5f)); the value is in [0.5, 16.5].
            let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
            let q1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// ggml `quantize_row_q4_1_ref`.
fn quantize_q4_1(x: &[f32], out: &mut [BlockQ4_1]) {
    for (x, b) in x.chunks_exact(32).zip(out) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        b.m = f16::from_f32(min);
        for j in 0..16 {
            let q0 = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
            let q1 = (((x[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// ggml `quantize_row_q5_0_ref`.
fn quantize_q5_0(x: &[f32], out: &mut [BlockQ5_0]) {
    for (x, b) in x.chunks_exact(32).zip(out) {
        let d = signed_absmax(x) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        let mut qh = 0u32;
        for j in 0..16 {
            let q0 = ((x[j] * id + 16.5) as i8).min(31) as u8;
            let q1 = ((x[j + 16] * id + 16.5) as i8).min(31) as u8;
            b.qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
            qh |= u32::from(q0 >> 4) << j;
            qh |= u32::from(q1 >> 4) << (j + 16);
        }
        b.qh = qh.to_le_bytes();
    }
}

/// ggml `quantize_row_q5_1_ref`.
fn quantize_q5_1(x: &[f32], out: &mut [BlockQ5_1]) {
    for (x, b) in x.chunks_exact(32).zip(out) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        b.m = f16::from_f32(min);
        let mut qh = 0u32;
        for j in 0..16 {
            // C: (uint8_t)(x + 0.5f) without a clamp; the value is in [0.5, 31.5].
            let q0 = ((x[j] - min) * id + 0.5) as u8;
            let q1 = ((x[j + 16] - min) * id + 0.5) as u8;
            b.qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
            qh |= u32::from((q0 & 0x10) >> 4) << j;
            qh |= u32::from((q1 & 0x10) >> 4) << (j + 16);
        }
        b.qh = qh.to_le_bytes();
    }
}

/// Byte offsets of the f16 scale fields in one block, and the rough size of `d` that keeps
/// dequantized values of order 1, for the formats tested with random blocks (the same table
/// as `tools/gen_quant_fixtures.py`).
pub fn random_block_scales(ty: GgmlType) -> (&'static [usize], f32) {
    use GgmlType::*;
    match ty {
        Q2_K => (&[80, 82], 2e-2),
        Q3_K => (&[108], 8e-3),
        Q4_K => (&[0, 2], 1e-3),
        Q5_K => (&[0, 2], 5e-4),
        Q6_K => (&[208], 2.5e-4),
        IQ4_NL => (&[0], 1e-2),
        IQ4_XS => (&[0], 2.5e-4),
        _ => panic!("{ty} is not tested with random blocks"),
    }
}

/// `nb` random valid blocks of `ty`: random bytes with the f16 scale fields set to finite
/// values of either sign (see [`random_block_scales`]).
pub fn random_blocks(ty: GgmlType, nb: usize, rng: &mut Rng) -> AlignedBytes {
    let (offsets, base) = random_block_scales(ty);
    let size = ty.type_size();
    let mut out = AlignedBytes::zeroed(nb * size);
    rng.fill_bytes(out.bytes_mut());
    for block in out.bytes_mut().chunks_exact_mut(size) {
        for &off in offsets {
            let mag = base * rng.uniform(0.5, 2.0);
            let sign = if rng.next_u64() & 1 == 1 { -1.0 } else { 1.0 };
            let d = f16::from_f32(sign * mag);
            block[off..off + 2].copy_from_slice(&d.to_le_bytes());
        }
    }
    out
}

/// Dequantizes a row of `ty` (weights or an activation format: Q8_0, Q8_K, F16, BF16, F32).
pub fn dequantize_any(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n];
    if ty == GgmlType::Q8_K {
        let blocks = quant::cast_blocks(bytes).expect("Q8_K layout");
        quant::q8_k::dequantize_row(blocks, &mut out);
    } else {
        quant::dequantize_row(ty, bytes, &mut out).expect("layout");
    }
    out
}
