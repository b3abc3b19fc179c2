//! `Session::rewind`: going back a few tokens and reading others gives the logits of a session
//! that read the kept tokens and the new ones from the start; a sliding-window ring refuses to
//! go back further than it keeps.

mod util;

use ferrite::{Model, Session, SessionConfig};

fn session(model: &Model) -> Session<'_> {
    let cfg = SessionConfig {
        n_ctx: 256,
        n_threads: 1,
        ..SessionConfig::default()
    };
    Session::new(model, &cfg).unwrap()
}

fn check(name: &str, ring: bool) {
    let model = Model::load(util::shared_dir().join("synth").join(name)).unwrap();
    let nv = model.hp.n_vocab as u32;
    let a: Vec<u32> = (0..200).map(|i| (i * 7 + 3) % nv).collect();
    let b: Vec<u32> = (0..10).map(|i| (i * 13 + 5) % nv).collect();

    let mut s = session(&model);
    s.prefill(&a).unwrap();
    // A ring of window + MAX_BATCH - 1 slots can go back MAX_BATCH - 1 tokens, no further; a
    // full cache can go back to the start.
    let reach = ferrite::session::MAX_BATCH - 1;
    assert!(s.can_rewind(200 - reach));
    assert_eq!(s.can_rewind(200 - reach - 1), !ring, "{name}");
    assert_eq!(s.can_rewind(0), !ring, "{name}");
    if ring {
        let e = s.rewind(200 - reach - 1).unwrap_err().to_string();
        assert!(e.contains("cannot rewind"), "{e}");
        assert_eq!(s.n_past(), 200, "a refused rewind changes nothing");
    }
    s.rewind(180).unwrap();
    assert_eq!(s.n_past(), 180);
    assert!(s.logits().is_none());
    let got = s.prefill(&b).unwrap().to_vec();

    let mut fresh = session(&model);
    fresh.prefill(&a[..180]).unwrap();
    let want = fresh.prefill(&b).unwrap().to_vec();
    // The kept positions may have been computed in other batches than the fresh session's,
    // which llama.cpp's kernel choice (followed here) makes differ in the last bits.
    let diff = got
        .iter()
        .zip(&want)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-3, "{name}: max |dlogit| {diff}");
}

#[test]
fn rewind_full_cache() {
    check("tiny-llama-Q8_0.gguf", false);
}

#[test]
fn rewind_sliding_window_ring() {
    check("tiny-gemma3-Q8_0.gguf", true);
}
