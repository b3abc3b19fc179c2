//! Edge cases on llama.cpp's test vocabularies: empty and whitespace-only text, long runs of
//! spaces and newlines, CRLF, tabs, emoji, CJK, combining marks, a 1 MB input (linear time),
//! streaming detokenization of characters split across tokens, BOS/EOS and error cases.

use std::path::PathBuf;
use std::time::Instant;

use ferrite::gguf::GgufFile;
use ferrite::tokenizer::{StreamDecoder, Tokenizer, Vocab};

fn vocab_path(name: &str) -> PathBuf {
    let rel = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vocab"));
    let dir = if rel.is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared/vocab")
    };
    dir.join(name)
}

fn load(name: &str) -> Tokenizer {
    let f = GgufFile::open(vocab_path(name)).unwrap();
    Tokenizer::from_gguf(&f).unwrap()
}

const TEXTS: &[&str] = &[
    "",
    " ",
    "   ",
    "\n",
    "\n\n\n\n\n\n",
    "\r\n",
    "line one\r\nline two\r\n\r\n",
    "\t",
    "\tindented\n\t\tmore\t \t",
    "trailing spaces     ",
    "     leading spaces",
    "emoji 🦙🦀 and 😶‍🌫️ and 👩‍👩‍👧‍👦 and 🇯🇵",
    "東京は日本の首都です。我想在apple工作",
    "한국어 텍스트",
    "combining e\u{301}\u{302} a\u{308}\u{323}\u{331} \u{915}\u{94d}\u{937}",
    "zero\u{200b}width\u{feff}joiner\u{200d}x",
    "nbsp\u{a0}and\u{3000}ideographic",
    "numbers 1234567890 ٣٤٥ ¼ ²",
    "code: fn main() { println!(\"{}\", 1 + 2); }",
];

fn stream(tok: &Tokenizer, ids: &[u32]) -> String {
    let mut dec = StreamDecoder::new(tok);
    let mut s = String::new();
    for &id in ids {
        s.push_str(dec.push(tok, id));
    }
    s.push_str(dec.finish());
    s
}

#[test]
fn round_trips_spm_and_bpe() {
    for name in [
        "ggml-vocab-llama-spm.gguf",
        "ggml-vocab-llama-bpe.gguf",
        "ggml-vocab-qwen2.gguf",
        "ggml-vocab-gpt-2.gguf",
    ] {
        let tok = load(name);
        for &text in TEXTS {
            let ids = tok.encode(text, false, false).unwrap();
            if text.is_empty() {
                assert!(ids.is_empty());
            }
            let back = tok.decode(&ids);
            assert_eq!(String::from_utf8_lossy(&back), text, "{name} {ids:?}");
            let streamed = stream(&tok, &ids);
            if name.contains("spm") {
                // The stream keeps SentencePiece's leading space (it is real in generated text).
                assert_eq!(
                    streamed.strip_prefix(' ').unwrap_or(&streamed),
                    text,
                    "{name}"
                );
            } else {
                assert_eq!(streamed, text, "{name}");
            }
        }
    }
}

#[test]
fn bos_and_eos_follow_the_metadata() {
    let spm = load("ggml-vocab-llama-spm.gguf");
    assert!(spm.add_bos_default());
    assert_eq!(spm.encode("", true, true).unwrap(), [1]);
    assert_eq!(spm.encode("", false, true).unwrap(), Vec::<u32>::new());
    assert_eq!(spm.encode("Hi", true, true).unwrap()[0], 1);
    assert!(spm.is_eog(2));

    let l3 = load("ggml-vocab-llama-bpe.gguf");
    assert!(l3.add_bos_default()); // llama-bpe pre-tokenizer: llama.cpp adds BOS
    assert_eq!(l3.bos(), Some(128000));
    assert_eq!(l3.encode("Hi", true, true).unwrap()[0], 128000);
    let eot = l3.text_to_token("<|eot_id|>").unwrap();
    assert!(l3.is_eog(eot) && l3.is_eog(128001));
    assert_eq!(l3.encode("<|eot_id|>", false, true).unwrap(), [eot]);
    assert_ne!(l3.encode("<|eot_id|>", false, false).unwrap(), [eot]);

    let gpt2 = load("ggml-vocab-gpt-2.gguf");
    assert!(!gpt2.add_bos_default());
    assert_eq!(
        gpt2.encode("Hi", true, true).unwrap(),
        gpt2.encode("Hi", false, true).unwrap()
    );

    let qwen = load("ggml-vocab-qwen2.gguf");
    let im_end = qwen.text_to_token("<|im_end|>").unwrap();
    assert!(qwen.is_eog(im_end) && qwen.is_eog(151643));
}

