//! The memory budget: the estimate against the measured peak RSS of `ferrite run` on Gemma 3
//! 270M, `--max-memory` refusing with the figures, `--dry-run` and `inspect`, the C params,
//! and the tokenizer part of the estimate against the heap a tokenizer really takes.

#[path = "util/thread_allocs.rs"]
mod thread_allocs;
mod util;

use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;

use ferrite::ffi::*;
use ferrite::gguf::GgufFile;
use ferrite::tokenizer::Tokenizer;
use ferrite::{KvType, MemoryEstimate, SessionConfig};

use util::ferrite;

fn estimate(model: &Path, n_ctx: usize, kv: KvType, threads: usize) -> MemoryEstimate {
    let cfg = SessionConfig {
        n_ctx,
        kv_type: kv,
        n_threads: threads,
        ..SessionConfig::default()
    };
    MemoryEstimate::for_file(&GgufFile::open(model).unwrap(), &cfg).unwrap()
}

/// `ferrite run` reports its own peak RSS (`VmHWM`, read just before it exits, after every
/// weight has been read by the decode steps and the session has committed its buffers); the
/// estimate computed here from the file's header is within 10 % of it.
#[test]
fn estimate_is_within_10_percent_of_peak_rss_on_gemma3() {
    let g = util::gemma_path();
    let gs = g.to_str().unwrap();
    for (ctx, kv) in [
        (4096, "f16"),
        (4096, "q8_0"),
        (32768, "f16"),
        (32768, "q8_0"),
    ] {
        let c = ctx.to_string();
        let o = util::ferrite_json(&[
            "run",
            "-m",
            gs,
            "-p",
            "The capital of France is",
            "-n",
            "4",
            "--temp",
            "0",
            "-t",
            "2",
            "-c",
            &c,
            "--kv-type",
            kv,
            "--json",
        ]);
        let rss = o["memory"]["peak_rss_bytes"]
            .as_u64()
            .expect("peak RSS reported (Linux)");
        let reported = o["memory"]["estimate_bytes"].as_u64().unwrap();
        let e = estimate(&g, ctx, KvType::parse(kv).unwrap(), 2);
        assert_eq!(reported, e.total(), "the CLI and the library agree");
        let err = e.total() as f64 / rss as f64 - 1.0;
        eprintln!(
            "-c {ctx} --kv-type {kv}: estimate {} MiB, peak RSS {} MiB ({:+.1} %)",
            e.total() >> 20,
            rss >> 20,
            100.0 * err
        );
        assert!(
            err.abs() <= 0.10,
            "-c {ctx} {kv}: estimate {} vs peak RSS {rss} ({:+.1} %)",
            e.total(),
            100.0 * err
        );
    }
}

/// The parts follow the cache layout: full layers grow with the context, Gemma's 15
/// sliding-window layers stay at a ring of 512 + MAX_BATCH - 1 slots; q8_0 takes 34/64 of f16,
/// f32 twice.
#[test]
fn kv_part_follows_the_cache_layout() {
    let g = util::gemma_path();
    let f16 = |n| estimate(&g, n, KvType::F16, 1);
    let hp = ferrite::model::HParams::from_gguf(&GgufFile::open(&g).unwrap()).unwrap();
    let row = 2 * hp.n_head_kv * hp.head_dim; // k and v of one position, in values
    let e = f16(4096);
    let ring = 512 + ferrite::session::MAX_BATCH - 1;
    assert_eq!((e.full_layers, e.swa_layers, e.swa_slots), (3, 15, ring));
    assert_eq!(e.kv_cache, 2 * (row * (3 * 4096 + 15 * ring)) as u64);
    assert_eq!(f16(8192).kv_cache - e.kv_cache, 2 * (row * 3 * 4096) as u64);
    let q8 = estimate(&g, 4096, KvType::Q8_0, 1).kv_cache;
    assert_eq!(q8 * 64, e.kv_cache * 34);
    assert_eq!(estimate(&g, 4096, KvType::F32, 1).kv_cache, 2 * e.kv_cache);
    assert_eq!(e.weights, std::fs::metadata(&g).unwrap().len());
    assert_eq!(
        e.total(),
        e.weights + e.kv_cache + e.scratch + e.tokenizer + e.model_heap + e.overhead
    );
    // The logits row alone is 262144 f32 (one row: perplexity grows it, run and chat don't).
    assert!(e.scratch >= 262144 * 4);
}

