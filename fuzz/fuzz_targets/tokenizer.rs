//! The tokenizers on arbitrary input, with every vocabulary of `../shared/vocab` (and Gemma 3's
//! when installed): encoding of arbitrary bytes (lossily made UTF-8) with and without BOS and
//! special-token parsing, and decoding of arbitrary id sequences (in range or not) through
//! `token_to_piece`, `detokenize` and the streaming decoder.
//!
//! Input: byte 0 picks the vocabulary (modulo their number); byte 1 holds flags (bit 0: add
//! BOS, bit 1: parse special tokens, bit 2: decode ids instead of encoding text, bit 3: render
//! control tokens); the rest is the text, or little-endian u32 ids for decoding (taken modulo
//! n_vocab + 16, so out-of-range ids occur too).
#![no_main]

use ferrite_fuzz::{check_stream, header, tokenizers};
use libfuzzer_sys::fuzz_target;

// The vocabularies load once, before fuzzing starts (and outside the per-input timeout).
fuzz_target!(init: { tokenizers(); }, |data: &[u8]| {
    let toks = tokenizers();
    let ([pick, flags], rest) = header::<2>(data);
    let (_name, tok) = &toks[pick as usize % toks.len()];
    let (add_bos, parse_special) = (flags & 1 != 0, flags & 2 != 0);
    let (decode, special) = (flags & 4 != 0, flags & 8 != 0);
    let n_vocab = tok.n_vocab();
    if decode {
        let ids: Vec<u32> = rest
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(b)
            })
            .map(|i| i % (n_vocab as u32 + 16))
            .collect();
        for &id in &ids {
            let p = tok.token_to_piece(id, special);
            if id as usize >= n_vocab {
                assert!(p.is_empty(), "id {id} out of range gave a piece");
            }
            assert!(p.len() <= tok.max_piece_len());
        }
        let _ = tok.detokenize(&ids, add_bos, special);
        check_stream(tok, &ids, special);
        return;
    }
    let text = String::from_utf8_lossy(rest);
    let ids = tok
        .encode(&text, add_bos, parse_special)
        .unwrap_or_else(|e| panic!("encoding failed: {e}"));
    assert!(
        ids.iter().all(|&i| (i as usize) < n_vocab),
        "id out of range"
    );
    // encode_into with a dirty buffer gives the same ids.
    let mut again = vec![7u32; 3];
    tok.encode_into(&text, add_bos, parse_special, &mut again)
        .unwrap();
    assert_eq!(again, ids);
    let _ = tok.decode(&ids);
    check_stream(tok, &ids, special);
});
