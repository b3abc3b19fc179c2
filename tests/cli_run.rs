//! `ferrite run` as INTERFACE.md fixes it: the JSON schema, greedy output equal to the golden
//! continuation's first tokens, seeded sampling reproducible, and usage errors.

mod util;

use serde_json::Value;

use util::ferrite;

#[test]
fn json_schema_and_logprobs() {
    let m = util::synth("tiny-gemma3-Q8_0.gguf");
    let out = ferrite(&[
        "run",
        "-m",
        &m,
        "-p",
        "the world of time and life",
        "-n",
        "5",
        "--temp",
        "0",
        "--json",
        "--logprobs",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(util::shared_dir().join("synth/golden-tiny-gemma3-Q8_0.json"))
            .unwrap(),
    )
    .unwrap();
    let g = &golden["generate"][0];
    assert_eq!(v["prompt_tokens"], g["prompt_ids"]);
    let toks = v["tokens"].as_array().unwrap();
    assert_eq!(toks.len(), 5);
    assert_eq!(v["stop"], "length");
    for (i, t) in toks.iter().enumerate() {
        assert_eq!(t["id"], g["steps"][i]["id"], "step {i}");
        let lp = t["logprob"].as_f64().unwrap();
        let want = g["steps"][i]["lp"][0][1].as_f64().unwrap();
        assert!((lp - want).abs() < 0.01, "step {i}: {lp} vs {want}");
        let top = t["top"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert_eq!(top[0]["id"], t["id"]);
        assert!(top[0]["logprob"].as_f64() >= top[1]["logprob"].as_f64());
        assert!(t["text"].is_string());
    }
    for k in [
        "load_ms",
        "prefill_ms",
        "prefill_tok_s",
        "decode_ms",
        "decode_tok_s",
    ] {
        assert!(v["timings"][k].is_number(), "timings.{k}");
    }
    let text: String = toks.iter().map(|t| t["text"].as_str().unwrap()).collect();
    assert_eq!(v["text"].as_str().unwrap(), text);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let m = util::synth("tiny-llama-Q4_K_M.gguf");
    let run = |seed: &str| {
        let out = ferrite(&[
            "run", "-m", &m, "-p", "hello", "-n", "20", "--seed", seed, "--temp", "1.0", "--json",
        ]);
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run("7"), run("7"));
    assert_ne!(run("7"), run("8"));
}

#[test]
fn bad_flags_are_usage_errors_and_bad_files_runtime_errors() {
    let m = util::synth("tiny-llama-Q8_0.gguf");
    for args in [
        vec!["run", "-m", &m],
        vec!["run", "-m", &m, "-p", "x", "-c", "0"],
        vec!["run", "-m", &m, "-p", "x", "-t", "0"],
        vec!["run", "-m", &m, "-p", "x", "--kv-type", "q4"],
        vec!["run", "-m", &m, "-p", "x", "-n", "-3"],
        vec!["frobnicate"],
    ] {
        let out = ferrite(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = ferrite(&["run", "-m", "/nonexistent.gguf", "-p", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("/nonexistent.gguf"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    // -n 0 generates nothing, cleanly.
    let out = ferrite(&["run", "-m", &m, "-p", "x", "-n", "0", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tokens"].as_array().unwrap().len(), 0);
    assert_eq!(v["stop"], "length");
    // An invalid UTF-8 prompt file is refused with the offset.
    let p = std::env::temp_dir().join(format!("ferrite-bad-utf8-{}.txt", std::process::id()));
    std::fs::write(&p, b"hello \xff world").unwrap();
    let out = ferrite(&["run", "-m", &m, "-f", p.to_str().unwrap()]);
    std::fs::remove_file(&p).ok();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UTF-8") && err.contains("offset 6"), "{err}");
}
