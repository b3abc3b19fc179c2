//! `ferrite run --context-shift [--keep N]`: when the context is full the run keeps the first
//! tokens (llama.cpp's n_keep: N plus BOS) and discards half of the rest instead of stopping.
//! The CLI's greedy ids equal a library loop doing the same with `Session::shift`.

mod util;

use ferrite::{Model, Session, SessionConfig};
use serde_json::Value;

const PROMPT: &str = "the world of time and life";

fn synth(name: &str) -> std::path::PathBuf {
    util::shared_dir().join("synth").join(name)
}

fn run_json(model: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "run",
        "-m",
        model.to_str().unwrap(),
        "-p",
        PROMPT,
        "--temp",
        "0",
        "-t",
        "1",
        "--json",
    ];
    args.extend_from_slice(extra);
    util::ferrite_json(&args)
}

/// Greedy generation of `n` tokens with a context of `n_ctx`, shifting as `run` does (keep
/// `n_keep`, drop half of the rest) when `shift`; the ids and the number of shifts.
fn library_greedy(
    m: &Model,
    n_ctx: usize,
    n: usize,
    n_keep: usize,
    shift: bool,
) -> (Vec<u32>, usize) {
    let tok = m.tokenizer().unwrap();
    let ids = tok.encode(PROMPT, tok.add_bos_default(), true).unwrap();
    let cfg = SessionConfig {
        n_ctx,
        n_threads: 1,
        ..SessionConfig::default()
    };
    let mut s = Session::new(m, &cfg).unwrap();
    s.prefill(&ids).unwrap();
    let mut out = Vec::new();
    let mut shifts = 0;
    while out.len() < n {
        let id = ferrite::ops::argmax(s.logits().unwrap()) as u32;
        if tok.is_eog(id) {
            break;
        }
        out.push(id);
        if out.len() == n {
            break;
        }
        if s.n_past() == n_ctx {
            let d = (s.n_past() - n_keep) / 2;
            if !shift || d == 0 {
                break;
            }
            s.shift(n_keep, d).unwrap();
            shifts += 1;
        }
        s.decode(id).unwrap();
    }
    (out, shifts)
}

fn ids_of(o: &Value) -> Vec<u32> {
    o["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn context_shift_continues_past_the_context_as_the_library_does() {
    for name in ["tiny-llama-Q8_0.gguf", "tiny-gemma3-Q8_0.gguf"] {
        let path = synth(name);
        let m = Model::load(&path).unwrap();
        let tok = m.tokenizer().unwrap();
        let bos = tok.add_bos_default() as usize;
        let prompt_len = tok
            .encode(PROMPT, tok.add_bos_default(), true)
            .unwrap()
            .len();

        // Without the flag: a context stop once 48 positions are used.
        let o = run_json(&path, &["-c", "48", "-n", "300"]);
        assert_eq!(o["stop"], "context", "{name}");
        let (lib, _) = library_greedy(&m, 48, 300, bos, false);
        assert_eq!(ids_of(&o), lib, "{name}: without shift");
        assert_eq!(o["context_shifts"], 0);

        // With it: 300 tokens in a 48-token context, the default keep (BOS), and --keep 3.
        for (keep_flag, n_keep) in [(None, bos), (Some("3"), 3 + bos), (Some("-1"), prompt_len)] {
            let mut extra = vec!["-c", "48", "-n", "300", "--context-shift"];
            if let Some(k) = keep_flag {
                extra.extend_from_slice(&["--keep", k]);
            }
            let o = run_json(&path, &extra);
            let (lib, shifts) = library_greedy(&m, 48, 300, n_keep, true);
            assert_eq!(ids_of(&o), lib, "{name} --keep {keep_flag:?}");
            assert_eq!(o["context_shifts"].as_u64(), Some(shifts as u64));
            // Greedy on fixed models: no end-of-generation token comes up in these runs.
            assert_eq!(lib.len(), 300, "{name}");
            assert_eq!(o["stop"], "length", "{name}");
            assert!(shifts >= 5, "{name}: {shifts} shifts");
        }
    }
}

#[test]
fn nothing_to_discard_is_a_context_stop() {
    // --keep -1 keeps the whole prompt; when the prompt fills the context, a shift would
    // discard nothing, so the run stops with `context`.
    let path = synth("tiny-llama-Q8_0.gguf");
    let m = Model::load(&path).unwrap();
    let tok = m.tokenizer().unwrap();
    let n = tok
        .encode(PROMPT, tok.add_bos_default(), true)
        .unwrap()
        .len();
    let c = (n + 1).to_string();
    let o = run_json(
        &path,
        &["-c", &c, "-n", "50", "--context-shift", "--keep", "-1"],
    );
    assert_eq!(o["stop"], "context");
    assert_eq!(o["context_shifts"], 0);
}
