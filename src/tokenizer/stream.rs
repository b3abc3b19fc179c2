//! Streaming detokenization: text out as soon as it is whole UTF-8.
//!
//! A token's piece can end in the middle of a character (byte-fallback tokens `<0xE6>`, or
//! byte-level BPE tokens holding part of an emoji). The decoder keeps such an incomplete tail
//! (at most 3 bytes) and prints it once the rest arrives, so a stream never shows a
//! replacement character for a character that is merely split across tokens. Bytes that can
//! never become valid UTF-8 (e.g. a lone `<0xFF>`) are shown as U+FFFD right away.
//!
//! The buffer is sized once from the vocabulary's longest piece; pushing a token does not
//! allocate.

use super::Tokenizer;

/// Turns a stream of token ids into `&str` chunks (see the module docs).
pub struct StreamDecoder {
    /// `buf[..ready]`: the text returned by the last `push`; `buf[ready..]`: the held tail.
    buf: Vec<u8>,
    ready: usize,
    special: bool,
}

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

impl StreamDecoder {
    /// A decoder for `tok`'s tokens; control tokens are not rendered (as in generated text).
    pub fn new(tok: &Tokenizer) -> StreamDecoder {
        StreamDecoder::with_special(tok, false)
    }

    /// A decoder that renders control tokens as their text when `special` is true.
    pub fn with_special(tok: &Tokenizer, special: bool) -> StreamDecoder {
        // Held tail (<= 3) + one piece, each byte possibly becoming a 3-byte U+FFFD.
        let cap = 3 * (tok.max_piece_len() + 4);
        StreamDecoder {
            buf: Vec::with_capacity(cap),
            ready: 0,
            special,
        }
    }

    /// Adds one token and returns the text that is complete now (possibly empty). The
    /// returned text never ends inside a character.
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> &str {
        self.drop_ready();
        tok.token_to_piece(id, self.special)
            .append_to(&mut self.buf);
        self.settle(false)
    }

    /// Ends the stream: returns whatever is held, an incomplete character as U+FFFD.
    pub fn finish(&mut self) -> &str {
        self.drop_ready();
        self.settle(true)
    }

    /// Forgets any held bytes (e.g. at a new conversation).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.ready = 0;
    }

    /// True when an incomplete character is being held.
    pub fn has_pending(&self) -> bool {
        self.buf.len() > self.ready
    }

    fn drop_ready(&mut self) {
        let len = self.buf.len();
        self.buf.copy_within(self.ready..len, 0);
        self.buf.truncate(len - self.ready);
        self.ready = 0;
    }

    /// Finds the longest prefix that is whole UTF-8, replacing invalid sequences in place.
    fn settle(&mut self, at_end: bool) -> &str {
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.buf[start..]) {
                Ok(_) => {
                    self.ready = self.buf.len();
                    break;
                }
                Err(e) => {
                    let at = start + e.valid_up_to();
                    match e.error_len() {
                        Some(bad) => {
                            self.replace(at, bad);
                            start = at + REPLACEMENT.len();
                        }
                        None if at_end => {
                            let bad = self.buf.len() - at;
                            self.replace(at, bad);
                            self.ready = self.buf.len();
                            break;
                        }
                        None => {
                            self.ready = at;
                            break;
                        }
                    }
                }
            }
        }
        std::str::from_utf8(&self.buf[..self.ready]).unwrap_or_default()
    }

    /// Replaces `buf[at..at + n]` (n <= 3) by U+FFFD.
    fn replace(&mut self, at: usize, n: usize) {
        let old = self.buf.len();
        let grow = REPLACEMENT.len() - n;
        self.buf.resize(old + grow, 0);
        self.buf.copy_within(at + n..old, at + REPLACEMENT.len());
        self.buf[at..at + REPLACEMENT.len()].copy_from_slice(REPLACEMENT);
    }
}
