//! The bad-input matrix (issue 7) for the command line and the C API, the cases that the other
//! suites do not already cover (tests/gguf_malformed.rs: malformed files through the library;
//! tests/cli_run.rs and tests/cli_tokenize.rs: usage errors, `-n 0`, `-f` with invalid UTF-8;
//! tests/context.rs: a prompt longer than the context; tests/c_api.rs and examples/c/errors.c:
//! NULL pointers, too-small buffers, bad tokens and params, a model freed under its sessions).
//!
//! Every case: a clear message naming the problem, the documented exit status (0 ok,
//! 1 runtime error, 2 usage error) or C status, and never a panic or a signal.

mod util;

#[path = "util/gguf_builder.rs"]
mod builder;

use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::ptr;

use builder::{tiny_llama, tiny_llama_with, Builder};
use ferrite::ffi::*;

fn ferrite<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(args)
        .env_remove("FERRITE_MODEL")
        .output()
        .unwrap()
}

/// The command failed with `code`, one `error:` line that contains every needle, no panic.
fn assert_fails(out: &Output, code: i32, needles: &[&str], what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    assert!(err.starts_with("error: "), "{what}: {err}");
    for n in needles {
        assert!(err.contains(n), "{what}: {err:?} should mention {n:?}");
    }
    assert!(!err.contains("panicked"), "{what}: {err}");
    if code == 1 {
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
    }
}

/// A temporary directory holding the bad files of the matrix, removed on drop.
struct BadFiles {
    dir: PathBuf,
}

