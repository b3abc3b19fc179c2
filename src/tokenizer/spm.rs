//! SentencePiece-style BPE (`tokenizer.ggml.model = llama`), llama.cpp's
//! `llm_tokenizer_spm_session`.
//!
//! The text (spaces already escaped to `▁`) starts as one symbol per UTF-8 character. Every
//! adjacent pair whose concatenation is a token is a candidate; the candidate with the highest
//! token score merges first (the leftmost among equal scores), and the pairs around the merged
//! symbol become new candidates. A priority queue over a linked list of symbols makes this
//! O(n log n) in the text length. Symbols that end up being no token are spelled out with the
//! byte tokens `<0xNN>`.

use std::collections::BinaryHeap;

use super::FastMap;

/// What the SPM merge needs from the vocabulary.
pub(crate) struct SpmView<'a> {
    pub(crate) text_to_id: &'a FastMap<Box<str>, u32>,
    pub(crate) scores: &'a [f32],
    /// The token of each byte (`<0xNN>`, or the one-character text for ASCII), if any.
    pub(crate) byte_token: &'a [Option<u32>; 256],
    pub(crate) unk: Option<u32>,
}

#[derive(Clone, Copy)]
pub(crate) struct Sym {
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
    /// The token this symbol is, once known (merged symbols always are one).
    tok: u32,
}

const NO_TOKEN: u32 = u32::MAX;

#[derive(Clone, Copy)]
pub(crate) struct Bigram {
    score: f32,
    left: i32,
    right: i32,
    size: u32,
    tok: u32,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Bigram {}
impl Ord for Bigram {
    /// Highest score first, then the leftmost (llama.cpp's `llm_bigram_spm::comparator`).
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score.total_cmp(&o.score).then(o.left.cmp(&self.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Reusable buffers of one SPM encoding.
#[derive(Default)]
pub(crate) struct SpmScratch {
    syms: Vec<Sym>,
    heap: BinaryHeap<Bigram>,
}

/// Tokenizes `text` (already escaped) and appends the ids to `out`.
pub(crate) fn encode(
    v: &SpmView<'_>,
    text: &str,
    s: &mut SpmScratch,
    out: &mut Vec<u32>,
) -> crate::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let syms = &mut s.syms;
    syms.clear();
    let mut offs = 0usize;
    for (i, c) in text.chars().enumerate() {
        let n = c.len_utf8();
        syms.push(Sym {
            start: offs as u32,
            len: n as u32,
            prev: i as i32 - 1,
            next: i as i32 + 1,
            tok: NO_TOKEN,
        });
        offs += n;
    }
    if let Some(last) = syms.last_mut() {
        last.next = -1;
    }
    let heap = &mut s.heap;
    heap.clear();
    for i in 1..syms.len() {
        try_add(v, text, syms, heap, i as i32 - 1, i as i32);
    }
    while let Some(b) = heap.pop() {
        let (l, r) = (b.left as usize, b.right as usize);
        // One of the symbols already merged elsewhere: skip.
        if syms[l].len == 0 || syms[r].len == 0 || syms[l].len + syms[r].len != b.size {
            continue;
        }
        syms[l].len += syms[r].len;
        syms[l].tok = b.tok;
        syms[r].len = 0;
        let next = syms[r].next;
        syms[l].next = next;
        if next >= 0 {
            syms[next as usize].prev = b.left;
        }
        let prev = syms[l].prev;
        try_add(v, text, syms, heap, prev, b.left);
        try_add(v, text, syms, heap, b.left, next);
    }
    let bytes = text.as_bytes();
    let mut i = 0i32;
    while i >= 0 {
        let sym = syms[i as usize];
        let piece = &text[sym.start as usize..(sym.start + sym.len) as usize];
        let tok = if sym.tok != NO_TOKEN {
            Some(sym.tok)
        } else {
            v.text_to_id.get(piece).copied()
        };
        match tok {
            Some(t) => out.push(t),
            None => {
                // Spell the symbol out in byte tokens.
                for &b in &bytes[sym.start as usize..(sym.start + sym.len) as usize] {
                    match v.byte_token[b as usize].or(v.unk) {
                        Some(t) => out.push(t),
                        None => {
                            return Err(crate::Error::Tokenizer(format!(
                                "no token for byte 0x{b:02X} (no <0x{b:02X}> token and no unknown token)"
                            )))
                        }
                    }
                }
            }
        }
        i = sym.next;
    }
    Ok(())
}

#[inline]
fn try_add(
    v: &SpmView<'_>,
    text: &str,
    syms: &[Sym],
    heap: &mut BinaryHeap<Bigram>,
    left: i32,
    right: i32,
) {
    if left < 0 || right < 0 {
        return;
    }
    let (l, r) = (syms[left as usize], syms[right as usize]);
    let size = l.len + r.len;
    let s = &text[l.start as usize..(l.start + size) as usize];
    if let Some(&tok) = v.text_to_id.get(s) {
        heap.push(Bigram {
            score: v.scores.get(tok as usize).copied().unwrap_or(0.0),
            left,
            right,
            size,
            tok,
        });
    }
}