/// The tokenizer part against the heap a built tokenizer holds (a tracking allocator), for
/// every vocabulary we have: SentencePiece (llama, phi-3, Gemma's 262k) and BPE with merges.
#[test]
fn tokenizer_part_is_within_25_percent_of_its_heap() {
    let mut files: Vec<_> = std::fs::read_dir(util::shared_dir().join("vocab"))
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "gguf").then_some(p)
        })
        .collect();
    files.push(util::gemma_path());
    assert!(files.len() >= 4);
    let mut off = Vec::new();
    for p in files {
        let f = GgufFile::open(&p).unwrap();
        // This thread's heap only: the other tests of this binary run in parallel.
        let before = thread_allocs::live_bytes();
        let t = Tokenizer::from_gguf(&f).unwrap();
        let heap = (thread_allocs::live_bytes() - before) as f64;
        drop(t);
        let est = ferrite::memory::tokenizer_bytes(&f);
        let err = est as f64 / heap - 1.0;
        println!(
            "{}: estimate {est}, heap {heap} ({:+.1} %)",
            p.display(),
            100.0 * err
        );
        if err.abs() > 0.25 {
            off.push(format!("{}: {est} vs {heap}", p.display()));
        }
    }
    assert!(off.is_empty(), "estimates off by more than 25 %: {off:#?}");
}

