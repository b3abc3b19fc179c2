//! Every synthetic model, every vocabulary file and the Gemma 3 model load, and our tensor
//! table agrees with an independent reader (the `gguf-rs` crate): the same tensor count, and
//! for every tensor the same name, type, shape and data offset. `ferrite inspect` prints the
//! real hyperparameters.

mod util;

use std::path::{Path, PathBuf};

use ferrite::gguf::GgufFile;
use ferrite::Model;

fn all_files() -> Vec<PathBuf> {
    let shared = util::shared_dir();
    let mut v: Vec<PathBuf> = util::synth_models().into_iter().map(|(m, _)| m).collect();
    for e in std::fs::read_dir(shared.join("vocab")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "gguf") {
            v.push(p);
        }
    }
    v.push(util::gemma_path());
    v
}

fn cross_check(path: &Path) {
    let ours = GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let theirs = gguf_rs::get_gguf_container(path.to_str().unwrap())
        .and_then(|mut c| c.decode())
        .unwrap_or_else(|e| panic!("gguf-rs on {}: {e}", path.display()));
    assert_eq!(
        ours.tensors().len(),
        theirs.tensors().len(),
        "{}",
        path.display()
    );
    assert_eq!(ours.tensors().len() as u64, theirs.num_tensor());
    for (a, b) in ours.tensors().iter().zip(theirs.tensors()) {
        assert_eq!(a.name, b.name);
        assert_eq!(
            a.ty as u32,
            b.kind,
            "{}: type of {}",
            path.display(),
            a.name
        );
        let shape: Vec<u64> = a.dims.iter().map(|&d| d as u64).collect();
        assert_eq!(shape, b.shape, "{}: shape of {}", path.display(), a.name);
        assert_eq!(
            a.offset as u64,
            ours.data_start() as u64 + b.offset,
            "{}: offset of {}",
            path.display(),
            a.name
        );
        assert_eq!(ours.tensor_data(a).len(), a.n_bytes);
    }
}

#[test]
fn tensor_tables_agree_with_gguf_rs() {
    for p in all_files() {
        cross_check(&p);
    }
}

#[test]
fn an_in_memory_image_parses_as_the_mapped_file_does() {
    for p in all_files()
        .into_iter()
        .filter(|p| !p.ends_with("gemma-3-270m-q4_k_m.gguf"))
    {
        let bytes = std::fs::read(&p).unwrap();
        let mapped = GgufFile::open(&p).unwrap();
        let mem = GgufFile::from_bytes(&p, &bytes).unwrap();
        assert_eq!(mem.tensors(), mapped.tensors(), "{}", p.display());
        assert_eq!(mem.data_start(), mapped.data_start());
        assert_eq!(mem.bytes(), &bytes[..]);
        let keys = |f: &GgufFile| -> Vec<(String, String)> {
            f.metadata()
                .map(|(k, v)| {
                    let v = match v {
                        ferrite::gguf::MetaValue::Array(a) => {
                            format!("array {:?} x {}", a.elem_type(), a.len())
                        }
                        v => format!("{v:?}"),
                    };
                    (k.to_string(), v)
                })
                .collect()
        };
        assert_eq!(keys(&mem), keys(&mapped), "{}", p.display());
        // Tensor data is page-aligned as in a mapping.
        assert_eq!(mem.bytes().as_ptr() as usize % 4096, 0);
    }
    let e = GgufFile::from_bytes("img", b"GGUF")
        .unwrap_err()
        .to_string();
    assert!(e.contains("img") && e.contains("too short"), "{e}");
}

#[test]
fn every_model_loads_with_hyperparameters_matching_its_shapes() {
    for (p, _) in util::synth_models() {
        let m = Model::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(m.hp.n_embd, 256, "{name}");
        assert_eq!(m.hp.n_layer, 3, "{name}");
        assert_eq!(m.layers.len(), 3);
        assert_eq!(m.hp.n_vocab, 450, "{name}");
        assert!(m.tokenizer().is_ok(), "{name}");
    }
    let g = Model::load(util::gemma_path()).unwrap();
    let hp = &g.hp;
    assert_eq!(
        (
            hp.n_vocab,
            hp.n_embd,
            hp.n_layer,
            hp.n_ff,
            hp.n_head,
            hp.n_head_kv,
            hp.head_dim
        ),
        (262144, 640, 18, 2048, 4, 1, 256)
    );
    assert_eq!(hp.sliding_window, 512);
    assert_eq!(
        hp.swa_layers.iter().filter(|s| !**s).count(),
        3,
        "every 6th layer is global"
    );
    assert!(!hp.swa_layers[5] && !hp.swa_layers[11] && !hp.swa_layers[17]);
    assert_eq!(hp.rope_base, 1_000_000.0);
    assert_eq!(hp.rope_base_swa, 10_000.0);
    assert_eq!(g.file.tensors().len(), 236);
}

#[test]
fn inspect_prints_the_real_hyperparameters() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .arg("inspect")
        .arg(util::gemma_path())
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "gemma3");
    assert_eq!(v["file_type"], "Q4_K_M");
    assert_eq!(v["n_tensors"], 236);
    assert_eq!(v["n_params"], 268098176u64);
    assert_eq!(v["hparams"]["n_layer"], 18);
    assert_eq!(v["hparams"]["n_embd"], 640);
    assert_eq!(v["hparams"]["sliding_window"], 512);
    let tokens = &v["metadata"]["tokenizer.ggml.tokens"];
    assert_eq!(tokens["len"], 262144, "long arrays are summarized");
    assert_eq!(v["tensors"].as_array().unwrap().len(), 236);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .arg("inspect")
        .arg(util::gemma_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("n_embd 640") && text.contains("n_layer 18"),
        "{text}"
    );
    assert!(
        text.contains("sliding window 512 on 15 of 18 layers"),
        "{text}"
    );

    // Errors: one line, exit status 1, naming the file.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["inspect", "/nonexistent.gguf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("/nonexistent.gguf"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}