#[test]
fn phi3_special_tokens_strip_following_whitespace() {
    // llama.cpp marks phi-3's special tokens rstrip: the spaces after `<|user|>` go away.
    let tok = load("ggml-vocab-phi-3.gguf");
    let user = tok.text_to_token("<|user|>").unwrap();
    let a = tok.encode("<|user|>   Hi", false, true).unwrap();
    let b = tok.encode("<|user|>Hi", false, true).unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0], user);
}

#[test]
fn streaming_holds_split_characters() {
    let tok = load("ggml-vocab-llama-spm.gguf");
    // '𝄞' (4 bytes) is no token: it is spelled in byte tokens.
    let ids = tok.encode("𝄞", false, false).unwrap();
    let bytes: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|&i| tok.token_text(i).starts_with("<0x"))
        .collect();
    assert_eq!(bytes.len(), 4);
    let mut dec = StreamDecoder::new(&tok);
    assert_eq!(dec.push(&tok, bytes[0]), "");
    assert_eq!(dec.push(&tok, bytes[1]), "");
    assert_eq!(dec.push(&tok, bytes[2]), "");
    assert!(dec.has_pending());
    assert_eq!(dec.push(&tok, bytes[3]), "𝄞");
    assert!(!dec.has_pending());
    // A byte that can never be UTF-8 shows as U+FFFD at once; a tail cut off at the end too.
    let ff = tok.text_to_token("<0xFF>").unwrap();
    let e6 = tok.text_to_token("<0xE6>").unwrap();
    let a = tok.text_to_token("a").unwrap();
    assert_eq!(dec.push(&tok, ff), "\u{FFFD}");
    assert_eq!(dec.push(&tok, e6), "");
    assert_eq!(dec.push(&tok, a), "\u{FFFD}a");
    assert_eq!(dec.push(&tok, e6), "");
    assert_eq!(dec.finish(), "\u{FFFD}");
    // Control tokens are not rendered unless asked.
    assert_eq!(dec.push(&tok, 2), "");
    let mut dec = StreamDecoder::with_special(&tok, true);
    assert_eq!(dec.push(&tok, 2), "</s>");
}

#[test]
fn large_inputs_are_linear() {
    for name in ["ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf"] {
        let tok = load(name);
        let unit = "Lorem ipsum dolor sit amet, 東京 🦙 12345.\n\n\tcode(x) {}  ";
        let text = unit.repeat(1_000_000 / unit.len() + 1);
        let t = Instant::now();
        let ids = tok.encode(&text, false, false).unwrap();
        let dt = t.elapsed();
        assert_eq!(tok.decode(&ids), text.as_bytes(), "{name}");
        assert!(dt.as_secs_f64() < 20.0, "{name}: 1 MB took {dt:?}");
        // Pathological runs: one megabyte of a single whitespace character.
        for ws in [" ", "\n", "\t", "a"] {
            let run = ws.repeat(1_000_000);
            let t = Instant::now();
            let ids = tok.encode(&run, false, false).unwrap();
            assert!(t.elapsed().as_secs_f64() < 20.0, "{name} {ws:?}");
            assert_eq!(tok.decode(&ids), run.as_bytes(), "{name} {ws:?}");
        }
    }
}

#[test]
fn in_memory_vocab_errors() {
    let e = Tokenizer::from_vocab(Vocab {
        model: "gpt2".into(),
        pre: Some("brand-new-pre".into()),
        tokens: vec!["a".to_string()].into(),
        merges: vec!["a a".into()],
        ..Default::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("brand-new-pre"), "{e}");
    let e = Tokenizer::from_vocab(Vocab {
        model: "t5".into(),
        tokens: vec!["a".to_string()].into(),
        ..Default::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("t5"), "{e}");
    // gpt-neox conversions have no `pre` key: llama.cpp's default pre-tokenizer.
    let tok = Tokenizer::from_vocab(Vocab {
        model: "gpt2".into(),
        tokens: vec!["a".to_string(), "b".into(), "ab".into()].into(),
        merges: vec!["a b".into()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(tok.encode("abab", false, false).unwrap(), [2, 2]);
    assert_eq!(tok.token_to_piece(99, true), b"");
}

#[test]
fn tokenizer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Tokenizer>();
    check::<StreamDecoder>();
    // Shared across threads, each with its own working buffers.
    let tok = std::sync::Arc::new(load("ggml-vocab-llama-bpe.gguf"));
    let want = tok.encode("Hello world, threads!", false, false).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let tok = tok.clone();
            std::thread::spawn(move || tok.encode("Hello world, threads!", false, false).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}
