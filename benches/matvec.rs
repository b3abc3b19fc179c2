//! Matrix-vector product throughput per block format and instruction set, in GB/s of weights
//! streamed, beside a plain memory read-bandwidth baseline measured in the same run.
//!
//! `cargo bench --bench matvec` (all formats), or with a filter, e.g.
//! `cargo bench --bench matvec -- 'Q4_K|memory'`. Each benchmark is a 4096 x 4096 matvec
//! (single thread) with every kernel table the CPU supports (`scalar`, `avx2`, `neon`,
//! `dotprod`), and for Q4_0, IQ4_NL and Q4_K also in the repacked GEMV order their decode
//! uses (`matvec_4096x4096_repacked`). A 4096 x 4096 matrix (9-64 MB) can fit a large last-level cache (32 MB on the
//! development machine), so each benchmark cycles through copies of it totalling at least
//! `STREAM_BYTES`: every product reads its weights from memory, as decoding does. The
//! baseline sums a 256 MB buffer of u64 (four independent sums, vectorized by the compiler),
//! at the start of the run and again at its end (`memory_end`).
//!
//! Runs are kept short (10 samples of about 2 s); on a shared machine the numbers are noisy.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrite::kernels::{AlignedBuf, Kernels, TYPES};
use ferrite::quant::{self, DotOrder, GgmlType};
use half::f16;

const ROWS: usize = 4096;
const COLS: usize = 4096;
/// The weights cycled through per format: three times the development machine's L3.
const STREAM_BYTES: usize = 96 << 20;

/// SplitMix64, for deterministic test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Byte offsets of the f16 scale fields of a block.
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

/// A `ROWS x COLS` weight of type `ty`: random valid blocks (random bytes, sane f16 scales),
/// or random values for the float formats.
fn weights(ty: GgmlType, rng: &mut Rng) -> AlignedBuf {
    let len = ty.row_bytes(COLS).unwrap() * ROWS;
    let mut buf = AlignedBuf::new(len);
    let bytes = buf.bytes_mut(len);
    if matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
        let row = ty.row_bytes(COLS).unwrap();
        for r in bytes.chunks_exact_mut(row) {
            let x: Vec<f32> = (0..COLS).map(|_| rng.unit()).collect();
            quant::quantize_activation(ty, &x, r).unwrap();
        }
    } else {
        for chunk in bytes.chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        for block in bytes.chunks_exact_mut(ty.type_size()) {
            for &off in scale_offsets(ty) {
                let d = f16::from_f32(0.01 * (1.0 + rng.unit()));
                block[off..off + 2].copy_from_slice(&d.to_le_bytes());
            }
        }
    }
    buf
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// The read-bandwidth baseline, measured at the start of the run (`memory`) and again at the
/// end (`memory_end`): on a shared machine it moves by 20 % or more between minutes, while the
/// core-bound products hardly move, so a run reports both.
fn memory_baseline(c: &mut Criterion) {
    read_loop(c, "memory");
}

fn memory_baseline_end(c: &mut Criterion) {
    read_loop(c, "memory_end");
}

fn read_loop(c: &mut Criterion, group: &str) {
    const BYTES: usize = 256 << 20;
    let buf: Vec<u64> = (0..BYTES / 8).map(|i| i as u64).collect();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::BytesDecimal(BYTES as u64));
    g.bench_function("read_256MB_u64_sum", |b| {
        b.iter(|| {
            // Four independent sums, so the loop is bound by loads, not by an add chain.
            let mut s = [0u64; 4];
            for c in black_box(&buf).chunks_exact(4) {
                for (s, &v) in s.iter_mut().zip(c) {
                    *s = s.wrapping_add(v);
                }
            }
            black_box(s)
        })
    });
    g.finish();
}

fn matvec(c: &mut Criterion) {
    let mut rng = Rng(42);
    let x: Vec<f32> = (0..COLS).map(|_| rng.unit()).collect();
    let tables = Kernels::all();
    for ty in TYPES {
        let wlen = ty.row_bytes(COLS).unwrap() * ROWS;
        let w = weights(ty, &mut rng);
        let copies: Vec<AlignedBuf> = (0..STREAM_BYTES.div_ceil(wlen))
            .map(|_| {
                let mut c = AlignedBuf::new(wlen);
                c.bytes_mut(wlen).copy_from_slice(w.bytes(wlen));
                c
            })
            .collect();
        let mut act = AlignedBuf::new(ty.vec_dot_type().row_bytes(COLS).unwrap());
        let mut out = vec![0.0f32; ROWS];
        // Q4_0, IQ4_NL and Q4_K weights with a multiple of 8 rows decode in ggml's repacked
        // GEMV order (as llama.cpp repacks them; `session::dot_order`): that product too.
        let mut groups = vec![("matvec_4096x4096", DotOrder::VecDot)];
        if matches!(ty, GgmlType::Q4_0 | GgmlType::IQ4_NL | GgmlType::Q4_K) {
            groups.push(("matvec_4096x4096_repacked", DotOrder::RepackedGemv));
        }
        for (group, order) in groups {
            let mut g = c.benchmark_group(format!("{group}/{ty}"));
            g.throughput(Throughput::BytesDecimal(wlen as u64));
            for k in &tables {
                let mut next = 0;
                g.bench_function(k.name(), |b| {
                    b.iter(|| {
                        let wb = copies[next].bytes(wlen);
                        next = (next + 1) % copies.len();
                        let a = k.quantize_for(ty, black_box(&x), &mut act);
                        k.matvec_order(&mut out, ty, black_box(wb), a, order);
                        black_box(&out);
                    })
                });
            }
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = memory_baseline, matvec, memory_baseline_end
}
criterion_main!(benches);