#[test]
fn max_memory_refuses_with_the_figures_and_what_to_change() {
    let g = util::gemma_path();
    let gs = g.to_str().unwrap();
    let out = ferrite(&[
        "run",
        "-m",
        gs,
        "-p",
        "Hi",
        "-c",
        "32768",
        "--max-memory",
        "300M",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    for part in [
        "error: ",
        "300.0 MiB",
        "weights 241.4 MiB",
        &*format!(
            "KV cache {:.1} MiB for 32768 tokens of f16",
            estimate(&g, 32768, KvType::F16, 1).kv_cache as f64 / (1u64 << 20) as f64
        ),
        "scratch",
        "-c ",
        "--kv-type q8_0",
    ] {
        assert!(err.contains(part), "'{part}' missing from: {err}");
    }
    // The suggested context does fit: run with it.
    let c: String = err
        .split("-c ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    util::ferrite_ok(&[
        "run",
        "-m",
        gs,
        "-p",
        "Hi",
        "-n",
        "2",
        "--temp",
        "0",
        "-c",
        &c,
        "--max-memory",
        "300M",
        "--json",
    ]);
    // Less than the weights: only a smaller model helps.
    let out = ferrite(&["run", "-m", gs, "-p", "Hi", "--max-memory", "200M"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("smaller model"));
    // Sizes: a bad one is a usage error; bytes and suffixes are accepted.
    assert_eq!(
        ferrite(&["run", "-m", gs, "-p", "Hi", "--max-memory", "lots"])
            .status
            .code(),
        Some(2)
    );
    for size in ["1G", "1073741824", "1.5g"] {
        util::ferrite_ok(&[
            "run",
            "-m",
            gs,
            "-p",
            "Hi",
            "-n",
            "1",
            "--max-memory",
            size,
            "--json",
        ]);
    }
}

#[test]
fn dry_run_and_inspect_print_the_estimate() {
    let g = util::gemma_path();
    let gs = g.to_str().unwrap();
    let e = estimate(&g, 32768, KvType::Q8_0, 2);
    // No prompt needed, nothing generated.
    let args = [
        "run",
        "-m",
        gs,
        "--dry-run",
        "-c",
        "32768",
        "--kv-type",
        "q8_0",
        "-t",
        "2",
    ];
    let o = util::ferrite_json(&[&args[..], &["--json"]].concat());
    assert_eq!(o["total"].as_u64(), Some(e.total()));
    assert_eq!(o["kv_cache"].as_u64(), Some(e.kv_cache));
    assert_eq!(o["n_ctx"].as_u64(), Some(32768));
    assert_eq!(o["kv_type"], "q8_0");
    assert!(o.get("tokens").is_none());
    let text = util::ferrite_ok(&args);
    let t = String::from_utf8_lossy(&text.stdout);
    for part in [
        "weights (mapped)",
        "KV cache",
        "scratch",
        "tokenizer",
        "total",
    ] {
        assert!(t.contains(part), "{part}: {t}");
    }
    assert!(t.contains(&ferrite::memory::mib(e.total())), "{t}");
    let o = util::ferrite_json(&[
        "inspect",
        gs,
        "-c",
        "32768",
        "--kv-type",
        "q8_0",
        "-t",
        "2",
        "--json",
    ]);
    assert_eq!(o["memory"]["total"].as_u64(), Some(e.total()));
    let out = util::ferrite_ok(&["inspect", gs, "-c", "32768", "--max-memory", "300M"]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("does not fit"), "{t}");
}

#[test]
fn c_params_max_memory() {
    let g = util::gemma_path();
    let path = CString::new(g.to_str().unwrap()).unwrap();
    let mut model = ptr::null_mut();
    // SAFETY: valid arguments; the model is freed below.
    let st =
        unsafe { ferrite_model_load(path.as_ptr(), ferrite_model_default_params(), &mut model) };
    assert_eq!(st, ferrite_status::FERRITE_OK);
    let mut p = ferrite_session_default_params();
    assert_eq!(p.max_memory, 0);
    p.n_ctx = 32768;
    p.n_threads = 1;
    p.max_memory = 300 << 20;
    let mut sess = ptr::null_mut();
    // SAFETY: live model, valid out pointer.
    let st = unsafe { ferrite_session_new(model, p, &mut sess) };
    assert_eq!(st, ferrite_status::FERRITE_ERR_INVALID_ARGUMENT);
    assert!(sess.is_null());
    // SAFETY: never NULL, NUL-terminated.
    let msg = unsafe { CStr::from_ptr(ferrite_last_error()) }
        .to_string_lossy()
        .into_owned();
    assert!(msg.contains("KV cache") && msg.contains("q8_0"), "{msg}");
    p.kv_type = ferrite_kv_type::FERRITE_KV_Q8_0 as i32;
    p.n_ctx = 4096;
    // SAFETY: as above.
    let st = unsafe { ferrite_session_new(model, p, &mut sess) };
    assert_eq!(st, ferrite_status::FERRITE_OK, "{}", unsafe {
        CStr::from_ptr(ferrite_last_error()).to_string_lossy()
    });
    // SAFETY: live handles, freed session before model.
    unsafe {
        ferrite_session_free(sess);
        assert_eq!(ferrite_model_free(model), ferrite_status::FERRITE_OK);
    }
}

/// Without --max-memory, a session whose KV cache and scratch exceed the available RAM is
/// refused with the figures (not killed by the OOM killer); the weights, file pages the OS can
/// drop, are not counted against it.
#[test]
fn available_ram_is_a_budget_without_max_memory() {
    let g = util::gemma_path();
    let e = estimate(&g, 32768, KvType::F16, 1);
    let own = e.kv_cache + e.scratch;
    e.check_ram(own).unwrap();
    e.check_ram(own + (1 << 30)).unwrap();
    let err = e.check_ram(own - (1 << 20)).unwrap_err().to_string();
    for part in [
        "not enough memory",
        "of RAM is available",
        "-c ",
        "--kv-type q8_0",
        "free memory",
    ] {
        assert!(err.contains(part), "'{part}' missing from: {err}");
    }
    // The largest context this machine can hold is refused or fits, never crashes: at the
    // limit ferrite accepts (2^24 tokens), Gemma's cache alone is about 49 GiB.
    let avail = ferrite::memory::mem_available().expect("Linux has /proc/meminfo");
    let huge = estimate(&g, 1 << 24, KvType::F16, 1);
    if huge.kv_cache + huge.scratch > avail {
        let out = ferrite(&[
            "run",
            "-m",
            g.to_str().unwrap(),
            "-p",
            "Hi",
            "-c",
            "16777216",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("of RAM is available"), "{err}");
    }
}
