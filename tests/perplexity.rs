//! `ferrite perplexity` on the real model agrees with llama.cpp's `llama-perplexity`:
//! 16.4296 on ../shared/golden/gpl3.txt at -c 256 (29 chunks, 3683 tokens scored).

mod util;

#[test]
fn gemma_perplexity_matches_llama_cpp() {
    let model = util::gemma_path();
    let text = util::shared_dir().join("golden/gpl3.txt");
    let (model, text) = (model.to_str().unwrap(), text.to_str().unwrap());
    let v = util::ferrite_json(&["perplexity", "-m", model, "-f", text, "-c", "256", "--json"]);
    let ppl = v["ppl"].as_f64().unwrap();
    assert_eq!(v["chunks"], 29);
    assert_eq!(v["tokens_scored"], 3683);
    let rel = (ppl - 16.4296).abs() / 16.4296;
    eprintln!(
        "perplexity {ppl:.4} (llama.cpp 16.4296, {:.3} %)",
        rel * 100.0
    );
    assert!(
        rel < 0.005,
        "perplexity {ppl} is not within 0.5 % of 16.4296"
    );
    assert!(v["ppl_stderr"].as_f64().unwrap() > 0.0);
}

#[test]
fn too_short_a_text_is_an_error() {
    let model = util::shared_dir().join("synth/tiny-llama-Q8_0.gguf");
    let p = std::env::temp_dir().join(format!("ferrite-short-{}.txt", std::process::id()));
    std::fs::write(&p, "a few words only").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .arg("perplexity")
        .arg("-m")
        .arg(&model)
        .arg("-f")
        .arg(&p)
        .args(["-c", "128"])
        .output()
        .unwrap();
    std::fs::remove_file(&p).ok();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs at least 256"), "{err}");
}
