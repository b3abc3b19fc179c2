//! The GGUF loader on arbitrary bytes: parse the header, read every metadata value and tensor,
//! build the tokenizer, load the model, and when all that succeeds run two tokens through a
//! small session. Any panic, out-of-bounds access (ASan), overflow, or allocation beyond
//! libFuzzer's limits is a finding; an error is the expected outcome for a bad file.
//!
//! Seeds (tools/fuzz_seeds.py): shrunken copies of the synthetic models of every architecture
//! (valid files that load and decode), and the built-in malformed cases are found from there.
#![no_main]

use ferrite::gguf::{GgufFile, MetaType, MetaValue};
use ferrite::tokenizer::Tokenizer;
use ferrite::{Model, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes("fuzz.gguf", data) else {
        return;
    };
    // Every metadata value through the typed getters.
    for (key, v) in file.metadata() {
        match v {
            MetaValue::Array(a) => {
                let n = match a.elem_type() {
                    MetaType::Str => a
                        .strings(key)
                        .map(|it| it.filter(|s| s.len() < data.len()).count()),
                    MetaType::F32 | MetaType::F64 => a.f32s(key).map(|it| it.count()),
                    MetaType::Bool => Ok(a.len()),
                    _ => a.ints(key).map(|it| it.count()),
                };
                assert_eq!(n.expect("array of its own element type"), a.len(), "{key}");
            }
            _ => {
                let _ = file.get_u32(key);
                let _ = file.get_f32(key);
                let _ = file.get_str(key);
                let _ = file.get_opt_bool(key);
            }
        }
    }
    for t in file.tensors() {
        assert_eq!(file.tensor_data(t).len(), t.n_bytes, "{}", t.name);
        assert!(t.offset + t.n_bytes <= data.len());
    }
    if let Ok(tok) = Tokenizer::from_gguf(&file) {
        for text in [
            "Hello world",
            " <s>\n\t 123 héllo 🦀",
            "<start_of_turn>user",
        ] {
            for (bos, special) in [(true, true), (false, false)] {
                if let Ok(ids) = tok.encode(text, bos, special) {
                    assert!(ids.iter().all(|&i| (i as usize) < tok.n_vocab()));
                    let _ = tok.decode(&ids);
                }
            }
        }
    }
    let Ok(model) = Model::from_gguf(file) else {
        return;
    };
    let cfg = SessionConfig {
        n_ctx: 8,
        n_threads: 1,
        ..SessionConfig::default()
    };
    let Ok(mut sess) = Session::new(&model, &cfg) else {
        return;
    };
    let n_vocab = model.hp.n_vocab as u32;
    let prompt = [0, 1 % n_vocab];
    let logits = sess.prefill(&prompt).expect("a 2-token prompt fits in 8");
    assert_eq!(logits.len(), n_vocab as usize);
    let next = (n_vocab - 1).min(7);
    let logits = sess.decode(next).expect("room for a third token");
    assert_eq!(logits.len(), n_vocab as usize);
});
