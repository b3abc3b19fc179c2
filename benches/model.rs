//! Criterion benchmarks of the whole model on Gemma 3 270M: opening the file (mmap +
//! validation + metadata), loading the model (tokenizer included), one decode step, and a
//! 64-token prefill. Run with `cargo bench --bench model`; needs tools/fetch-model.sh.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrite::gguf::GgufFile;
use ferrite::{Model, Session, SessionConfig};

fn bench(c: &mut Criterion) {
    let path = ferrite::default_model_path();
    if !path.is_file() {
        eprintln!("{} is missing: run tools/fetch-model.sh", path.display());
        return;
    }
    let mut g = c.benchmark_group("gemma3-270m");
    g.sample_size(10);
    g.bench_function("open (mmap + validate + metadata)", |b| {
        b.iter(|| GgufFile::open(&path).unwrap())
    });
    g.bench_function("load (open + weights + tokenizer)", |b| {
        b.iter(|| Model::load(&path).unwrap())
    });
    let model = Model::load(&path).unwrap();
    for threads in [1, 2] {
        let cfg = SessionConfig {
            n_ctx: 512,
            n_threads: threads,
            ..SessionConfig::default()
        };
        let mut s = Session::new(&model, &cfg).unwrap();
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("decode step, {threads} threads"), |b| {
            b.iter(|| {
                if s.n_past() + 1 >= s.n_ctx() {
                    s.reset();
                }
                s.decode(2).unwrap();
            })
        });
        let toks: Vec<u32> = (0..64).map(|i| 100 + i * 13).collect();
        g.throughput(Throughput::Elements(64));
        g.bench_function(format!("prefill 64, {threads} threads"), |b| {
            b.iter(|| {
                s.reset();
                s.prefill(&toks).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
