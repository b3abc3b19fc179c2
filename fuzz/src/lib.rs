//! Helpers shared by the fuzz targets: where the test data is, and the vocabularies and
//! models each target loads once per process.
//!
//! The test data is `../shared` beside the checkout (as for `cargo test`), or `$FERRITE_SHARED`.
//! Gemma 3 270M (the default model, `tools/fetch-model.sh`) is used too when it is installed.

use std::path::PathBuf;
use std::sync::OnceLock;

use ferrite::gguf::GgufFile;
use ferrite::tokenizer::{StreamDecoder, Tokenizer};

/// `$FERRITE_SHARED`, else `../shared` beside the repository, else `/work/shared`.
pub fn shared_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERRITE_SHARED") {
        return d.into();
    }
    let rel = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if rel.join("vocab").is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared")
    }
}

/// The vocabulary files: `shared/vocab/*.gguf` in name order, then the default model when it
/// is installed. `tools/fuzz_seeds.py` numbers them the same way.
pub fn vocab_paths() -> Vec<PathBuf> {
    let dir = shared_dir().join("vocab");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no vocabularies in {}", dir.display());
    let gemma = ferrite::default_model_path();
    if gemma.is_file() {
        v.push(gemma);
    }
    v
}

/// Every vocabulary of [`vocab_paths`], loaded once.
pub fn tokenizers() -> &'static [(String, Tokenizer)] {
    static TOKS: OnceLock<Vec<(String, Tokenizer)>> = OnceLock::new();
    TOKS.get_or_init(|| {
        vocab_paths()
            .into_iter()
            .map(|p| {
                let f = GgufFile::open(&p).unwrap_or_else(|e| panic!("{e}"));
                let t = Tokenizer::from_gguf(&f).unwrap_or_else(|e| panic!("{e}"));
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                eprintln!("fuzz: vocabulary {name}: {} tokens", t.n_vocab());
                (name, t)
            })
            .collect()
    })
}

/// Complete models with tokenizers for the C API: one synthetic model per architecture, then
/// the default model when installed. `tools/fuzz_seeds.py` numbers them the same way.
pub fn model_paths() -> Vec<PathBuf> {
    let synth = shared_dir().join("synth");
    let mut v: Vec<PathBuf> = ["llama", "qwen2", "qwen3", "gemma3", "gpt2"]
        .iter()
        .map(|a| synth.join(format!("tiny-{a}-Q8_0.gguf")))
        .collect();
    for p in &v {
        assert!(p.is_file(), "{} is missing", p.display());
    }
    let gemma = ferrite::default_model_path();
    if gemma.is_file() {
        v.push(gemma);
    }
    v
}

/// Splits a fuzz input: the first `N` bytes (zero-padded when the input is shorter) and the
/// rest.
pub fn header<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut h = [0u8; N];
    let n = data.len().min(N);
    h[..n].copy_from_slice(&data[..n]);
    (h, &data[n..])
}

/// Pushes `ids` through a [`StreamDecoder`] and checks the streaming contract: every chunk is
/// whole UTF-8 (it is a `&str`), and the chunks plus the final flush are exactly the lossy
/// UTF-8 decoding of all the pieces concatenated.
pub fn check_stream(tok: &Tokenizer, ids: &[u32], special: bool) {
    let mut dec = StreamDecoder::with_special(tok, special);
    let mut streamed = String::new();
    let mut all = Vec::new();
    for &id in ids {
        streamed.push_str(dec.push(tok, id));
        tok.token_to_piece(id, special).append_to(&mut all);
    }
    streamed.push_str(dec.finish());
    assert!(!dec.has_pending(), "bytes held after finish");
    assert_eq!(
        streamed,
        String::from_utf8_lossy(&all),
        "streamed text differs from the lossy decoding of the pieces {ids:?}"
    );
}
