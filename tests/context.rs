//! The context is a hard limit: filling the KV cache to capacity works, one token past it is a
//! clean error from the library (nothing written), and `ferrite run` reports a `context` stop.

mod util;

use ferrite::{Error, Model, Session, SessionConfig};

#[test]
fn filling_the_cache_to_capacity_then_one_more_is_an_error() {
    let synth = util::shared_dir().join("synth");
    for name in [
        "tiny-llama-Q8_0.gguf",
        "tiny-gemma3-Q8_0.gguf",
        "tiny-gpt2-Q8_0.gguf",
    ] {
        let m = Model::load(synth.join(name)).unwrap();
        let cfg = SessionConfig {
            n_ctx: 40,
            n_threads: 1,
            ..SessionConfig::default()
        };
        let mut s = Session::new(&m, &cfg).unwrap();
        let toks: Vec<u32> = (0..40).map(|i| 3 + (i * 7) % 400).collect();
        s.prefill(&toks[..30]).unwrap();
        for &t in &toks[30..] {
            s.decode(t).unwrap();
        }
        assert_eq!(s.n_past(), 40);
        let last = s.logits().unwrap().to_vec();
        match s.decode(5) {
            Err(Error::ContextFull { needed, capacity }) => {
                assert_eq!((needed, capacity), (41, 40))
            }
            other => panic!(
                "{name}: expected a context error, got {:?}",
                other.map(|_| ())
            ),
        }
        // The failed call changed nothing.
        assert_eq!(s.n_past(), 40);
        assert_eq!(s.logits().unwrap(), &last[..]);
        // A prefill that would overflow is refused whole, before any work.
        s.reset();
        s.prefill(&toks[..10]).unwrap();
        assert!(matches!(s.prefill(&toks), Err(Error::ContextFull { .. })));
        assert_eq!(s.n_past(), 10);
        // Out-of-vocabulary ids are refused too.
        assert!(matches!(
            s.decode(1_000_000),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn sliding_window_ring_wraps_without_corruption() {
    // Gemma 3 synth has a sliding window of 8 on every layer: evaluate far past it with the
    // ring (8 slots, wrapping 7 times) and with a full-length cache that never wraps; the
    // logits of every step must be identical.
    let m = Model::load(util::shared_dir().join("synth/tiny-gemma3-Q8_0.gguf")).unwrap();
    let toks: Vec<u32> = (0..60).map(|i| 3 + (i * 11) % 400).collect();
    let run = |full_swa_cache| {
        let cfg = SessionConfig {
            n_ctx: 64,
            n_threads: 1,
            full_swa_cache,
            ..SessionConfig::default()
        };
        let mut s = Session::new(&m, &cfg).unwrap();
        toks.iter()
            .map(|&t| s.decode(t).unwrap().to_vec())
            .collect::<Vec<_>>()
    };
    let ring = run(false);
    let full = run(true);
    assert!(ring.iter().flatten().all(|x| x.is_finite()));
    assert_eq!(ring, full);
}

#[test]
fn run_reports_a_context_stop() {
    let model = util::synth("tiny-llama-Q8_0.gguf");
    let v = util::ferrite_json(&[
        "run",
        "-m",
        &model,
        "-p",
        "the world",
        "-c",
        "24",
        "-n",
        "100",
        "--temp",
        "0",
        "--json",
    ]);
    assert_eq!(v["stop"], "context");
    let n_prompt = v["prompt_tokens"].as_array().unwrap().len();
    let n_gen = v["tokens"].as_array().unwrap().len();
    assert_eq!(
        n_prompt + n_gen,
        25,
        "the context holds 24 positions; the last token is sampled, not evaluated"
    );

    // A prompt longer than the context is an error before any work.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["run", "-m"])
        .arg(&model)
        .args([
            "-p",
            "the world of time and life and more words here",
            "-c",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("context holds 4"), "{err}");
}

#[test]
fn kv_cache_types_agree_with_f16() {
    // The f32 and q8_0 caches change the numbers slightly (llama.cpp's goldens use f16), never
    // the picture: over a prompt and 16 more tokens the logits stay close.
    use ferrite::KvType;
    for name in ["tiny-gemma3-Q8_0.gguf", "tiny-llama-Q8_0.gguf"] {
        let m = Model::load(util::shared_dir().join("synth").join(name)).unwrap();
        // The same token sequence for every cache type (a random model is chaotic: once two
        // runs pick different tokens their logits are unrelated).
        let toks: Vec<u32> = (0..16).map(|i| 3 + (i * 37) % 400).collect();
        let run = |kv_type| {
            let cfg = SessionConfig {
                n_ctx: 64,
                kv_type,
                n_threads: 1,
                ..SessionConfig::default()
            };
            let mut s = Session::new(&m, &cfg).unwrap();
            let mut out = vec![s.prefill(&[1, 429, 422, 410, 407, 429]).unwrap().to_vec()];
            for &t in &toks {
                out.push(s.decode(t).unwrap().to_vec());
            }
            out
        };
        let f16 = run(KvType::F16);
        for kv in [KvType::F32, KvType::Q8_0] {
            let other = run(kv);
            let worst = f16
                .iter()
                .zip(&other)
                .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
                .fold(0f32, f32::max);
            assert!(worst < 0.5, "{name} {kv:?}: logits differ by up to {worst}");
            assert!(
                worst > 0.0,
                "{name} {kv:?}: the cache type had no effect at all"
            );
        }
    }
}
