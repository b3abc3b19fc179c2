//! `ferrite tokenize` as INTERFACE.md fixes it, with the real Gemma 3 270M model.

mod util;

use std::path::PathBuf;
use std::process::{Command, Output};

use util::ferrite;

fn model() -> PathBuf {
    util::gemma_path()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn plain_ids_with_bos_and_special_parsing() {
    let m = model();
    let m = m.to_str().unwrap();
    let o = ferrite(&["tokenize", "-m", m, "Hello world"]);
    assert_eq!(stdout(&o), "2 9259 1902\n");
    let o = ferrite(&[
        "tokenize",
        "-m",
        m,
        "<start_of_turn>user\nHi<end_of_turn>\n",
    ]);
    assert_eq!(stdout(&o), "2 105 2364 107 10979 106 107\n");
    let o = ferrite(&["tokenize", "-m", m, "--no-bos", "Hello world"]);
    assert_eq!(stdout(&o), "9259 1902\n");
    let o = ferrite(&[
        "tokenize",
        "-m",
        m,
        "--no-bos",
        "--no-special",
        "<start_of_turn>",
    ]);
    let ids = stdout(&o);
    assert!(!ids.split_whitespace().any(|t| t == "105"), "{ids}");
    assert!(ids.split_whitespace().count() > 1);
}

#[test]
fn json_ids_and_pieces() {
    let m = model();
    let o = ferrite(&[
        "tokenize",
        "-m",
        m.to_str().unwrap(),
        "--json",
        "Hello world",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ids"], serde_json::json!([2, 9259, 1902]));
    assert_eq!(v["pieces"], serde_json::json!(["<bos>", "Hello", " world"]));
}

#[test]
fn text_from_file_and_default_model() {
    let m = model();
    let dir = std::env::temp_dir().join(format!("ferrite-cli-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("in.txt");
    std::fs::write(&f, "Hello world").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["tokenize", "-f", f.to_str().unwrap()])
        .env("FERRITE_MODEL", &m)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "2 9259 1902\n");

    // Invalid UTF-8: one clear error line naming the file, status 1, no panic.
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, b"ok \xff\xfe no").unwrap();
    let o = ferrite(&[
        "tokenize",
        "-m",
        m.to_str().unwrap(),
        "-f",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("bad.txt") && err.contains("UTF-8"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn errors_and_usage() {
    // A missing model file: status 1, one error line naming it.
    let o = ferrite(&["tokenize", "-m", "/nonexistent/model.gguf", "x"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("/nonexistent/model.gguf"),
        "{err}"
    );
    // No default model installed: the error says how to get one.
    let o = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["tokenize", "x"])
        .env("FERRITE_MODEL", "/nonexistent/default.gguf")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("fetch-model"));
    // Neither TEXT nor -f, or both: usage errors.
    assert_eq!(
        ferrite(&["tokenize", "-m", "x.gguf"]).status.code(),
        Some(2)
    );
    assert_eq!(
        ferrite(&["tokenize", "-m", "x.gguf", "-f", "a.txt", "text"])
            .status
            .code(),
        Some(2)
    );
}
