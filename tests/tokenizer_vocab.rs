//! llama.cpp's tokenizer test files (`../shared/vocab/*.gguf.inp` / `.out`, from
//! `tests/test-tokenizer-0.cpp`): every string must give exactly llama.cpp's ids (no BOS, no
//! special-token parsing) and decode back to itself where the vocabulary can represent it.

use std::path::PathBuf;

use ferrite::gguf::GgufFile;
use ferrite::tokenizer::Tokenizer;

/// `../shared` beside the crate, or `/work/shared` (worktrees live elsewhere).
fn shared_dir() -> PathBuf {
    let rel = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
    if rel.join("vocab").is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared")
    }
}

/// The test strings and expected ids, split exactly as test-tokenizer-0.cpp does.
fn read_tests(name: &str) -> Vec<(String, Vec<u32>)> {
    let dir = shared_dir().join("vocab");
    let inp = std::fs::read_to_string(dir.join(format!("{name}.inp")))
        .unwrap_or_else(|e| panic!("{name}.inp: {e}"));
    let out = std::fs::read_to_string(dir.join(format!("{name}.out")))
        .unwrap_or_else(|e| panic!("{name}.out: {e}"));
    let sep = "\n__ggml_vocab_test__\n";
    let mut strings = Vec::new();
    let mut pos = 0;
    while pos < inp.len() {
        match inp[pos..].find(sep) {
            Some(k) => {
                strings.push(inp[pos..pos + k].to_string());
                pos += k + sep.len();
            }
            None => {
                strings.push(inp[pos..].to_string());
                break;
            }
        }
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    assert_eq!(strings.len(), ids.len(), "{name}: .inp and .out disagree");
    assert!(!strings.is_empty());
    strings.into_iter().zip(ids).collect()
}

fn check_vocab(name: &str) {
    let path = shared_dir().join("vocab").join(name);
    let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tok = Tokenizer::from_gguf(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut failures = Vec::new();
    for (text, want) in read_tests(name) {
        let got = tok.encode(&text, false, false).unwrap();
        if got != want {
            failures.push(format!("{text:?}\n    want {want:?}\n    got  {got:?}"));
            continue;
        }
        let back = tok.decode(&got);
        // Decodes back where the vocabulary can represent it: byte-level models that clean up
        // tokenization spaces (" ," -> ",", as llama.cpp's detokenize does) differ exactly where
        // the text has such a space.
        if back != text.as_bytes() && !(cleans_spaces(name) && has_cleanable_space(&text)) {
            failures.push(format!(
                "{text:?} decodes to {:?}",
                String::from_utf8_lossy(&back)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn has_cleanable_space(text: &str) -> bool {
    [" ?", " !", " .", " ,", " '"]
        .iter()
        .any(|p| text.contains(p))
}

fn cleans_spaces(name: &str) -> bool {
    name.contains("gpt-2") || name.contains("llama-bpe")
}

#[test]
fn vocab_llama_spm() {
    check_vocab("ggml-vocab-llama-spm.gguf");
}

#[test]
fn vocab_llama_bpe() {
    check_vocab("ggml-vocab-llama-bpe.gguf");
}

#[test]
fn vocab_phi_3() {
    check_vocab("ggml-vocab-phi-3.gguf");
}

#[test]
fn vocab_gpt_2() {
    check_vocab("ggml-vocab-gpt-2.gguf");
}

#[test]
fn vocab_qwen2() {
    check_vocab("ggml-vocab-qwen2.gguf");
}
