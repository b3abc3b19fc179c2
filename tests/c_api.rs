//! The C API: its error paths and streaming contract called from Rust, and the C examples built
//! against the lean static library, compared with the CLI and run under valgrind
//! (`tools/c-example.sh`).
//!
//! A missing C compiler, valgrind or model is a failure with instructions, never a skip.

#[path = "util/thread_allocs.rs"]
mod thread_allocs;
mod util;

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use std::process::Command;
use std::ptr;

use ferrite::ffi::*;
use ferrite::Model;

use thread_allocs::allocs;

fn last_error() -> String {
    // SAFETY: never NULL, NUL-terminated, valid until the next ferrite call on this thread.
    unsafe { CStr::from_ptr(ferrite_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn cpath(p: &Path) -> CString {
    CString::new(p.to_str().unwrap()).unwrap()
}

fn load(p: &Path) -> *mut ferrite_model {
    let mut m = ptr::null_mut();
    let c = cpath(p);
    // SAFETY: valid NUL-terminated path and output pointer.
    let st = unsafe { ferrite_model_load(c.as_ptr(), ferrite_model_default_params(), &mut m) };
    assert_eq!(st, ferrite_status::FERRITE_OK, "{}", last_error());
    m
}

fn greedy_params(n_ctx: u32) -> ferrite_session_params {
    ferrite_session_params {
        n_ctx,
        n_threads: 2,
        temperature: 0.0,
        ..ferrite_session_default_params()
    }
}

#[test]
fn null_arguments_and_missing_files_are_reported() {
    let mut m = std::ptr::dangling_mut::<ferrite_model>();
    // SAFETY: NULL path is allowed (reported); `m` is a valid output location.
    let st = unsafe { ferrite_model_load(ptr::null(), ferrite_model_default_params(), &mut m) };
    assert_eq!(st, ferrite_status::FERRITE_ERR_INVALID_ARGUMENT);
    assert!(m.is_null());
    assert_eq!(last_error(), "path is NULL");

    let missing = CString::new("/nonexistent/no-such-model.gguf").unwrap();
    // SAFETY: valid arguments.
    let st =
        unsafe { ferrite_model_load(missing.as_ptr(), ferrite_model_default_params(), &mut m) };
    assert_eq!(st, ferrite_status::FERRITE_ERR_IO);
    assert!(
        last_error().contains("/nonexistent/no-such-model.gguf"),
        "{}",
        last_error()
    );

    // SAFETY: NULL handles are allowed (reported).
    unsafe {
        assert_eq!(ferrite_n_vocab(ptr::null()), 0);
        assert_eq!(last_error(), "model is NULL");
        assert_eq!(ferrite_n_past(ptr::null()), 0);
        assert_eq!(last_error(), "session is NULL");
        let mut tok = 0;
        let st = ferrite_sample(ptr::null_mut(), &mut tok);
        assert_eq!(st, ferrite_status::FERRITE_ERR_INVALID_ARGUMENT);
        assert_eq!(tok, FERRITE_TOKEN_NONE);
        assert_eq!(
            ferrite_model_free(ptr::null_mut()),
            ferrite_status::FERRITE_OK
        );
        ferrite_session_free(ptr::null_mut());
    }
    // Status names cover every code.
    for (code, name) in [
        (ferrite_status::FERRITE_OK, "FERRITE_OK"),
        (ferrite_status::FERRITE_ERR_INTERNAL, "FERRITE_ERR_INTERNAL"),
        (
            ferrite_status::FERRITE_ERR_NO_LOGITS,
            "FERRITE_ERR_NO_LOGITS",
        ),
    ] {
        // SAFETY: a static string.
        let got = unsafe { CStr::from_ptr(ferrite_status_name(code as i32)) };
        assert_eq!(got.to_str().unwrap(), name);
    }
}

#[test]
fn last_error_is_per_thread() {
    // SAFETY: NULL is allowed (reported).
    unsafe { ferrite_n_vocab(ptr::null()) };
    assert_eq!(last_error(), "model is NULL");
    std::thread::spawn(|| {
        assert_eq!(last_error(), "", "a new thread starts with no message");
        // SAFETY: NULL is allowed (reported).
        unsafe { ferrite_n_ctx(ptr::null()) };
        assert_eq!(last_error(), "session is NULL");
    })
    .join()
    .unwrap();
    assert_eq!(last_error(), "model is NULL");
}

#[test]
fn tokenize_buffers_and_utf8() {
    let m = load(&util::gemma_path());
    let text = CString::new("The capital of France is").unwrap();
    let mut n = 0usize;
    // SAFETY: valid handle, text and buffers of the stated capacity.
    unsafe {
        let st = ferrite_tokenize(m, text.as_ptr(), true, true, ptr::null_mut(), 0, &mut n);
        assert_eq!(st, ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL);
        assert_eq!(n, 6);
        let mut ids = vec![-1i32; n];
        let st = ferrite_tokenize(m, text.as_ptr(), true, true, ids.as_mut_ptr(), 5, &mut n);
        assert_eq!(st, ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL);
        assert_eq!(ids, [-1; 6], "nothing written when too small");
        let st = ferrite_tokenize(m, text.as_ptr(), true, true, ids.as_mut_ptr(), 6, &mut n);
        assert_eq!(st, ferrite_status::FERRITE_OK);
        assert_eq!(ids, [2, 818, 5279, 529, 7001, 563]);

        let bad = CString::new(b"ok \xF0\x9F\x98".to_vec()).unwrap();
        let st = ferrite_tokenize(m, bad.as_ptr(), true, true, ids.as_mut_ptr(), 6, &mut n);
        assert_eq!(st, ferrite_status::FERRITE_ERR_INVALID_ARGUMENT);
        assert_eq!(n, 0);
        assert!(
            last_error().contains("text is not valid UTF-8"),
            "{}",
            last_error()
        );
        assert!(last_error().contains("offset 3"), "{}", last_error());

        let mut buf = [0 as c_char; 4];
        let st = ferrite_token_to_piece(m, 5279, false, buf.as_mut_ptr(), 4, &mut n);
        assert_eq!(st, ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL);
        assert_eq!(n, " capital".len());

        assert_eq!(ferrite_model_free(m), ferrite_status::FERRITE_OK);
    }
}

struct Collected {
    ids: Vec<i32>,
    text: Vec<u8>,
    calls: usize,
}

unsafe extern "C" fn collect(
    text: *const c_char,
    len: usize,
    token: i32,
    user_data: *mut c_void,
) -> i32 {
    // SAFETY: `user_data` is the `Collected` passed by the test; `text` holds `len` bytes and a
    // NUL during the call.
    let (c, bytes) = unsafe {
        (
            &mut *(user_data as *mut Collected),
            std::slice::from_raw_parts(text.cast::<u8>(), len + 1),
        )
    };
    assert_eq!(bytes[len], 0, "the piece is NUL-terminated");
    std::str::from_utf8(&bytes[..len]).expect("every piece is whole UTF-8");
    c.text.extend_from_slice(&bytes[..len]);
    c.calls += 1;
    if token != FERRITE_TOKEN_NONE {
        c.ids.push(token);
    }
    0
}

#[test]
fn generate_streams_whole_characters_and_matches_the_rust_api() {
    let path = util::gemma_path();
    let model = Model::load(&path).unwrap();
    let m = load(&path);
    let mut s = ptr::null_mut();
    // SAFETY: valid handles and output locations throughout; the session is freed before the
    // model.
    unsafe {
        let st = ferrite_session_new(m, greedy_params(256), &mut s);
        assert_eq!(st, ferrite_status::FERRITE_OK, "{}", last_error());
        for prompt in ["The capital of France is", "Transformer架构的核心是"] {
            let n = 12;
            let mut c = Collected {
                ids: Vec::new(),
                text: Vec::new(),
                calls: 0,
            };
            let p = CString::new(prompt).unwrap();
            let mut n_gen = 0;
            assert_eq!(ferrite_session_reset(s), ferrite_status::FERRITE_OK);
            let st = ferrite_generate(
                s,
                p.as_ptr(),
                n,
                Some(collect),
                &mut c as *mut Collected as *mut c_void,
                &mut n_gen,
            );
            assert_eq!(st, ferrite_status::FERRITE_OK, "{}", last_error());
            let want = util::greedy(&model, prompt, n, 256, 2);
            let got: Vec<u32> = c.ids.iter().map(|&i| i as u32).collect();
            assert_eq!(got, want, "prompt {prompt:?}");
            assert_eq!(n_gen, want.len());
            let tok = model.tokenizer().unwrap();
            assert_eq!(
                String::from_utf8(c.text).unwrap(),
                String::from_utf8_lossy(&tok.decode(&want)),
                "the streamed text is the decoded ids"
            );
            // The prompt and the generated tokens are in the cache, but for the last one when
            // generation stopped at max_tokens.
            let n_prompt = tok.encode(prompt, true, true).unwrap().len();
            let unevaluated = usize::from(n_gen == n);
            assert_eq!(ferrite_n_past(s), n_prompt + n_gen - unevaluated);
        }
        ferrite_session_free(s);
        assert_eq!(ferrite_model_free(m), ferrite_status::FERRITE_OK);
    }
}

/// Once a session exists, evaluating, sampling and (warm) generating through the C API
/// allocate nothing on the calling thread, as the Rust API promises.
#[test]
fn decoding_through_the_c_api_allocates_nothing() {
    let m = load(&util::gemma_path());
    let mut s = ptr::null_mut();
    let params = ferrite_session_params {
        temperature: 0.7,
        seed: 3,
        repeat_penalty: 1.1,
        ..greedy_params(256)
    };
    let prompt = CString::new("Once upon a time").unwrap();
    // SAFETY: valid handles and output locations; the session is freed before the model.
    unsafe {
        assert_eq!(
            ferrite_session_new(m, params, &mut s),
            ferrite_status::FERRITE_OK
        );
        let mut ids = [0i32; 16];
        let mut n = 0;
        let st = ferrite_tokenize(m, prompt.as_ptr(), true, true, ids.as_mut_ptr(), 16, &mut n);
        assert_eq!(st, ferrite_status::FERRITE_OK);
        let st = ferrite_eval(s, ids.as_ptr(), n);
        assert_eq!(st, ferrite_status::FERRITE_OK);
        let step = || {
            let mut tok = 0;
            assert_eq!(ferrite_sample(s, &mut tok), ferrite_status::FERRITE_OK);
            assert_eq!(ferrite_accept(s, tok), ferrite_status::FERRITE_OK);
            let mut logits = ptr::null();
            let mut nv = 0;
            assert_eq!(
                ferrite_get_logits(s, &mut logits, &mut nv),
                ferrite_status::FERRITE_OK
            );
            assert_eq!(ferrite_eval(s, &tok, 1), ferrite_status::FERRITE_OK);
        };
        step();
        // The counter works: an allocation on this thread is seen.
        let before = allocs();
        let v = std::hint::black_box(vec![1u8; 10]);
        assert!(allocs() > before && v.len() == 10);
        let before = allocs();
        for _ in 0..8 {
            step();
        }
        assert_eq!(allocs() - before, 0, "allocations while decoding");

        // Generation: the first call sizes the prompt buffer; the next ones allocate nothing.
        let mut c = Collected {
            ids: Vec::with_capacity(64),
            text: Vec::with_capacity(4096),
            calls: 0,
        };
        let user = &mut c as *mut Collected as *mut c_void;
        let mut n_gen = 0;
        for round in 0..2 {
            ferrite_session_reset(s);
            c.ids.clear();
            c.text.clear();
            let before = allocs();
            let st = ferrite_generate(s, prompt.as_ptr(), 8, Some(collect), user, &mut n_gen);
            assert_eq!(st, ferrite_status::FERRITE_OK);
            if round == 1 {
                assert_eq!(
                    allocs() - before,
                    0,
                    "allocations in a warm ferrite_generate"
                );
            }
        }
        ferrite_session_free(s);
        assert_eq!(ferrite_model_free(m), ferrite_status::FERRITE_OK);
    }
}

#[test]
fn model_free_refuses_while_sessions_live() {
    let m = load(&util::gemma_path());
    let mut s1 = ptr::null_mut();
    let mut s2 = ptr::null_mut();
    // SAFETY: valid handles; sessions freed before the model is.
    unsafe {
        assert_eq!(
            ferrite_session_new(m, greedy_params(16), &mut s1),
            ferrite_status::FERRITE_OK
        );
        assert_eq!(
            ferrite_session_new(m, greedy_params(16), &mut s2),
            ferrite_status::FERRITE_OK
        );
        assert_eq!(
            ferrite_model_free(m),
            ferrite_status::FERRITE_ERR_INVALID_ARGUMENT
        );
        assert!(
            last_error().contains("2 live session(s)"),
            "{}",
            last_error()
        );
        ferrite_session_free(s1);
        assert_eq!(
            ferrite_model_free(m),
            ferrite_status::FERRITE_ERR_INVALID_ARGUMENT
        );
        ferrite_session_free(s2);
        assert_eq!(ferrite_model_free(m), ferrite_status::FERRITE_OK);
    }
}

/// Runs a tool's `--version`, failing the test with instructions when it is not installed.
fn require_tool(name: &str, why: &str) {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{name}` is not installed or does not run; it is needed {why} \
         (on Debian: apt-get install build-essential valgrind)"
    );
}

/// The C examples: lean static library, header check, errors.c, generate.c against the CLI,
/// both under valgrind. See tools/c-example.sh.
#[test]
fn c_examples() {
    require_tool("cc", "to compile examples/c/*.c");
    require_tool("c++", "to check that include/ferrite.h compiles as C++");
    require_tool(
        "valgrind",
        "to check the C examples for leaks and invalid accesses",
    );
    let model = util::gemma_path();
    let repo = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(Path::new(repo).join("tools/c-example.sh"))
        .arg(&model)
        .env("FERRITE_BIN", env!("CARGO_BIN_EXE_ferrite"))
        .current_dir(repo)
        .output()
        .expect("run tools/c-example.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "tools/c-example.sh failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stderr.contains("C API ids == ferrite run ids (32 tokens)"));
}
