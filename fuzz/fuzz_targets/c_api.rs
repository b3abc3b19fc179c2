//! The C API's `ferrite_tokenize` and `ferrite_token_to_piece` with arbitrary text (any bytes
//! up to the first NUL, so invalid UTF-8 too), arbitrary token ids and buffer capacities
//! (too small, exact, larger, NULL with capacity 0). Checks the documented contract: a status
//! from the list (never `FERRITE_ERR_INTERNAL`, which would be a caught panic), `*n_out` the size
//! needed, nothing written when the buffer is too small and nothing past `capacity` ever, and the
//! same ids as the Rust tokenizer.
//!
//! Input: byte 0 picks the model (a synthetic model per architecture, then Gemma 3 when
//! installed); byte 1 holds flags (bit 0: add_special, bit 1: parse_special, bit 2: special
//! pieces); bytes 2-3 the token buffer's capacity (u16 LE, modulo 64 + the size needed);
//! bytes 4-7 a token id (i32 LE) and bytes 8-9 the piece buffer's capacity; the rest is text.
#![no_main]

use std::ffi::{c_char, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

use ferrite::ffi::*;
use ferrite::gguf::GgufFile;
use ferrite::tokenizer::Tokenizer;
use ferrite_fuzz::{header, model_paths};
use libfuzzer_sys::fuzz_target;

/// Each model twice: the C handle, and the Rust tokenizer of the same file for comparison.
struct Models(Vec<(*mut ferrite_model, Tokenizer)>);
// SAFETY: a model handle may be used from any thread (documented in ferrite.h); the fuzzer
// runs targets on one thread anyway, and the models are never freed.
unsafe impl Send for Models {}
unsafe impl Sync for Models {}

fn models() -> &'static [(*mut ferrite_model, Tokenizer)] {
    static M: OnceLock<Models> = OnceLock::new();
    &M.get_or_init(|| {
        Models(
            model_paths()
                .iter()
                .map(|p| {
                    let c = CString::new(p.to_str().unwrap()).unwrap();
                    let mut m = ptr::null_mut();
                    // SAFETY: valid path string and output location.
                    let st = unsafe {
                        ferrite_model_load(c.as_ptr(), ferrite_model_default_params(), &mut m)
                    };
                    assert_eq!(st, ferrite_status::FERRITE_OK, "{}", p.display());
                    let f = GgufFile::open(p).unwrap();
                    (m, Tokenizer::from_gguf(&f).unwrap())
                })
                .collect(),
        )
    })
    .0
}

fn last_error() -> String {
    // SAFETY: never NULL, NUL-terminated.
    unsafe { CStr::from_ptr(ferrite_last_error()) }
        .to_string_lossy()
        .into_owned()
}

const SENTINEL: i32 = -0x5eed;

