//! Allocation checks with a counting allocator: once warm, encoding allocates nothing (the
//! working buffers are kept per thread and the output vector is reused), and the streaming
//! decoder never allocates per token.

use std::path::PathBuf;

use ferrite::gguf::GgufFile;
use ferrite::tokenizer::{StreamDecoder, Tokenizer};

#[path = "util/thread_allocs.rs"]
mod thread_allocs;
use thread_allocs::allocations;

fn load(path: PathBuf) -> Tokenizer {
    assert!(
        path.is_file(),
        "{} not found (the default model: run tools/fetch-model.sh)",
        path.display()
    );
    Tokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap()
}

fn vocab(name: &str) -> PathBuf {
    let rel = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vocab"));
    if rel.is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared/vocab")
    }
    .join(name)
}

#[test]
fn warm_encoding_and_streaming_do_not_allocate() {
    let text = "<start_of_turn>user\nHello, 東京 🦀!  Tabs\tand\r\nlines\n\n<b>x</b> 12345 \
                naïve café <|eot_id|> it's\n<end_of_turn>\n";
    for tok in [
        load(ferrite::default_model_path()),
        load(vocab("ggml-vocab-llama-bpe.gguf")),
        load(vocab("ggml-vocab-llama-spm.gguf")),
    ] {
        let mut out = Vec::with_capacity(4096);
        for parse in [true, false] {
            tok.encode_into(text, true, parse, &mut out).unwrap(); // warm the buffers
            let (n, r) = allocations(|| tok.encode_into(text, true, parse, &mut out));
            r.unwrap();
            assert_eq!(
                n,
                0,
                "encode_into allocated {n} times (vocab of {}, parse {parse})",
                tok.n_vocab()
            );
        }
        let ids = out.clone();
        let mut dec = StreamDecoder::new(&tok);
        let mut total = 0usize;
        let (n, _) = allocations(|| {
            for _ in 0..50 {
                for &id in &ids {
                    total += dec.push(&tok, id).len();
                }
            }
            total += dec.finish().len();
        });
        assert!(total > 0);
        assert_eq!(n, 0, "StreamDecoder allocated {n} times");
    }
}
