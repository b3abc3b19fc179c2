//! Shared helpers for the integration tests: where the shared test data and the default model
//! live.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

/// `../shared` next to the checkout (or `/work/shared` when run from elsewhere).
pub fn shared_dir() -> PathBuf {
    let rel = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if rel.join("synth").is_dir() {
        rel
    } else {
        PathBuf::from("/work/shared")
    }
}

/// The default model (Gemma 3 270M Q4_K_M), as installed by `tools/fetch-model.sh`.
/// Panics with instructions when it is missing: tests that need it never skip silently.
pub fn gemma_path() -> PathBuf {
    let p = ferrite::default_model_path();
    assert!(
        p.is_file(),
        "the Gemma 3 270M model is missing at {}: run tools/fetch-model.sh",
        p.display()
    );
    p
}

/// All synthetic models with their goldens: (model path, golden path).
pub fn synth_models() -> Vec<(PathBuf, PathBuf)> {
    let dir = shared_dir().join("synth");
    let mut v: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&dir)
        .expect("../shared/synth")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_name()?.to_str()?.to_string();
            let stem = name.strip_suffix(".gguf")?;
            Some((p.clone(), dir.join(format!("golden-{stem}.json"))))
        })
        .collect();
    v.sort();
    v
}

/// A synthetic model of `../shared/synth` by file name, as a command-line argument.
pub fn synth(name: &str) -> String {
    shared_dir()
        .join("synth")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs the `ferrite` CLI with `args` and collects its output.
pub fn ferrite<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(args)
        .output()
        .expect("run ferrite")
}

/// [`ferrite`], asserting that it succeeded (the failure names the arguments and shows
/// stderr).
pub fn ferrite_ok<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let out = ferrite(args);
    assert!(
        out.status.success(),
        "ferrite {:?} failed: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`ferrite_ok`] of a `--json` command: its stdout parsed.
pub fn ferrite_json<S: AsRef<OsStr>>(args: &[S]) -> serde_json::Value {
    let out = ferrite_ok(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Greedy continuation of `prompt` (BOS as the model asks, special tokens parsed) by a fresh
/// session of `n_ctx` tokens on `n_threads` threads: up to `n` tokens, ending before an
/// end-of-generation token. The plain Rust path other interfaces are compared with.
pub fn greedy(
    model: &ferrite::Model,
    prompt: &str,
    n: usize,
    n_ctx: usize,
    n_threads: usize,
) -> Vec<u32> {
    use ferrite::sampler::{Sampler, SamplerParams};
    let tok = model.tokenizer().unwrap();
    let ids = tok.encode(prompt, tok.add_bos_default(), true).unwrap();
    let cfg = ferrite::SessionConfig {
        n_ctx,
        n_threads,
        ..ferrite::SessionConfig::default()
    };
    let mut s = ferrite::Session::new(model, &cfg).unwrap();
    let mut sampler = Sampler::new(SamplerParams::greedy(), model.hp.n_vocab).unwrap();
    s.prefill(&ids).unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let id = sampler.sample(s.logits().unwrap());
        if tok.is_eog(id) {
            break;
        }
        out.push(id);
        if out.len() < n {
            s.decode(id).unwrap();
        }
    }
    out
}
