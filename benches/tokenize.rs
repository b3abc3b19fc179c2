//! Tokenizer throughput: ~1 MB of mixed text (English prose, code, CJK, emoji, whitespace
//! runs) with the Llama 3 vocabulary (byte-level BPE, `../shared/vocab/ggml-vocab-llama-bpe.gguf`)
//! and the Gemma 3 vocabulary (SentencePiece-style, 262k tokens, the installed default model;
//! skipped with a message when absent). Criterion reports the throughput in bytes/s.
//!
//! `cargo bench --bench tokenize` (kept short: 10 samples of a few seconds).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrite::gguf::GgufFile;
use ferrite::tokenizer::Tokenizer;

fn shared_dir() -> PathBuf {
    let rel = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
    if rel.join("vocab").is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared")
    }
}

/// About 1 MB of mixed text.
fn corpus() -> String {
    let prose = std::fs::read_to_string(shared_dir().join("golden/gpl3.txt"))
        .unwrap_or_else(|_| "The quick brown fox jumps over the lazy dog. ".repeat(800));
    let code = "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    \
                println!(\"{:?}\", v);\t// comment\n}\n\n";
    let cjk = "東京は日本の首都です。自注意力机制是Transformer的核心组件。한국어 텍스트입니다.\n";
    let emoji = "emoji 🦀🚀 ✅ 👩‍👩‍👧 and numbers 3.14159 1234567890 \r\n";
    let ws = "        indented\n\n\n\t\t\ttabs   trailing   \n";
    let mut s = String::new();
    while s.len() < 1_000_000 {
        s.push_str(&prose);
        for _ in 0..40 {
            s.push_str(code);
            s.push_str(cjk);
            s.push_str(emoji);
            s.push_str(ws);
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = corpus();
    let mut g = c.benchmark_group("tokenize");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));

    let llama3 = shared_dir().join("vocab/ggml-vocab-llama-bpe.gguf");
    let f = GgufFile::open(&llama3).expect("llama-bpe vocab");
    let tok = Tokenizer::from_gguf(&f).expect("llama-bpe tokenizer");
    let mut out = Vec::new();
    g.bench_function("llama3-bpe", |b| {
        b.iter(|| {
            tok.encode_into(&text, true, true, &mut out).unwrap();
            out.len()
        })
    });

    let gemma = ferrite::default_model_path();
    if gemma.is_file() {
        let f = GgufFile::open(&gemma).expect("gemma model");
        let tok = Tokenizer::from_gguf(&f).expect("gemma tokenizer");
        g.bench_function("gemma3-spm", |b| {
            b.iter(|| {
                tok.encode_into(&text, true, true, &mut out).unwrap();
                out.len()
            })
        });
    } else {
        eprintln!(
            "skipping gemma3-spm: {} not found (run tools/fetch-model.sh)",
            gemma.display()
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
