//! The real Gemma 3 270M vocabulary (262k tokens, SentencePiece-style) against llama.cpp's
//! tokenization in `../shared/golden/gemma3-270m-q4_k_m.json`, plus its end-of-generation set
//! and streaming detokenization.

use std::path::PathBuf;

use ferrite::gguf::GgufFile;
use ferrite::tokenizer::{StreamDecoder, Tokenizer};

fn shared_dir() -> PathBuf {
    let rel = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
    if rel.join("golden").is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared")
    }
}

fn gemma() -> Tokenizer {
    // A missing model fails the test: it must be fetched, never silently skipped.
    let path = ferrite::default_model_path();
    assert!(
        path.is_file(),
        "model {} not found: run tools/fetch-model.sh to install it (or set FERRITE_MODEL)",
        path.display()
    );
    let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    Tokenizer::from_gguf(&f).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn golden_tokenize_matches_llama_cpp() {
    let tok = gemma();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared_dir().join("golden/gemma3-270m-q4_k_m.json")).unwrap(),
    )
    .unwrap();
    let cases = golden["tokenize"].as_array().expect("tokenize entries");
    assert!(!cases.is_empty());
    assert!(tok.add_bos_default());
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(text, true, true).unwrap();
        assert_eq!(got, want, "text {text:?}");
    }
    for g in golden["generate"].as_array().unwrap() {
        let prompt = g["prompt"].as_str().unwrap();
        let want: Vec<u32> = g["prompt_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            tok.encode(prompt, true, true).unwrap(),
            want,
            "prompt {prompt:?}"
        );
    }
}

#[test]
fn gemma_special_tokens() {
    let tok = gemma();
    assert_eq!(tok.n_vocab(), 262144);
    assert_eq!(tok.bos(), Some(2));
    assert_eq!(tok.eos(), Some(1));
    let eot = tok.text_to_token("<end_of_turn>").unwrap();
    assert_eq!(tok.eot(), Some(eot));
    assert!(tok.is_eog(1) && tok.is_eog(eot));
    assert!(!tok.is_eog(2) && !tok.is_eog(0));
    // Control tokens: parsed only when asked; never rendered unless asked.
    let sot = tok.text_to_token("<start_of_turn>").unwrap();
    assert_eq!(tok.encode("<start_of_turn>", false, true).unwrap(), [sot]);
    let plain = tok.encode("<start_of_turn>", false, false).unwrap();
    assert!(plain.len() > 1 && !plain.contains(&sot));
    assert_eq!(tok.decode(&plain), b"<start_of_turn>");
    assert_eq!(tok.token_to_piece(sot, false), b"");
    assert_eq!(tok.token_to_piece(sot, true), b"<start_of_turn>");
    // User-defined tokens (whitespace runs, HTML tags) are cut out even without parsing.
    let two_spaces = tok.text_to_token("  ").unwrap();
    assert!(tok
        .encode("a  b", false, false)
        .unwrap()
        .contains(&two_spaces));
}

#[test]
fn gemma_round_trips() {
    let tok = gemma();
    for text in [
        "",
        " ",
        "      ",
        "\n\n\n\n",
        "a\r\nb\r\n",
        "\t\tx\t",
        "emoji 🦀🚀 and 👩‍👩‍👧 family",
        "东京是日本的首都。한국어 テスト",
        "combining: e\u{301} a\u{308}\u{323} \u{1100}\u{1161}",
        "mixed <b>bold</b> and <unknown_tag> & more",
        "   leading and trailing   ",
    ] {
        let ids = tok.encode(text, false, false).unwrap();
        assert_eq!(
            String::from_utf8(tok.decode(&ids)).unwrap(),
            text,
            "{ids:?}"
        );
        // Streaming gives the same text, chunk by chunk, each chunk whole UTF-8.
        let mut dec = StreamDecoder::new(&tok);
        let mut streamed = String::new();
        for &id in &ids {
            streamed.push_str(dec.push(&tok, id));
        }
        streamed.push_str(dec.finish());
        assert_eq!(streamed, text);
    }
}

#[test]
fn gemma_large_input_is_fast() {
    let tok = gemma();
    let unit = "The quick brown fox — 東京 🦀 jumps over 12345 lazy dogs.\n\n  <b>x</b>\t";
    let text = unit.repeat(1_000_000 / unit.len() + 1);
    let t = std::time::Instant::now();
    let ids = tok.encode(&text, true, true).unwrap();
    let dt = t.elapsed();
    assert!(ids.len() > 100_000);
    assert_eq!(tok.decode(&ids[1..]), text.as_bytes());
    // Linear, not quadratic: 1 MB in well under the time a quadratic pass would take.
    assert!(dt.as_secs_f64() < 20.0, "1 MB took {dt:?}");
    let spaces = " ".repeat(1_000_000);
    let ids = tok.encode(&spaces, false, false).unwrap();
    assert_eq!(tok.decode(&ids), spaces.as_bytes());
}