impl BadFiles {
    fn new() -> BadFiles {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ferrite-bad-input-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("a-directory.gguf")).unwrap();
        std::fs::write(dir.join("empty.gguf"), b"").unwrap();
        std::fs::write(
            dir.join("text.gguf"),
            b"This is a text file, not a GGUF model at all.\n",
        )
        .unwrap();
        let arch = tiny_llama_with(
            &["general.architecture"],
            |b| {
                b.str("general.architecture", "mamba");
            },
            |_| {},
        );
        std::fs::write(dir.join("mamba.gguf"), arch).unwrap();
        let mut b = Builder::default();
        b.str("general.architecture", "llama");
        b.tensor_f32_fill("token_embd.weight", &[256, 4]);
        b.tensor_raw("blk.0.attn_q.weight", &[256, 4], 16, 0);
        std::fs::write(dir.join("iq2xxs.gguf"), b.build()).unwrap();
        std::fs::write(dir.join("no-vocab.gguf"), tiny_llama()).unwrap();
        BadFiles { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for BadFiles {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Each bad model file, and what the error must say about it.
fn bad_models(f: &BadFiles) -> Vec<(String, Vec<&'static str>)> {
    vec![
        (
            "/nonexistent/dir/model.gguf".to_string(),
            vec!["/nonexistent/dir/model.gguf", "No such file"],
        ),
        (
            f.path("a-directory.gguf"),
            vec!["a-directory.gguf", "is a directory"],
        ),
        (f.path("empty.gguf"), vec!["empty.gguf", "file is 0 bytes"]),
        (f.path("text.gguf"), vec!["text.gguf", "not a GGUF file"]),
        (
            f.path("mamba.gguf"),
            vec!["unsupported architecture 'mamba'", "llama"],
        ),
        (
            f.path("iq2xxs.gguf"),
            vec!["blk.0.attn_q.weight", "unsupported tensor type IQ2_XXS"],
        ),
    ]
}

#[test]
fn cli_bad_model_files_are_runtime_errors_in_every_subcommand() {
    let f = BadFiles::new();
    let text = f.dir.join("text.txt");
    std::fs::write(&text, "some text ".repeat(200)).unwrap();
    let text = text.to_string_lossy().into_owned();
    for (model, needles) in bad_models(&f) {
        let m = model.as_str();
        for args in [
            vec!["run", "-m", m, "-p", "hello", "-n", "2"],
            vec!["tokenize", "-m", m, "hello"],
            vec!["chat", "-m", m],
            vec!["perplexity", "-m", m, "-f", &text, "-c", "16"],
            vec!["bench", "-m", m, "-p", "4", "-n", "2", "-r", "1"],
        ] {
            // `tokenize` reads only the vocabulary, so an unknown architecture is no obstacle;
            // this file has no vocabulary either, which the error says.
            let needles = if args[0] == "tokenize" && m.ends_with("mamba.gguf") {
                vec!["mamba.gguf", "has no vocabulary"]
            } else {
                needles.clone()
            };
            assert_fails(&ferrite(&args), 1, &needles, &format!("{args:?}"));
        }
        // `inspect` reads any GGUF file: an unknown architecture is shown, not refused.
        let out = ferrite(&["inspect", m]);
        if m.ends_with("mamba.gguf") {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = String::from_utf8_lossy(&out.stdout);
            assert!(s.contains("architecture:  mamba"), "{s}");
            assert!(s.contains("unsupported architecture 'mamba'"), "{s}");
        } else {
            assert_fails(&out, 1, &needles, &format!("inspect {m}"));
        }
    }
    // A model without a vocabulary cannot tokenize text: the error says so and names the file.
    let nv = f.path("no-vocab.gguf");
    for args in [
        vec!["run", "-m", &nv, "-p", "hello"],
        vec!["tokenize", "-m", &nv, "hello"],
    ] {
        assert_fails(&ferrite(&args), 1, &["no-vocab.gguf"], &format!("{args:?}"));
    }
    // A directory or a missing file as the prompt file.
    let m = util::synth("tiny-llama-Q8_0.gguf");
    let dir = f.path("a-directory.gguf");
    for args in [
        vec!["run", "-m", &m, "-f", &dir],
        vec!["tokenize", "-m", &m, "-f", &dir],
        vec!["perplexity", "-m", &m, "-f", &dir],
        vec!["run", "-m", &m, "-f", "/nonexistent/prompt.txt"],
    ] {
        let needle = args[4];
        assert_fails(&ferrite(&args), 1, &[needle], &format!("{args:?}"));
    }
}

#[test]
fn cli_zero_negative_and_huge_counts_are_usage_errors() {
    let m = util::synth("tiny-llama-Q8_0.gguf");
    let m = m.as_str();
    for (args, needle) in [
        (
            vec!["run", "-m", m, "-p", "x", "-t", "1024"],
            "1024 is not in 1..=256",
        ),
        (vec!["run", "-m", m, "-p", "x", "-t", "-1"], "--threads"),
        (vec!["run", "-m", m, "-p", "x", "-c", "-5"], "--ctx-size"),
        (
            vec!["run", "-m", m, "-p", "x", "--logprobs", "-1"],
            "--logprobs",
        ),
        (vec!["run", "-m", m, "-p", "x", "--top-k", "-1"], "--top-k"),
        (vec!["tokenize", "-m", m, "-f"], "--file"),
        (vec!["chat", "-m", m, "-c", "-5"], "--ctx-size"),
        (
            vec!["perplexity", "-m", m, "-f", "x.txt", "-c", "0"],
            "--ctx-size",
        ),
        (vec!["bench", "-m", m, "-t", "0"], "0 is not in 1..=256"),
        (
            vec!["bench", "-m", m, "-t", "1,1024"],
            "1024 is not in 1..=256",
        ),
        (vec!["bench", "-m", m, "-r", "0"], "--repetitions"),
        (vec!["bench", "-m", m, "-p", "-1"], "--n-prompt"),
        (
            vec!["bench", "-m", m, "--kv-type", "q4"],
            "unknown KV cache type 'q4'",
        ),
    ] {
        assert_fails(&ferrite(&args), 2, &[needle], &format!("{args:?}"));
    }
}

#[test]
fn cli_edge_sizes_that_are_valid() {
    let m = util::synth("tiny-llama-Q8_0.gguf");
    // -n 0 in text mode: nothing generated, one empty line, success.
    let out = ferrite(&["run", "-m", &m, "-p", "x", "-n", "0", "--temp", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"\n");
    // -c 1: no prompt fits (BOS + text), an error naming the context and the flag.
    let out = ferrite(&["run", "-m", &m, "-p", "x", "-c", "1"]);
    assert_fails(&out, 1, &["context holds 1", "-c"], "-c 1");
    // -c 1 with a prompt that is just BOS: nothing is evaluated after it; the context is full.
    let out = ferrite(&[
        "run", "-m", &m, "-p", "", "-c", "1", "--temp", "0", "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["prompt_tokens"].as_array().unwrap().len(), 1);
    assert_eq!(v["stop"], "context");
    assert_eq!(v["tokens"].as_array().unwrap().len(), 1);
    // One thread and more threads than this machine's cores both run (the thread count does
    // not change the result: each row's dot product is computed whole by one thread).
    let one = ferrite(&[
        "run", "-m", &m, "-p", "hello", "-n", "3", "--temp", "0", "-t", "1",
    ]);
    let many = ferrite(&[
        "run", "-m", &m, "-p", "hello", "-n", "3", "--temp", "0", "-t", "8",
    ]);
    assert!(one.status.success() && many.status.success());
    assert_eq!(one.stdout, many.stdout);
}

#[test]
fn cli_prompts_that_are_not_utf8() {
    let m = util::synth("tiny-llama-Q8_0.gguf");
    // As a command-line argument (the raw bytes of an OsString): a usage error naming the
    // argument and the offset of the first bad byte.
    let bad = OsStr::from_bytes(b"caf\xc3(\xff");
    let out = ferrite(&[
        OsStr::new("run"),
        "-m".as_ref(),
        m.as_ref(),
        "-p".as_ref(),
        bad,
    ]);
    assert_fails(
        &out,
        2,
        &["--prompt", "not valid UTF-8", "offset 3"],
        "run -p",
    );
    let out = ferrite(&[OsStr::new("tokenize"), "-m".as_ref(), m.as_ref(), bad]);
    assert_fails(
        &out,
        2,
        &["TEXT", "not valid UTF-8", "offset 3"],
        "tokenize TEXT",
    );
    // From a file (run -f is covered in cli_run.rs): a runtime error naming the file.
    let p = std::env::temp_dir().join(format!("ferrite-bad-utf8-tok-{}.txt", std::process::id()));
    std::fs::write(&p, b"ok \xf0\x9f\x98").unwrap();
    let out = ferrite(&["tokenize", "-m", &m, "-f", p.to_str().unwrap()]);
    std::fs::remove_file(&p).ok();
    assert_fails(
        &out,
        1,
        &[p.to_str().unwrap(), "UTF-8", "offset 3"],
        "tokenize -f",
    );
}

#[test]
fn cli_a_failing_stdout_is_an_error_not_success() {
    // /dev/full: every write fails with ENOSPC. That is a runtime error (only a closed pipe is
    // a quiet end; see tests/broken_pipe.rs).
    let m = util::synth("tiny-llama-Q8_0.gguf");
    for args in [
        vec!["run", "-m", &m, "-p", "hello", "-n", "4", "--temp", "0"],
        vec![
            "run", "-m", &m, "-p", "hello", "-n", "4", "--temp", "0", "--json",
        ],
        vec!["tokenize", "-m", &m, "hello"],
        vec!["inspect", &m],
        vec!["run", "-m", &m, "--dry-run"],
        vec!["run", "-m", &m, "--dry-run", "--json"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrite"))
            .args(&args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_fails(
            &out,
            1,
            &["<stdout>", "No space left"],
            &format!("{args:?}"),
        );
    }
}

// --- the C API ---------------------------------------------------------------------------

fn last_error() -> String {
    // SAFETY: never NULL and NUL-terminated.
    unsafe { CStr::from_ptr(ferrite_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Loads `path` through the C API: the status and the handle (NULL on error).
fn c_load(path: &str, require_tokenizer: bool) -> (ferrite_status, *mut ferrite_model) {
    let c = CString::new(path).unwrap();
    let mut m = std::ptr::dangling_mut::<ferrite_model>(); // garbage that must be overwritten
    let mut params = ferrite_model_default_params();
    params.require_tokenizer = require_tokenizer;
    // SAFETY: a valid string and output location.
    let st = unsafe { ferrite_model_load(c.as_ptr(), params, &mut m) };
    (st, m)
}

#[test]
fn c_api_bad_model_files() {
    use ferrite_status::*;
    let f = BadFiles::new();
    let want = [
        FERRITE_ERR_IO,
        FERRITE_ERR_FORMAT,
        FERRITE_ERR_FORMAT,
        FERRITE_ERR_FORMAT,
    ];
    for (i, (path, needles)) in bad_models(&f).into_iter().enumerate() {
        let (st, m) = c_load(&path, true);
        let expected = want.get(i).copied().unwrap_or(FERRITE_ERR_UNSUPPORTED);
        assert_eq!(st, expected, "{path}: {}", last_error());
        assert!(m.is_null(), "{path}: the handle is NULL after an error");
        for n in needles {
            assert!(
                last_error().contains(n),
                "{path}: {} lacks {n:?}",
                last_error()
            );
        }
    }
    // A file without a vocabulary: refused by default, loadable on request, and then text
    // functions answer FERRITE_ERR_TOKENIZER naming the file.
    let nv = f.path("no-vocab.gguf");
    let (st, m) = c_load(&nv, true);
    assert_eq!(st, FERRITE_ERR_TOKENIZER);
    assert!(
        m.is_null() && last_error().contains("no vocabulary"),
        "{}",
        last_error()
    );
    let (st, m) = c_load(&nv, false);
    assert_eq!(st, FERRITE_OK, "{}", last_error());
    let text = CString::new("hello").unwrap();
    let mut n = 99usize;
    let mut buf = [0 as std::ffi::c_char; 8];
    // SAFETY: a live handle and valid buffers.
    unsafe {
        let st = ferrite_tokenize(m, text.as_ptr(), true, true, ptr::null_mut(), 0, &mut n);
        assert_eq!(st, FERRITE_ERR_TOKENIZER);
        assert!(last_error().contains("no-vocab.gguf"), "{}", last_error());
        assert_eq!(n, 0);
        let st = ferrite_token_to_piece(m, 0, false, buf.as_mut_ptr(), 8, &mut n);
        assert_eq!(st, FERRITE_ERR_TOKENIZER);
        assert_eq!(ferrite_token_bos(m), FERRITE_TOKEN_NONE);
        // Token-id functions still work: a session evaluates ids.
        let mut s = ptr::null_mut();
        let mut p = ferrite_session_default_params();
        p.n_ctx = 4;
        p.n_threads = 1;
        assert_eq!(
            ferrite_session_new(m, p, &mut s),
            FERRITE_OK,
            "{}",
            last_error()
        );
        assert_eq!(ferrite_eval(s, [1, 2].as_ptr(), 2), FERRITE_OK);
        let st = ferrite_generate(s, text.as_ptr(), 4, None, ptr::null_mut(), ptr::null_mut());
        assert_eq!(st, FERRITE_ERR_TOKENIZER);
        ferrite_session_free(s);
        assert_eq!(ferrite_model_free(m), FERRITE_OK);
    }
}

#[test]
fn c_api_zero_negative_and_huge_params() {
    use ferrite_status::*;
    let (st, m) = c_load(&util::synth("tiny-llama-Q8_0.gguf"), true);
    assert_eq!(st, FERRITE_OK);
    let base = {
        let mut p = ferrite_session_default_params();
        p.n_threads = 1;
        p.temperature = 0.0;
        p
    };
    let new_session = |p: ferrite_session_params| {
        let mut s = std::ptr::dangling_mut::<ferrite_session>();
        // SAFETY: a live model and a valid output location.
        let st = unsafe { ferrite_session_new(m, p, &mut s) };
        (st, s)
    };
    // Refused, each naming the field; the handle is NULL.
    type Edit = fn(&mut ferrite_session_params);
    let refused: [(Edit, &str); 8] = [
        (
            |p| p.n_ctx = u32::MAX,
            "context length 4294967295 is too large",
        ),
        (|p| p.n_threads = 257, "257 threads"),
        (|p| p.n_threads = 1024, "1024 threads"),
        (|p| p.temperature = -1.0, "temperature"),
        (|p| p.temperature = f32::INFINITY, "temperature"),
        (|p| p.min_p = -0.5, "min_p"),
        (|p| p.repeat_penalty = 0.0, "repeat_penalty"),
        (|p| p.kv_type = -1, "kv_type"),
    ];
    for (edit, needle) in refused {
        let mut p = base;
        edit(&mut p);
        let (st, s) = new_session(p);
        assert_eq!(
            st,
            FERRITE_ERR_INVALID_ARGUMENT,
            "{needle}: {}",
            last_error()
        );
        assert!(s.is_null());
        assert!(last_error().contains(needle), "{}", last_error());
    }
    // Zero means "the default" for n_ctx and n_threads; top_k larger than the vocabulary and
    // a context of one token are valid.
    // SAFETY: live handles, valid arguments.
    unsafe {
        let (st, s) = new_session(ferrite_session_params {
            n_ctx: 0,
            n_threads: 0,
            top_k: u32::MAX,
            ..base
        });
        assert_eq!(st, FERRITE_OK, "{}", last_error());
        assert_eq!(ferrite_n_ctx(s), ferrite_n_ctx_train(m).min(4096));
        ferrite_session_free(s);

        let (st, s) = new_session(ferrite_session_params { n_ctx: 1, ..base });
        assert_eq!(st, FERRITE_OK, "{}", last_error());
        assert_eq!(ferrite_n_ctx(s), 1);
        let bos = ferrite_token_bos(m);
        assert_eq!(
            ferrite_eval(s, [bos, bos].as_ptr(), 2),
            FERRITE_ERR_CONTEXT_FULL
        );
        assert!(last_error().contains("larger n_ctx"), "{}", last_error());
        let prompt = CString::new("hello world").unwrap();
        let mut n_gen = 7usize;
        let st = ferrite_generate(s, prompt.as_ptr(), 4, None, ptr::null_mut(), &mut n_gen);
        assert_eq!(st, FERRITE_ERR_CONTEXT_FULL);
        assert_eq!((n_gen, ferrite_n_past(s)), (0, 0), "nothing evaluated");
        // One token fits; sampling after it works, and the next eval is refused.
        assert_eq!(ferrite_eval(s, &bos, 1), FERRITE_OK);
        let mut tok = -1;
        assert_eq!(ferrite_sample(s, &mut tok), FERRITE_OK);
        assert_eq!(ferrite_eval(s, &tok, 1), FERRITE_ERR_CONTEXT_FULL);
        // max_tokens 0: the prompt is evaluated, nothing generated, no callback.
        ferrite_session_reset(s);
        let (st, s2) = new_session(ferrite_session_params { n_ctx: 16, ..base });
        assert_eq!(st, FERRITE_OK);
        let mut calls = 0usize;
        let user = (&mut calls as *mut usize).cast();
        let st = ferrite_generate(s2, prompt.as_ptr(), 0, Some(count_calls), user, &mut n_gen);
        assert_eq!(st, FERRITE_OK, "{}", last_error());
        assert_eq!((n_gen, calls), (0, 0));
        assert!(ferrite_n_past(s2) > 0);
        ferrite_session_free(s2);
        ferrite_session_free(s);
        assert_eq!(ferrite_model_free(m), FERRITE_OK);
    }
}

/// Counts its calls in `*user` (a `usize`).
unsafe extern "C" fn count_calls(
    _text: *const std::ffi::c_char,
    _len: usize,
    _token: i32,
    user: *mut std::ffi::c_void,
) -> i32 {
    // SAFETY: the tests pass a pointer to a live `usize`.
    unsafe { *user.cast::<usize>() += 1 };
    0
}

#[test]
fn c_api_path_that_is_not_utf8_is_just_a_missing_file() {
    // Paths are bytes on Unix: a non-UTF-8 name is looked up as is and reported.
    let c = CString::new(b"/nonexistent/\xff\xfe.gguf".to_vec()).unwrap();
    let mut m = ptr::null_mut();
    // SAFETY: a valid string and output location.
    let st = unsafe { ferrite_model_load(c.as_ptr(), ferrite_model_default_params(), &mut m) };
    assert_eq!(st, ferrite_status::FERRITE_ERR_IO);
    assert!(m.is_null());
    assert!(last_error().contains("/nonexistent/"), "{}", last_error());
}
