//! Cutting special tokens out of the text: ferrite's trie-based partition against a direct
//! transcription of llama.cpp's `tokenizer_st_partition` (special tokens longest first; each
//! one splits every remaining text fragment at its leftmost non-overlapping occurrences; lstrip
//! and rstrip drop the whitespace beside it), on random texts dense in special-token text and
//! overlapping runs (Gemma's user-defined whitespace runs, phi-3's rstrip tokens).

use std::path::PathBuf;

use ferrite::gguf::GgufFile;
use ferrite::tokenizer::{attr, Tokenizer};

fn vocab(name: &str) -> PathBuf {
    let rel = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vocab"));
    if rel.is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared/vocab")
    }
    .join(name)
}

fn load(path: PathBuf) -> Tokenizer {
    assert!(
        path.is_file(),
        "{} not found (the default model: run tools/fetch-model.sh)",
        path.display()
    );
    Tokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap()
}

enum Frag {
    Text(usize, usize),
    Token(u32),
}

/// llama.cpp's algorithm, fragment list and all.
fn reference_partition(tok: &Tokenizer, text: &str, parse_special: bool) -> Vec<Frag> {
    let mut specials: Vec<u32> = (0..tok.n_vocab() as u32)
        .filter(|&i| tok.token_attr(i) & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0)
        .collect();
    specials.sort_by(|&a, &b| {
        tok.token_text(b)
            .len()
            .cmp(&tok.token_text(a).len())
            .then(a.cmp(&b))
    });
    let isspace = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
    let bytes = text.as_bytes();
    let mut frags = vec![Frag::Text(0, text.len())];
    if text.is_empty() {
        frags.clear();
    }
    for &id in &specials {
        let a = tok.token_attr(id);
        if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
            continue;
        }
        let t = tok.token_text(id);
        let mut next = Vec::new();
        for f in frags {
            let (mut off, end) = match f {
                Frag::Token(_) => {
                    next.push(f);
                    continue;
                }
                Frag::Text(o, e) => (o, e),
            };
            loop {
                let Some(k) = text[off..end].find(t) else {
                    if end > off {
                        next.push(Frag::Text(off, end));
                    }
                    break;
                };
                let m = off + k;
                let mut left_end = m;
                if a & attr::LSTRIP != 0 {
                    while left_end > off && isspace(bytes[left_end - 1]) {
                        left_end -= 1;
                    }
                }
                if left_end > off {
                    next.push(Frag::Text(off, left_end));
                }
                next.push(Frag::Token(id));
                off = m + t.len();
                if a & attr::RSTRIP != 0 {
                    while off < end && isspace(bytes[off]) {
                        off += 1;
                    }
                }
                if off >= end {
                    break;
                }
            }
        }
        frags = next;
    }
    frags
}

fn reference_encode(tok: &Tokenizer, text: &str, parse_special: bool) -> Vec<u32> {
    let mut ids = Vec::new();
    for f in reference_partition(tok, text, parse_special) {
        match f {
            Frag::Token(id) => ids.push(id),
            // A fragment holds no special text any more, so encoding it alone is the plain
            // model (every fragment gets the SentencePiece space prefix, as in llama.cpp).
            Frag::Text(a, b) => ids.extend(tok.encode(&text[a..b], false, parse_special).unwrap()),
        }
    }
    ids
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

fn check(tok: &Tokenizer, pool: &[&str], seed: u64) {
    let mut rng = Rng(seed);
    for _ in 0..400 {
        let n = 1 + rng.next() % 30;
        let text: String = (0..n).map(|_| rng.pick(pool)).collect();
        for parse in [true, false] {
            assert_eq!(
                tok.encode(&text, false, parse).unwrap(),
                reference_encode(tok, &text, parse),
                "{text:?} parse_special={parse}"
            );
        }
    }
}

#[test]
fn gemma_partition_matches_llama_cpp() {
    let tok = load(ferrite::default_model_path());
    let pool = [
        " ",
        "  ",
        "   ",
        "\n",
        "\n\n",
        "\t",
        "\t\t",
        "<",
        ">",
        "/",
        "b",
        "x",
        "é",
        "中",
        "<b>",
        "</b>",
        "<bos>",
        "<eos>",
        "<start_of_turn>",
        "<end_of_turn>",
        "</s>",
        "<s>",
        "<unused0>",
        "<unused12>",
        "[multimodal]",
        "<table>",
        "<start_of_image>",
        "<mask>",
    ];
    check(&tok, &pool, 0x9E37_79B9_7F4A_7C15);
}

#[test]
fn phi3_rstrip_partition_matches_llama_cpp() {
    let tok = load(vocab("ggml-vocab-phi-3.gguf"));
    let pool = [
        " ",
        "  ",
        "\n",
        "\t",
        "a",
        "b",
        "<|user|>",
        "<|end|>",
        "<|assistant|>",
        "</s>",
        "<s>",
        "<unk>",
        "<|endoftext|>",
        "<|system|>",
        "<|",
    ];
    check(&tok, &pool, 12345);
}

#[test]
fn llama3_partition_matches_llama_cpp() {
    let tok = load(vocab("ggml-vocab-llama-bpe.gguf"));
    let pool = [
        " ",
        "\n",
        "a",
        "<|",
        "|>",
        "<|eot_id|>",
        "<|begin_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|reserved_special_token_1|>",
        "<|reserved_special_token_10|>",
        "<|eom_id|>",
        "x's",
    ];
    check(&tok, &pool, 777);
}