// The models load once, before fuzzing starts (and outside the per-input timeout).
fuzz_target!(init: { models(); }, |data: &[u8]| {
    let models = models();
    let (h, rest) = header::<10>(data);
    let (m, tok) = &models[h[0] as usize % models.len()];
    let m: *const ferrite_model = *m;
    let (add_special, parse_special, special) = (h[1] & 1 != 0, h[1] & 2 != 0, h[1] & 4 != 0);
    let text_bytes = rest.split(|&b| b == 0).next().unwrap_or(&[]);
    let text = CString::new(text_bytes).unwrap();
    // SAFETY: a live model handle.
    let n_vocab = unsafe { ferrite_n_vocab(m) };

    // Size query: NULL buffer, capacity 0.
    let mut needed = usize::MAX;
    // SAFETY: valid handle, text and n_out; NULL buffer with capacity 0 is allowed.
    let st = unsafe {
        ferrite_tokenize(
            m,
            text.as_ptr(),
            add_special,
            parse_special,
            ptr::null_mut(),
            0,
            &mut needed,
        )
    };
    let utf8 = std::str::from_utf8(text_bytes);
    match st {
        ferrite_status::FERRITE_OK => assert_eq!(needed, 0),
        ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL => assert!(needed > 0),
        ferrite_status::FERRITE_ERR_INVALID_ARGUMENT => {
            let e = utf8.expect_err("valid UTF-8 refused");
            assert_eq!(needed, 0);
            let msg = last_error();
            assert!(
                msg.contains("UTF-8") && msg.contains(&format!("offset {}", e.valid_up_to())),
                "{msg}"
            );
            return;
        }
        s => panic!("tokenize gave {s:?}: {}", last_error()),
    }
    let text_str = utf8.expect("accepted text is UTF-8");

    // A buffer of some capacity around the size needed, with sentinels after it.
    let cap = u16::from_le_bytes([h[2], h[3]]) as usize % (needed + 64);
    let mut buf = vec![SENTINEL; cap + 8];
    let mut n = usize::MAX;
    // SAFETY: `buf` holds at least `cap` elements.
    let st = unsafe {
        ferrite_tokenize(
            m,
            text.as_ptr(),
            add_special,
            parse_special,
            buf.as_mut_ptr(),
            cap,
            &mut n,
        )
    };
    assert_eq!(n, needed, "n_out differs between calls");
    assert!(
        buf[cap..].iter().all(|&x| x == SENTINEL),
        "wrote past capacity"
    );
    if cap < needed {
        assert_eq!(st, ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL);
        assert!(
            buf.iter().all(|&x| x == SENTINEL),
            "wrote into a too-small buffer"
        );
    } else {
        assert_eq!(st, ferrite_status::FERRITE_OK, "{}", last_error());
        let ids = &buf[..n];
        assert!(ids.iter().all(|&i| i >= 0 && (i as usize) < n_vocab));
        // The same ids as the Rust API.
        let want = tok.encode(text_str, add_special, parse_special).unwrap();
        assert!(ids.iter().map(|&i| i as u32).eq(want.iter().copied()));
    }

    // token_to_piece with an arbitrary id and capacity.
    let id = i32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let id = if h[4] & 1 == 0 {
        id.rem_euclid(n_vocab as i32)
    } else {
        id
    };
    let mut piece_needed = usize::MAX;
    // SAFETY: valid handle and n_out; NULL buffer with capacity 0.
    let st =
        unsafe { ferrite_token_to_piece(m, id, special, ptr::null_mut(), 0, &mut piece_needed) };
    if id < 0 || id as usize >= n_vocab {
        assert_eq!(st, ferrite_status::FERRITE_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("out of range"), "{}", last_error());
        return;
    }
    match st {
        ferrite_status::FERRITE_OK => assert_eq!(piece_needed, 0),
        ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL => assert!(piece_needed > 0),
        s => panic!("token_to_piece gave {s:?}: {}", last_error()),
    }
    let pcap = u16::from_le_bytes([h[8], h[9]]) as usize % (piece_needed + 16);
    let mut pbuf = vec![0x55 as c_char; pcap + 8];
    let mut pn = usize::MAX;
    // SAFETY: `pbuf` holds at least `pcap` bytes.
    let st = unsafe { ferrite_token_to_piece(m, id, special, pbuf.as_mut_ptr(), pcap, &mut pn) };
    assert_eq!(pn, piece_needed);
    assert!(
        pbuf[pcap..].iter().all(|&x| x == 0x55),
        "wrote past capacity"
    );
    if pcap < piece_needed {
        assert_eq!(st, ferrite_status::FERRITE_ERR_BUFFER_TOO_SMALL);
        assert!(pbuf.iter().all(|&x| x == 0x55));
    } else {
        assert_eq!(st, ferrite_status::FERRITE_OK);
        let piece: Vec<u8> = pbuf[..pn].iter().map(|&c| c as u8).collect();
        assert_eq!(piece, tok.token_to_piece(id as u32, special).to_vec());
    }
});
